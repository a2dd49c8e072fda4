"""ADT from the PAS: register (A04/A28), update (A08/A31), merge (A40)."""

import datetime

import pytest

from careportal.accounts.models import ActivationCode
from careportal.audit.models import AccessEvent
from careportal.hl7.models import ErrorKind, InboundMessage, MessageStatus
from careportal.patients.models import CareRelationship, Patient
from careportal.patients.services import MERGE_AUDIT_LABEL
from careportal.proxy.models import ProxyRelationship
from careportal.results.models import DiagnosticReport, ResultPreference
from tests.accounts.factories import UserFactory
from tests.hl7.interfaces import LOCAL_PEER
from tests.hl7.test_services import ack_code, ack_text, err_code, receive, sample
from tests.patients.factories import CareRelationshipFactory, CareTeamFactory, PatientFactory
from tests.proxy.factories import ProxyRelationshipFactory
from tests.results.factories import DiagnosticReportFactory, ResultPreferenceFactory

MSH = "MSH|^~\\&|PAS|RRV|CAREPORTAL|RRV|20261107080000||ADT^{event}|{control}|P|2.5|||AL|NE|GBR|UNICODE UTF-8"


def adt(event: str, pid: str, *, control: str = "ADT1", extra: str = "") -> bytes:
    segments = [MSH.format(event=event, control=control), f"EVN|{event}|20261107080000", pid]
    if extra:
        segments.append(extra)
    return ("\r".join(segments) + "\r").encode()


NEW_PID = (
    "PID|1||40088888^^^RRV^MR~9990000042^^^NHS^NH||NKEMELU^ADAEZE^^^MS||19900211|F|||"
    "Flat 2^5 High Street^Leeds^^LS1 4AB^GBR^H||0113 496 0000^PRN^PH~07700 900777^PRN^CP~^NET^Internet^ada@example.org"
)


def test_a04_registers_a_new_patient_and_a_result_then_matches(db) -> None:
    ack = receive(adt("A04", NEW_PID))
    assert ack_code(ack) == "AA"
    patient = Patient.objects.get(hospital_number="40088888")
    assert patient.nhs_number == "9990000042"
    assert (patient.given_name, patient.family_name) == ("Adaeze", "Nkemelu")
    assert patient.birth_date == datetime.date(1990, 2, 11)
    assert (patient.address_line_1, patient.address_line_2, patient.town, patient.postcode) == (
        "Flat 2",
        "5 High Street",
        "Leeds",
        "LS1 4AB",
    )
    assert (patient.home_phone, patient.mobile_phone, patient.email) == (
        "0113 496 0000",
        "07700 900777",
        "ada@example.org",
    )
    assert InboundMessage.objects.get().patient == patient

    oru = sample("oru_r01_fbc_final.hl7").replace(b"40012345", b"40088888").replace(b"9990000018", b"9990000042")
    assert ack_code(receive(oru)) == "AA"
    assert DiagnosticReport.objects.get().patient == patient


def test_a28_registers_too_and_a04_for_a_known_number_updates(db) -> None:
    assert ack_code(receive(adt("A28", NEW_PID))) == "AA"
    moved = NEW_PID.replace("Flat 2^5 High Street^Leeds^^LS1 4AB", "1 New Road^^York^^YO1 7HH")
    assert ack_code(receive(adt("A04", moved, control="ADT2"))) == "AA"
    assert Patient.objects.count() == 1
    patient = Patient.objects.get()
    assert (patient.address_line_1, patient.address_line_2, patient.town, patient.postcode) == (
        "1 New Road",
        "",
        "York",
        "YO1 7HH",
    )


@pytest.mark.parametrize(
    ("pid", "code", "reason"),
    [
        ("PID|1||40088888^^^RRV^MR||NKEMELU^ADAEZE", "101", "PID-7"),
        ("PID|1||40088888^^^RRV^MR||^ADAEZE||19900211", "101", "PID-5"),
        ("PID|1||40088888^^^RRV^MR||NKEMELU^ADAEZE||1990021", "102", "PID-7: not a valid date"),
        ("PID|1||40088888^^^RRV^MR||NKEMELU^ADAEZE||19901311", "102", "PID-7: not a valid date"),
        ("PID|1||^^^RRV^MR||NKEMELU^ADAEZE||19900211", "101", "no hospital number"),
        ("PID|1||123456789012345678901^^^RRV^MR||NKEMELU^ADAEZE||19900211", "102", "longer than 20"),
        ("PID|1||40088888^^^RRV^MR~9990000043^^^NHS^NH||NKEMELU^ADAEZE||19900211", "102", "modulus 11"),
    ],
)
def test_a04_with_missing_or_invalid_fields_is_an_error(db, pid: str, code: str, reason: str) -> None:
    ack = receive(adt("A04", pid))
    assert ack_code(ack) == "AE"
    assert err_code(ack) == code
    assert reason in ack_text(ack) or reason in InboundMessage.objects.get().error_text
    assert Patient.objects.count() == 0
    assert InboundMessage.objects.get().status == MessageStatus.ERROR


def test_a04_with_an_nhs_number_of_another_patient_is_a_mismatch(db) -> None:
    PatientFactory(hospital_number="40011111", nhs_number="9990000042")
    ack = receive(adt("A04", NEW_PID))
    assert ack_code(ack) == "AE"
    assert InboundMessage.objects.get().error_kind == ErrorKind.PATIENT_MISMATCH
    assert not Patient.objects.filter(hospital_number="40088888").exists()


def test_a08_for_an_unknown_patient_is_an_error(db) -> None:
    ack = receive(adt("A08", NEW_PID))
    assert ack_code(ack) == "AE" and err_code(ack) == "204"
    assert InboundMessage.objects.get().error_kind == ErrorKind.UNKNOWN_PATIENT
    assert Patient.objects.count() == 0


def test_update_only_overwrites_fields_the_message_carries(db) -> None:
    patient = PatientFactory(
        hospital_number="40012345",
        nhs_number="9990000018",
        given_name="Eleanor",
        family_name="Hargreaves",
        birth_date=datetime.date(1958, 3, 14),
        email="old@example.org",
        home_phone="020 7946 0000",
        mobile_phone="07700 900000",
    )
    # Only a mobile number is carried in PID-13; PID-5, PID-7 and PID-11 are empty.
    ack = receive(adt("A08", "PID|1||40012345^^^RRV^MR||||||||||07700 900999^PRN^CP"))
    assert ack_code(ack) == "AA"
    patient.refresh_from_db()
    assert patient.mobile_phone == "07700 900999"
    assert patient.home_phone == "020 7946 0000"
    assert patient.email == "old@example.org"
    assert (patient.given_name, patient.family_name) == ("Eleanor", "Hargreaves")
    assert patient.birth_date == datetime.date(1958, 3, 14)
    assert patient.postcode == "N1 9GU"
    assert patient.nhs_number == "9990000018"
    assert AccessEvent.objects.filter(patient=patient, actor_role="system", action="update").count() == 1


def test_hl7_null_clears_the_stored_value(db) -> None:
    patient = PatientFactory(hospital_number="40012345", email="old@example.org", mobile_phone="07700 900000")
    assert ack_code(receive(adt("A31", 'PID|1||40012345^^^RRV^MR||||||||""||""'))) == "AA"
    patient.refresh_from_db()
    assert (patient.address_line_1, patient.town, patient.postcode) == ("", "", "")
    assert (patient.email, patient.mobile_phone, patient.home_phone) == ("", "", "")


def test_invalid_email_is_not_stored_but_the_rest_applies(db) -> None:
    patient = PatientFactory(hospital_number="40012345", email="old@example.org")
    pid = "PID|1||40012345^^^RRV^MR||||||||||07700 900111^PRN^CP~^NET^Internet^not-an-email"
    assert ack_code(receive(adt("A31", pid))) == "AA"
    patient.refresh_from_db()
    assert patient.email == "old@example.org"
    assert patient.mobile_phone == "07700 900111"


def test_update_that_changes_nothing_writes_no_audit_event(db) -> None:
    patient = PatientFactory(hospital_number="40012345", mobile_phone="07700 900123")
    assert ack_code(receive(adt("A31", "PID|1||40012345^^^RRV^MR||||||||||07700 900123^PRN^CP"))) == "AA"
    assert not AccessEvent.objects.filter(patient=patient).exists()


def test_update_may_set_an_nhs_number_but_not_another_patients(db) -> None:
    patient = PatientFactory(hospital_number="40012345", nhs_number=None)
    PatientFactory(hospital_number="40099999", nhs_number="9990000026")
    assert ack_code(receive(adt("A08", "PID|1||40012345^^^RRV^MR~9990000026^^^NHS^NH"))) == "AE"
    assert ack_code(receive(adt("A08", "PID|1||40012345^^^RRV^MR~9990000018^^^NHS^NH", control="ADT2"))) == "AA"
    patient.refresh_from_db()
    assert patient.nhs_number == "9990000018"


# ---------------------------------------------------------------------------------------------------------------
# Merge


def merge_message(*, surviving: str = "40012345", prior: str = "40054321", control: str = "MERGE1") -> bytes:
    return adt(
        "A40",
        f"PID|1||{surviving}^^^RRV^MR||HARGREAVES^ELEANOR||19580314",
        control=control,
        extra=f"MRG|{prior}^^^RRV^MR",
    )


@pytest.fixture
def records(db):
    surviving = PatientFactory(hospital_number="40012345", nhs_number=None)
    prior = PatientFactory(hospital_number="40054321", nhs_number="9990000018", user=UserFactory())
    return surviving, prior


def test_a40_moves_everything_to_the_surviving_record_and_audits_both(records) -> None:
    surviving, prior = records
    team, other_team = CareTeamFactory(), CareTeamFactory()
    report = DiagnosticReportFactory(patient=prior)
    CareRelationshipFactory(patient=prior, care_team=team, reason="result")
    CareRelationshipFactory(patient=surviving, care_team=team, reason="result")
    moved_relationship = CareRelationshipFactory(patient=prior, care_team=other_team, reason="referral")
    proxy = ProxyRelationshipFactory(patient=prior)
    ResultPreferenceFactory(patient=prior, result_kind="histology")
    ResultPreferenceFactory(patient=surviving, result_kind="imaging", wait_for_clinician=False)
    ResultPreferenceFactory(patient=prior, result_kind="imaging", wait_for_clinician=True)
    code = ActivationCode.objects.create(
        patient=prior, code_digest="x" * 64, expires_at=datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    )
    account = prior.user
    earlier = receive(sample("oru_r01_fbc_final.hl7").replace(b"40012345", b"40054321"))
    assert ack_code(earlier) == "AA"

    ack = receive(merge_message())
    assert ack_code(ack) == "AA"

    prior.refresh_from_db()
    surviving.refresh_from_db()
    assert prior.merged_into == surviving and prior.merged_at is not None
    assert prior.hospital_number == "40054321"
    assert prior.nhs_number is None and surviving.nhs_number == "9990000018"
    assert prior.user is None and surviving.user == account
    report.refresh_from_db()
    assert report.patient == surviving
    assert DiagnosticReport.objects.filter(patient=surviving).count() == 2
    moved_relationship.refresh_from_db()
    assert moved_relationship.patient == surviving
    assert CareRelationship.objects.filter(patient=surviving, care_team=team).count() == 1
    proxy.refresh_from_db()
    assert proxy.patient == surviving
    assert set(ResultPreference.objects.filter(patient=surviving).values_list("result_kind", flat=True)) == {
        "histology",
        "imaging",
    }
    assert not ResultPreference.objects.get(patient=surviving, result_kind="imaging").wait_for_clinician
    code.refresh_from_db()
    assert code.patient == surviving
    assert InboundMessage.objects.filter(patient=prior).count() == 0
    for patient in (prior, surviving):
        event = AccessEvent.objects.get(patient=patient, object_label=MERGE_AUDIT_LABEL)
        assert event.actor_role == "system" and event.action == "update" and event.actor is None


def test_result_for_the_old_hospital_number_follows_the_merge(records) -> None:
    surviving, _ = records
    assert ack_code(receive(merge_message())) == "AA"
    oru = sample("oru_r01_fbc_final.hl7").replace(b"40012345", b"40054321")
    assert ack_code(receive(oru)) == "AA"
    assert DiagnosticReport.objects.get().patient == surviving
    assert InboundMessage.objects.get(message_type="ORU^R01").patient == surviving


def test_merge_when_both_records_have_accounts_changes_nothing(records) -> None:
    surviving, prior = records
    surviving.user = UserFactory()
    surviving.save()
    report = DiagnosticReportFactory(patient=prior)
    ack = receive(merge_message())
    assert ack_code(ack) == "AE"
    assert "portal account" in ack_text(ack) or "portal account" in InboundMessage.objects.get().error_text
    prior.refresh_from_db()
    report.refresh_from_db()
    assert prior.merged_into is None and report.patient == prior
    assert not AccessEvent.objects.filter(object_label=MERGE_AUDIT_LABEL).exists()


def test_merge_sent_twice_is_applied_once(records) -> None:
    assert ack_code(receive(merge_message())) == "AA"
    assert ack_code(receive(merge_message(control="MERGE2"))) == "AA"
    assert AccessEvent.objects.filter(object_label=MERGE_AUDIT_LABEL).count() == 2


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (merge_message(surviving="40012345", prior="40012345"), "same record"),
        (merge_message(surviving="49999999"), "no patient with the surviving hospital number"),
        (adt("A40", "PID|1||40012345^^^RRV^MR"), "MRG"),
        (adt("A40", "PID|1||40012345^^^RRV^MR", extra="MRG|^^^RRV^MR"), "MRG-1"),
    ],
)
def test_merge_errors(records, message: bytes, reason: str) -> None:
    ack = receive(message)
    assert ack_code(ack) == "AE"
    assert reason in InboundMessage.objects.get().error_text
    assert not Patient.objects.filter(merged_into__isnull=False).exists()


def test_merge_of_a_record_careportal_never_had_is_acknowledged(records) -> None:
    assert ack_code(receive(merge_message(prior="40000000"))) == "AA"
    assert not Patient.objects.filter(merged_into__isnull=False).exists()


def test_merge_of_a_record_already_merged_elsewhere_is_an_error(records) -> None:
    surviving, prior = records
    third = PatientFactory(hospital_number="40033333", nhs_number=None)
    assert ack_code(receive(merge_message(surviving="40033333"))) == "AA"
    assert ack_code(receive(merge_message(control="MERGE2"))) == "AE"
    prior.refresh_from_db()
    assert prior.merged_into == third
    assert ProxyRelationship.objects.filter(patient=surviving).count() == 0


@pytest.mark.django_db(transaction=True)
def test_result_matches_a_patient_registered_a_moment_ago_on_another_connection() -> None:
    """No cache between messages: the ADT commits on its own connection (a thread), the ORU then matches."""
    import threading

    from django.db import connection

    from careportal.hl7.services import message_receive

    acks: list[bytes] = []

    def register() -> None:
        try:
            acks.append(message_receive(adt("A04", NEW_PID), peer=LOCAL_PEER))
        finally:
            connection.close()

    # Seen (and found missing) before the registration: a cache would keep saying "unknown".
    oru = sample("oru_r01_fbc_final.hl7").replace(b"40012345", b"40088888").replace(b"9990000018", b"9990000042")
    assert ack_code(receive(oru)) == "AE"
    thread = threading.Thread(target=register)
    thread.start()
    thread.join()
    assert b"MSA|AA|" in acks[0]
    assert ack_code(receive(oru.replace(b"WP20261102093015001", b"WP20261102093015002"))) == "AA"
    assert DiagnosticReport.objects.get().patient.hospital_number == "40088888"


def test_replay_of_an_update_for_an_unknown_patient_updates_the_chosen_one(db) -> None:
    from careportal.hl7.services import message_replay

    assert ack_code(receive(adt("A31", "PID|1||40099999^^^RRV^MR||||||||||07700 900555^PRN^CP"))) == "AE"
    chosen = PatientFactory(mobile_phone="")
    message_replay(message=InboundMessage.objects.get(), patient=chosen, by=UserFactory())
    chosen.refresh_from_db()
    assert chosen.mobile_phone == "07700 900555"
    assert chosen.hospital_number != "40099999"


def test_hl7_null_does_not_clear_a_name(db) -> None:
    patient = PatientFactory(hospital_number="40012345", given_name="Eleanor", family_name="Hargreaves")
    assert ack_code(receive(adt("A08", 'PID|1||40012345^^^RRV^MR||""'))) == "AA"
    patient.refresh_from_db()
    assert (patient.given_name, patient.family_name) == ("Eleanor", "Hargreaves")


def test_over_long_demographics_are_cut_to_their_columns(db) -> None:
    long = "Y" * 300
    pid = f"PID|1||40088888^^^RRV^MR||{long}^{long}||19900211|F|||{long}^{long}^{long}^^{long}||{long}^PRN^CP"
    assert ack_code(receive(adt("A04", pid))) == "AA"
    patient = Patient.objects.get()
    assert (len(patient.family_name), len(patient.postcode), len(patient.mobile_phone)) == (100, 10, 20)
