"""Addresses of views that take no arguments, kept once drawn: a page asks for a dozen (the header's menu, the
footer, the idle-timeout dialog), and each `reverse` walks the URL patterns again. Kept by view name, URLconf and
script prefix, so an address is the one `reverse` would give."""

from django.urls import get_script_prefix, get_urlconf, reverse

_kept: dict[tuple[str, str | None, str], str] = {}


def fixed_url(viewname: str) -> str:
    """`reverse(viewname)`, for a view that takes no arguments."""
    key = (viewname, get_urlconf(), get_script_prefix())
    found = _kept.get(key)
    if found is None:
        found = _kept[key] = reverse(viewname)
    return found
