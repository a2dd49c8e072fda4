"""Where you are signed in: a session's "last seen" is written at most once a minute (not on every request), and at
once when the browser or address changes."""

import datetime

import pytest
import time_machine
from allauth.usersessions.models import UserSession
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db

PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"


def test_last_seen_is_written_once_a_minute_and_at_once_for_another_browser(patient_client, patient) -> None:
    start = timezone.now().replace(microsecond=0)

    def visit(seconds: int, **headers: str) -> UserSession:
        with time_machine.travel(start + datetime.timedelta(seconds=seconds), tick=False):
            assert patient_client.get(reverse("home:home"), **headers).status_code == 200
        return UserSession.objects.get(user=patient.user)

    assert visit(0).last_seen_at == start
    assert visit(30).last_seen_at == start  # within the minute: not written again
    moved = visit(40, HTTP_USER_AGENT=PHONE)
    assert (moved.user_agent, moved.last_seen_at) == (PHONE, start + datetime.timedelta(seconds=40))
    assert visit(95, HTTP_USER_AGENT=PHONE).last_seen_at == start + datetime.timedelta(seconds=40)
    assert visit(101, HTTP_USER_AGENT=PHONE).last_seen_at == start + datetime.timedelta(seconds=101)
    assert visit(102, HTTP_USER_AGENT=PHONE, REMOTE_ADDR="198.51.100.7").ip == "198.51.100.7"


def test_a_request_with_a_fresh_last_seen_does_not_touch_the_sessions_table(patient_client) -> None:
    patient_client.get(reverse("home:home"))  # writes "last seen"
    with CaptureQueriesContext(connection) as fresh:
        patient_client.get(reverse("home:home"))
    assert fresh.captured_queries
    assert not any("usersessions_usersession" in query["sql"] for query in fresh.captured_queries)
