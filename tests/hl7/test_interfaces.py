"""Inbound interfaces: only a configured sender, of a type it may send, from an address it may send from, changes a
patient's record; any other message is answered AR, kept for staff with the reason, and changes nothing. Names and
addresses no real PAS sends are refused with AE. (Issue 10: what a black-box test found.)"""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from careportal.hl7.interfaces import active_rules, interfaces_cache_clear, peer_address
from careportal.hl7.models import ErrorKind, InboundInterface, InboundMessage, MessageSource, MessageStatus
from careportal.hl7.selectors import messages_needing_attention
from careportal.hl7.services import MessageNotReplayed, message_receive, message_replay
from careportal.patients.models import Patient
from careportal.results.models import DiagnosticReport
from tests.accounts.factories import UserFactory
from tests.hl7.interfaces import LOCAL_PEER
from tests.hl7.mllp_client import ListenerThread, ack_code
from tests.hl7.test_adt import adt
from tests.hl7.test_services import ack_text, err_code, receive, sample
from tests.patients.factories import PatientFactory

# The message the black-box test sent: ADT^A31 from a sender nobody configured, no EVN, markup for a name.
ATTACK = (
    b"MSH|^~\\&|LAB|HOSP|CAREPORTAL|RRV|20261201120000||ADT^A31|ATTACK1|P|2.5\r"
    b"PID|1||40012345^^^RRV^MR||<script>alert(1)</script>^X||19580314|F\r"
)


@pytest.fixture
def eleanor(db) -> Patient:
    return PatientFactory(
        hospital_number="40012345", nhs_number="9990000018", family_name="Hargreaves", given_name="Eleanor"
    )


def _unchanged(patient: Patient) -> None:
    fresh = Patient.objects.get(pk=patient.pk)
    assert (fresh.family_name, fresh.given_name) == (patient.family_name, patient.given_name)
    assert fresh.updated_at == patient.updated_at


def _code(ack) -> str:  # type: ignore[no-untyped-def]
    return ack_code(ack)[0] if isinstance(ack, bytes) else str(ack.segment("MSA")(1))


# --- The attack ------------------------------------------------------------------------------------------------


def test_the_black_box_attack_is_refused_with_ar_and_the_patient_is_unchanged(eleanor) -> None:
    ack = message_receive(ATTACK, peer=LOCAL_PEER)

    assert ack_code(ack) == ("AR", "ATTACK1")
    assert b"ERR|" in ack and b"|103^" in ack
    _unchanged(eleanor)
    stored = InboundMessage.objects.get()
    assert stored.status == MessageStatus.REJECTED and stored.ack_code == "AR"
    assert stored.error_kind == ErrorKind.SENDER_UNKNOWN
    assert "no active inbound interface" in stored.error_text
    assert b"<script>" not in ack  # the ACK never repeats a value from the message
    assert list(messages_needing_attention()) == [stored]


@pytest.mark.usefixtures("transactional_db")
def test_the_black_box_attack_over_a_real_socket_is_refused_and_changes_nothing() -> None:
    patient = PatientFactory(hospital_number="40012345", nhs_number="9990000018", family_name="Hargreaves")
    running = ListenerThread().start()
    try:
        with running.client() as client:
            ack = client.request(ATTACK)
    finally:
        running.stop()

    assert ack_code(ack) == ("AR", "ATTACK1")
    _unchanged(patient)
    stored = InboundMessage.objects.get()
    assert stored.error_kind == ErrorKind.SENDER_UNKNOWN and stored.peer.startswith("127.0.0.1:")


def test_the_refusal_is_shown_in_the_staff_queue_with_its_reason(eleanor, client) -> None:
    message_receive(ATTACK, peer=LOCAL_PEER)
    operator = UserFactory(is_superuser=True)
    client.force_login(operator)

    queue = client.get("/staff/hl7/unmatched/").content.decode()
    stored = InboundMessage.objects.get()
    page = client.get(f"/staff/hl7/message/{stored.public_id}/").content.decode()

    assert "Sender not configured" in queue
    assert "Sender not configured" in page and "no active inbound interface" in page
    assert "<script>alert(1)</script>" not in page  # shown escaped, never as markup


def test_a_deactivated_interface_refuses_its_sender(eleanor) -> None:
    InboundInterface.objects.filter(sending_application="PAS").update(is_active=False)
    interfaces_cache_clear()

    ack = receive(adt("A31", "PID|1||40012345^^^RRV^MR||SMITH^JANE"))

    assert _code(ack) == "AR"
    _unchanged(eleanor)


# --- Type and address -----------------------------------------------------------------------------------------


def test_a_message_type_the_interface_does_not_list_is_refused(eleanor) -> None:
    # The laboratory may send results, not registrations.
    raw = adt("A31", "PID|1||40012345^^^RRV^MR||SMITH^JANE").replace(b"|PAS|RRV|", b"|WINPATH|RRV_LAB|")
    ack = receive(raw)

    assert _code(ack) == "AR" and err_code(ack) == "200"
    assert "does not allow this message type" in ack_text(ack)
    assert InboundMessage.objects.get().error_kind == ErrorKind.TYPE_NOT_ALLOWED
    _unchanged(eleanor)


def test_another_event_of_a_listed_message_is_refused_as_an_unsupported_event(eleanor) -> None:
    InboundInterface.objects.filter(sending_application="PAS").update(message_types=["ADT^A04"])
    interfaces_cache_clear()

    ack = receive(adt("A31", "PID|1||40012345^^^RRV^MR||SMITH^JANE"))

    assert _code(ack) == "AR" and err_code(ack) == "201"
    _unchanged(eleanor)


@pytest.mark.parametrize("peer", ["192.0.2.7:40122", "2001:db8::5:40122", "[2001:db8::5]:40122", "", "unknown"])
def test_an_address_outside_the_interface_networks_is_refused(eleanor, peer: str) -> None:
    ack = receive(adt("A31", "PID|1||40012345^^^RRV^MR||SMITH^JANE"), peer=peer)

    assert _code(ack) == "AR"
    stored = InboundMessage.objects.get()
    assert stored.error_kind == ErrorKind.ADDRESS_NOT_ALLOWED
    assert "does not accept messages from this network address" in stored.error_text
    _unchanged(eleanor)


@pytest.mark.parametrize("peer", ["127.0.0.1:5000", "[::1]:5000", "[::ffff:127.0.0.1]:5000", "::1", "10.1.2.3:2575"])
def test_an_address_inside_the_interface_networks_is_accepted(eleanor, peer: str) -> None:
    ack = receive(adt("A31", "PID|1||40012345^^^RRV^MR||SMITH^JANE"), peer=peer)

    assert _code(ack) == "AA"
    assert Patient.objects.get(pk=eleanor.pk).family_name == "Smith"


def test_an_ipv6_network_admits_its_addresses_and_no_others(eleanor) -> None:
    InboundInterface.objects.filter(sending_application="PAS").update(source_networks=["2001:db8:1::/48"])
    interfaces_cache_clear()
    pid = "PID|1||40012345^^^RRV^MR||SMITH^JANE"

    assert _code(receive(adt("A31", pid, control="IN6"), peer="[2001:db8:1::42]:6000")) == "AA"
    assert _code(receive(adt("A31", pid, control="OUT6"), peer="[2001:db8:2::42]:6000")) == "AR"
    assert _code(receive(adt("A31", pid, control="OUT4"), peer="127.0.0.1:6000")) == "AR"


def test_the_batch_import_is_checked_by_sender_and_type_only(eleanor) -> None:
    pid = "PID|1||40012345^^^RRV^MR||SMITH^JANE"
    assert _code(receive(adt("A31", pid), peer="backfill.hl7", source=MessageSource.IMPORT)) == "AA"
    unknown = adt("A31", pid, control="X2").replace(b"|PAS|RRV|", b"|LAB|HOSP|")
    assert _code(receive(unknown, peer="backfill.hl7", source=MessageSource.IMPORT)) == "AR"


def test_peer_labels_are_read_as_addresses() -> None:
    assert str(peer_address("10.0.0.5:40122")) == "10.0.0.5"
    assert str(peer_address("[::1]:40122")) == "::1"
    assert str(peer_address("::1")) == "::1"
    assert str(peer_address("[fe80::1%eth0]:40122")) == "fe80::1"
    assert str(peer_address("[::ffff:192.0.2.1]:1")) == "192.0.2.1"
    assert peer_address("demo data") is None


# --- Assigning authority --------------------------------------------------------------------------------------


def test_a_hospital_number_from_another_assigning_authority_is_not_taken(eleanor) -> None:
    raw = sample("oru_r01_fbc_final.hl7").replace(b"40012345^^^RRV^MR", b"40012345^^^OTHERTRUST^MR")
    ack = receive(raw)

    assert _code(ack) == "AE"
    assert "no hospital number" in ack_text(ack)
    assert InboundMessage.objects.get().error_kind == ErrorKind.UNKNOWN_PATIENT


def test_the_sender_own_authority_is_chosen_among_repetitions(eleanor) -> None:
    other = PatientFactory(hospital_number="55555555", nhs_number=None)
    raw = sample("oru_r01_fbc_final.hl7").replace(b"40012345^^^RRV^MR", b"55555555^^^GPSYS^MR~40012345^^^RRV^MR")

    assert _code(receive(raw)) == "AA"
    assert InboundMessage.objects.get().patient == eleanor
    assert not DiagnosticReport.objects.filter(patient=other).exists()


def test_an_adt_update_with_a_foreign_hospital_number_changes_no_one(eleanor) -> None:
    ack = receive(adt("A31", "PID|1||40012345^^^ELSEWHERE^MR||SMITH^JANE"))

    assert _code(ack) == "AE"
    _unchanged(eleanor)


# --- Replay ---------------------------------------------------------------------------------------------------


def test_a_message_refused_for_its_sender_is_replayed_only_once_the_interface_is_configured(eleanor) -> None:
    raw = adt("A31", "PID|1||40012345^^^RRV^MR||SMITH^JANE").replace(b"|PAS|RRV|", b"|NEWPAS|RRV|")
    receive(raw)
    refused = InboundMessage.objects.get()
    staff = UserFactory(is_superuser=True)

    with pytest.raises(MessageNotReplayed, match="no active inbound interface"):
        message_replay(message=refused, patient=eleanor, by=staff)
    _unchanged(eleanor)

    InboundInterface.objects.create(
        name="New PAS",
        sending_application="NEWPAS",
        sending_facility="RRV",
        message_types=["ADT^A31"],
        source_networks=["127.0.0.1/32"],
        hospital_number_authority="RRV",
    )
    replayed = message_replay(message=refused, patient=eleanor, by=staff)

    assert replayed.status == MessageStatus.APPLIED
    assert Patient.objects.get(pk=eleanor.pk).family_name == "Smith"
    refused.refresh_from_db()
    assert refused.status == MessageStatus.REPLAYED


def test_a_replay_from_an_address_still_outside_the_networks_is_refused(eleanor) -> None:
    receive(adt("A31", "PID|1||40012345^^^RRV^MR||SMITH^JANE"), peer="192.0.2.7:4000")
    refused = InboundMessage.objects.get()

    with pytest.raises(MessageNotReplayed, match="network address"):
        message_replay(message=refused, patient=eleanor, by=UserFactory(is_superuser=True))
    _unchanged(eleanor)


# --- Cost -----------------------------------------------------------------------------------------------------


def test_interfaces_cost_one_query_when_the_snapshot_is_cold_and_none_while_it_is_warm(db, settings) -> None:
    interfaces_cache_clear()
    with CaptureQueriesContext(connection) as cold:
        active_rules()
    with CaptureQueriesContext(connection) as warm:
        active_rules()
    settings.HL7_INTERFACE_CACHE_SECONDS = 0
    with CaptureQueriesContext(connection) as expired:
        active_rules()

    assert len(cold) == 1 and len(warm) == 0 and len(expired) == 1


# --- Implausible demographics ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pid", "where", "problem"),
    [
        ("PID|1||40012345^^^RRV^MR||<script>alert(1)</script>^X", "PID-5.1 (family name)", "markup"),
        ("PID|1||40012345^^^RRV^MR||SMITH^<b>JANE</b>", "PID-5.2 (given name)", "markup"),
        ("PID|1||40012345^^^RRV^MR||SMI\u202eHT^JANE", "PID-5.1 (family name)", "bidirectional"),
        ("PID|1||40012345^^^RRV^MR||SMITH\x07^JANE", "PID-5.1 (family name)", "control characters"),
        ("PID|1||40012345^^^RRV^MR||SMITH^JA\u200bNE", "PID-5.2 (given name)", "invisible"),
        ("PID|1||40012345^^^RRV^MR||" + "Y" * 1001 + "^JANE", "PID-5.1 (family name)", "longer than 1000"),
        ("PID|1||40012345^^^RRV^MR||SMITH^JANE||||||<img src=x>^^London", "PID-11.1 (address line 1)", "markup"),
        ("PID|1||40012345^^^RRV^MR||SMITH^JANE||||||1 High St^^Lon\u2066don", "PID-11.3 (town)", "bidirectional"),
        ("PID|1||40012345^^^RRV^MR||SMITH^JANE||||||^^^^<N1>", "PID-11.5 (postcode)", "markup"),
    ],
)
def test_implausible_names_and_addresses_are_refused_with_ae_naming_the_field(
    eleanor, pid: str, where: str, problem: str
) -> None:
    ack = receive(adt("A31", pid))

    assert _code(ack) == "AE" and err_code(ack) == "102"
    text = ack_text(ack)
    assert where in text and problem in text
    for value in ("script", "SMI", "Lon", "img", "N1", "JA"):  # the position, never the value
        assert value not in text
    stored = InboundMessage.objects.get()
    assert stored.error_kind == ErrorKind.IMPLAUSIBLE_CONTENT and stored.status == MessageStatus.ERROR
    _unchanged(eleanor)


def test_a_new_patient_with_markup_in_the_name_is_not_registered(db) -> None:
    pid = "PID|1||40088888^^^RRV^MR||<svg onload=x>^ADA||19900211|F"
    ack = receive(adt("A04", pid))

    assert _code(ack) == "AE"
    assert not Patient.objects.filter(hospital_number="40088888").exists()


def test_real_names_with_accents_apostrophes_and_hyphens_are_accepted(eleanor) -> None:
    ack = receive(adt("A31", "PID|1||40012345^^^RRV^MR||O'SULLIVAN-NÍ BHRIAIN^SIOBHÁN"))

    assert _code(ack) == "AA"
    assert Patient.objects.get(pk=eleanor.pk).family_name == "O'Sullivan-Ní Bhriain"


def test_a_refused_message_never_reaches_the_log_with_its_content(eleanor, caplog) -> None:
    message_receive(ATTACK, peer=LOCAL_PEER)
    assert "script" not in caplog.text and "alert" not in caplog.text


def test_dates_are_not_touched_by_a_refusal(eleanor) -> None:
    before = Patient.objects.get(pk=eleanor.pk).birth_date
    receive(adt("A31", "PID|1||40012345^^^RRV^MR||<x>^Y||20000101"))
    assert Patient.objects.get(pk=eleanor.pk).birth_date == before != datetime.date(2000, 1, 1)
