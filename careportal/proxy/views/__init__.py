"""The proxy app's pages under /access-for-others/, one module per journey."""
