"""Behind a reverse proxy: the client's address comes from X-Forwarded-For, as written by our own proxies
(TRUSTED_PROXY_COUNT of them), and never from what a client wrote there itself."""

import pytest
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from careportal.core.middleware import ForwardedClientIPMiddleware, forwarded_client_ip
from tests.accounts.factories import TEST_PASSWORD

PROXY = "10.1.2.3"


@pytest.mark.parametrize(
    ("header", "trusted", "expected"),
    [
        ("203.0.113.7", 1, "203.0.113.7"),
        # The client wrote the first entry itself; our one proxy appended the real address.
        ("198.51.100.1, 203.0.113.7", 1, "203.0.113.7"),
        # Two proxies of ours (a load balancer, then nginx): the client is second from the right.
        ("198.51.100.1, 203.0.113.7, 10.0.0.5", 2, "203.0.113.7"),
        (" 2001:db8::1 ", 1, "2001:db8::1"),
        # Fewer entries than proxies: it did not come through all of them, so nothing in it is trusted.
        ("203.0.113.7", 2, None),
        ("", 1, None),
        ("not-an-address", 1, None),
        ("203.0.113.7, <script>", 1, None),
        ("203.0.113.7", 0, None),
    ],
)
def test_the_client_is_the_entry_written_by_our_own_proxy(header: str, trusted: int, expected: str | None) -> None:
    assert forwarded_client_ip(forwarded_for=header, trusted_proxies=trusted) == expected


def _seen_address(settings, **headers: str) -> str:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(request.META["REMOTE_ADDR"])
        return HttpResponse()

    ForwardedClientIPMiddleware(view)(RequestFactory().get("/", REMOTE_ADDR=PROXY, **headers))
    return seen[0]


def test_behind_one_proxy_the_forwarded_address_replaces_the_proxys(settings) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    assert _seen_address(settings, HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.7") == "203.0.113.7"
    # A request without the header (a probe from inside the network) keeps its own address.
    assert _seen_address(settings) == PROXY
    assert _seen_address(settings, HTTP_X_FORWARDED_FOR="garbage") == PROXY


def test_without_a_proxy_the_header_is_ignored(settings) -> None:
    settings.TRUSTED_PROXY_COUNT = 0
    with pytest.raises(MiddlewareNotUsed):
        ForwardedClientIPMiddleware(lambda request: HttpResponse())


@pytest.mark.django_db
def test_behind_the_proxy_a_lockout_is_for_the_attackers_address_only(client, patient, settings) -> None:
    """Every request reaches Django from the proxy's address: were that taken as the client's, five wrong passwords
    from anywhere would lock the patient out everywhere, and a login storm would trip the per-address limits for
    everyone at once."""
    settings.TRUSTED_PROXY_COUNT = 1
    login = reverse("account_login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            login,
            {"login": patient.user.username, "password": "wrong"},
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR="203.0.113.66",
        )
    attacker = client.post(
        login,
        {"login": patient.user.username, "password": TEST_PASSWORD},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="203.0.113.66",
    )
    assert attacker.status_code == 429
    patient_at_home = client.post(
        login,
        {"login": patient.user.username, "password": TEST_PASSWORD},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="198.51.100.20",
    )
    assert patient_at_home.status_code == 302
    assert patient_at_home["Location"] == reverse("home:home")
