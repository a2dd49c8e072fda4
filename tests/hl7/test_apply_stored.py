"""Messages kept without being applied (IGNORED) before CarePortal used their type are applied once, in the order
they arrived, by `stored_messages_apply` and `manage.py hl7_apply_stored`.

A kept row is made here as the listener made them for SIU and MDM before appointments and letters existed: the raw
bytes, the header fields, status IGNORED and ACK AA. A result message stands in for such a type, as its handler is
the one main has in every branch; appointments and letters test their own types through the same function.
"""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from careportal.hl7.models import ErrorKind, InboundMessage, MessageSource, MessageStatus
from careportal.hl7.parsing import content_hash, read_header
from careportal.hl7.services import message_receive, stored_messages_apply
from careportal.results.models import DiagnosticReport, ResultRouting
from tests.hl7.interfaces import LOCAL_PEER
from tests.patients.factories import CareTeamFactory, PatientFactory

SAMPLES = Path(__file__).parent / "samples"


def kept(raw: bytes, *, minutes_ago: int = 60) -> InboundMessage:
    header = read_header(raw)
    return InboundMessage.objects.create(
        received_at=timezone.now() - timezone.timedelta(minutes=minutes_ago),
        source=MessageSource.MLLP,
        peer=LOCAL_PEER,
        raw=raw,
        control_id=header.control_id,
        message_type=header.message_type,
        sending_application=header.sending_application,
        sending_facility=header.sending_facility,
        hl7_version=header.version,
        content_hash=content_hash(raw),
        status=MessageStatus.IGNORED,
        ack_code="AA",
    )


@pytest.fixture
def eleanor(db):
    team = CareTeamFactory(name="Haematology")
    ResultRouting.objects.create(match="service", code="HAEM", care_team=team)
    return PatientFactory(hospital_number="40012345", nhs_number="9990000018")


def test_a_kept_message_is_applied_once_in_place_with_the_time_it_arrived(eleanor) -> None:
    row = kept((SAMPLES / "oru_r01_fbc_final.hl7").read_bytes())

    result = stored_messages_apply()

    assert (result.applied, result.duplicates, result.waiting) == (1, 0, 0)
    row.refresh_from_db()
    assert row.status == MessageStatus.APPLIED
    assert row.patient == eleanor
    assert row.applied_at is not None
    assert InboundMessage.objects.count() == 1
    assert DiagnosticReport.objects.get().patient == eleanor

    again = stored_messages_apply()
    assert (again.applied, again.duplicates, again.waiting) == (0, 0, 0)
    assert DiagnosticReport.objects.count() == 1


def test_a_kept_message_the_sender_sent_again_and_that_was_applied_becomes_a_duplicate(eleanor) -> None:
    raw = (SAMPLES / "oru_r01_fbc_final.hl7").read_bytes()
    row = kept(raw)
    message_receive(raw, peer=LOCAL_PEER)  # the sending system sent it again after the upgrade: applied then

    result = stored_messages_apply()

    assert (result.applied, result.duplicates) == (0, 1)
    row.refresh_from_db()
    assert row.status == MessageStatus.DUPLICATE
    assert DiagnosticReport.objects.count() == 1


def test_a_kept_message_that_cannot_be_applied_waits_for_staff_with_its_reason(db) -> None:
    row = kept((SAMPLES / "bad" / "unknown_patient.hl7").read_bytes())

    result = stored_messages_apply()

    assert result.waiting == 1
    row.refresh_from_db()
    assert row.status == MessageStatus.ERROR
    assert row.error_kind == ErrorKind.UNKNOWN_PATIENT
    assert "PID-3" in row.error_text
    assert row.needs_attention
    assert not DiagnosticReport.objects.exists()


def test_a_kept_message_whose_type_is_still_not_applied_is_left_as_it_was(db) -> None:
    raw = b"MSH|^~\\&|PAS|RRV|CAREPORTAL|RRV|20261105120000||MFN^M02|MFN1|P|2.5\rMFI|PRA||UPD|||AL\r"
    row = kept(raw)

    result = stored_messages_apply()

    assert (result.applied, result.duplicates, result.waiting) == (0, 0, 0)
    row.refresh_from_db()
    assert row.status == MessageStatus.IGNORED


def test_kept_messages_are_applied_in_the_order_they_arrived(eleanor) -> None:
    # Stored in the other order (the correction's row first), so the order can only come from when each arrived.
    corrected = kept((SAMPLES / "oru_r01_ue_corrected.hl7").read_bytes(), minutes_ago=30)
    final = kept((SAMPLES / "oru_r01_ue_final.hl7").read_bytes(), minutes_ago=90)

    assert stored_messages_apply().applied == 2

    report = DiagnosticReport.objects.get()
    assert report.is_amended
    assert report.earlier_versions.exists()
    final.refresh_from_db()
    corrected.refresh_from_db()
    assert final.applied_at < corrected.applied_at


def test_the_command_says_what_it_did_and_only_takes_the_types_asked_for(eleanor) -> None:
    kept((SAMPLES / "oru_r01_fbc_final.hl7").read_bytes())
    out = StringIO()

    call_command("hl7_apply_stored", "--type", "siu^s12", stdout=out)
    assert out.getvalue().strip() == "No kept messages to apply."
    assert not DiagnosticReport.objects.exists()

    out = StringIO()
    call_command("hl7_apply_stored", stdout=out)
    assert "Applied 1;" in out.getvalue()
    assert DiagnosticReport.objects.count() == 1
