"""Notifications go by the channels the patient chose (email, text message, both), in one place: notification_send
and notifications_send_many. Account and security messages always go by email."""

import pytest

from careportal.notifications.kinds import SPECS, Kind
from careportal.notifications.models import Notification
from careportal.notifications.services import notification_deliver, notification_send, notifications_send_many
from tests.accounts.factories import UserFactory
from tests.notifications.test_services import fake_notify  # noqa: F401 - the fixture
from tests.patients.factories import PatientWithAccountFactory

pytestmark = pytest.mark.django_db

SMS_TEMPLATE = "22222222-2222-2222-2222-222222222222"


@pytest.fixture(autouse=True)
def _texts_available(settings):
    settings.NOTIFICATIONS_BACKEND = "notify"


def _channels(user) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return sorted(Notification.objects.filter(user=user).values_list("channel", "to_address"))


def test_by_default_a_patient_gets_email(patient):
    notification_send(kind=Kind.NEW_LETTER, user=patient.user)
    assert _channels(patient.user) == [("email", patient.user.email)]


def test_text_only_sends_a_text_to_the_mobile_and_no_email(patient):
    patient.notify_by_email, patient.notify_by_sms = False, True
    patient.save()
    returned = notification_send(kind=Kind.RESULT_RELEASED, user=patient.user)
    assert returned is not None and returned.channel == "sms"
    assert _channels(patient.user) == [("sms", patient.mobile_phone)]


def test_both_sends_both(patient):
    patient.notify_by_sms = True
    patient.save()
    returned = notification_send(kind=Kind.APPOINTMENT_REMINDER, user=patient.user, personalisation={"when": "Monday"})
    assert returned is not None and returned.channel == "email"
    assert _channels(patient.user) == [("email", patient.user.email), ("sms", patient.mobile_phone)]


def test_text_only_without_a_mobile_falls_back_to_email_rather_than_silence(patient):
    patient.notify_by_email, patient.notify_by_sms, patient.mobile_phone = False, True, ""
    patient.save()
    notification_send(kind=Kind.NEW_MESSAGE, user=patient.user)
    assert _channels(patient.user) == [("email", patient.user.email)]


def test_without_gov_uk_notify_a_patient_who_chose_texts_gets_email(patient, settings):
    settings.NOTIFICATIONS_BACKEND = "django"
    patient.notify_by_email, patient.notify_by_sms = False, True
    patient.save()
    notification_send(kind=Kind.NEW_LETTER, user=patient.user)
    assert _channels(patient.user) == [("email", patient.user.email)]


@pytest.mark.parametrize("kind", [k for k in Kind if not SPECS[k].follows_preferences])
def test_account_and_security_messages_always_go_by_email(patient, kind):
    patient.notify_by_email, patient.notify_by_sms = False, True
    patient.save()
    personalisation = dict.fromkeys(SPECS[kind].personalisation - {"first_name"}, "x")
    notification_send(kind=kind, user=patient.user, personalisation=personalisation)
    assert _channels(patient.user) == [("email", patient.user.email)]


def test_someone_who_is_not_a_patient_gets_email():
    proxy = UserFactory()
    notification_send(kind=Kind.NEW_MESSAGE, user=proxy)
    assert _channels(proxy) == [("email", proxy.email)]


def test_send_many_honours_each_patients_choice_in_one_query(django_assert_num_queries):
    by_email = PatientWithAccountFactory()
    by_text = PatientWithAccountFactory(notify_by_email=False, notify_by_sms=True)
    by_both = PatientWithAccountFactory(notify_by_sms=True)
    users = [by_email.user, by_text.user, by_both.user]
    with django_assert_num_queries(2):  # the choices, then one insert
        created = notifications_send_many(kind=Kind.RESULT_RELEASED, users=users)
    assert len(created) == 4
    assert _channels(by_email.user) == [("email", by_email.user.email)]
    assert _channels(by_text.user) == [("sms", by_text.mobile_phone)]
    assert _channels(by_both.user) == [("email", by_both.user.email), ("sms", by_both.mobile_phone)]


def test_a_text_goes_through_gov_uk_notify(patient, fake_notify, settings):  # noqa: F811 - the fixture
    settings.NOTIFY_TEMPLATE_IDS = {"sms_new_letter": SMS_TEMPLATE}
    patient.notify_by_email, patient.notify_by_sms = False, True
    patient.save()
    notification = notification_send(kind=Kind.NEW_LETTER, user=patient.user)
    assert notification_deliver(notification_id=notification.pk) == "sent"
    [request] = fake_notify.requests
    assert request["path"] == "/v2/notifications/sms"
    assert request["json"]["phone_number"] == patient.mobile_phone
    assert request["json"]["template_id"] == SMS_TEMPLATE
    assert set(request["json"]["personalisation"]) == {"first_name"}
