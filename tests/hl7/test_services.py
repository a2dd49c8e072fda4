"""message_receive end to end: every sample and bad file through the service, the ACK read back, the rows checked;
duplicates, races, replay and dismiss from the unmatched queue, and a fuzz test."""

import threading
from decimal import Decimal
from pathlib import Path

import hl7
import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careportal.audit.models import AccessEvent
from careportal.hl7 import services
from careportal.hl7.ack import ack_read
from careportal.hl7.models import ErrorKind, InboundMessage, MessageSource, MessageStatus
from careportal.hl7.services import MessageNotReplayed, message_dismiss, message_receive, message_replay
from careportal.patients.models import CareRelationship
from careportal.results.models import DiagnosticReport, Observation, ReportStatus, ResultRouting
from tests.accounts.factories import UserFactory
from tests.hl7.interfaces import LOCAL_PEER
from tests.patients.factories import CareTeamFactory, PatientFactory

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def receive(raw: bytes, **kwargs: str) -> hl7.Message:
    """Send through the service and return the ACK parsed by python-hl7, after checking its shape."""
    kwargs.setdefault("peer", LOCAL_PEER)
    ack = message_receive(raw, **kwargs)
    assert isinstance(ack, bytes)
    assert ack.endswith(b"\r") and b"\n" not in ack
    parsed = hl7.parse(ack.decode("utf-8", errors="replace"))
    assert str(parsed.segment("MSH")(9)).split("^")[0] == "ACK"
    return parsed


def ack_code(ack: hl7.Message) -> str:
    return str(ack.segment("MSA")(1))


def ack_control_id(ack: hl7.Message) -> str:
    return str(ack.segment("MSA")(2))


def ack_text(ack: hl7.Message) -> str:
    return ack.unescape(str(ack.segment("MSA")(3)))


def err_code(ack: hl7.Message) -> str:
    return str(ack.segment("ERR")(3)(1)(1))


@pytest.fixture
def eleanor(db):
    return PatientFactory(
        hospital_number="40012345",
        nhs_number="9990000018",
        given_name="Eleanor",
        family_name="Hargreaves",
    )


@pytest.fixture
def siobhan(db):
    return PatientFactory(hospital_number="40077801", nhs_number="9990000026", given_name="Siobhán")


@pytest.fixture
def arjun(db):
    return PatientFactory(hospital_number="40055512", nhs_number="9990000034", given_name="Arjun")


@pytest.fixture
def haematology(db):
    team = CareTeamFactory(name="Haematology")
    ResultRouting.objects.create(match="service", code="HAEM", care_team=team)
    return team


def only_message() -> InboundMessage:
    assert InboundMessage.objects.count() == 1
    return InboundMessage.objects.get()


# ---------------------------------------------------------------------------------------------------------------
# Samples


def test_fbc_final_is_applied_with_values_flags_ranges_and_comment(eleanor, haematology) -> None:
    raw = sample("oru_r01_fbc_final.hl7")
    ack = receive(raw, peer="10.0.0.5:5000")
    assert ack_code(ack) == "AA"
    assert ack_control_id(ack) == "WP20261102093015001"

    stored = only_message()
    assert bytes(stored.raw) == raw
    assert stored.status == MessageStatus.APPLIED
    assert stored.ack_code == "AA"
    assert stored.patient == eleanor
    assert stored.message_type == "ORU^R01"
    assert stored.control_id == "WP20261102093015001"
    assert (stored.sending_application, stored.sending_facility, stored.hl7_version) == ("WINPATH", "RRV_LAB", "2.4")
    assert stored.peer == "10.0.0.5:5000"
    assert stored.applied_at is not None

    report = DiagnosticReport.objects.get()
    assert report.patient == eleanor
    assert report.care_team == haematology
    assert CareRelationship.objects.filter(patient=eleanor, care_team=haematology, reason="result").exists()
    assert (report.source_system, report.filler_order_number, report.placer_order_number) == (
        "WINPATH",
        "26H0456781",
        "OE-778812",
    )
    assert (report.test_code, report.test_name, report.test_coding_system) == ("FBC", "Full blood count", "WINPATH")
    assert report.category == "HM"
    assert report.specimen == "Venous blood"
    assert report.ordering_clinician == "Dr Chidi Okafor"
    assert report.ordering_clinician_code == "C1234567"
    assert report.status == ReportStatus.FINAL
    assert report.lab_comment == "Microcytic picture. Suggest iron studies if not already requested."
    assert report.is_abnormal and not report.is_critical
    assert report.release_mode == "after_working_days"
    assert report.release_due_at is not None
    assert report.version == 1 and not report.is_amended

    values = {o.code: o for o in Observation.objects.filter(report=report)}
    assert list(Observation.objects.filter(report=report).values_list("code", flat=True)) == [
        "HB",
        "WBC",
        "PLT",
        "MCV",
    ]
    hb = values["HB"]
    assert (hb.name, hb.value_type, hb.value_text, hb.value_numeric) == ("Haemoglobin", "NM", "98", Decimal("98"))
    assert (hb.unit, hb.reference_range, hb.reference_low, hb.reference_high) == (
        "g/L",
        "115-165",
        Decimal("115"),
        Decimal("165"),
    )
    assert hb.interpretation == "L" and hb.status == "F"
    assert hb.comment == ""
    assert values["WBC"].value_numeric == Decimal("7.2") and values["WBC"].interpretation == "N"
    assert values["PLT"].interpretation == "H"
    assert values["MCV"].name == "Mean cell volume" and values["MCV"].unit == "fL"
    assert report.actions.filter(kind="arrived").count() == 1


def test_ue_final_then_corrected_keeps_the_earlier_version(eleanor) -> None:
    assert ack_code(receive(sample("oru_r01_ue_final.hl7"))) == "AA"
    report = DiagnosticReport.objects.get()
    assert report.is_critical and report.is_abnormal
    assert report.lab_comment == "Potassium result may be affected by haemolysis&delayed separation; repeat advised."
    potassium = report.observations.get(code="K")
    assert potassium.value_numeric == Decimal("6.1") and potassium.interpretation == "HH"
    egfr = report.observations.get(code="EGFR")
    assert (egfr.value_type, egfr.value_text, egfr.value_numeric, egfr.value_comparator) == (
        "SN",
        ">90",
        Decimal("90"),
        ">",
    )
    assert (egfr.reference_range, egfr.reference_low, egfr.reference_high) == (">60", Decimal("60"), None)
    due = report.release_due_at

    ack = receive(sample("oru_r01_ue_corrected.hl7"))
    assert ack_code(ack) == "AA" and ack_control_id(ack) == "WP20261102143000007"
    report.refresh_from_db()
    assert report.status == ReportStatus.CORRECTED
    assert report.is_amended
    assert report.version == 2
    assert report.release_due_at == due
    assert not report.is_critical
    assert report.observations.get(code="K").value_numeric == Decimal("4.6")
    assert report.observations.get(code="K").status == "C"
    assert report.lab_comment.startswith("Amended report")
    earlier = report.earlier_versions.get()
    assert (earlier.version, earlier.reason, earlier.status, earlier.was_released) == (1, "corrected", "final", False)
    kept = {o["code"]: o for o in earlier.observations}
    assert kept["K"]["value_numeric"] == "6.1" and kept["K"]["interpretation"] == "HH"
    assert kept["EGFR"]["value_text"] == ">90"
    assert "haemolysis&delayed" in earlier.lab_comment
    assert DiagnosticReport.objects.count() == 1


def test_corrected_report_already_released_stays_released(eleanor) -> None:
    receive(sample("oru_r01_ue_final.hl7"))
    report = DiagnosticReport.objects.get()
    DiagnosticReport.objects.filter(pk=report.pk).update(released_at=report.arrived_at, held_at=None)
    receive(sample("oru_r01_ue_corrected.hl7"))
    report.refresh_from_db()
    assert report.released_at is not None
    assert report.earlier_versions.get().was_released


def test_held_report_stays_held_when_corrected(eleanor) -> None:
    receive(sample("oru_r01_ue_final.hl7"))
    report = DiagnosticReport.objects.get()
    DiagnosticReport.objects.filter(pk=report.pk).update(held_at=report.arrived_at, hold_reason="Phone first")
    receive(sample("oru_r01_ue_corrected.hl7"))
    report.refresh_from_db()
    assert report.held_at is not None and report.hold_reason == "Phone first"
    assert report.released_at is None


def test_histology_text_line_breaks_coded_diagnosis_and_non_ascii_name(siobhan) -> None:
    ack = receive(sample("oru_r01_histology.hl7"))
    assert ack_code(ack) == "AA" and ack_control_id(ack) == "CP26H00099"
    report = DiagnosticReport.objects.get()
    assert report.patient == siobhan
    assert report.category == "SP"
    assert report.release_mode == "after_review"
    assert report.result_kind == "histology"
    assert report.release_due_at is None
    assert report.ordering_clinician == "Dr Thabo Mbeki"
    assert report.specimen == "Skin excision, left forearm"
    micro = report.observations.get(code="MICRO")
    assert micro.value_type == "FT"
    assert micro.value_text == (
        "Sections show a compound naevus with mild architectural atypia.\n"
        "Margins: clear (nearest 1.8 mm & deep margin 2.2 mm).\n"
        "No features of melanoma."
    )
    diagnosis = report.observations.get(code="DIAG")
    assert (diagnosis.value_type, diagnosis.value_text, diagnosis.value_code, diagnosis.value_code_system) == (
        "CE",
        "Melanocytic naevi of upper limb",
        "D22.6",
        "I10",
    )
    assert report.observations.get(code="CLIN").value_type == "TX"


def test_micro_preliminary_replaced_by_final(arjun) -> None:
    assert ack_code(receive(sample("oru_r01_micro_prelim.hl7"))) == "AA"
    report = DiagnosticReport.objects.get()
    assert report.status == ReportStatus.PRELIMINARY
    assert report.release_due_at is None
    assert report.observations.get(code="MICROS").value_text == "White cells >100 x10^6/L"

    assert ack_code(receive(sample("oru_r01_micro_final.hl7"))) == "AA"
    report.refresh_from_db()
    assert report.status == ReportStatus.FINAL
    assert report.version == 2
    assert not report.is_amended
    assert report.release_due_at is not None
    assert report.observations.get(code="SENS").value_text == "Nitrofurantoin S\nTrimethoprim R\nCefalexin S"
    assert report.observations.get(code="CULT").value_text == "Escherichia coli >10^8 cfu/L"
    earlier = report.earlier_versions.get()
    assert (earlier.reason, earlier.status, earlier.version) == ("preliminary_replaced", "preliminary", 1)
    assert [o["code"] for o in earlier.observations] == ["MICROS", "CULT"]
    assert earlier.observations[1]["value_text"] == "Culture in progress; further report to follow."


@pytest.mark.parametrize(
    ("name", "control_id"),
    [
        ("siu_s12_video.hl7", "PAS20261105120000031"),
        ("siu_s15_cancel.hl7", "PAS20261110090000044"),
    ],
)
def test_message_types_not_used_yet_are_stored_and_acknowledged(eleanor, name: str, control_id: str) -> None:
    raw = sample(name)
    ack = receive(raw)
    assert ack_code(ack) == "AA" and ack_control_id(ack) == control_id
    stored = only_message()
    assert stored.status == MessageStatus.IGNORED
    assert bytes(stored.raw) == raw
    assert not stored.needs_attention
    assert DiagnosticReport.objects.count() == 0


def test_adt_a31_sample_updates_address_mobile_and_email(eleanor) -> None:
    ack = receive(sample("adt_a31_address.hl7"))
    assert ack_code(ack) == "AA" and ack_control_id(ack) == "PAS20261107080000061"
    eleanor.refresh_from_db()
    assert (eleanor.address_line_1, eleanor.address_line_2, eleanor.town, eleanor.postcode) == (
        "3 Elm Court",
        "Highgate",
        "London",
        "N6 5AB",
    )
    assert eleanor.mobile_phone == "07700 900123"
    assert eleanor.email == "eleanor.h@example.org"
    assert only_message().patient == eleanor


# ---------------------------------------------------------------------------------------------------------------
# Bad input


def test_no_msh_is_rejected_and_kept(eleanor) -> None:
    raw = sample("bad/no_msh.hl7")
    ack = receive(raw)
    assert ack_code(ack) == "AR"
    assert ack_control_id(ack) == ""
    stored = only_message()
    assert stored.status == MessageStatus.REJECTED
    assert stored.error_kind == ErrorKind.MALFORMED
    assert "MSH" in stored.error_text
    assert bytes(stored.raw) == raw
    assert stored.needs_attention


def test_truncated_is_rejected_with_what_header_it_had(eleanor) -> None:
    ack = receive(sample("bad/truncated.hl7"))
    assert ack_code(ack) == "AR"
    assert ack_control_id(ack) == "WP2026110209301"
    assert err_code(ack) == "101"
    stored = only_message()
    assert (stored.status, stored.error_kind) == (MessageStatus.REJECTED, ErrorKind.MALFORMED)
    assert stored.sending_application == "WINPATH"
    assert DiagnosticReport.objects.count() == 0


def test_unknown_patient_waits_in_the_queue(eleanor) -> None:
    raw = sample("bad/unknown_patient.hl7")
    ack = receive(raw)
    assert ack_code(ack) == "AE" and ack_control_id(ack) == "WP20261102099999"
    assert err_code(ack) == "204"
    assert ack_text(ack) == "PID-3: no patient with this hospital number"
    assert str(ack.segment("ERR")(2)) == "PID^1^3"  # the first PID segment, field 3
    stored = only_message()
    assert (stored.status, stored.error_kind) == (MessageStatus.ERROR, ErrorKind.UNKNOWN_PATIENT)
    assert stored.error_text == "PID-3: no patient with this hospital number"
    assert "49999999" not in stored.error_text
    assert stored.patient is None and stored.needs_attention
    assert DiagnosticReport.objects.count() == 0


def test_invalid_nhs_number_is_an_error(eleanor) -> None:
    ack = receive(sample("bad/invalid_nhs_number.hl7"))
    assert ack_code(ack) == "AE" and err_code(ack) == "102"
    stored = only_message()
    assert stored.error_kind == ErrorKind.INVALID_NHS_NUMBER
    assert "modulus 11" in stored.error_text
    assert DiagnosticReport.objects.count() == 0


def test_non_numeric_nm_value_is_an_error_naming_the_obx(eleanor) -> None:
    raw = sample("bad/invalid_nhs_number.hl7").replace(b"9990000019", b"9990000018")
    ack = receive(raw)
    assert ack_code(ack) == "AE" and err_code(ack) == "102"
    stored = only_message()
    assert stored.error_kind == ErrorKind.INVALID_CONTENT
    assert stored.error_text == "OBX-5 (set id 1): not a number, as value type NM requires"
    assert DiagnosticReport.objects.count() == 0


def test_hospital_and_nhs_numbers_of_different_patients_is_a_mismatch(eleanor) -> None:
    PatientFactory(hospital_number="40099999", nhs_number="9990000026")
    raw = sample("oru_r01_fbc_final.hl7").replace(b"9990000018", b"9990000026")
    ack = receive(raw)
    assert ack_code(ack) == "AE"
    assert only_message().error_kind == ErrorKind.PATIENT_MISMATCH


def test_nhs_number_differing_from_the_patients_own_is_a_mismatch(eleanor) -> None:
    raw = sample("oru_r01_fbc_final.hl7").replace(b"9990000018", b"9990000026")
    assert ack_code(receive(raw)) == "AE"
    assert only_message().error_kind == ErrorKind.PATIENT_MISMATCH


def test_result_does_not_set_a_missing_nhs_number(db) -> None:
    patient = PatientFactory(hospital_number="40012345", nhs_number=None)
    assert ack_code(receive(sample("oru_r01_fbc_final.hl7"))) == "AA"
    patient.refresh_from_db()
    assert patient.nhs_number is None


def test_missing_order_numbers_is_an_error(eleanor) -> None:
    raw = sample("oru_r01_fbc_final.hl7").replace(b"OBR|1|OE-778812|26H0456781|", b"OBR|1|||")
    ack = receive(raw)
    assert ack_code(ack) == "AE" and err_code(ack) == "101"
    assert "OBR-3 and OBR-2" in only_message().error_text


def test_placer_number_is_used_when_the_filler_number_is_missing(eleanor) -> None:
    raw = sample("oru_r01_fbc_final.hl7").replace(b"|OE-778812|26H0456781|", b"|OE-778812||")
    assert ack_code(receive(raw)) == "AA"
    assert DiagnosticReport.objects.get().filler_order_number == "OE-778812"


def test_unsupported_message_type_is_rejected(db) -> None:
    raw = sample("oru_r01_fbc_final.hl7").replace(b"ORU^R01", b"ZZZ^Z01")
    ack = receive(raw)
    assert ack_code(ack) == "AR" and err_code(ack) == "200"
    assert only_message().error_kind == ErrorKind.UNSUPPORTED


def test_other_adt_events_are_ignored_with_aa(eleanor) -> None:
    raw = sample("adt_a31_address.hl7").replace(b"ADT^A31", b"ADT^A03")
    assert ack_code(receive(raw)) == "AA"
    assert only_message().status == MessageStatus.IGNORED


@pytest.mark.parametrize("raw", [b"", b"\x00\x01\x02\xff", b"hello", b"MSH", b"MSH|", b"\x0b\x1c\r"])
def test_garbage_is_rejected_and_stored(db, raw: bytes) -> None:
    ack = receive(raw)
    assert ack_code(ack) == "AR"
    stored = only_message()
    assert stored.status == MessageStatus.REJECTED and bytes(stored.raw) == raw


def test_latin1_message_is_applied_and_acknowledged_in_latin1(siobhan) -> None:
    raw = (
        sample("oru_r01_histology.hl7").decode("utf-8").replace("UNICODE UTF-8", "8859/1").encode("latin-1")
    ).replace(b"CP26H00099", b"CP\xc926H")
    ack_bytes = message_receive(raw, peer=LOCAL_PEER)
    assert b"CP\xc926H" in ack_bytes
    assert ack_read(ack_bytes).code == "AA"
    stored = only_message()
    assert stored.control_id == "CPÉ26H"
    assert bytes(stored.raw) == raw


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_lf_and_crlf_endings_apply_the_same(eleanor, ending: bytes) -> None:
    raw = sample("oru_r01_fbc_final.hl7").replace(b"\r", ending)
    assert ack_code(receive(raw)) == "AA"
    assert Observation.objects.count() == 4
    assert DiagnosticReport.objects.get().lab_comment.startswith("Microcytic")


@pytest.mark.parametrize("version", [b"2.3", b"2.5.1", b"2.9"])
def test_other_versions_are_applied(eleanor, version: bytes) -> None:
    raw = sample("oru_r01_fbc_final.hl7").replace(b"|P|2.4|", b"|P|" + version + b"|")
    assert ack_code(receive(raw)) == "AA"
    assert only_message().hl7_version == version.decode()


def test_z_segments_are_tolerated(eleanor) -> None:
    raw = sample("oru_r01_fbc_final.hl7").replace(b"PV1|", b"ZPI|1|local^stuff\rPV1|")
    raw = raw.replace(b"NTE|1|L|", b"ZOB|x\rNTE|1|L|")
    assert ack_code(receive(raw)) == "AA"
    assert Observation.objects.count() == 4
    assert DiagnosticReport.objects.get().lab_comment.startswith("Microcytic")


# ---------------------------------------------------------------------------------------------------------------
# Duplicates and races


def test_duplicate_message_is_acknowledged_twice_and_applied_once(eleanor) -> None:
    raw = sample("oru_r01_fbc_final.hl7")
    first, second = receive(raw), receive(raw)
    assert ack_code(first) == ack_code(second) == "AA"
    assert ack_control_id(second) == "WP20261102093015001"
    assert ack_text(second) == "Already applied"
    assert list(InboundMessage.objects.order_by("pk").values_list("status", flat=True)) == ["applied", "duplicate"]
    report = DiagnosticReport.objects.get()
    assert report.observations.count() == 4
    assert report.actions.count() == 1


def test_same_control_id_from_another_sender_is_not_a_duplicate(eleanor) -> None:
    raw = sample("oru_r01_fbc_final.hl7")
    receive(raw)
    other = raw.replace(b"|RRV_LAB|", b"|OTHER_LAB|").replace(b"26H0456781", b"26H0456782")
    assert ack_code(receive(other)) == "AA"
    assert InboundMessage.objects.filter(status="applied").count() == 2


def test_race_on_the_applied_once_constraint_is_a_duplicate(eleanor, monkeypatch) -> None:
    """Two connections apply the same message at once: both pass the duplicate check, the second one's APPLIED row
    breaks hl7_applied_once; its application is undone and it is stored as a duplicate."""
    raw = sample("oru_r01_fbc_final.hl7")
    receive(raw)
    monkeypatch.setattr(services, "_already_applied", lambda fields: False)
    ack = receive(raw.replace(b"|F\r", b"|F\r"))
    assert ack_code(ack) == "AA"
    statuses = list(InboundMessage.objects.order_by("pk").values_list("status", flat=True))
    assert statuses == ["applied", "duplicate"]
    assert DiagnosticReport.objects.get().actions.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_connections_sending_the_same_message_at_once_apply_it_once() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs a database that several connections share (the in-memory SQLite test database is not)")
    PatientFactory(hospital_number="40012345", nhs_number="9990000018")
    raw = sample("oru_r01_fbc_final.hl7")
    barrier = threading.Barrier(4)
    acks: list[bytes] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            barrier.wait()
            acks.append(message_receive(raw, peer=LOCAL_PEER))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert [ack_read(a).code for a in acks] == ["AA"] * 4
    assert InboundMessage.objects.filter(status="applied").count() == 1
    assert InboundMessage.objects.filter(status="duplicate").count() == 3
    assert DiagnosticReport.objects.get().observations.count() == 4


def test_an_unexpected_error_keeps_the_message_and_answers_ae(eleanor, monkeypatch) -> None:
    def broken(**kwargs: object) -> None:
        raise RuntimeError("bug with patient data 40012345")

    monkeypatch.setattr("careportal.hl7.handlers.oru.report_apply", broken)
    raw = sample("oru_r01_fbc_final.hl7")
    ack = receive(raw)
    assert ack_code(ack) == "AE" and err_code(ack) == "207"
    stored = only_message()
    assert stored.status == MessageStatus.ERROR
    assert "internal error" in stored.error_text
    assert "40012345" not in stored.error_text
    assert bytes(stored.raw) == raw
    assert DiagnosticReport.objects.count() == 0


def test_a_parser_bug_keeps_the_message_too(db, monkeypatch) -> None:
    def broken(raw: bytes) -> None:
        raise KeyError("bug")

    monkeypatch.setattr(services, "parse_message", broken)
    raw = sample("oru_r01_fbc_final.hl7")
    ack = receive(raw)
    assert ack_code(ack) == "AE"
    assert ack_control_id(ack) == "WP20261102093015001"
    assert only_message().status == MessageStatus.ERROR


def test_resent_message_that_now_applies_resolves_the_earlier_failure(db) -> None:
    raw = sample("oru_r01_fbc_final.hl7")
    assert ack_code(receive(raw)) == "AE"
    PatientFactory(hospital_number="40012345", nhs_number="9990000018")
    assert ack_code(receive(raw)) == "AA"
    failed = InboundMessage.objects.get(status="error")
    assert failed.resolved_at is not None and not failed.needs_attention


# ---------------------------------------------------------------------------------------------------------------
# Staff: replay and dismiss


def test_replay_after_staff_match_applies_for_the_chosen_patient(db) -> None:
    receive(sample("bad/unknown_patient.hl7"))
    original = only_message()
    patient = PatientFactory()
    staff = UserFactory(is_helpdesk=True)
    replay = message_replay(message=original, patient=patient, by=staff)
    assert replay.source == MessageSource.REPLAY
    assert replay.replay_of == original
    assert replay.status == MessageStatus.APPLIED and replay.patient == patient
    assert bytes(replay.raw) == bytes(original.raw)
    original.refresh_from_db()
    assert original.status == MessageStatus.REPLAYED
    assert original.resolved_by == staff and original.resolved_at is not None
    report = DiagnosticReport.objects.get()
    assert report.patient == patient
    assert report.observations.get().value_numeric == Decimal("140")
    event = AccessEvent.objects.get(patient=patient)
    assert event.actor == staff and event.action == "update"
    with pytest.raises(MessageNotReplayed):
        message_replay(message=original, patient=patient, by=staff)


def test_replay_that_still_fails_raises_and_changes_nothing(eleanor) -> None:
    receive(sample("bad/invalid_nhs_number.hl7"))
    original = only_message()
    with pytest.raises(MessageNotReplayed, match="OBX-5"):
        message_replay(message=original, patient=eleanor, by=UserFactory())
    original.refresh_from_db()
    assert original.status == MessageStatus.ERROR and original.resolved_at is None
    assert InboundMessage.objects.count() == 1
    assert DiagnosticReport.objects.count() == 0


def test_replay_of_a_rejected_message_is_refused(db) -> None:
    receive(sample("bad/no_msh.hl7"))
    with pytest.raises(MessageNotReplayed):
        message_replay(message=only_message(), patient=PatientFactory(), by=UserFactory())


def test_replay_of_a_message_applied_meanwhile_is_refused(db) -> None:
    raw = sample("oru_r01_fbc_final.hl7")
    receive(raw)
    failed = only_message()
    patient = PatientFactory(hospital_number="40012345", nhs_number="9990000018")
    receive(raw)
    failed.refresh_from_db()
    failed.resolved_at = None
    failed.save()
    with pytest.raises(MessageNotReplayed, match="applied already"):
        message_replay(message=failed, patient=patient, by=UserFactory())


def test_dismiss(db) -> None:
    receive(sample("bad/no_msh.hl7"))
    message = only_message()
    staff = UserFactory()
    with pytest.raises(ValueError, match="reason"):
        message_dismiss(message=message, by=staff, reason="  ")
    message_dismiss(message=message, by=staff, reason="Test message from the lab")
    message.refresh_from_db()
    assert message.status == MessageStatus.DISMISSED
    assert (message.resolved_by, message.resolution_note) == (staff, "Test message from the lab")
    assert not message.needs_attention
    with pytest.raises(ValueError, match="waiting"):
        message_dismiss(message=message, by=staff, reason="again")


def test_applied_message_cannot_be_dismissed(eleanor) -> None:
    receive(sample("oru_r01_fbc_final.hl7"))
    with pytest.raises(ValueError, match="waiting"):
        message_dismiss(message=only_message(), by=UserFactory(), reason="no")


# ---------------------------------------------------------------------------------------------------------------
# Fuzz


_MESSAGE_START = b"MSH|^~\\&|LAB|FAC|CAREPORTAL|RRV|20261102||ORU^R01|FUZZ|P|2.4\r"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        st.binary(max_size=400),
        st.binary(max_size=300).map(lambda tail: _MESSAGE_START + tail),
        st.text(alphabet='MSHPIDOBXR|^~\\&\r\n0123456789 "\x00é', max_size=300).map(lambda t: t.encode()),
    )
)
def test_fuzz_never_raises_and_always_stores_one_message_with_a_valid_ack(db, raw: bytes) -> None:
    before = InboundMessage.objects.count()
    ack = message_receive(raw, peer=LOCAL_PEER)
    assert InboundMessage.objects.count() == before + 1
    stored = InboundMessage.objects.order_by("-pk").first()
    assert bytes(stored.raw) == raw
    summary = ack_read(ack)
    assert summary.code in {"AA", "AE", "AR"}
    assert summary.code == stored.ack_code


_SAMPLE_NAMES = sorted(p.name for p in SAMPLES.glob("*.hl7"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(_SAMPLE_NAMES),
    start=st.integers(min_value=0, max_value=2000),
    length=st.integers(min_value=0, max_value=40),
    replacement=st.binary(max_size=40) | st.sampled_from([b"|", b"^", b"~", b"\\", b"&", b"\r", b'""', b"\\X00\\"]),
)
def test_fuzz_mutated_samples_are_stored_and_answered(
    db, name: str, start: int, length: int, replacement: bytes
) -> None:
    """Real messages with a slice replaced: the apply path (not only the parser) must never raise either."""
    Patient = PatientFactory._meta.model
    if not Patient.objects.filter(hospital_number="40012345").exists():
        PatientFactory(hospital_number="40012345", nhs_number="9990000018")
        PatientFactory(hospital_number="40077801", nhs_number="9990000026")
        PatientFactory(hospital_number="40055512", nhs_number="9990000034")
    raw = sample(name)
    start = min(start, len(raw))
    mutated = raw[:start] + replacement + raw[start + length :]
    before = InboundMessage.objects.count()
    ack = message_receive(mutated, peer=LOCAL_PEER)
    assert InboundMessage.objects.count() == before + 1
    stored = InboundMessage.objects.order_by("-pk").first()
    assert bytes(stored.raw) == mutated
    assert ack_read(ack).code == stored.ack_code
    assert stored.error_text != services.INTERNAL_ERROR_TEXT


def test_system_audit_viewer_is_anonymous() -> None:
    # The merge audit events are written as the system, not as a person (careportal/patients/services.py).
    from careportal.patients.services import _system_viewer

    viewer = _system_viewer()
    assert isinstance(viewer.user, AnonymousUser) and viewer.role == "system"


def test_admin_shows_the_journal_read_only(eleanor, client) -> None:
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    receive(sample("oru_r01_fbc_final.hl7"))
    receive(b"\xff\xfe not hl7")
    for message in InboundMessage.objects.all():
        response = client.get(f"/admin/hl7/inboundmessage/{message.pk}/change/")
        assert response.status_code == 200
    applied = InboundMessage.objects.get(status="applied")
    assert b"OBX|1|NM|HB" in client.get(f"/admin/hl7/inboundmessage/{applied.pk}/change/").content
    assert client.get("/admin/hl7/inboundmessage/").status_code == 200
    assert client.get("/admin/hl7/inboundmessage/add/").status_code in (403, 404)
    report = DiagnosticReport.objects.get()
    assert client.get(f"/admin/results/diagnosticreport/{report.pk}/change/").status_code == 200
    assert client.get("/admin/results/diagnosticreport/").status_code == 200
    assert client.get("/admin/results/resultrouting/add/").status_code == 200
    assert client.get("/admin/results/releaserule/add/").status_code == 200
    team = CareTeamFactory()
    response = client.post(
        "/admin/results/resultrouting/add/", {"match": "location", "code": "WARD7", "care_team": team.pk}
    )
    assert response.status_code == 302
    assert ResultRouting.objects.filter(match="location", code="WARD7", care_team=team).exists()
    response = client.post(
        "/admin/results/resultrouting/add/", {"match": "location", "code": "WARD7", "care_team": team.pk}
    )
    assert response.status_code == 200 and b"errorlist" in response.content


def test_an_mdm_letter_is_applied_and_acknowledged(eleanor) -> None:
    from careportal.letters.models import Letter

    raw = sample("mdm_t02_letter.hl7")
    ack = receive(raw)
    assert ack_code(ack) == "AA" and ack_control_id(ack) == "EDM20261106110000052"
    assert only_message().status == MessageStatus.APPLIED
    letter = Letter.objects.get()
    assert (letter.patient, letter.document_id, letter.document_type) == (eleanor, "DOC-88123", "Clinic letter")
