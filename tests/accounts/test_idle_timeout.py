"""Idle and absolute session limits (careportal/accounts/middleware.py) and what the warning dialog relies on."""

import datetime
import json
import re

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from tests.accounts.security_steps import sign_in

pytestmark = pytest.mark.django_db

START = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
POLL = {"HTTP_X_CAREPORTAL_SESSION_POLL": "1"}
TIMED_OUT = "You were signed out because you had not used CarePortal for 15 minutes"


def minutes(n: float) -> datetime.timedelta:
    return datetime.timedelta(minutes=n)


@pytest.fixture
def traveller():  # type: ignore[no-untyped-def]
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def signed_in(patient, traveller) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    assert sign_in(client, patient.user.username)["Location"] == reverse("home:home")
    assert client.get(reverse("home:home")).status_code == 200
    return client


def status(client: Client) -> dict:
    response = client.get(reverse("accounts:session-status"), **POLL)
    assert response.status_code == 200
    return json.loads(response.content)


def test_14_minutes_idle_is_fine(signed_in, traveller):
    traveller.shift(minutes(14))
    assert signed_in.get(reverse("home:home")).status_code == 200


def test_16_minutes_idle_signs_you_out_with_the_reason(signed_in, traveller):
    traveller.shift(minutes(16))
    response = signed_in.get(reverse("home:home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("account_login")
    page = signed_in.get(response["Location"]).content.decode()
    assert TIMED_OUT in page
    assert signed_in.get(reverse("home:home")).status_code == 302, "the session really ended"


def test_activity_restarts_the_idle_clock(signed_in, traveller):
    for _ in range(4):
        traveller.shift(minutes(14))
        assert signed_in.get(reverse("home:home")).status_code == 200


def test_the_warning_polls_do_not_count_as_activity(signed_in, traveller):
    traveller.shift(minutes(10))
    assert status(signed_in) == {"signedIn": True, "expiresIn": 5 * 60, "extendable": True}
    traveller.shift(minutes(3))
    assert status(signed_in)["expiresIn"] == 2 * 60
    traveller.shift(minutes(3))
    response = signed_in.get(reverse("accounts:session-status"), **POLL)
    assert response.status_code == 302, "16 minutes after the last real request, polls or not"
    assert signed_in.get(reverse("home:home")).status_code == 302


def test_stay_signed_in_restarts_the_idle_clock(signed_in, traveller):
    traveller.shift(minutes(14))
    response = signed_in.post(reverse("accounts:session-keep-alive"))
    assert json.loads(response.content) == {"signedIn": True, "expiresIn": 15 * 60, "extendable": True}
    traveller.shift(minutes(14))
    assert signed_in.get(reverse("home:home")).status_code == 200


def test_page_reads_move_the_idle_clock_at_most_every_30_seconds(signed_in, traveller):
    # Reading pages does not rewrite the session on every request (careportal/accounts/middleware.py).
    traveller.shift(datetime.timedelta(seconds=20))
    assert signed_in.get(reverse("home:home")).status_code == 200
    assert status(signed_in)["expiresIn"] == 15 * 60 - 20, "20 s after the last recorded read: not recorded again"
    traveller.shift(datetime.timedelta(seconds=20))
    assert signed_in.get(reverse("home:home")).status_code == 200
    assert status(signed_in)["expiresIn"] == 15 * 60, "40 s after it: recorded"


def test_keep_alive_needs_a_post_with_the_csrf_token(patient, traveller):
    client = Client(enforce_csrf_checks=True)
    sign_in_client = Client()
    sign_in(sign_in_client, patient.user.username)
    client.cookies = sign_in_client.cookies
    assert client.get(reverse("accounts:session-keep-alive")).status_code == 405
    assert client.post(reverse("accounts:session-keep-alive")).status_code == 403
    page = client.get(reverse("home:home")).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(reverse("accounts:session-keep-alive"), HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200


def test_the_absolute_lifetime_ends_even_a_busy_session(signed_in, traveller, settings):
    for _ in range(int(settings.CAREPORTAL_SESSION_ABSOLUTE_SECONDS // 600) - 1):
        traveller.shift(minutes(10))
        assert signed_in.get(reverse("home:home")).status_code == 200
    traveller.shift(minutes(8))
    answer = status(signed_in)
    assert answer["signedIn"] and answer["extendable"] is False, "near the end, staying signed in cannot help"
    assert answer["expiresIn"] == 2 * 60
    traveller.shift(minutes(3))
    response = signed_in.get(reverse("home:home"))
    assert response.status_code == 302
    assert "signed in for 12 hours" in signed_in.get(response["Location"]).content.decode()


def test_a_signed_out_status_says_so(client):
    assert json.loads(client.get(reverse("accounts:session-status"), **POLL).content) == {"signedIn": False}


def test_signed_in_pages_carry_the_timings_and_the_dialog(signed_in, settings):
    body = signed_in.get(reverse("home:home")).content.decode()
    assert f'data-session-timeout="{settings.CAREPORTAL_IDLE_TIMEOUT_SECONDS}"' in body
    assert f'data-session-warning="{settings.CAREPORTAL_IDLE_WARNING_SECONDS}"' in body
    assert f'data-session-status-url="{reverse("accounts:session-status")}"' in body
    assert f'data-session-keep-alive-url="{reverse("accounts:session-keep-alive")}"' in body
    assert '<template id="careportal-session-timeout-template">' in body
    assert 'role="alertdialog"' in body and 'aria-labelledby="careportal-timeout-heading"' in body
    assert "Stay signed in" in body


def test_signed_out_pages_have_no_timer(client):
    body = client.get(reverse("home:start")).content.decode()
    assert "data-session-timeout" not in body
    assert "careportal-session-timeout-template" not in body


def test_the_warning_script_is_served_as_a_module_from_this_site(client):
    app = client.get("/static/careportal/app.mjs")
    assert b'import { initSessionTimeout } from "./session-timeout.mjs"' in b"".join(app.streaming_content)
    script = b"".join(client.get("/static/careportal/session-timeout.mjs").streaming_content).decode()
    assert '"X-CarePortal-Session-Poll": "1"' in script
    assert "TICK_MS = 15_000" in script
