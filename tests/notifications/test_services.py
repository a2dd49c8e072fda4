import datetime
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine

from careportal.notifications.kinds import Kind
from careportal.notifications.models import Notification
from careportal.notifications.services import (
    MAX_ATTEMPTS,
    UnknownPersonalisationError,
    notification_deliver,
    notification_retry_now,
    notification_send,
    retry_delay,
)

pytestmark = pytest.mark.django_db

NOTIFY_KEY = f"careportal_test-{uuid.uuid4()}-{uuid.uuid4()}"


class FakeNotify:
    """A local server shaped like GOV.UK Notify's API: records requests, answers with the status we choose."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 201
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                fake.requests.append(
                    {
                        "path": self.path,
                        "auth": self.headers.get("Authorization", ""),
                        "json": json.loads(self.rfile.read(length)),
                    }
                )
                body = (
                    {"id": str(uuid.uuid4())}
                    if fake.status < 300
                    else {"status_code": fake.status, "errors": [{"error": "Error", "message": "nope"}]}
                )
                payload = json.dumps(body).encode()
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def fake_notify(settings):
    fake = FakeNotify()
    fake.thread.start()
    settings.NOTIFICATIONS_BACKEND = "notify"
    settings.NOTIFY_API_KEY = NOTIFY_KEY
    settings.NOTIFY_BASE_URL = fake.url
    settings.NOTIFY_TEMPLATE_IDS = {"new_message": "11111111-1111-1111-1111-111111111111"}
    yield fake
    fake.server.shutdown()


def test_personalisation_outside_the_kinds_list_is_refused(patient):
    with pytest.raises(UnknownPersonalisationError):
        notification_send(kind=Kind.NEW_MESSAGE, user=patient.user, personalisation={"result": "Hb 98"})
    assert not Notification.objects.exists()


def test_nothing_is_queued_without_an_address(patient):
    patient.user.email = ""
    patient.user.save()
    assert notification_send(kind=Kind.NEW_MESSAGE, user=patient.user) is None
    assert not Notification.objects.exists()


def test_nothing_is_sent_when_the_transaction_rolls_back(patient, mailoutbox, django_capture_on_commit_callbacks):
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                notification_send(kind=Kind.NEW_MESSAGE, user=patient.user)
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
    assert callbacks == []
    assert mailoutbox == []
    assert not Notification.objects.exists()


def test_an_email_names_the_person_by_first_name_only(patient, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notification_send(kind=Kind.RESULT_RELEASED, user=patient.user)
    [email] = mailoutbox
    assert email.subject == "You have a new test result in CarePortal"
    assert f"Hello {patient.user.first_name or 'there'}," in email.body
    assert patient.family_name not in email.body
    assert patient.hospital_number not in email.body


def test_plain_text_emails_are_not_html_escaped(
    user_factory_with_apostrophe, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        notification_send(kind=Kind.NEW_MESSAGE, user=user_factory_with_apostrophe)
    assert "Hello D'Arcy," in mailoutbox[0].body
    assert "O'Neill" not in mailoutbox[0].body


@pytest.fixture
def user_factory_with_apostrophe():
    from tests.accounts.factories import UserFactory

    return UserFactory(first_name="D'Arcy", last_name="O'Neill")


def test_notify_receives_the_template_id_and_personalisation(patient, fake_notify):
    notification = notification_send(kind=Kind.NEW_MESSAGE, user=patient.user)
    assert notification_deliver(notification_id=notification.pk) == "sent"
    [request] = fake_notify.requests
    assert request["path"] == "/v2/notifications/email"
    assert request["auth"].startswith("Bearer ")
    assert request["json"]["template_id"] == "11111111-1111-1111-1111-111111111111"
    assert request["json"]["email_address"] == patient.user.email
    assert set(request["json"]["personalisation"]) == {"first_name"}
    notification.refresh_from_db()
    assert notification.provider_reference


def test_a_server_error_is_retried_with_growing_delays_then_given_up(patient, fake_notify):
    fake_notify.status = 500
    notification = notification_send(kind=Kind.NEW_MESSAGE, user=patient.user)
    start = datetime.datetime(2026, 11, 25, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        for attempt in range(1, MAX_ATTEMPTS):
            assert notification_deliver(notification_id=notification.pk) == "retrying"
            notification.refresh_from_db()
            assert notification.next_attempt_at == start + retry_delay(attempt)
            assert notification.last_error == "notify: HTTP 500"
        assert notification_deliver(notification_id=notification.pk) == "failed"
    notification.refresh_from_db()
    assert notification.attempts == MAX_ATTEMPTS
    assert retry_delay(1) < retry_delay(2) < retry_delay(3)


def test_a_bad_request_is_not_retried(patient, fake_notify):
    fake_notify.status = 400
    notification = notification_send(kind=Kind.NEW_MESSAGE, user=patient.user)
    assert notification_deliver(notification_id=notification.pk) == "failed"
    assert len(fake_notify.requests) == 1


def test_a_kind_without_a_template_id_fails_visibly(patient, fake_notify):
    notification = notification_send(kind=Kind.RESULT_RELEASED, user=patient.user)
    assert notification_deliver(notification_id=notification.pk) == "failed"
    notification.refresh_from_db()
    assert "no template id" in notification.last_error
    assert fake_notify.requests == []


def test_the_helpdesk_can_try_a_failed_one_again(patient, fake_notify, django_capture_on_commit_callbacks):
    fake_notify.status = 400
    notification = notification_send(kind=Kind.NEW_MESSAGE, user=patient.user)
    notification_deliver(notification_id=notification.pk)
    fake_notify.status = 201
    with django_capture_on_commit_callbacks(execute=True):
        notification_retry_now(notification=notification)
    notification.refresh_from_db()
    assert notification.status == "sent"


def test_a_sent_notification_is_never_sent_twice(patient, mailoutbox):
    notification = notification_send(kind=Kind.NEW_MESSAGE, user=patient.user)
    assert notification_deliver(notification_id=notification.pk) == "sent"
    assert notification_deliver(notification_id=notification.pk) is None
    assert len(mailoutbox) == 1


def test_a_sign_in_code_too_old_to_use_is_not_sent(patient, mailoutbox):
    with time_machine.travel(datetime.datetime(2026, 11, 25, 9, 0, tzinfo=datetime.UTC), tick=False):
        notification = notification_send(kind=Kind.SIGN_IN_CODE, user=patient.user, personalisation={"code": "123456"})
    with time_machine.travel(datetime.datetime(2026, 11, 25, 9, 30, tzinfo=datetime.UTC), tick=False):
        assert notification_deliver(notification_id=notification.pk) == "expired"
    assert mailoutbox == []
    notification.refresh_from_db()
    assert notification.personalisation == {}


def test_an_smtp_outage_is_retried(patient, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = 9  # discard port: nothing listens, the connection is refused
    settings.EMAIL_TIMEOUT = 2
    notification = notification_send(kind=Kind.NEW_MESSAGE, user=patient.user)
    assert notification_deliver(notification_id=notification.pk) == "retrying"
    notification.refresh_from_db()
    assert notification.last_error.startswith("email: ")


def test_due_retries_and_lost_tasks_are_swept_up_once_due(patient, mailoutbox, django_capture_on_commit_callbacks):
    from careportal.notifications.services import notifications_enqueue_due

    start = datetime.datetime(2026, 11, 25, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        lost = notification_send(kind=Kind.NEW_MESSAGE, user=patient.user)
        retrying = notification_send(kind=Kind.RESULT_RELEASED, user=patient.user)
    Notification.objects.filter(pk=retrying.pk).update(status="retrying", next_attempt_at=start + retry_delay(3))
    with time_machine.travel(start + datetime.timedelta(minutes=2), tick=False):
        assert notifications_enqueue_due() == 0
    with (
        django_capture_on_commit_callbacks(execute=True),
        time_machine.travel(start + datetime.timedelta(minutes=11), tick=False),
    ):
        assert notifications_enqueue_due() == 2
    assert {n.status for n in Notification.objects.filter(pk__in=[lost.pk, retrying.pk])} == {"sent"}
    assert len(mailoutbox) == 2
