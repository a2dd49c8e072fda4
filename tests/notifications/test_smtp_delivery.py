import pytest

from careportal.notifications.kinds import Kind
from careportal.notifications.models import Notification
from careportal.notifications.services import notification_send

pytestmark = pytest.mark.django_db


def test_a_notification_goes_through_a_real_smtp_server_with_no_clinical_detail(
    smtp_server, patient, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        notification_send(kind=Kind.NEW_MESSAGE, user=patient.user)

    message = smtp_server.wait_for_message(to=patient.user.email)
    assert message["Subject"] == "You have a new message in CarePortal"
    body = smtp_server.body(message)
    assert "new message" in body
    assert patient.family_name not in body
    sent = Notification.objects.get()
    assert sent.status == "sent"
    assert sent.to_address == "" and sent.personalisation == {}, "content is wiped once sent"
