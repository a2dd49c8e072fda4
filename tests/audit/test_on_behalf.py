"""Everything a proxy does is recorded as done on the patient's behalf: the patient's access log reads "Priya Patel
(your mother), on your behalf, viewed ...", and staff read "Priya Patel on behalf of Arjun Patel"."""

import datetime
import html
import re

import pytest
from django.test import Client
from django.urls import reverse

from careportal.audit.models import AccessEvent
from careportal.audit.presenters import staff_actor_text
from tests.accounts.factories import UserFactory
from tests.patients.factories import PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory
from tests.results.factories import DiagnosticReportFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def family():
    child = PatientWithAccountFactory(given_name="Arjun", family_name="Patel", birth_date=datetime.date(2015, 6, 1))
    parent = UserFactory(first_name="Priya", last_name="Patel", display_name="Priya Patel")
    ProxyRelationshipFactory(proxy=parent, patient=child, relationship="mother", valid_from=child.birth_date)
    return child, parent


def _client(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def _log_lines(response) -> list[str]:  # type: ignore[no-untyped-def]
    body = response.content.decode()
    return [
        " ".join(html.unescape(re.sub(r"<[^>]+>", " ", item)).split())
        for item in re.findall(r"<li>(.*?)</li>", body, re.S)
    ]


def test_what_a_proxy_reads_shows_in_the_patients_log_as_done_on_their_behalf(family):
    child, parent = family
    report = DiagnosticReportFactory(patient=child, released=True, test_name="Urine culture")
    proxy = _client(parent)
    assert proxy.get(reverse("results:list")).status_code == 200
    assert proxy.get(reverse("results:report", args=[report.public_id])).status_code == 200

    lines = _log_lines(_client(child.user).get(reverse("audit:access-log")))

    assert any(
        line.startswith("Priya Patel (your mother), on your behalf, viewed your test results on") for line in lines
    )
    assert any(
        line.startswith("Priya Patel (your mother), on your behalf, viewed your urine culture result on")
        for line in lines
    )
    events = AccessEvent.objects.filter(actor=parent, patient=child)
    assert events.exists() and all(event.on_behalf_of == child for event in events)


def test_staff_read_a_proxys_events_as_on_behalf_of_the_patient(family):
    _, parent = family
    _client(parent).get(reverse("home:home"))
    event = AccessEvent.objects.select_related("on_behalf_of").get(actor=parent, object_label="home page")

    assert staff_actor_text(event) == "Priya Patel on behalf of Arjun Patel"


def test_the_admins_audit_list_says_on_behalf_of(family):
    _, parent = family
    _client(parent).get(reverse("home:home"))
    admin = _client(UserFactory(is_staff=True, is_superuser=True))

    body = html.unescape(admin.get(reverse("admin:audit_accessevent_changelist")).content.decode())

    assert "Priya Patel on behalf of Arjun Patel" in body


def test_the_patients_own_and_staff_events_read_as_before(family):
    child, _ = family
    _client(child.user).get(reverse("home:home"))
    event = AccessEvent.objects.get(actor=child.user, object_label="home page")
    assert "on behalf of" not in staff_actor_text(event)
