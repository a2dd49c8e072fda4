"""Only the helpdesk (and superusers) may use the helpdesk console: everyone else gets 404, and the refusal is audited.

The patient's side of "another patient's object" is in tests/access/object_urls.py; this is the staff side.
"""

import uuid

import pytest
from django.test import Client
from django.urls import URLPattern, get_resolver, reverse

from careportal.audit.models import AccessEvent
from tests.accounts.factories import UserFactory
from tests.helpdesk.factories import FailedNotificationFactory, SupportRequestFactory

pytestmark = pytest.mark.django_db

# The page people see after sending a request for help is public; everything else under helpdesk: is the console.
PUBLIC = {"helpdesk:support-request-sent"}


def _helpdesk_patterns() -> list[URLPattern]:
    for resolver in get_resolver().url_patterns:
        if getattr(resolver, "namespace", None) == "helpdesk":
            return list(resolver.url_patterns)
    raise AssertionError("the helpdesk URLs are not included")


CONSOLE_URLS = sorted(
    (f"helpdesk:{p.name}", sorted(p.pattern.converters))
    for p in _helpdesk_patterns()
    if f"helpdesk:{p.name}" not in PUBLIC
)
OBJECT_URLS = [(name, params) for name, params in CONSOLE_URLS if params]


def console_url(name: str, params: list[str]) -> str:
    return reverse(name, kwargs={param: uuid.uuid4() for param in params})


def test_the_console_has_the_pages_this_file_expects():
    assert {name for name, _ in CONSOLE_URLS} >= {
        "helpdesk:home",
        "helpdesk:search",
        "helpdesk:account",
        "helpdesk:requests",
        "helpdesk:notifications",
    }
    assert all(
        reverse(name, kwargs={p: uuid.uuid4() for p in params}).startswith("/staff/helpdesk/")
        for name, params in CONSOLE_URLS
    )


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(("name", "params"), CONSOLE_URLS)
def test_a_clinician_gets_404_on_every_helpdesk_url_and_the_refusal_is_audited(
    clinician_client, clinician_membership, name, params, method
):
    response = getattr(clinician_client, method)(console_url(name, params))

    assert response.status_code == 404
    denied = AccessEvent.objects.get(action="denied")
    assert denied.actor == clinician_membership.user
    assert denied.actor_role == "clinician"
    assert denied.object_label == "the helpdesk console"
    assert denied.patient is None


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(("name", "params"), CONSOLE_URLS)
def test_a_patient_and_a_proxy_get_404_on_every_helpdesk_url(patient_client, proxy_client, name, params, method):
    for client in (patient_client, proxy_client):
        assert getattr(client, method)(console_url(name, params)).status_code == 404
    assert AccessEvent.objects.filter(action="denied").count() == 2


@pytest.mark.parametrize(("name", "params"), CONSOLE_URLS)
def test_signed_out_people_are_sent_to_sign_in(client, name, params):
    response = client.get(console_url(name, params))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_a_clinician_gets_404_for_a_real_patients_account_too(clinician_client, patient):
    # The clinician's own patient: the helpdesk console is still not theirs to use.
    url = reverse("helpdesk:account", kwargs={"account_id": patient.user.public_id})
    response = clinician_client.get(url)
    assert response.status_code == 404
    assert patient.family_name not in response.content.decode()
    assert not AccessEvent.objects.filter(patient=patient).exists()


@pytest.mark.parametrize(("name", "params"), OBJECT_URLS)
def test_the_helpdesk_gets_404_for_ids_that_do_not_exist(helpdesk_client, name, params):
    method = "get" if name in {"helpdesk:account", "helpdesk:patient", "helpdesk:request"} else "post"
    data = {"reason": "Test", "identity_check": "phone", "reply": "Hello", "action": "send"} if method == "post" else {}
    response = getattr(helpdesk_client, method)(console_url(name, params), data)
    assert response.status_code == 404


def test_unknown_account_and_patient_ids_are_audited_as_refusals(helpdesk_client, helpdesk_user):
    helpdesk_client.get(reverse("helpdesk:account", kwargs={"account_id": uuid.uuid4()}))
    helpdesk_client.get(reverse("helpdesk:patient", kwargs={"patient_id": uuid.uuid4()}))
    refusals = AccessEvent.objects.filter(action="denied", actor=helpdesk_user)
    assert sorted(refusals.values_list("object_type", flat=True)) == ["accounts.user", "patients.patient"]


def test_a_superuser_may_use_the_console(patient):
    admin = UserFactory(is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(admin)
    assert client.get(reverse("helpdesk:home")).status_code == 200
    response = client.get(reverse("helpdesk:account", kwargs={"account_id": patient.user.public_id}))
    assert response.status_code == 200
    event = AccessEvent.objects.get(patient=patient)
    assert event.actor_role == "helpdesk"


def test_a_deactivated_helpdesk_account_is_refused(helpdesk_user, helpdesk_client):
    helpdesk_user.is_active = False
    helpdesk_user.save()
    # Django signs out a deactivated user on their next request; the console is never shown either way.
    assert helpdesk_client.get(reverse("helpdesk:home")).status_code == 302


def test_the_staff_console_links_to_the_helpdesk_console_for_the_helpdesk_only(helpdesk_client, clinician_client):
    link = reverse("helpdesk:home")
    assert link in helpdesk_client.get(reverse("staff:home")).content.decode()
    assert link not in clinician_client.get(reverse("staff:home")).content.decode()


def test_object_cases_for_the_helpdesk_are_listed_in_the_access_test_table():
    from tests.access.object_urls import OBJECT_URLS as TABLE

    assert {name for name, _ in OBJECT_URLS} <= set(TABLE)


def test_factories_make_real_objects(patient):
    # Sanity check for the object URL table's builders.
    assert SupportRequestFactory(user=patient.user).user == patient.user
    assert FailedNotificationFactory(user=patient.user).status == "failed"
