"""Who is told about a new message or a correction request's progress, and that the telling says nothing of it."""

import datetime

import pytest
from django.core import mail
from django.db import transaction

from careportal.messaging import services
from careportal.notifications.models import Notification
from tests.accounts.factories import UserFactory
from tests.messaging.test_services import clinician_viewer_for, patient_side_viewer
from tests.patients.factories import (
    CareRelationshipFactory,
    CareTeamFactory,
    CareTeamMembershipFactory,
    PatientWithAccountFactory,
)
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db

SECRET_BODY = "Your haemoglobin is 95 g/L, please stop the ferrous sulphate"
SECRET_SUBJECT = "Anaemia follow-up"


@pytest.fixture
def team():
    return CareTeamFactory(name="Paediatric haematology")


@pytest.fixture
def child(team):
    # A child under 16, so that a parent's scopes apply in full (DESIGN.md, Proxy).
    patient = PatientWithAccountFactory(
        given_name="Arjun", family_name="Patel", birth_date=datetime.date(2016, 3, 1), user__first_name="Arjun"
    )
    CareRelationshipFactory(patient=patient, care_team=team)
    return patient


@pytest.fixture
def mother(child):
    return ProxyRelationshipFactory(patient=child, proxy__first_name="Priya", valid_from=datetime.date(2016, 3, 1))


@pytest.fixture
def staff(team):
    return clinician_viewer_for(CareTeamMembershipFactory(care_team=team, user__display_name="Dr C Okafor").user)


@pytest.fixture
def thread(child, team):
    viewer = patient_side_viewer(child.user, child)
    return services.thread_start_by_patient(
        viewer=viewer, care_team=team, topic="results", subject=SECRET_SUBJECT, body="What does it mean?", files=[]
    )


def recipients() -> set[str]:
    return set(Notification.objects.values_list("to_address", flat=True))


def test_a_patient_message_notifies_nobody_on_the_patient_side(thread, mother):
    assert not Notification.objects.exists()


def test_a_staff_reply_notifies_the_patient_and_proxies_with_the_messages_scope_only(child, mother, thread, staff):
    without_scope = ProxyRelationshipFactory(patient=child, scopes=["appointments", "results"])
    revoked = ProxyRelationshipFactory(patient=child, status="revoked")
    not_yet = ProxyRelationshipFactory(patient=child, valid_from=datetime.date(2999, 1, 1))
    left = ProxyRelationshipFactory(patient=child, proxy__is_active=False)
    other_patients_proxy = ProxyRelationshipFactory()

    services.thread_reply_by_staff(viewer=staff, thread=thread, body=SECRET_BODY, files=[])

    assert recipients() == {child.user.email, mother.proxy.email}
    for person in (without_scope, revoked, not_yet, left, other_patients_proxy):
        assert person.proxy.email not in recipients()
    for notification in Notification.objects.all():
        assert notification.kind == "new_message"
        # The first name only: no team, no subject, no text.
        assert set(notification.personalisation) == {"first_name"}
    assert {n.personalisation["first_name"] for n in Notification.objects.all()} == {"Arjun", "Priya"}


def test_a_parent_of_a_16_year_old_is_not_told(team, staff):
    teenager = PatientWithAccountFactory(birth_date=datetime.date(2009, 1, 1))
    CareRelationshipFactory(patient=teenager, care_team=team)
    parent = ProxyRelationshipFactory(patient=teenager, valid_from=datetime.date(2009, 1, 1))

    services.thread_start_by_staff(
        viewer=staff, patient=teenager, care_team=team, topic="care", subject="", body=SECRET_BODY, files=[]
    )

    assert recipients() == {teenager.user.email}
    assert parent.proxy.email not in recipients()


def test_a_patient_without_an_account_is_not_told_but_their_proxy_is(team, staff):
    from tests.patients.factories import PatientFactory

    patient = PatientFactory(birth_date=datetime.date(2018, 1, 1))
    CareRelationshipFactory(patient=patient, care_team=team)
    parent = ProxyRelationshipFactory(patient=patient)
    services.thread_start_by_staff(
        viewer=staff, patient=patient, care_team=team, topic="care", subject="", body="Hello", files=[]
    )
    assert recipients() == {parent.proxy.email}


def test_an_internal_note_notifies_nobody(mother, thread, staff):
    services.thread_note_by_staff(viewer=staff, thread=thread, body=SECRET_BODY)
    assert not Notification.objects.exists()


def test_assign_close_and_reopen_notify_nobody(mother, thread, staff):
    services.thread_assign(viewer=staff, thread=thread, assignee=staff.user)
    services.thread_close(viewer=staff, thread=thread)
    services.thread_reopen(viewer=staff, thread=thread)
    assert not Notification.objects.exists()


def test_each_correction_step_notifies_the_patient_side(child, mother, team, staff):
    viewer = patient_side_viewer(child.user, child)
    thread = services.thread_start_by_patient(
        viewer=viewer, care_team=team, topic="correction", subject="", body="My allergy is wrong", files=[]
    )
    assert not Notification.objects.exists()

    services.correction_status_set(viewer=staff, correction=thread.correction_request, status="under_review", note="")
    services.correction_status_set(
        viewer=staff, correction=thread.correction_request, status="corrected", note="Penicillin allergy removed"
    )

    assert Notification.objects.filter(to_address=child.user.email).count() == 2
    assert Notification.objects.filter(to_address=mother.proxy.email).count() == 2
    assert all(set(n.personalisation) == {"first_name"} for n in Notification.objects.all())


def test_a_refused_reply_notifies_nobody(child, mother, thread):
    outsider = clinician_viewer_for(CareTeamMembershipFactory(care_team=CareTeamFactory(name="Cardiology")).user)
    with pytest.raises(services.MessagingError):
        services.thread_reply_by_staff(viewer=outsider, thread=thread, body=SECRET_BODY, files=[])
    assert not Notification.objects.exists()


def test_delivery_waits_for_the_commit_and_a_rollback_sends_nothing(
    child, thread, staff, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.thread_reply_by_staff(viewer=staff, thread=thread, body=SECRET_BODY, files=[])
    assert callbacks, "delivery is enqueued on commit"
    assert mail.outbox == []
    for callback in callbacks:
        callback()
    assert [m.to for m in mail.outbox] == [[child.user.email]]

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        services.thread_reply_by_staff(viewer=staff, thread=thread, body="Second reply", files=[])
        raise RuntimeError("the request failed after the reply")
    assert mail.outbox == []
    assert Notification.objects.count() == 1


def test_the_email_goes_through_a_real_smtp_server_and_says_nothing_of_the_message(
    smtp_server, child, thread, staff, team, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.thread_reply_by_staff(viewer=staff, thread=thread, body=SECRET_BODY, files=[])

    message = smtp_server.wait_for_message(to=child.user.email)
    assert message["Subject"] == "You have a new message in CarePortal"
    text = str(message["Subject"]) + smtp_server.body(message)
    assert "Hello Arjun" in text
    for secret in (SECRET_BODY, "haemoglobin", SECRET_SUBJECT, team.name, "Okafor", child.family_name):
        assert secret not in text
    assert Notification.objects.get().status == "sent"


def test_a_patient_account_without_an_email_address_is_simply_not_told(team, staff):
    patient = PatientWithAccountFactory(user=UserFactory(email=""))
    CareRelationshipFactory(patient=patient, care_team=team)
    services.thread_start_by_staff(
        viewer=staff, patient=patient, care_team=team, topic="care", subject="", body="Hello", files=[]
    )
    assert not Notification.objects.exists()
