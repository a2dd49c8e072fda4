"""Storing reports from ORU^R01: versions, corrections, order of arrival, value types, comments, routing, release."""

import base64
import datetime
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext

from careportal.hl7.models import InboundMessage
from careportal.hl7.services import message_receive
from careportal.patients.models import CareRelationship
from careportal.results.models import DiagnosticReport, Observation, ReleaseRule, ReportStatus, ResultRouting
from tests.hl7.interfaces import LOCAL_PEER
from tests.hl7.test_services import ack_code, ack_text, err_code, receive, sample
from tests.patients.factories import CareRelationshipFactory, CareTeamFactory, PatientFactory

MSH = "MSH|^~\\&|WINPATH|RRV_LAB|CAREPORTAL|RRV|{sent}||ORU^R01|{control}|P|2.4|||AL|NE|GBR|UNICODE UTF-8"
PID = "PID|1||40012345^^^RRV^MR~9990000018^^^NHS^NH||HARGREAVES^ELEANOR||19580314|F"
PV1 = "PV1|1|O|HAEM^^^RRV||||C1234567^OKAFOR^CHIDI^^^DR|||HAEM"


def obr(*, filler: str = "26H1", status: str = "F", reported: str = "202611020930", test: str = "FBC", cat: str = "HM"):
    return (
        f"OBR|1|OE-1|{filler}|{test}^Test {test}^WINPATH|||202611020815|||||||202611020840|BLOOD^Venous blood|"
        f"C1234567^OKAFOR^CHIDI^^^DR||||||{reported}||{cat}|{status}"
    )


def obx(n: int, value_type: str, code: str, value: str, *, unit: str = "", rng: str = "", flag: str = "") -> str:
    return f"OBX|{n}|{value_type}|{code}^Name {code}^WINPATH||{value}|{unit}|{rng}|{flag}|||F|||202611020815"


def oru(*segments: str, control: str = "C1", sent: str = "20261102093000", pv1: bool = True) -> bytes:
    head = [MSH.format(control=control, sent=sent), PID]
    if pv1:
        head.append(PV1)
    return ("\r".join([*head, *segments]) + "\r").encode()


@pytest.fixture
def patient(db):
    return PatientFactory(hospital_number="40012345", nhs_number="9990000018")


def the_report() -> DiagnosticReport:
    return DiagnosticReport.objects.get()


# ---------------------------------------------------------------------------------------------------------------
# Order of arrival


def test_correction_that_arrives_before_its_original(patient) -> None:
    corrected = sample("oru_r01_ue_corrected.hl7")
    original = sample("oru_r01_ue_final.hl7")
    assert ack_code(receive(corrected)) == "AA"
    report = the_report()
    assert report.status == ReportStatus.CORRECTED
    assert report.release_due_at is not None
    assert report.observations.get(code="K").value_numeric == Decimal("4.6")

    assert ack_code(receive(original)) == "AA"
    report.refresh_from_db()
    assert report.status == ReportStatus.CORRECTED
    assert report.is_amended
    assert report.observations.get(code="K").value_numeric == Decimal("4.6")
    assert report.lab_comment.startswith("Amended report")
    earlier = report.earlier_versions.get()
    assert earlier.reason == "corrected" and earlier.status == "final"
    assert earlier.reported_at < report.reported_at
    assert {o["code"]: o["value_text"] for o in earlier.observations}["K"] == "6.1"
    assert report.version == 2


def test_older_preliminary_after_the_final_never_overwrites(patient) -> None:
    receive(sample("oru_r01_fbc_final.hl7"))
    report = the_report()
    prelim = oru(obr(filler="26H0456781", status="P", reported="202611020900"), obx(1, "NM", "HB", "97"), control="P1")
    assert ack_code(receive(prelim)) == "AA"
    report.refresh_from_db()
    assert report.status == ReportStatus.FINAL and not report.is_amended
    assert report.observations.get(code="HB").value_numeric == Decimal("98")
    assert report.earlier_versions.get().reason == "preliminary_replaced"


def test_final_sent_again_with_the_same_values_changes_nothing(patient) -> None:
    raw = sample("oru_r01_fbc_final.hl7")
    receive(raw)
    report = the_report()
    ids = list(report.observations.values_list("pk", flat=True))
    assert ack_code(receive(raw.replace(b"WP20261102093015001", b"WP20261102093015099"))) == "AA"
    report.refresh_from_db()
    assert report.version == 1 and not report.is_amended
    assert list(report.observations.values_list("pk", flat=True)) == ids
    assert not report.earlier_versions.exists()
    assert list(report.actions.values_list("kind", flat=True)) == ["arrived", "updated"]


def test_final_sent_again_with_other_values_is_a_correction(patient) -> None:
    raw = sample("oru_r01_fbc_final.hl7")
    receive(raw)
    changed = raw.replace(b"WP20261102093015001", b"WP2").replace(b"||98|g/L|", b"||99|g/L|")
    assert ack_code(receive(changed)) == "AA"
    report = the_report()
    assert report.status == ReportStatus.FINAL
    assert report.is_amended and report.version == 2
    assert report.observations.get(code="HB").value_numeric == Decimal("99")
    assert report.earlier_versions.get().reason == "corrected"


def test_correction_of_a_preliminary_report_computes_the_release_date(patient) -> None:
    receive(oru(obr(status="P", reported="202611020900"), obx(1, "NM", "HB", "97"), control="P1"))
    assert the_report().release_due_at is None
    receive(oru(obr(status="C", reported="202611021000"), obx(1, "NM", "HB", "98"), control="C1"))
    report = the_report()
    assert report.status == ReportStatus.CORRECTED
    assert report.release_due_at is not None


def test_cancelled_report_is_never_due_for_release(patient) -> None:
    receive(oru(obr(status="X"), control="X1"))
    report = the_report()
    assert report.status == ReportStatus.CANCELLED and report.release_due_at is None

    receive(oru(obr(filler="26H2", status="F"), obx(1, "NM", "HB", "98"), control="F2"))
    receive(oru(obr(filler="26H2", status="X", reported="202611021200"), control="X2"))
    cancelled = DiagnosticReport.objects.get(filler_order_number="26H2")
    assert cancelled.status == ReportStatus.CANCELLED and cancelled.release_due_at is None
    assert cancelled.actions.filter(note="The lab cancelled the report").exists()


def test_report_statuses_from_obr_25(patient) -> None:
    for n, (code, status) in enumerate(
        [("I", "registered"), ("O", "registered"), ("S", "registered"), ("R", "partial"), ("A", "partial")]
    ):
        receive(oru(obr(filler=f"S{n}", status=code), control=f"S{n}"))
        assert DiagnosticReport.objects.get(filler_order_number=f"S{n}").status == status


def test_unknown_report_status_is_an_error(patient) -> None:
    ack = receive(oru(obr(status="Q"), obx(1, "NM", "HB", "1")))
    assert ack_code(ack) == "AE" and err_code(ack) == "103"


def test_blank_report_status_comes_from_the_values(patient) -> None:
    receive(oru(obr(status=""), obx(1, "NM", "HB", "1")))
    assert the_report().status == ReportStatus.FINAL


def test_order_number_of_another_patients_report_is_an_error(patient) -> None:
    receive(sample("oru_r01_fbc_final.hl7"))
    PatientFactory(hospital_number="40077801", nhs_number="9990000026")
    other = (
        sample("oru_r01_fbc_final.hl7")
        .replace(b"40012345", b"40077801")
        .replace(b"9990000018", b"9990000026")
        .replace(b"WP20261102093015001", b"WP9")
    )
    ack = receive(other)
    assert ack_code(ack) == "AE" and err_code(ack) == "205"
    assert "another patient" in ack_text(ack)


# ---------------------------------------------------------------------------------------------------------------
# Values


def test_structured_numeric_values(patient) -> None:
    receive(
        oru(
            obr(),
            obx(1, "SN", "A", "<^5"),
            obx(2, "SN", "B", ">^90"),
            obx(3, "SN", "C", "^3^:^4"),
            obx(4, "SN", "D", "^10^-^20"),
            obx(5, "SN", "E", "<=^0.5"),
            obx(6, "SN", "F", "=^7"),
        )
    )
    values = {o.code: o for o in Observation.objects.all()}
    assert (values["A"].value_text, values["A"].value_numeric, values["A"].value_comparator) == (
        "<5",
        Decimal("5"),
        "<",
    )
    assert values["B"].value_text == ">90" and values["B"].value_comparator == ">"
    assert (values["C"].value_text, values["C"].value_numeric) == ("3:4", None)
    assert (values["D"].value_text, values["D"].value_numeric) == ("10-20", None)
    assert values["E"].value_comparator == "<=" and values["E"].value_numeric == Decimal("0.5")
    assert (values["F"].value_text, values["F"].value_comparator, values["F"].value_numeric) == ("7", "", 7)


@pytest.mark.parametrize("value", ["?^5", "<^five", "^1^-^x"])
def test_invalid_structured_numeric_is_an_error(patient, value: str) -> None:
    ack = receive(oru(obr(), obx(3, "SN", "A", value)))
    assert ack_code(ack) == "AE"
    assert ack_text(ack).startswith("OBX-5 (set id 3)")


@pytest.mark.parametrize(
    ("rng", "low", "high"),
    [
        ("115-165", Decimal("115"), Decimal("165")),
        ("4.0 - 11.0", Decimal("4.0"), Decimal("11.0")),
        ("-2-2", Decimal("-2"), Decimal("2")),
        (">60", Decimal("60"), None),
        (">=60", Decimal("60"), None),
        ("<5", None, Decimal("5")),
        ("Negative", None, None),
        ("165-115", None, None),
    ],
)
def test_reference_ranges(patient, rng: str, low: Decimal | None, high: Decimal | None) -> None:
    receive(oru(obr(), obx(1, "NM", "HB", "5", rng=rng)))
    value = Observation.objects.get()
    assert (value.reference_range, value.reference_low, value.reference_high) == (rng, low, high)


@pytest.mark.parametrize(
    ("flag", "stored"),
    [("L", "L"), ("HH", "HH"), ("AA", "AA"), ("A", "A"), ("N", "N"), ("", ""), ("W", ""), ("h", "H"), ("<", "")],
)
def test_abnormal_flags(patient, flag: str, stored: str) -> None:
    receive(oru(obr(), obx(1, "NM", "HB", "5", flag=flag)))
    assert Observation.objects.get().interpretation == stored
    report = the_report()
    assert report.is_critical == (stored in {"HH", "AA"})
    assert report.is_abnormal == (stored in {"L", "H", "HH", "AA", "A"})


def test_text_coded_and_other_value_types(patient) -> None:
    receive(
        oru(
            obr(),
            obx(1, "ST", "S", "a^b"),
            obx(2, "TX", "T", "line one~line two"),
            obx(3, "FT", "F", "one\\.br\\two\\.sp 2\\three"),
            obx(4, "CWE", "W", "260385009^Negative^SCT"),
            obx(5, "CE", "E", "^Only text"),
            obx(6, "DT", "D", "20261102"),
            obx(7, "NM", "N", ""),
        )
    )
    values = {o.code: o for o in Observation.objects.all()}
    assert values["S"].value_text == "a^b"
    assert values["T"].value_text == "line one\nline two"
    assert values["F"].value_text == "one\ntwo\n\nthree"
    assert (values["W"].value_type, values["W"].value_text, values["W"].value_code) == ("CWE", "Negative", "260385009")
    assert values["W"].value_code_system == "SCT"
    assert values["E"].value_text == "Only text"
    assert (values["D"].value_type, values["D"].value_text) == ("ST", "20261102")
    assert (values["N"].value_text, values["N"].value_numeric) == ("", None)


@pytest.mark.parametrize("value", ["not-a-number", "NaN", "1e3", "12,5"])
def test_invalid_numbers_are_errors_naming_the_set_id(patient, value: str) -> None:
    ack = receive(oru(obr(), obx(1, "NM", "HB", "1"), obx(2, "NM", "K", value)))
    assert ack_code(ack) == "AE" and err_code(ack) == "102"
    assert ack_text(ack).startswith("OBX-5 (set id 2)")
    assert str(ack.segment("ERR")(2)) == "OBX^2^5"  # the second OBX segment, field 5
    assert DiagnosticReport.objects.count() == 0


def test_missing_observation_code_or_test_code_is_an_error(patient) -> None:
    ack = receive(oru(obr(), "OBX|1|NM|||5"))
    assert ack_code(ack) == "AE" and "OBX-3" in ack_text(ack)
    ack = receive(oru(obr(test=""), obx(1, "NM", "A", "1"), control="C2"))
    assert ack_code(ack) == "AE" and "OBR-4" in ack_text(ack)


def test_invalid_timestamp_is_an_error(patient) -> None:
    ack = receive(oru(obr(reported="2026-11-02")))
    assert ack_code(ack) == "AE" and "OBR-22" in ack_text(ack)


def test_timestamps_with_and_without_offset(patient) -> None:
    receive(oru(obr(reported="20260702093000+0000"), obx(1, "NM", "HB", "1")))
    report = the_report()
    assert report.reported_at == datetime.datetime(2026, 7, 2, 9, 30, tzinfo=datetime.UTC)
    # OBR-7 has no offset: London time, which is GMT in November.
    assert report.collected_at == datetime.datetime(2026, 11, 2, 8, 15, tzinfo=datetime.UTC)
    assert report.specimen_received_at == datetime.datetime(2026, 11, 2, 8, 40, tzinfo=datetime.UTC)


def test_report_time_falls_back_to_the_message_time(patient) -> None:
    receive(oru(obr(reported=""), obx(1, "NM", "HB", "1"), sent="20261103120000"))
    assert the_report().reported_at == datetime.datetime(2026, 11, 3, 12, 0, tzinfo=datetime.UTC)


def test_encapsulated_pdf_is_stored_as_an_attachment_with_a_random_name(patient, settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    data = base64.b64encode(pdf).decode()
    assert ack_code(receive(oru(obr(), f"OBX|1|ED|LETTER^Letter^LOCAL||^AP^PDF^Base64^{data}||||||F"))) == "AA"
    value = Observation.objects.get()
    assert value.value_type == "ED"
    assert value.value_text == "Attached document"
    assert value.attachment_content_type == "application/pdf"
    assert value.attachment.name.startswith("results/attachments/") and value.attachment.name.endswith(".pdf")
    assert "40012345" not in value.attachment.name and "HARGREAVES" not in value.attachment.name.upper()
    with default_storage.open(value.attachment.name) as stored:
        assert stored.read() == pdf


def test_encapsulated_jpeg(patient, settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path
    data = base64.b64encode(b"\xff\xd8\xff\xe0fakejpeg").decode()
    receive(oru(obr(), f"OBX|1|ED|IMG^Image^LOCAL||^IM^JPEG^Base64^{data}||||||F"))
    assert Observation.objects.get().attachment_content_type == "image/jpeg"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("^AP^PDF^Base64^@@@not base64@@@", "not valid BASE64"),
        (f"^AP^PDF^Base64^{base64.b64encode(b'MZ not a pdf').decode()}", "not a PDF file"),
        ("^AP^PDF^Base64^", "empty"),
    ],
)
def test_invalid_encapsulated_data_is_an_error(patient, settings, tmp_path, value: str, reason: str) -> None:
    settings.MEDIA_ROOT = tmp_path
    ack = receive(oru(obr(), f"OBX|1|ED|LETTER^Letter^LOCAL||{value}||||||F"))
    assert ack_code(ack) == "AE"
    assert reason in ack_text(ack) or reason in InboundMessage.objects.get().error_text


# ---------------------------------------------------------------------------------------------------------------
# Comments and groups


def test_comments_before_between_and_after_values(patient) -> None:
    receive(
        oru(
            "NTE|1|L|A note on the patient: not kept",
            obr(),
            "NTE|1|L|Sample slightly haemolysed.",
            obx(1, "NM", "A", "1"),
            "NTE|1|L|Repeated on a fresh sample.~Second line",
            obx(2, "NM", "B", "2"),
            obx(3, "NM", "C", "3"),
            "NTE|1|L|End of report comment.",
            "NTE|2|L|Signed off by the duty biochemist.",
        )
    )
    report = the_report()
    assert report.lab_comment == (
        "Sample slightly haemolysed.\nEnd of report comment.\nSigned off by the duty biochemist."
    )
    values = {o.code: o.comment for o in report.observations.all()}
    assert values == {"A": "Repeated on a fresh sample.\nSecond line", "B": "", "C": ""}


def test_several_order_groups_make_several_reports(patient) -> None:
    receive(
        oru(
            obr(filler="G1", test="FBC"),
            obx(1, "NM", "HB", "98"),
            "ORC|RE|OE-2|G2",
            obr(filler="G2", test="UE", cat="CH"),
            obx(1, "NM", "K", "4.1"),
            obx(2, "NM", "NA", "140"),
        )
    )
    assert DiagnosticReport.objects.count() == 2
    assert DiagnosticReport.objects.get(filler_order_number="G2").observations.count() == 2
    assert InboundMessage.objects.get().patient == patient


def test_obx_before_any_obr_is_an_error(patient) -> None:
    ack = receive(oru(obx(1, "NM", "HB", "1")))
    assert ack_code(ack) == "AE" and err_code(ack) == "100"


def test_message_without_obr_is_an_error(patient) -> None:
    assert ack_code(receive(oru())) == "AE"


# ---------------------------------------------------------------------------------------------------------------
# Routing and release


@pytest.mark.parametrize(
    ("routings", "team"),
    [
        (
            [("default", ""), ("category", "HM"), ("clinician", "C1234567"), ("location", "HAEM"), ("service", "HAEM")],
            4,
        ),
        ([("default", ""), ("category", "HM"), ("clinician", "C1234567"), ("location", "HAEM")], 3),
        ([("default", ""), ("category", "HM"), ("clinician", "C1234567")], 2),
        ([("default", ""), ("category", "HM")], 1),
        ([("default", ""), ("category", "CH")], 0),
        ([("category", "CH")], None),
    ],
)
def test_routing_order(patient, routings: list[tuple[str, str]], team: int | None) -> None:
    teams = [CareTeamFactory() for _ in routings]
    for (match, code), care_team in zip(routings, teams, strict=True):
        ResultRouting.objects.create(match=match, code=code, care_team=care_team)
    receive(sample("oru_r01_fbc_final.hl7"))
    report = the_report()
    if team is None:
        assert report.care_team is None
        assert not CareRelationship.objects.exists()
    else:
        assert report.care_team == teams[team]
        assert CareRelationship.objects.get(patient=patient).care_team == teams[team]


def test_an_ended_care_relationship_is_left_alone(patient) -> None:
    team = CareTeamFactory()
    ResultRouting.objects.create(match="default", code="", care_team=team)
    ended = CareRelationshipFactory(patient=patient, care_team=team, reason="result")
    ended.ended_at = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    ended.save()
    receive(sample("oru_r01_fbc_final.hl7"))
    assert CareRelationship.objects.get(patient=patient).ended_at is not None


def test_release_rule_by_test_code_wins_and_is_copied(patient) -> None:
    ReleaseRule.objects.create(test_code="FBC", description="FBC by review", mode="after_review", result_kind="other")
    receive(sample("oru_r01_fbc_final.hl7"))
    report = the_report()
    assert (report.release_mode, report.release_rule_description, report.result_kind) == (
        "after_review",
        "FBC by review",
        "other",
    )
    assert report.release_due_at is None


def test_sensitive_category_comes_from_the_rule(patient) -> None:
    receive(oru(obr(test="HIV", cat="MB"), "OBX|1|ST|HIVR^HIV result||Not detected||||||F"))
    report = the_report()
    assert report.sensitive_category == "hiv" and report.release_due_at is None


def test_release_date_is_one_working_day_after_the_final_report(patient) -> None:
    # Reported Friday 6 November 2026, 09:30: due Monday 9 November at 07:00 London time.
    receive(oru(obr(reported="202611060930"), obx(1, "NM", "HB", "1")))
    assert the_report().release_due_at == datetime.datetime(2026, 11, 9, 7, 0, tzinfo=datetime.UTC)


def test_ingest_takes_a_bounded_number_of_queries(patient) -> None:
    """The benchmark sends 20,000 messages: one report with many values must not cost a query per value."""
    team = CareTeamFactory()
    ResultRouting.objects.create(match="service", code="HAEM", care_team=team)
    counts = []
    # The first report also creates the team's care relationship with the patient.
    for filler, size in (("Q0", 1), ("Q1", 2), ("Q2", 40)):
        values = [obx(n, "NM", f"T{n}", str(n), rng="1-100", flag="N") for n in range(1, size + 1)]
        with CaptureQueriesContext(connection) as queries:
            ack = message_receive(oru(obr(filler=filler), *values, control=filler), peer=LOCAL_PEER)
        assert b"MSA|AA|" in ack
        counts.append(len(queries))
    assert Observation.objects.count() == 43
    assert counts[1] == counts[2]
    assert counts[0] <= 25


def test_correction_sends_a_reviewed_report_back_for_review(patient) -> None:
    from tests.accounts.factories import UserFactory

    receive(sample("oru_r01_ue_final.hl7"))
    report = the_report()
    DiagnosticReport.objects.filter(pk=report.pk).update(reviewed_at=report.arrived_at, reviewed_by=UserFactory())
    receive(sample("oru_r01_ue_corrected.hl7"))
    report.refresh_from_db()
    assert report.reviewed_at is None and report.reviewed_by is None


def test_one_message_for_two_patients(patient) -> None:
    other = PatientFactory(hospital_number="40077801", nhs_number="9990000026")
    raw = (
        oru(obr(filler="P1"), obx(1, "NM", "HB", "1"))
        + (
            "PID|1||40077801^^^RRV^MR~9990000026^^^NHS^NH\r" + obr(filler="P2") + "\r" + obx(1, "NM", "HB", "2") + "\r"
        ).encode()
    )
    assert ack_code(receive(raw)) == "AA"
    assert DiagnosticReport.objects.get(filler_order_number="P1").patient == patient
    assert DiagnosticReport.objects.get(filler_order_number="P2").patient == other


def test_over_long_values_are_cut_to_their_columns(patient) -> None:
    """PostgreSQL refuses text longer than a column: a feed's over-long field must not fail the whole message."""
    long = "X" * 300
    raw = oru(
        f"OBR|1|{long}|26H1|FBC^{long}^{long}|||||||||||{long}|C1^{long}^{long}^^^DR||||||202611020930||{long}|F",
        f"OBX|1|NM|{long}^{long}^{long}||5|{long}|{long}|N|||F",
    )
    assert ack_code(receive(raw)) == "AA"
    report = the_report()
    assert len(report.test_name) == 200 and len(report.category) == 10
    value = Observation.objects.get()
    assert (len(value.code), len(value.unit), len(value.reference_range)) == (50, 60, 60)
