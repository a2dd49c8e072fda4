"""Letters from a team in a sensitive category (sexual health, HIV, genetics, mental health, safeguarding): a proxy
without the grant neither sees them, nor reaches them by id, nor is told of them; the patient always sees them."""

import datetime
import html
import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.admin.sites import AdminSite
from django.test import Client, RequestFactory
from django.urls import reverse

from careportal.audit.models import AccessEvent
from careportal.hl7.models import MessageSource
from careportal.hl7.services import message_receive
from careportal.letters.models import Letter
from careportal.letters.services import letters_sensitive_category_refresh
from careportal.notifications.models import Notification
from careportal.patients.admin import CareTeamAdmin
from careportal.patients.models import CareTeam
from careportal.results.models import SensitiveCategory
from tests.hl7.interfaces import LOCAL_PEER
from tests.letters.factories import LetterFactory
from tests.letters.helpers import mdm_message
from tests.patients.factories import CareTeamFactory
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db

ID_URLS = ("letters:letter", "letters:view", "letters:download")


@pytest.fixture
def sexual_health(db) -> CareTeam:
    return CareTeamFactory(name="Sexual health clinic", sensitive_category=SensitiveCategory.SEXUAL_HEALTH)


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def page(client: Client, name: str, **kwargs: object) -> str:
    return html.unescape(client.get(reverse(name, kwargs=kwargs or None)).content.decode())


def test_the_category_is_importable_from_results_as_before() -> None:
    from careportal.patients.models import SensitiveCategory as moved

    assert SensitiveCategory is moved


def test_a_proxy_without_the_grant_sees_nothing_of_the_letter(proxy_relationship, proxy_client, sexual_health):
    child = proxy_relationship.patient
    sensitive = LetterFactory(
        patient=child, care_team=sexual_health, sensitive_category="sexual_health", document_type="Clinic summary"
    )
    LetterFactory(patient=child, care_team=CareTeamFactory(name="Dermatology"), document_type="Clinic letter")

    listing = page(proxy_client, "letters:list")

    assert "Dermatology" in listing
    assert "Sexual health" not in listing and "Clinic summary" not in listing, "not even that the letter exists"
    for name in ID_URLS:
        assert proxy_client.get(reverse(name, kwargs={"public_id": sensitive.public_id})).status_code == 404, name
    refused = AccessEvent.objects.filter(action="denied", patient=None, object_id=str(sensitive.public_id))
    assert refused.count() == len(ID_URLS)
    assert f"{child.given_name} has 1 letter from" in page(proxy_client, "home:home")


def test_a_proxy_granted_another_category_still_does_not_see_it(sexual_health):
    relationship = ProxyRelationshipFactory(sensitive_categories_granted=["hiv"])
    letter = LetterFactory(patient=relationship.patient, care_team=sexual_health, sensitive_category="sexual_health")
    client = client_for(relationship.proxy)

    assert client.get(reverse("letters:letter", kwargs={"public_id": letter.public_id})).status_code == 404
    assert "Sexual health" not in page(client, "letters:list")


def test_a_proxy_granted_the_category_sees_and_opens_it(sexual_health):
    relationship = ProxyRelationshipFactory(sensitive_categories_granted=["sexual_health"])
    letter = LetterFactory(patient=relationship.patient, care_team=sexual_health, sensitive_category="sexual_health")
    client = client_for(relationship.proxy)

    assert "Sexual health clinic" in page(client, "letters:list")
    for name in ID_URLS:
        assert client.get(reverse(name, kwargs={"public_id": letter.public_id})).status_code == 200, name
    assert "has 1 letter from" in page(client, "home:home")


def test_the_patient_always_sees_their_own(patient, patient_client, sexual_health):
    letter = LetterFactory(patient=patient, care_team=sexual_health, sensitive_category="sexual_health")

    assert "Sexual health clinic" in page(patient_client, "letters:list")
    for name in ID_URLS:
        assert patient_client.get(reverse(name, kwargs={"public_id": letter.public_id})).status_code == 200, name
    assert "You have 1 letter from your clinics." in page(patient_client, "home:home")


def test_the_list_makes_the_same_queries_with_sensitive_letters(
    proxy_relationship, proxy_client, sexual_health, django_assert_max_num_queries
):
    child = proxy_relationship.patient
    LetterFactory(patient=child, care_team=CareTeamFactory())
    LetterFactory(patient=child, care_team=sexual_health, sensitive_category="sexual_health")
    with django_assert_max_num_queries(40) as one:
        proxy_client.get(reverse("letters:list"))
    for _ in range(8):
        LetterFactory(patient=child, care_team=CareTeamFactory())
        LetterFactory(patient=child, care_team=sexual_health, sensitive_category="sexual_health")

    with django_assert_max_num_queries(len(one.captured_queries)):
        response = proxy_client.get(reverse("letters:list"))
    assert response.content.decode().count("Clinic letter") == 9


# Arriving ----------------------------------------------------------------------------------------------------


def test_a_letter_from_a_sensitive_team_takes_its_category_and_only_granted_proxies_are_told(
    hl7_interfaces, eleanor, haematology, django_capture_on_commit_callbacks
):
    haematology.sensitive_category = SensitiveCategory.GENETICS
    haematology.save()
    since = datetime.date(2025, 1, 1)
    granted = ProxyRelationshipFactory(
        patient=eleanor, basis="granted", valid_from=since, sensitive_categories_granted=["genetics"]
    )
    not_granted = ProxyRelationshipFactory(patient=eleanor, basis="granted", valid_from=since)

    with django_capture_on_commit_callbacks(execute=True):
        message_receive(mdm_message(), peer=LOCAL_PEER, source=MessageSource.MLLP)

    letter = Letter.objects.get()
    assert (letter.care_team, letter.sensitive_category) == (haematology, "genetics")
    told = set(Notification.objects.filter(kind="new_letter").values_list("user", flat=True))
    assert told == {eleanor.user_id, granted.proxy_id}
    assert not_granted.proxy_id not in told


def test_a_letter_from_an_ordinary_team_tells_every_proxy_with_the_scope(
    hl7_interfaces, eleanor, haematology, django_capture_on_commit_callbacks
):
    proxy = ProxyRelationshipFactory(patient=eleanor, basis="granted", valid_from=datetime.date(2025, 1, 1))

    with django_capture_on_commit_callbacks(execute=True):
        message_receive(mdm_message(), peer=LOCAL_PEER, source=MessageSource.MLLP)

    assert Letter.objects.get().sensitive_category == ""
    told = set(Notification.objects.filter(kind="new_letter").values_list("user", flat=True))
    assert told == {eleanor.user_id, proxy.proxy_id}


# Existing letters ----------------------------------------------------------------------------------------------


def test_the_migration_fills_existing_letters_from_their_team(sexual_health):
    ordinary = LetterFactory(care_team=CareTeamFactory(name="Dermatology"))
    sensitive = LetterFactory(care_team=sexual_health)
    no_team = LetterFactory(care_team=None)
    assert Letter.objects.exclude(sensitive_category="").count() == 0
    migration = importlib.import_module("careportal.letters.migrations.0003_letter_sensitive_category")

    migration.letters_fill_from_team(apps, None)

    assert Letter.objects.get(pk=sensitive.pk).sensitive_category == "sexual_health"
    assert Letter.objects.get(pk=ordinary.pk).sensitive_category == ""
    assert Letter.objects.get(pk=no_team.pk).sensitive_category == ""


def test_changing_a_teams_category_in_the_admin_hides_what_it_already_sent(proxy_relationship, proxy_client):
    team = CareTeamFactory(name="Psychology")
    letter = LetterFactory(patient=proxy_relationship.patient, care_team=team)
    url = reverse("letters:letter", kwargs={"public_id": letter.public_id})
    assert proxy_client.get(url).status_code == 200

    team.sensitive_category = SensitiveCategory.MENTAL_HEALTH
    request = RequestFactory().post("/admin/")
    CareTeamAdmin(CareTeam, AdminSite()).save_model(
        request, team, SimpleNamespace(changed_data=["sensitive_category"]), change=True
    )

    assert proxy_client.get(url).status_code == 404
    team.sensitive_category = ""
    team.save()
    assert letters_sensitive_category_refresh(care_team_ids=[team.pk]) == 1
    assert proxy_client.get(url).status_code == 200


def test_the_admin_form_offers_the_category_and_saving_it_refiles_the_letters(admin_client):
    team = CareTeamFactory(name="Clinical genetics")
    letter = LetterFactory(care_team=team)
    url = reverse("admin:patients_careteam_change", args=[team.pk])

    form = admin_client.get(url).content.decode()
    assert 'name="sensitive_category"' in form
    assert "hidden from proxies unless staff grant them this category" in form
    response = admin_client.post(
        url,
        {
            "name": team.name,
            "description": "",
            "response_target_working_days": "3",
            "is_active": "on",
            "sensitive_category": "genetics",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Letter.objects.get(pk=letter.pk).sensitive_category == "genetics"
