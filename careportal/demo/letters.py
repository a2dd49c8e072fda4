"""Demo letters, fed through the real HL7 interface as the document system would send them: a haematology clinic
letter for demo.patient (paperless: read in the portal, never posted) and a dermatology letter for Siobhán
O'Sullivan, who has no account yet, so it goes on the print room's list (made at once here, as the daily job would).

Loading twice changes nothing: each message keeps its control id, and a letter its document id.
"""

from pathlib import Path

from careportal.hl7.models import InboundMessage, MessageSource, MessageStatus
from careportal.hl7.services import message_receive
from careportal.letters.services import print_list_freeze

MESSAGES_DIR = Path(__file__).resolve().parent / "hl7"
LETTER_FILES = ["mdm_t02_letter.hl7", "mdm_t02_dermatology_letter.hl7"]


def demo_letters_load() -> dict[str, int]:
    from careportal.demo.services import demo_interfaces_load

    demo_interfaces_load()
    applied_before = InboundMessage.objects.filter(status=MessageStatus.APPLIED, message_type="MDM^T02").count()
    for name in LETTER_FILES:
        message_receive((MESSAGES_DIR / name).read_bytes(), peer="demo data", source=MessageSource.IMPORT)
    applied = InboundMessage.objects.filter(status=MessageStatus.APPLIED, message_type="MDM^T02").count()
    return {"applied": applied - applied_before, "listed": print_list_freeze()}
