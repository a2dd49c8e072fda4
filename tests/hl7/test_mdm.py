"""The MDM handler's ACKs: where an error is (ERR-2 segment, sequence and field), its HL7 code, and an error text that
names fields, never values."""

import pytest

from careportal.hl7.models import InboundMessage, MessageSource
from careportal.hl7.services import message_receive
from tests.hl7.interfaces import LOCAL_PEER
from tests.letters.helpers import mdm_message
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def letter_root(settings, tmp_path):
    settings.LETTER_ROOT = tmp_path / "letters"


def segments(ack: bytes) -> dict[str, list[str]]:
    return {line.split("|")[0]: line.split("|") for line in ack.decode().split("\r") if line}


def test_invalid_base64_is_located_at_obx_5_and_names_no_value() -> None:
    PatientFactory(hospital_number="40012345", given_name="Eleanor")
    data = "JVBERi0xLjQK%%%"

    ack = segments(message_receive(mdm_message(data=data), peer=LOCAL_PEER, source=MessageSource.MLLP))

    assert ack["MSA"][1] == "AE"
    assert ack["ERR"][2] == "OBX^1^5"
    assert ack["ERR"][3].startswith("102^Data type error")
    assert data not in ack["ERR"][8] and "Eleanor" not in ack["ERR"][8]
    assert InboundMessage.objects.get().error_kind == "invalid_document"


def test_a_missing_document_number_is_a_required_field_error_at_txa_12() -> None:
    PatientFactory(hospital_number="40012345")

    ack = segments(message_receive(mdm_message(document_id=""), peer=LOCAL_PEER, source=MessageSource.MLLP))

    assert ack["ERR"][2] == "TXA^1^12"
    assert ack["ERR"][3].startswith("101^Required field missing")


def test_a_transcriptionist_in_txa_11_is_never_taken_for_the_document_number() -> None:
    """The document number is read from TXA-11 only when it carries the sending system's own namespace (a sender
    that writes TXA one field early); a person in TXA-11 with TXA-12 empty is a missing document number."""
    PatientFactory(hospital_number="40012345")
    raw = mdm_message(document_id="").replace(b"|||||^EDM|", b"||||T99^SMITH^JO|")
    assert b"T99^SMITH^JO|" in raw

    ack = segments(message_receive(raw, peer=LOCAL_PEER, source=MessageSource.MLLP))

    assert ack["MSA"][1] == "AE"
    assert ack["ERR"][2] == "TXA^1^12"


def test_an_mdm_without_txa_is_refused() -> None:
    PatientFactory(hospital_number="40012345")
    raw = b"\r".join(line for line in mdm_message().split(b"\r") if not line.startswith(b"TXA"))

    ack = segments(message_receive(raw, peer=LOCAL_PEER, source=MessageSource.MLLP))

    assert ack["MSA"][1] == "AE"
    assert ack["MSA"][3] == "The message has no TXA segment: there is no document in it"
