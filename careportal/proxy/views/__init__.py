"""The pages at /access-for-others/ (careportal/proxy/urls.py): the hub, one relationship, invitations and the
proxy-only account."""
