"""The helpdesk's queue of requests for help: order, overdue requests, taking one, replying by email, closing."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from careportal.helpdesk.models import HelpdeskAction, SupportReply, SupportRequest
from careportal.notifications.models import Notification
from tests.helpdesk.factories import SupportRequestFactory

pytestmark = pytest.mark.django_db

QUEUE = reverse("helpdesk:requests")


def request_url(support_request: SupportRequest, name: str = "helpdesk:request") -> str:
    return reverse(name, kwargs={"request_id": support_request.public_id})


def _created(support_request: SupportRequest, days_ago: int) -> SupportRequest:
    SupportRequest.objects.filter(pk=support_request.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=days_ago)
    )
    return support_request


def test_the_queue_shows_new_requests_first_and_the_oldest_first_within_each_status(helpdesk_client):
    answered_old = _created(SupportRequestFactory(status="answered"), 10)
    new_recent = _created(SupportRequestFactory(status="new"), 1)
    new_old = _created(SupportRequestFactory(status="new"), 3)
    in_progress = _created(SupportRequestFactory(status="in_progress"), 2)
    closed = _created(SupportRequestFactory(status="closed"), 20)

    page = helpdesk_client.get(QUEUE).content.decode()

    order = [page.index(r.reference) for r in (new_old, new_recent, in_progress, answered_old, closed)]
    assert order == sorted(order)


def test_overdue_open_requests_are_highlighted(helpdesk_client):
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    overdue = SupportRequestFactory(status="new", reply_due_on=yesterday)
    answered_late = SupportRequestFactory(status="answered", reply_due_on=yesterday)
    on_time = SupportRequestFactory(status="in_progress", reply_due_on=timezone.localdate())

    page = helpdesk_client.get(QUEUE).content.decode()

    assert page.count("Overdue") == 1
    row = page[page.index(overdue.reference) :].split("</tr>", 1)[0]
    assert "Overdue" in row
    for not_overdue in (answered_late, on_time):
        assert "Overdue" not in page[page.index(not_overdue.reference) :].split("</tr>", 1)[0]
    assert "1 new, 1 overdue" in helpdesk_client.get(reverse("helpdesk:home")).content.decode()


def test_queue_queries_do_not_grow_with_the_number_of_requests(helpdesk_client, helpdesk_user, patient):
    helpdesk_client.get(QUEUE)  # the session's first request also records the session

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert helpdesk_client.get(QUEUE).status_code == 200
        return len(captured)

    SupportRequestFactory.create_batch(2, user=patient.user, assigned_to=helpdesk_user)
    few = queries()
    SupportRequestFactory.create_batch(30, user=patient.user, assigned_to=helpdesk_user)
    SupportRequestFactory.create_batch(10)
    assert queries() == few


def test_the_queue_is_paged(helpdesk_client):
    SupportRequestFactory.create_batch(51)
    page_one = helpdesk_client.get(QUEUE).content.decode()
    assert "Page 2 of 2" in page_one
    page_two = helpdesk_client.get(QUEUE, {"page": 2}).content.decode()
    assert page_two.count("HELP-T") == 1


def test_the_request_page_shows_what_was_written_and_links_to_the_account(helpdesk_client, patient):
    sent = SupportRequestFactory(user=patient.user, description="First line\n\nSecond paragraph")
    page = helpdesk_client.get(request_url(sent)).content.decode()
    assert sent.reference in page
    assert sent.email in page
    assert "<p>First line</p><p>Second paragraph</p>" in page
    assert reverse("helpdesk:account", kwargs={"account_id": patient.user.public_id}) in page


def test_taking_a_request_assigns_it_and_marks_it_in_progress(helpdesk_client, helpdesk_user):
    sent = SupportRequestFactory()
    response = helpdesk_client.post(request_url(sent, "helpdesk:request-assign"))
    assert response.status_code == 302
    sent.refresh_from_db()
    assert (sent.status, sent.assigned_to) == ("in_progress", helpdesk_user)
    assert HelpdeskAction.objects.get(kind="support_request_assigned").support_request == sent


def test_actions_on_a_request_are_post_only(helpdesk_client):
    sent = SupportRequestFactory()
    for name in ("helpdesk:request-assign", "helpdesk:request-reply", "helpdesk:request-close"):
        assert helpdesk_client.get(request_url(sent, name)).status_code == 405
    sent.refresh_from_db()
    assert sent.status == "new"


def test_a_reply_is_checked_first_then_sent_through_a_real_smtp_server(
    helpdesk_client, helpdesk_user, patient, smtp_server, django_capture_on_commit_callbacks
):
    sent = SupportRequestFactory(user=patient.user, name="Eleanor Hargreaves", email="eleanor@example.org")
    reply = "Hello. Try signing in again now: we have unlocked your account.\n\nDon't share your code & stay safe."

    check = helpdesk_client.post(request_url(sent, "helpdesk:request-reply"), {"reply": reply})
    assert check.status_code == 200
    assert "Check your reply before sending it" in check.content.decode()
    assert not Notification.objects.exists(), "nothing is sent before it is checked"

    with django_capture_on_commit_callbacks(execute=True):
        response = helpdesk_client.post(request_url(sent, "helpdesk:request-reply"), {"reply": reply, "action": "send"})
    assert response.status_code == 302

    message = smtp_server.wait_for_message(to="eleanor@example.org")
    assert message["Subject"] == "A reply from the CarePortal helpdesk"
    body = smtp_server.body(message)
    assert "Hello Eleanor," in body
    assert "Don't share your code & stay safe." in body, "plain text, not HTML-escaped"
    assert "Hargreaves" not in body
    sent.refresh_from_db()
    assert sent.status == "answered"
    assert sent.answered_at is not None
    assert sent.assigned_to == helpdesk_user
    stored = SupportReply.objects.get()
    assert (stored.body, stored.author) == (reply, helpdesk_user)
    assert stored.notification.status == "sent"
    assert HelpdeskAction.objects.get(kind="support_reply_sent").account == patient.user
    assert "Replies sent" in helpdesk_client.get(request_url(sent)).content.decode()


def test_change_the_reply_goes_back_with_the_text_kept(helpdesk_client):
    sent = SupportRequestFactory()
    response = helpdesk_client.post(
        request_url(sent, "helpdesk:request-reply"), {"reply": "Draft reply", "action": "change"}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert ">Draft reply</textarea>" in page
    assert not Notification.objects.exists()


@pytest.mark.parametrize(("reply", "message"), [("", "Enter your reply"), ("x" * 5001, "5,000 characters or fewer")])
def test_an_empty_or_overlong_reply_is_refused(helpdesk_client, reply, message):
    sent = SupportRequestFactory()
    response = helpdesk_client.post(request_url(sent, "helpdesk:request-reply"), {"reply": reply, "action": "send"})
    assert message in response.content.decode()
    assert not Notification.objects.exists()


def test_a_reply_with_html_is_shown_as_text_on_the_check_page(helpdesk_client):
    sent = SupportRequestFactory()
    page = helpdesk_client.post(
        request_url(sent, "helpdesk:request-reply"), {"reply": "<img src=x onerror=alert(1)>"}
    ).content.decode()
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_closing_a_request(helpdesk_client, helpdesk_user):
    sent = SupportRequestFactory(status="answered")
    response = helpdesk_client.post(request_url(sent, "helpdesk:request-close"))
    assert response["Location"] == QUEUE
    sent.refresh_from_db()
    assert sent.status == "closed" and sent.closed_at is not None
    assert HelpdeskAction.objects.get(kind="support_request_closed").actor == helpdesk_user
    page = helpdesk_client.get(request_url(sent)).content.decode()
    assert "This request is closed" in page
    assert "Reply by email" not in page


def test_queue_actions_need_their_csrf_token(helpdesk_user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(helpdesk_user)
    sent = SupportRequestFactory()
    assert client.post(request_url(sent, "helpdesk:request-close")).status_code == 403
    sent.refresh_from_db()
    assert sent.status == "new"
