"""The same final report sent again under a new control id, in the forms interface engines send it (issue 10): a
message whose values, flags, ranges and comments are unchanged changes nothing the patient or the clinician sees,
whatever its line endings, version, batch wrapping or extra segments. Only a real change, or status C, is an
amendment."""

import re
from html import unescape

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from careportal.hl7.models import InboundMessage, MessageStatus
from careportal.results.models import DiagnosticReport, ReportStatus, ResultRouting
from tests.hl7.test_services import ack_code, receive, sample
from tests.patients.factories import PatientWithAccountFactory

FBC = sample("oru_r01_fbc_final.hl7")
CONTROL_ID = b"WP20261102093015001"
# 1 MB of comment text: a long, wrapped report comment as some labs send (words, so a reader can follow it).
LONG_COMMENT = ("Film reviewed by the duty haematologist. " * 25_000)[:1_000_000].strip().encode()


def new_control_id(raw: bytes, n: int = 2) -> bytes:
    return raw.replace(CONTROL_ID, b"WP2026110209301500" + str(n).encode())


def batch(*messages: bytes) -> bytes:
    body = b"".join(messages)
    return (
        b"FHS|^~\\&|WINPATH|RRV_LAB|CAREPORTAL|RRV|20261102100000\r"
        b"BHS|^~\\&|WINPATH|RRV_LAB|CAREPORTAL|RRV|20261102100000\r" + body + f"BTS|{len(messages)}\rFTS|1\r".encode()
    )


def with_long_comment(raw: bytes) -> bytes:
    return raw.replace(b"NTE|1|L|Microcytic", b"NTE|1|L|" + LONG_COMMENT + b"\rNTE|2|L|Microcytic")


RESEND_FORMS = {
    "byte-identical": lambda raw: raw,
    "LF line ends": lambda raw: raw.replace(b"\r", b"\n"),
    "CRLF line ends": lambda raw: raw.replace(b"\r", b"\r\n"),
    "version 2.3": lambda raw: raw.replace(b"|P|2.4|", b"|P|2.3|"),
    "version 2.9": lambda raw: raw.replace(b"|P|2.4|", b"|P|2.9|"),
    "version 2.9 with its fifth encoding character": lambda raw: raw.replace(b"|P|2.4|", b"|P|2.9|").replace(
        b"MSH|^~\\&|", b"MSH|^~\\&#|"
    ),
    "an added Z-segment": lambda raw: raw.replace(b"PV1|", b"ZPI|1|local^stuff\rPV1|") + b"ZQA|1|checked\r",
    "a Z-segment between the last value and the comment": lambda raw: raw.replace(b"NTE|1|L|", b"ZOB|x\rNTE|1|L|"),
    "FHS/BHS batch": batch,
    "trailing spaces and MLLP bytes": lambda raw: b"\x0b" + raw.replace(b"\r", b"  \r") + b"\x1c\r",
    "a later message time (MSH-7)": lambda raw: raw.replace(b"|20261102093015|", b"|20261102120000|"),
}


@pytest.fixture
def patient(db):
    # Eleanor of the FBC sample, with a portal account (the root conftest's clients sign in as this patient).
    return PatientWithAccountFactory(hospital_number="40012345", nhs_number="9990000018")


@pytest.fixture
def routed(clinician_membership):
    ResultRouting.objects.create(match="service", code="HAEM", care_team=clinician_membership.care_team)
    return clinician_membership.care_team


def the_report() -> DiagnosticReport:
    return DiagnosticReport.objects.get()


def released_from(raw: bytes) -> DiagnosticReport:
    assert ack_code(receive(raw)) == "AA"
    report = the_report()
    report.released_at = timezone.now()
    report.save(update_fields=["released_at"])
    return report


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    html = response.content.decode()
    html = html.split("<main", 1)[-1].split("</main>", 1)[0]
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def assert_nothing_changed(report: DiagnosticReport, *, observation_ids: list[int]) -> None:
    report.refresh_from_db()
    assert report.version == 1
    assert not report.is_amended
    assert report.status == ReportStatus.FINAL
    assert not report.earlier_versions.exists()
    assert list(report.observations.order_by("sequence").values_list("pk", flat=True)) == observation_ids


def assert_patient_and_clinician_see_no_amendment(report, patient_client, clinician_client) -> None:  # type: ignore[no-untyped-def]
    page = text_of(patient_client.get(reverse("results:report", kwargs={"public_id": report.public_id})))
    assert "Haemoglobin" in page
    assert "corrected" not in page.lower() and "amended" not in page.lower()
    listing = text_of(patient_client.get(reverse("results:list")))
    assert "Amended" not in listing and "Ready" in listing
    inbox = text_of(clinician_client.get(reverse("results:inbox-report", kwargs={"report_id": report.public_id})))
    assert "Haemoglobin" in inbox
    assert "Amended" not in inbox and "corrected" not in inbox.lower()


@pytest.mark.django_db
@pytest.mark.parametrize("form", list(RESEND_FORMS))
def test_the_final_sent_again_in_another_form_changes_nothing(
    form: str, patient, routed, patient_client, clinician_client
) -> None:
    report = released_from(FBC)
    ids = list(report.observations.order_by("sequence").values_list("pk", flat=True))

    ack = receive(RESEND_FORMS[form](new_control_id(FBC)))

    assert ack_code(ack) == "AA"
    assert InboundMessage.objects.filter(status=MessageStatus.APPLIED).count() == 2
    assert_nothing_changed(report, observation_ids=ids)
    assert report.actions.order_by("pk").last().note == "Sent again by the lab: no change"
    assert_patient_and_clinician_see_no_amendment(report, patient_client, clinician_client)


@pytest.mark.django_db
def test_a_report_with_a_1_mb_comment_sent_again_changes_nothing(patient, routed, patient_client, clinician_client):
    report = released_from(with_long_comment(FBC))
    assert len(report.lab_comment) > 1_000_000
    ids = list(report.observations.order_by("sequence").values_list("pk", flat=True))

    for n, form in enumerate(("byte-identical", "CRLF line ends", "FHS/BHS batch"), start=2):
        assert ack_code(receive(RESEND_FORMS[form](new_control_id(with_long_comment(FBC), n)))) == "AA"

    assert_nothing_changed(report, observation_ids=ids)
    assert len(report.lab_comment) > 1_000_000
    assert_patient_and_clinician_see_no_amendment(report, patient_client, clinician_client)


@pytest.mark.django_db
def test_the_final_sent_again_in_a_batch_file_by_hl7_import_changes_nothing(patient, tmp_path) -> None:
    report = released_from(FBC)
    ids = list(report.observations.order_by("sequence").values_list("pk", flat=True))
    path = tmp_path / "resend.hl7"
    # A batch file with LF line ends, as a file copied off a Unix machine: two resends of the same final.
    path.write_bytes(batch(new_control_id(FBC, 2), new_control_id(FBC, 3)).replace(b"\r", b"\n"))

    call_command("hl7_import", str(path), "--no-progress")

    assert InboundMessage.objects.filter(status=MessageStatus.APPLIED).count() == 3
    assert_nothing_changed(report, observation_ids=ids)


@pytest.mark.django_db
def test_values_longer_than_their_columns_sent_again_change_nothing(patient) -> None:
    """The stored row keeps the first 200 characters of a name and 60 of a unit; the re-sent copy used to be
    compared uncut, so every resend of such a report was an "amendment"."""
    long = FBC.replace(
        b"HB^Haemoglobin^WINPATH||98|g/L|", b"HB^" + b"Haemoglobin " * 30 + b"^WINPATH||98|" + b"g/L " * 30 + b"|"
    )
    report = released_from(long)
    ids = list(report.observations.order_by("sequence").values_list("pk", flat=True))

    assert ack_code(receive(new_control_id(long))) == "AA"

    assert_nothing_changed(report, observation_ids=ids)


@pytest.mark.django_db
def test_ranges_with_more_decimal_places_than_stored_sent_again_change_nothing(patient) -> None:
    fine = FBC.replace(b"|7.2|10*9/L|4.0-11.0|", b"|7.2|10*9/L|4.00000001-11.0000004|")
    report = released_from(fine)
    ids = list(report.observations.order_by("sequence").values_list("pk", flat=True))

    assert ack_code(receive(new_control_id(fine))) == "AA"

    assert_nothing_changed(report, observation_ids=ids)


@pytest.mark.django_db
def test_a_resend_with_an_earlier_message_time_and_no_report_time_changes_nothing(patient) -> None:
    """Without OBR-22 the message time decides which copy is newer: a copy sent again with an earlier MSH-7 (an
    engine replaying its queue) used to be kept as an "earlier version" and mark the report amended."""
    no_report_time = FBC.replace(b"||202611020930||HM|F", b"||||HM|F")
    report = released_from(no_report_time)
    ids = list(report.observations.order_by("sequence").values_list("pk", flat=True))

    earlier = new_control_id(no_report_time).replace(b"|20261102093015|", b"|20261102080000|")
    assert ack_code(receive(earlier)) == "AA"

    assert_nothing_changed(report, observation_ids=ids)


@pytest.mark.django_db
def test_the_original_sent_again_after_its_correction_adds_no_version(patient) -> None:
    receive(sample("oru_r01_ue_final.hl7"))
    receive(sample("oru_r01_ue_corrected.hl7"))
    report = the_report()
    assert report.is_amended and report.version == 2

    original_again = sample("oru_r01_ue_final.hl7").replace(b"|ORU^R01|", b"|ORU^R01|", 1)
    control = re.search(rb"\|ORU\^R01\|([^|]*)\|", original_again).group(1)
    assert ack_code(receive(original_again.replace(control, control + b"R"))) == "AA"

    report.refresh_from_db()
    assert report.version == 2 and report.earlier_versions.count() == 1
    assert report.is_amended and report.status == ReportStatus.CORRECTED


@pytest.mark.django_db
def test_a_real_change_in_any_form_still_shows_as_amended(patient, routed, patient_client, clinician_client):
    report = released_from(FBC)
    changed = new_control_id(FBC).replace(b"||98|g/L|", b"||99|g/L|").replace(b"\r", b"\r\n")

    assert ack_code(receive(batch(changed))) == "AA"

    report.refresh_from_db()
    assert report.is_amended and report.version == 2
    assert report.earlier_versions.get().reason == "corrected"
    page = text_of(patient_client.get(reverse("results:report", kwargs={"public_id": report.public_id})))
    assert "The lab corrected this report" in page
    inbox = text_of(clinician_client.get(reverse("results:inbox-report", kwargs={"report_id": report.public_id})))
    assert "Amended" in inbox


@pytest.mark.django_db
def test_a_changed_comment_is_an_amendment(patient) -> None:
    report = released_from(FBC)

    assert ack_code(receive(new_control_id(FBC).replace(b"iron studies", b"ferritin"))) == "AA"

    report.refresh_from_db()
    assert report.is_amended and report.version == 2


@pytest.mark.django_db
def test_status_c_with_the_same_values_still_shows_as_amended(patient, routed, patient_client, clinician_client):
    report = released_from(FBC)
    corrected = new_control_id(FBC).replace(b"||HM|F\r", b"||HM|C\r").replace(b"|||F|||", b"|||C|||")

    assert ack_code(receive(corrected.replace(b"\r", b"\n"))) == "AA"

    report.refresh_from_db()
    assert report.status == ReportStatus.CORRECTED
    assert report.is_amended and report.version == 2
    page = text_of(patient_client.get(reverse("results:report", kwargs={"public_id": report.public_id})))
    assert "The lab corrected this report" in page
    inbox = text_of(clinician_client.get(reverse("results:inbox-report", kwargs={"report_id": report.public_id})))
    assert "Amended" in inbox
