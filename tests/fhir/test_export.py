"""Download my record: asking for a copy, the background build (FHIR Bundle + PDF summary), what a proxy's copy
holds, the pages and downloads (another patient's copy is 404), the email, and expiry."""

import datetime
import io
import json

import pikepdf
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle

from careportal.access.layer import Viewer
from careportal.access.scopes import ALL_SCOPES, Scope
from careportal.audit.models import AccessAction, AccessEvent, ActorRole
from careportal.fhir.export_bundle import bundle_from_contents, record_bundle
from careportal.fhir.export_pdf import summary_pdf
from careportal.fhir.export_selectors import record_contents
from careportal.fhir.export_services import record_export_build, record_export_request, record_exports_expire
from careportal.fhir.export_storage import BUNDLE, PDF, export_file_exists, export_file_open
from careportal.fhir.models import RecordExport, RecordExportStatus
from careportal.notifications.models import Notification
from tests.accounts.factories import UserFactory
from tests.appointments.factories import AppointmentFactory
from tests.fhir.export_factories import RecordExportFactory
from tests.letters.factories import LetterFactory
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.patients.factories import CareTeamFactory, PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _private_files(settings, tmp_path) -> None:
    settings.LETTER_ROOT = tmp_path / "letters"


def pdf_text(data: bytes) -> str:
    """The text a PDF shows, from its content streams (the strings of its Tj operators), page by page."""
    words = []
    with pikepdf.open(io.BytesIO(data)) as pdf:
        for page in pdf.pages:
            for operands, operator in pikepdf.parse_content_stream(page):
                if str(operator) == "Tj":
                    words.append(bytes(operands[0]).decode("latin-1"))
    return "\n".join(words)


def _record(patient):
    """One of each part: a released result, a withdrawn one, an unreleased one, a sensitive one; an appointment, a
    letter, a message thread with an internal note."""
    team = CareTeamFactory(name="Haematology")
    report = DiagnosticReportFactory(patient=patient, released=True, test_name="Full blood count", care_team=team)
    ObservationFactory(
        report=report, code="HB", name="Haemoglobin", value_numeric=131, unit="g/L", reference_range="115-165"
    )
    withdrawn = DiagnosticReportFactory(
        patient=patient, released=True, test_name="Ferritin", retracted_at=timezone.now(), filler_order_number="F2"
    )
    ObservationFactory(report=withdrawn, code="FER", name="Ferritin level", value_numeric=987, unit="ug/L")
    DiagnosticReportFactory(patient=patient, test_name="Not yet released test", filler_order_number="F3")
    sensitive = DiagnosticReportFactory(
        patient=patient,
        released=True,
        test_name="Chlamydia screen",
        sensitive_category="sexual_health",
        filler_order_number="F4",
    )
    ObservationFactory(report=sensitive, code="CT", name="Chlamydia", value_text="Not detected", value_numeric=None)
    AppointmentFactory(patient=patient, service_name="Haematology follow-up")
    LetterFactory(patient=patient, document_type="Clinic letter", stored=False)
    thread = ThreadFactory(patient=patient, care_team=team, subject="Question about iron tablets")
    MessageFactory(thread=thread, body="Should I keep taking the iron tablets?")
    MessageFactory(thread=thread, body="Staff only: check ferritin", is_internal_note=True, author_role="staff")
    return report


def _child():
    """A child patient: a parent's access (the factory's default basis) is usable until they are 16."""
    return PatientWithAccountFactory(given_name="Arjun", birth_date=datetime.date(2016, 3, 1))


def _viewer(patient, **kwargs) -> Viewer:
    return Viewer(user=patient.user, role=ActorRole.PATIENT, patient=patient, scopes=ALL_SCOPES, **kwargs)


def _made(patient, viewer, django_capture_on_commit_callbacks) -> RecordExport:
    with django_capture_on_commit_callbacks(execute=True):
        export, created = record_export_request(viewer=viewer)
    assert created
    export.refresh_from_db()
    return export


def _files(export) -> tuple[dict, str]:
    with export_file_open(stored_name=export.bundle_name, kind=BUNDLE) as f:
        bundle = json.loads(f.read())
    with export_file_open(stored_name=export.pdf_name, kind=PDF) as f:
        text = pdf_text(f.read())
    return bundle, text


# The build -------------------------------------------------------------------------------------------------------


def test_a_patients_copy_is_made_in_the_background_with_both_files(patient, django_capture_on_commit_callbacks):
    _record(patient)
    export = _made(patient, _viewer(patient), django_capture_on_commit_callbacks)

    assert export.status == RecordExportStatus.READY
    assert export.progress == 100
    assert export.expires_at == export.ready_at + datetime.timedelta(days=7)
    assert export.error == ""
    bundle, text = _files(export)
    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "collection"
    types = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    for expected in (
        "Patient",
        "DiagnosticReport",
        "Observation",
        "Appointment",
        "DocumentReference",
        "Communication",
        "AuditEvent",
    ):
        assert expected in types
    assert patient.full_name in text
    assert "Haemoglobin: 131 g/L (normal range 115-165 g/L)" in text
    assert "Haematology follow-up" in text
    assert "Clinic letter" in text
    assert "Question about iron tablets" in text
    assert "Should I keep taking the iron tablets?" in text
    assert "Who has viewed your record" in text
    assert "Chlamydia screen" in text  # the patient sees their own sensitive results


def test_only_released_results_and_a_withdrawn_one_without_values(patient, django_capture_on_commit_callbacks):
    _record(patient)
    export = _made(patient, _viewer(patient), django_capture_on_commit_callbacks)
    bundle, text = _files(export)

    assert "Not yet released test" not in text and "Not yet released test" not in json.dumps(bundle)
    assert "Ferritin" in text and "Withdrawn" in text
    # The withdrawn result is named, as the API names it, but carries no value (987 ug/L) anywhere.
    assert "987 ug/L" not in text and '"value": 987' not in json.dumps(bundle)
    reports = {
        e["resource"]["code"]["text"]: e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DiagnosticReport"
    }
    assert reports["Ferritin"]["status"] == "entered-in-error"
    withdrawn = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation" and e["resource"]["status"] == "entered-in-error"
    ]
    assert withdrawn and not any("valueQuantity" in o or "valueString" in o for o in withdrawn)


def test_internal_notes_are_never_in_a_copy(patient, django_capture_on_commit_callbacks):
    _record(patient)
    bundle, text = _files(_made(patient, _viewer(patient), django_capture_on_commit_callbacks))
    assert "Staff only" not in text and "Staff only" not in json.dumps(bundle)


def test_a_proxys_copy_holds_only_their_scopes_no_ungranted_sensitive_results_and_no_access_log(
    django_capture_on_commit_callbacks,
):
    child = _child()
    _record(child)
    relationship = ProxyRelationshipFactory(
        patient=child, scopes=["results", "appointments"], valid_from=child.birth_date
    )
    client = Client()
    client.force_login(relationship.proxy)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("export:request"))
    export = RecordExport.objects.get(patient=child)
    assert response.status_code == 302
    assert export.requested_as == "proxy" and export.scopes == ["appointments", "results"]
    assert export.status == RecordExportStatus.READY, export.error
    bundle, text = _files(export)

    types = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert types == {"Patient", "DiagnosticReport", "Observation", "Appointment"}
    assert "Full blood count" in text and "Haematology follow-up" in text
    for absent in ("Chlamydia", "Clinic letter", "iron tablets", "Who has viewed"):
        assert absent not in text and absent not in json.dumps(bundle)


def test_a_proxy_granted_the_sensitive_category_gets_it(django_capture_on_commit_callbacks):
    child = _child()
    _record(child)
    relationship = ProxyRelationshipFactory(
        patient=child, scopes=["results"], valid_from=child.birth_date, sensitive_categories_granted=["sexual_health"]
    )
    viewer = Viewer(
        user=relationship.proxy,
        role=ActorRole.PROXY,
        patient=child,
        scopes=frozenset({Scope.RESULTS}),
        proxy_relationship=relationship,
    )
    export = _made(child, viewer, django_capture_on_commit_callbacks)
    assert "Chlamydia screen" in _files(export)[1]


def test_access_ended_before_the_build_fails_the_copy_with_a_reason_and_no_files(django_capture_on_commit_callbacks):
    child = _child()
    relationship = ProxyRelationshipFactory(patient=child, scopes=["results"], valid_from=child.birth_date)
    viewer = Viewer(
        user=relationship.proxy,
        role=ActorRole.PROXY,
        patient=child,
        scopes=frozenset({Scope.RESULTS}),
        proxy_relationship=relationship,
    )
    export, _ = record_export_request(viewer=viewer)  # the task would run on commit; it has not yet
    relationship.status = "revoked"
    relationship.save()

    assert record_export_build(export_id=export.pk) == RecordExportStatus.FAILED
    export.refresh_from_db()
    assert export.error == "Access to this record ended after the copy was asked for."
    assert child.full_name not in export.error
    assert not export.bundle_name and not export.pdf_name


def test_the_build_audits_each_part_read_on_behalf_of_the_patient(patient, django_capture_on_commit_callbacks):
    _made(patient, _viewer(patient), django_capture_on_commit_callbacks)
    labels = set(AccessEvent.objects.filter(patient=patient).values_list("object_label", flat=True))
    assert "test results (for a copy of the record)" in labels
    assert "record access log (for a copy of the record)" in labels
    assert "a copy of your record" in labels


def test_building_twice_does_nothing_the_second_time(patient, django_capture_on_commit_callbacks):
    export = _made(patient, _viewer(patient), django_capture_on_commit_callbacks)
    assert record_export_build(export_id=export.pk) == RecordExportStatus.READY
    assert RecordExport.objects.get(pk=export.pk).bundle_name == export.bundle_name


def _queries_for_a_copy(patient, items: int) -> int:
    for n in range(items):
        report = DiagnosticReportFactory(patient=patient, released=True, filler_order_number=f"Q{patient.pk}-{n}")
        ObservationFactory(report=report)
        ObservationFactory(report=report, sequence=2, code="WBC")
        MessageFactory(thread=ThreadFactory(patient=patient))
        AppointmentFactory(patient=patient)
        LetterFactory(patient=patient, stored=False)
    viewer = _viewer(patient)
    with CaptureQueriesContext(connection) as queries:
        contents = record_contents(viewer=viewer)
        bundle_from_contents(contents)
        summary_pdf(contents, made_at=timezone.now())
    return len(queries)


def test_making_a_copy_reads_the_same_number_of_queries_however_much_the_record_holds():
    small = _queries_for_a_copy(PatientWithAccountFactory(), 1)
    large = _queries_for_a_copy(PatientWithAccountFactory(), 6)
    assert small == large
    assert small <= 15


# Asking, and the pages ----------------------------------------------------------------------------------------------


def test_asking_twice_while_one_is_made_shows_the_same_copy(patient, patient_client):
    first = patient_client.post(reverse("export:request"))
    second = patient_client.post(reverse("export:request"))
    assert RecordExport.objects.filter(patient=patient).count() == 1
    assert first["Location"] == second["Location"]
    # The start page sends them to the copy being made.
    assert patient_client.get(reverse("export:start"))["Location"] == first["Location"]


def test_the_start_page_says_what_the_copy_holds(patient_client):
    page = patient_client.get(reverse("export:start")).content.decode()
    assert "Download a copy of your record" in page
    assert "the log of who has viewed or changed your record" in page


def test_a_viewer_with_no_part_to_copy_gets_404_and_nothing_is_made(patient):
    viewer = Viewer(user=patient.user, role=ActorRole.PATIENT, patient=patient, scopes=frozenset({Scope.ACCOUNT}))
    with pytest.raises(Exception) as refused:
        record_export_request(viewer=viewer)
    assert refused.type.__name__ == "Http404"
    assert not RecordExport.objects.exists()


def test_progress_page_refreshes_itself_and_shows_the_step(patient, patient_client):
    export = RecordExportFactory(
        patient=patient,
        requested_by=patient.user,
        status="building",
        progress=45,
        step="Making the file for health apps (FHIR)",
    )
    page = patient_client.get(reverse("export:detail", kwargs={"public_id": export.public_id})).content.decode()
    assert 'http-equiv="refresh"' in page
    assert "Making the file for health apps (FHIR)" in page and "45% done" in page
    fragment = patient_client.get(
        reverse("export:detail", kwargs={"public_id": export.public_id}), headers={"HX-Request": "true"}
    )
    assert fragment.content.decode().startswith('<div id="export-progress"')


def test_downloads_are_audited_and_served_privately(patient, patient_client):
    export = RecordExportFactory(patient=patient, requested_by=patient.user, ready=True)
    for name, content_type in (
        ("export:download-json", "application/fhir+json"),
        ("export:download-pdf", "application/pdf"),
    ):
        response = patient_client.get(reverse(name, kwargs={"public_id": export.public_id}))
        assert response.status_code == 200
        assert response["Content-Type"] == content_type
        assert "private" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
        assert "attachment" in response["Content-Disposition"]
        assert patient.family_name not in response["Content-Disposition"]
    downloads = AccessEvent.objects.filter(patient=patient, action=AccessAction.DOWNLOAD)
    assert downloads.count() == 2
    export.refresh_from_db()
    assert export.downloaded_at is not None


@pytest.mark.parametrize("url_name", ["export:detail", "export:download-json", "export:download-pdf"])
def test_another_patients_copy_is_not_found(url_name, patient_client, other_patient):
    export = RecordExportFactory(patient=other_patient, requested_by=other_patient.user, ready=True)
    response = patient_client.get(reverse(url_name, kwargs={"public_id": export.public_id}))
    assert response.status_code == 404
    assert AccessEvent.objects.filter(action=AccessAction.DENIED, object_id=str(export.public_id)).exists()


def test_a_copy_a_proxy_made_is_not_the_patients(patient, patient_client):
    proxy = UserFactory()
    export = RecordExportFactory(patient=patient, requested_by=proxy, requested_as="proxy", ready=True)
    assert patient_client.get(reverse("export:detail", kwargs={"public_id": export.public_id})).status_code == 404


def test_a_proxy_whose_scopes_narrowed_can_no_longer_download_the_wider_copy(django_capture_on_commit_callbacks):
    child = _child()
    relationship = ProxyRelationshipFactory(patient=child, scopes=["appointments"], valid_from=child.birth_date)
    export = RecordExportFactory(
        patient=child,
        requested_by=relationship.proxy,
        requested_as="proxy",
        scopes=["appointments", "results"],
        ready=True,
    )
    client = Client()
    client.force_login(relationship.proxy)
    assert client.get(reverse("export:download-pdf", kwargs={"public_id": export.public_id})).status_code == 404


def test_a_proxy_reads_whose_record_the_copy_is_of():
    child = _child()
    relationship = ProxyRelationshipFactory(patient=child, scopes=["appointments"], valid_from=child.birth_date)
    export = RecordExportFactory(
        patient=child, requested_by=relationship.proxy, requested_as="proxy", scopes=["appointments"], ready=True
    )
    client = Client()
    client.force_login(relationship.proxy)

    start = client.get(reverse("export:start")).content.decode()
    detail = client.get(reverse("export:detail", kwargs={"public_id": export.public_id})).content.decode()

    assert "Download a copy of Arjun&#39;s record" in start
    assert "appointments, past and upcoming" in start and "test results" not in start
    assert "the log of who has viewed" not in start
    assert f"{child.full_name}" in detail and "Your copy is ready" in detail


def test_an_expired_copy_has_a_clear_page_and_no_download(patient, patient_client):
    export = RecordExportFactory(patient=patient, requested_by=patient.user, ready=True)
    RecordExport.objects.filter(pk=export.pk).update(expires_at=timezone.now() - datetime.timedelta(minutes=1))

    assert record_exports_expire() == 1
    export.refresh_from_db()
    assert export.status == RecordExportStatus.EXPIRED
    assert not export_file_exists(stored_name=export.bundle_name, kind=BUNDLE)
    page = patient_client.get(reverse("export:detail", kwargs={"public_id": export.public_id})).content.decode()
    assert "This copy is no longer available" in page and "Ask for a new copy" in page
    download = patient_client.get(reverse("export:download-json", kwargs={"public_id": export.public_id}))
    assert download.status_code == 302


def test_expiry_leaves_copies_still_in_their_seven_days(patient):
    export = RecordExportFactory(patient=patient, requested_by=patient.user, ready=True)
    assert record_exports_expire() == 0
    assert export_file_exists(stored_name=export.bundle_name, kind=BUNDLE)


def test_a_failed_copy_has_a_clear_page_with_a_retry(patient, patient_client):
    export = RecordExportFactory(
        patient=patient, requested_by=patient.user, status="failed", error="Something went wrong while making the copy."
    )
    page = patient_client.get(reverse("export:detail", kwargs={"public_id": export.public_id})).content.decode()
    assert "We could not make your copy" in page and "Try again" in page
    response = patient_client.post(reverse("export:request"))
    assert response.status_code == 302
    assert RecordExport.objects.filter(patient=patient).count() == 2


def test_the_home_page_links_to_the_download(patient_client):
    page = patient_client.get(reverse("home:home")).content.decode()
    assert "Download a copy of your record" in page and reverse("export:start") in page


# The email -----------------------------------------------------------------------------------------------------------


def test_the_ready_email_goes_through_a_real_smtp_server_with_no_clinical_detail(
    smtp_server, patient, django_capture_on_commit_callbacks
):
    _record(patient)
    _made(patient, _viewer(patient), django_capture_on_commit_callbacks)

    email = smtp_server.wait_for_message(to=patient.user.email)
    assert email["Subject"] == "Your copy of a hospital record is ready to download in CarePortal"
    body = smtp_server.body(email)
    for detail in ("Haemoglobin", "Full blood count", patient.family_name, patient.hospital_number):
        assert detail not in body
    assert Notification.objects.filter(kind="export_ready").count() == 1


def test_record_bundle_is_a_valid_collection_bundle_with_the_nhs_number(patient):
    _record(patient)
    bundle = record_bundle(_viewer(patient))

    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "collection"
    patient_resource = bundle["entry"][0]["resource"]
    assert patient_resource["resourceType"] == "Patient"
    assert patient_resource["birthDate"] == patient.birth_date.isoformat()
    assert {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": patient.nhs_number} in patient_resource[
        "identifier"
    ]
    observation = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation" and e["resource"]["code"]["text"] == "Haemoglobin"
    )
    assert observation["valueQuantity"] == {"value": 131.0, "unit": "g/L"}
    assert observation["referenceRange"][0]["text"] == "115-165"
