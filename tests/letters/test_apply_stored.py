"""Letters that arrived as MDM before CarePortal applied them (kept as IGNORED) are applied once by
`manage.py hl7_apply_stored` (careportal/hl7/services.py `stored_messages_apply`)."""

from io import StringIO

import pytest
from django.core.management import call_command

from careportal.hl7.models import InboundMessage, MessageStatus
from careportal.letters.models import Letter
from careportal.notifications.models import Notification
from tests.hl7.test_apply_stored import kept
from tests.letters.helpers import make_pdf, mdm_message, sha256, stored_letter

pytestmark = pytest.mark.django_db


def test_an_mdm_kept_before_letters_existed_is_applied_exactly_once(
    hl7_interfaces, eleanor, haematology, django_capture_on_commit_callbacks
):
    pdf = make_pdf(pages=2)
    row = kept(mdm_message(pdf=pdf, control_id="OLD1"), minutes_ago=24 * 60)

    with django_capture_on_commit_callbacks(execute=True):
        call_command("hl7_apply_stored", stdout=StringIO())
        call_command("hl7_apply_stored", stdout=StringIO())

    row.refresh_from_db()
    assert row.status == MessageStatus.APPLIED
    assert row.patient == eleanor
    letter = Letter.objects.get()
    assert letter.arrived_at == row.received_at, "applied with the time it arrived"
    assert sha256(stored_letter(letter)) == letter.sha256 == sha256(pdf)
    assert Notification.objects.filter(kind="new_letter").count() == 1
    assert InboundMessage.objects.count() == 1


def test_a_kept_mdm_that_cannot_be_applied_waits_for_staff(hl7_interfaces, eleanor, haematology):
    row = kept(mdm_message(data="not base64!", control_id="OLD2"))

    call_command("hl7_apply_stored", stdout=StringIO())

    row.refresh_from_db()
    assert (row.status, row.error_text) == (MessageStatus.ERROR, "OBX-5: the document is not valid Base64")
    assert not Letter.objects.exists()
