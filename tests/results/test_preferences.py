"""The "wait for my clinician" choices: /test-results/wait-for-my-clinician/."""

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from careportal.access.layer import Viewer
from careportal.access.scopes import Scope
from careportal.audit.models import AccessEvent, ActorRole
from careportal.results.models import ResultPreference
from careportal.results.preference_services import result_preferences_update
from tests.results.factories import DiagnosticReportFactory, ResultPreferenceFactory
from tests.results.test_patient_pages import page_text

URL = "/test-results/wait-for-my-clinician/"


def chosen(patient) -> set[str]:  # type: ignore[no-untyped-def]
    return set(
        ResultPreference.objects.filter(patient=patient, wait_for_clinician=True).values_list("result_kind", flat=True)
    )


@pytest.mark.django_db
def test_the_address_is_stable():
    assert reverse("results:preferences") == URL


@pytest.mark.django_db
def test_the_page_explains_the_choice_and_shows_the_current_one(patient, patient_client):
    ResultPreferenceFactory(patient=patient, result_kind="histology")

    response = patient_client.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    text = page_text(response)
    assert "A clinician will look at each of those results first and then release it" in text
    assert "Scans and X-rays (imaging)" in text
    assert 'value="histology" checked' in html
    assert html.count('type="checkbox" value=') == 6 and 'type="radio"' not in html, "several kinds may be chosen"
    assert 'value="imaging" checked' not in html
    assert AccessEvent.objects.filter(action="view", object_label="test result preferences", patient=patient).exists()


@pytest.mark.django_db
def test_saving_records_the_choice_and_shows_it_on_the_results_list(patient, patient_client):
    ResultPreferenceFactory(patient=patient, result_kind="histology")

    response = patient_client.post(URL, {"kinds": ["imaging", "cancer_markers"]})

    assert response.status_code == 302 and response["Location"] == "/test-results/"
    assert chosen(patient) == {"imaging", "cancer_markers"}
    assert ResultPreference.objects.get(patient=patient, result_kind="histology").wait_for_clinician is False
    event = AccessEvent.objects.get(action="update")
    assert event.object_label == "test result preferences" and event.patient == patient
    listing = page_text(patient_client.get("/test-results/"))
    assert "Your choices have been saved." in listing
    assert "You have chosen to wait for a clinician to look at these results first: cancer markers and scans" in listing


@pytest.mark.django_db
def test_unticking_everything_clears_the_choice(patient, patient_client):
    ResultPreferenceFactory(patient=patient, result_kind="imaging")

    patient_client.post(URL, {})

    assert chosen(patient) == set()
    assert "Your results are shown as soon as they are ready" in page_text(patient_client.get("/test-results/"))


@pytest.mark.django_db
def test_a_choice_that_is_not_offered_is_an_error_and_changes_nothing(patient, patient_client):
    ResultPreferenceFactory(patient=patient, result_kind="imaging")

    response = patient_client.post(URL, {"kinds": ["imaging", "everything"]})

    assert response.status_code == 200
    assert "Choose kinds of result from the list" in page_text(response)
    assert "There is a problem" in page_text(response)
    assert chosen(patient) == {"imaging"}
    assert not AccessEvent.objects.filter(action="update").exists()


@pytest.mark.django_db
def test_the_choice_changes_what_a_waiting_report_says(patient, patient_client):
    DiagnosticReportFactory(patient=patient, result_kind="imaging", test_name="CT chest")
    assert "You can expect the result by" in page_text(patient_client.get("/test-results/"))

    patient_client.post(URL, {"kinds": ["imaging"]})

    assert "You asked to see these results only after a clinician has released them." in page_text(
        patient_client.get("/test-results/")
    )


@pytest.mark.django_db
def test_a_proxy_sees_the_choice_read_only(proxy_relationship, proxy_client):
    child = proxy_relationship.patient
    ResultPreferenceFactory(patient=child, result_kind="genetics")

    response = proxy_client.get(URL)

    assert response.status_code == 200
    text = page_text(response)
    assert f"Only {child.given_name} can make this choice" in text
    assert (
        f"{child.given_name} has chosen to wait for a clinician to look at these results first: genetic tests." in text
    )
    assert "<form" not in response.content.decode().split("<main", 1)[1].split("</main>", 1)[0]


@pytest.mark.django_db
def test_a_proxy_cannot_change_the_choice(proxy_relationship, proxy_client):
    child = proxy_relationship.patient
    ResultPreferenceFactory(patient=child, result_kind="genetics")

    response = proxy_client.post(URL, {"kinds": ["imaging"]})

    assert response.status_code == 403
    assert chosen(child) == {"genetics"}
    assert not AccessEvent.objects.filter(action="update").exists()


@pytest.mark.django_db
def test_the_service_refuses_anyone_but_the_patient(proxy_relationship):
    viewer = Viewer(
        user=proxy_relationship.proxy,
        role=ActorRole.PROXY,
        patient=proxy_relationship.patient,
        scopes=frozenset({Scope.RESULTS}),
        proxy_relationship=proxy_relationship,
    )

    with pytest.raises(PermissionDenied):
        result_preferences_update(viewer=viewer, wait_for_kinds=["imaging"])
    assert chosen(proxy_relationship.patient) == set()


@pytest.mark.django_db
def test_a_proxy_without_the_results_scope_gets_404(proxy_relationship, proxy_client):
    proxy_relationship.scopes = ["appointments"]
    proxy_relationship.save()

    assert proxy_client.get(URL).status_code == 404
    assert proxy_client.post(URL, {"kinds": ["imaging"]}).status_code == 404
