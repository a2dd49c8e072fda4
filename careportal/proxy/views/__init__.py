"""The pages at /access-for-others/ (careportal/proxy/urls.py), one module per journey: the hub, one relationship,
invitations and the proxy-only account, and applications."""
