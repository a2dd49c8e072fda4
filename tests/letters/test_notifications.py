"""The patient hears of a new letter by email, through a real SMTP server, with no clinical detail."""

import pytest

from careportal.hl7.models import MessageSource
from careportal.hl7.services import message_receive
from tests.hl7.interfaces import LOCAL_PEER
from tests.letters.helpers import mdm_message

pytestmark = pytest.mark.django_db


def test_a_new_letter_email_goes_through_a_real_smtp_server_with_no_clinical_detail(
    smtp_server, hl7_interfaces, eleanor, haematology, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message_receive(
            mdm_message(document_type="CL^Haematology clinic letter"), peer=LOCAL_PEER, source=MessageSource.MLLP
        )

    email = smtp_server.wait_for_message(to=eleanor.user.email)
    assert email["Subject"] == "You have a new letter in CarePortal"
    body = smtp_server.body(email)
    assert "letter" in body
    for detail in ("Haematology", "clinic letter", "Okafor", eleanor.family_name, eleanor.hospital_number):
        assert detail not in body
