import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers


class NoStoreForSignedInMiddleware:
    """Pages for a signed-in person hold personal data: no browser or proxy cache may keep them.

    On a shared or borrowed computer the back button must not show the last patient's pages after sign-out.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if getattr(request, "user", None) is not None and request.user.is_authenticated:
            add_never_cache_headers(response)
            response["Cache-Control"] += ", no-store"
        return response


def forwarded_client_ip(*, forwarded_for: str, trusted_proxies: int) -> str | None:
    """The client's address from an X-Forwarded-For header written by `trusted_proxies` proxies of our own, or None
    when the header cannot be trusted to name it.

    Each proxy appends the address it received the request from, so the trustworthy entry is the `trusted_proxies`-th
    from the right; anything to its left was written by the client and may be invented. A header with fewer entries
    than that did not pass through all our proxies (or was cut), and a value that is not an IP address is not used.
    """
    entries = [entry.strip() for entry in forwarded_for.split(",")]
    if trusted_proxies < 1 or len(entries) < trusted_proxies:
        return None
    candidate = entries[-trusted_proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


class ForwardedClientIPMiddleware:
    """Behind a reverse proxy, REMOTE_ADDR is the proxy's address. Put the client's in its place, from the
    X-Forwarded-For header written by our own proxies (TRUSTED_PROXY_COUNT of them), so that everything that reads
    the address agrees on it: sign-in rate limits (allauth), lockouts (django-axes, username + address), the
    activation and recovery throttles, the audit log and request logs.

    Without it, every patient would share the proxy's address: one login storm would trip the per-address limits
    for everyone, and the audit log would name the proxy. With TRUSTED_PROXY_COUNT=0 (the default, no proxy) the
    header is ignored, since a client could write anything in it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.trusted_proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0))
        if self.trusted_proxies < 1:
            raise MiddlewareNotUsed

    def __call__(self, request: HttpRequest) -> HttpResponse:
        client = forwarded_client_ip(
            forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR", ""), trusted_proxies=self.trusted_proxies
        )
        if client is not None:
            request.META["REMOTE_ADDR"] = client
        return self.get_response(request)
