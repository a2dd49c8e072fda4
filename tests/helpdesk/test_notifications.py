"""Emails and texts needing attention: failed and retrying ones are listed, and the helpdesk can try them again."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from careportal.helpdesk.models import HelpdeskAction
from careportal.notifications.models import Notification
from tests.helpdesk.factories import FailedNotificationFactory

pytestmark = pytest.mark.django_db

PAGE = reverse("helpdesk:notifications")


def retry_url(notification: Notification) -> str:
    return reverse("helpdesk:notification-retry", kwargs={"notification_id": notification.public_id})


def test_failed_and_retrying_notifications_are_listed_without_their_content(helpdesk_client, patient):
    failed = FailedNotificationFactory(user=patient.user, to_address="hidden.address@example.org")
    FailedNotificationFactory(status="retrying", attempts=2, last_error="notify: HTTP 503", user=None)
    FailedNotificationFactory(status="sent", last_error="")

    page = helpdesk_client.get(PAGE).content.decode()

    assert "You have a new message in CarePortal" in page
    assert "Failed, will not try again" in page and "Failed, will try again" in page
    assert "email: ConnectionRefusedError" in page and "notify: HTTP 503" in page
    assert patient.user.username in page
    assert "No account" in page
    assert "hidden.address@example.org" not in page
    assert page.count("Try again<span") == 2
    assert str(failed.public_id) in page


def test_try_again_sends_it(helpdesk_client, helpdesk_user, patient, mailoutbox, django_capture_on_commit_callbacks):
    failed = FailedNotificationFactory(user=patient.user, to_address="eleanor@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        response = helpdesk_client.post(retry_url(failed))
    assert response["Location"] == PAGE
    failed.refresh_from_db()
    assert failed.status == "sent"
    assert [m.to for m in mailoutbox] == [["eleanor@example.org"]]
    action = HelpdeskAction.objects.get(kind="notification_retried")
    assert (action.actor, action.account) == (helpdesk_user, patient.user)
    assert "Nothing needs attention" in helpdesk_client.get(PAGE).content.decode()


def test_one_whose_content_is_gone_cannot_be_tried_again_and_says_so(helpdesk_client):
    emptied = FailedNotificationFactory(to_address="", personalisation={})
    page = helpdesk_client.get(PAGE).content.decode()
    assert "Its content is no longer held" in page
    response = helpdesk_client.post(retry_url(emptied), follow=True)
    assert "It cannot be sent again" in response.content.decode()
    emptied.refresh_from_db()
    assert emptied.status == "failed"


def test_a_sent_notification_cannot_be_retried(helpdesk_client):
    sent = FailedNotificationFactory(status="sent")
    assert helpdesk_client.post(retry_url(sent)).status_code == 404


def test_the_page_queries_do_not_grow_with_the_number_of_notifications(helpdesk_client, patient):
    helpdesk_client.get(PAGE)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert helpdesk_client.get(PAGE).status_code == 200
        return len(captured)

    FailedNotificationFactory.create_batch(2, user=patient.user)
    few = queries()
    FailedNotificationFactory.create_batch(30, user=patient.user)
    assert queries() == few
