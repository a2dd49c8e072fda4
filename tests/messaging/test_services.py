"""The messaging services: what the patient side and the care team may write, and what each action changes.

Every refusal is a MessagingError with a sentence for the person, and changes nothing."""

import datetime
import threading
import zoneinfo

import pytest
import time_machine
from django.db import connection, transaction
from django.test import RequestFactory
from django.utils import timezone

from careportal.access.layer import Viewer, patient_choices, staff_viewer
from careportal.access.scopes import ALL_SCOPES
from careportal.audit.models import AccessAction, AccessEvent, ActorRole
from careportal.messaging import services
from careportal.messaging.models import (
    AuthorRole,
    CorrectionRequest,
    CorrectionStatus,
    Message,
    ReadMarker,
    Thread,
    ThreadStatus,
    Topic,
    UrgentInterception,
    UrgentPhrase,
)
from careportal.messaging.services import MessagingError
from careportal.patients.models import CareRelationship
from tests.accounts.factories import UserFactory
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.patients.factories import (
    CareRelationshipFactory,
    CareTeamFactory,
    CareTeamMembershipFactory,
    PatientFactory,
    PatientWithAccountFactory,
)
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db

LONDON = zoneinfo.ZoneInfo("Europe/London")


def patient_side_viewer(user, patient) -> Viewer:  # type: ignore[no-untyped-def]
    """The viewer the pages build for `user` acting on `patient`'s record, through the access layer's own rules
    (scopes by age and relationship included)."""
    choice = next(c for c in patient_choices(user) if c.patient.pk == patient.pk)
    return Viewer(
        user=user,
        role=choice.role,
        patient=choice.patient,
        scopes=choice.scopes,
        proxy_relationship=choice.relationship,
    )


def clinician_viewer_for(user) -> Viewer:  # type: ignore[no-untyped-def]
    request = RequestFactory().get("/staff/messages/")
    request.user = user
    return staff_viewer(request)


@pytest.fixture
def team():
    return CareTeamFactory(name="Haematology", response_target_working_days=3)


@pytest.fixture
def patient(team):
    patient = PatientWithAccountFactory(given_name="Eleanor", family_name="Hargreaves")
    CareRelationshipFactory(patient=patient, care_team=team)
    return patient


@pytest.fixture
def viewer(patient):
    return patient_side_viewer(patient.user, patient)


@pytest.fixture
def member(team):
    return CareTeamMembershipFactory(care_team=team, user__display_name="Dr C Okafor")


@pytest.fixture
def staff(member):
    return clinician_viewer_for(member.user)


def start(viewer, team, *, topic=Topic.CARE, subject="Iron tablets", body="Should I keep taking them?"):  # type: ignore[no-untyped-def]
    return services.thread_start_by_patient(
        viewer=viewer, care_team=team, topic=topic, subject=subject, body=body, files=[]
    )


def counts() -> tuple[int, int, int, int]:
    return (
        Thread.objects.count(),
        Message.objects.count(),
        CorrectionRequest.objects.count(),
        AccessEvent.objects.count(),
    )


# Teams the patient may write to -------------------------------------------------------------------------------


def test_teams_patient_may_write_to_lists_active_teams_with_an_active_relationship_by_name(patient, team):
    cardiology = CareTeamFactory(name="Cardiology")
    CareRelationshipFactory(patient=patient, care_team=cardiology, reason="appointment")
    # Two reasons for one team: listed once.
    CareRelationshipFactory(patient=patient, care_team=cardiology, reason="referral")
    ended = CareTeamFactory(name="Audiology")
    CareRelationshipFactory(patient=patient, care_team=ended, ended_at=timezone.now())
    closed = CareTeamFactory(name="Bone marrow transplant", is_active=False)
    CareRelationshipFactory(patient=patient, care_team=closed)
    CareTeamFactory(name="Dermatology")  # no relationship at all
    CareRelationshipFactory(care_team=CareTeamFactory(name="Endocrinology"))  # another patient's team

    assert [t.name for t in services.teams_patient_may_write_to(patient)] == ["Cardiology", "Haematology"]


# Reply due dates -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent_at", "target", "due"),
    [
        # Monday, 3 working days: Thursday.
        ("2026-01-12T10:00", 3, "2026-01-15"),
        # Friday afternoon: the weekend does not count.
        ("2026-01-09T16:00", 3, "2026-01-14"),
        # Saturday counts from Monday: due Tuesday with 2 days, as for Friday.
        ("2026-01-10T09:00", 2, "2026-01-13"),
        # Thursday before Easter: Good Friday (3 April) and Easter Monday (6 April) are bank holidays.
        ("2026-04-02T11:00", 2, "2026-04-08"),
        # A team that answers the same day.
        ("2026-01-12T10:00", 0, "2026-01-12"),
    ],
)
def test_reply_due_on_counts_working_days_past_weekends_and_bank_holidays(team, sent_at, target, due):
    team.response_target_working_days = target
    sent = datetime.datetime.fromisoformat(sent_at).replace(tzinfo=LONDON)
    assert services.reply_due_on_for(care_team=team, sent_at=sent) == datetime.date.fromisoformat(due)


def test_reply_due_on_uses_the_trusts_time_zone(team):
    team.response_target_working_days = 1
    # 23:30 UTC on Sunday 12 July 2026 is 00:30 on Monday in London (BST): counted from Monday, due Tuesday.
    sent = datetime.datetime(2026, 7, 12, 23, 30, tzinfo=datetime.UTC)
    assert services.reply_due_on_for(care_team=team, sent_at=sent) == datetime.date(2026, 7, 14)


def test_a_bank_holiday_added_by_staff_counts(team):
    from careportal.core.models import BankHoliday

    BankHoliday.objects.create(date=datetime.date(2026, 1, 13), name="Trust closure day")
    sent = datetime.datetime(2026, 1, 12, 10, tzinfo=LONDON)
    assert services.reply_due_on_for(care_team=team, sent_at=sent) == datetime.date(2026, 1, 16)


def test_a_message_sent_on_friday_evening_is_due_after_the_weekend(viewer, team):
    with time_machine.travel(datetime.datetime(2026, 1, 9, 19, 45, tzinfo=LONDON), tick=False):
        thread = start(viewer, team)
    assert thread.reply_due_on == datetime.date(2026, 1, 14)
    assert thread.last_patient_message_at == datetime.datetime(2026, 1, 9, 19, 45, tzinfo=LONDON)


# Author names --------------------------------------------------------------------------------------------------


def test_author_display_for_each_kind_of_author(patient, viewer, staff, team):
    proxy = ProxyRelationshipFactory(
        proxy__first_name="Priya", proxy__last_name="Patel", patient__given_name="Arjun", patient__family_name="Patel"
    )
    proxy_viewer = patient_side_viewer(proxy.proxy, proxy.patient)

    assert services.author_display_for(viewer) == "Eleanor Hargreaves"
    assert services.author_display_for(proxy_viewer) == "Priya Patel (mother) on behalf of Arjun Patel"
    assert services.author_display_for(Viewer(user=staff.user, role=ActorRole.CLINICIAN, care_team=team)) == (
        "Dr C Okafor, Haematology"
    )
    assert services.author_display_for(staff) == "Dr C Okafor"


# The patient writes --------------------------------------------------------------------------------------------


def test_patient_starts_a_thread(patient, viewer, team):
    with time_machine.travel(datetime.datetime(2026, 1, 12, 10, tzinfo=LONDON), tick=False):
        thread = start(viewer, team)

    thread.refresh_from_db()
    assert (thread.patient, thread.care_team, thread.topic, thread.subject) == (patient, team, "care", "Iron tablets")
    assert thread.status == ThreadStatus.NEW
    assert not thread.started_by_staff
    assert thread.reply_due_on == datetime.date(2026, 1, 15)
    assert thread.last_team_message_at is None
    message = thread.messages.get()
    assert message.body == "Should I keep taking them?"
    assert (message.author, message.author_role, message.author_display) == (
        patient.user,
        AuthorRole.PATIENT,
        "Eleanor Hargreaves",
    )
    assert not message.is_internal_note
    assert ReadMarker.objects.get(thread=thread, user=patient.user).read_at == message.created_at
    event = AccessEvent.objects.get(action=AccessAction.CREATE)
    assert (event.patient, event.actor, event.object_label, event.object_id) == (
        patient,
        patient.user,
        "message thread",
        str(thread.public_id),
    )
    assert not CorrectionRequest.objects.exists()


def test_a_proxy_with_the_messages_scope_writes_on_behalf_of_the_patient(team):
    relationship = ProxyRelationshipFactory(
        proxy__first_name="Priya", proxy__last_name="Patel", patient__given_name="Arjun", patient__family_name="Patel"
    )
    CareRelationshipFactory(patient=relationship.patient, care_team=team)
    proxy_viewer = patient_side_viewer(relationship.proxy, relationship.patient)

    thread = start(proxy_viewer, team)

    assert thread.patient == relationship.patient
    message = thread.messages.get()
    assert message.author == relationship.proxy
    assert message.author_role == AuthorRole.PROXY
    assert message.author_display == "Priya Patel (mother) on behalf of Arjun Patel"
    event = AccessEvent.objects.get(action=AccessAction.CREATE)
    assert (event.actor_role, event.patient, event.on_behalf_of) == (
        "proxy",
        relationship.patient,
        relationship.patient,
    )


def test_a_proxy_without_the_messages_scope_is_refused(team):
    relationship = ProxyRelationshipFactory(scopes=["appointments", "results"])
    CareRelationshipFactory(patient=relationship.patient, care_team=team)
    proxy_viewer = patient_side_viewer(relationship.proxy, relationship.patient)

    with pytest.raises(MessagingError, match="do not have access to messages"):
        start(proxy_viewer, team)
    assert counts() == (0, 0, 0, 0)


def test_a_parent_of_a_16_year_old_keeps_appointments_only_and_may_not_write(team):
    relationship = ProxyRelationshipFactory(patient__birth_date=datetime.date(2008, 1, 1))
    CareRelationshipFactory(patient=relationship.patient, care_team=team)
    with time_machine.travel(datetime.datetime(2025, 6, 1, 12, tzinfo=LONDON), tick=False):
        proxy_viewer = patient_side_viewer(relationship.proxy, relationship.patient)
        with pytest.raises(MessagingError):
            start(proxy_viewer, team)


def test_a_team_the_patient_has_no_relationship_with_is_refused(viewer):
    stranger = CareTeamFactory(name="Dermatology")
    with pytest.raises(MessagingError, match="only write to a care team that is looking after you"):
        start(viewer, stranger)
    assert counts() == (0, 0, 0, 0)


@pytest.mark.parametrize("change", ["ended", "inactive"])
def test_a_team_whose_relationship_ended_or_that_closed_is_refused(patient, viewer, team, change):
    if change == "ended":
        CareRelationship.objects.filter(patient=patient).update(ended_at=timezone.now())
    else:
        team.is_active = False
        team.save()
    with pytest.raises(MessagingError):
        start(viewer, team)
    assert not Thread.objects.exists()


def test_staff_and_viewers_without_a_patient_cannot_use_the_patient_side(patient, team, staff):
    with pytest.raises(MessagingError):
        start(Viewer(user=staff.user, role=ActorRole.CLINICIAN, patient=patient, scopes=ALL_SCOPES), team)
    with pytest.raises(MessagingError):
        start(Viewer(user=patient.user, role=ActorRole.PATIENT, scopes=ALL_SCOPES), team)
    assert not Thread.objects.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "Enter your message"),
        ("   \n\t  ", "Enter your message"),
        ("\u00a0\u2003", "Enter your message"),
        ("x" * 5001, "5,000 characters or fewer"),
        ("hello\x00world", "cannot be saved"),
        ("broken \ud800 surrogate", "cannot be saved"),
    ],
)
def test_bad_bodies_are_refused(viewer, team, body, message):
    with pytest.raises(MessagingError, match=message):
        start(viewer, team, body=body)
    assert counts() == (0, 0, 0, 0)


def test_a_body_of_exactly_the_limit_is_accepted(viewer, team, settings):
    settings.MESSAGE_BODY_MAX_CHARACTERS = 40
    thread = start(viewer, team, body="é" * 40)
    assert thread.messages.get().body == "é" * 40
    with pytest.raises(MessagingError, match="40 characters or fewer"):
        start(viewer, team, body="é" * 41)


@pytest.mark.parametrize(
    "body",
    [
        "مرحبا، هل يمكنني تغيير موعدي؟",
        "שלום, mixed עברית and English 123",
        "Thank you 🙏🏽 for the help 👨‍👩‍👧 ❤️",
        '<script>alert("x")</script><b>bold</b> &amp; <img src=x onerror=alert(1)>',
        "  leading and trailing spaces, and\r\nWindows line ends  \n",
        "{{ 7*7 }} {% raw %} ${7*7}",
    ],
)
def test_the_body_is_stored_exactly_as_typed(viewer, team, body):
    thread = start(viewer, team, body=body)
    assert Message.objects.get(thread=thread).body == body


@pytest.mark.parametrize(
    ("subject", "stored"),
    [
        ("", "A question about my care"),
        ("   ", "A question about my care"),
        ("  Tablets\nand   timing ", "Tablets and timing"),
        ("x" * 120, "x" * 120),
        ("دواء 💊", "دواء 💊"),
    ],
)
def test_subject_is_one_line_and_defaults_to_the_topic(viewer, team, subject, stored):
    assert start(viewer, team, subject=subject).subject == stored


@pytest.mark.parametrize(
    ("subject", "message"), [("x" * 121, "120 characters or fewer"), ("a\x00b", "cannot be saved")]
)
def test_bad_subjects_are_refused(viewer, team, subject, message):
    with pytest.raises(MessagingError, match=message):
        start(viewer, team, subject=subject)
    assert not Thread.objects.exists()


@pytest.mark.parametrize("topic", ["", "urgent", "CARE", None])
def test_an_unknown_topic_is_refused(viewer, team, topic):
    with pytest.raises(MessagingError, match="what your message is about"):
        start(viewer, team, topic=topic)


def test_too_many_files_are_refused_before_anything_is_written(viewer, team, settings):
    settings.MESSAGE_ATTACHMENT_MAX_COUNT = 0
    with pytest.raises(MessagingError, match="up to 0 files"):
        services.thread_start_by_patient(
            viewer=viewer,
            care_team=team,
            topic="care",
            subject="",
            body="Hello",
            files=[object()],  # type: ignore[list-item]
        )
    assert not Thread.objects.exists()


def test_a_correction_request_is_opened_and_tracked(patient, viewer, team):
    thread = start(viewer, team, topic=Topic.CORRECTION, subject="", body="My date of birth is wrong")

    assert thread.subject == "A correction to my record"
    correction = CorrectionRequest.objects.get(thread=thread)
    assert correction.status == CorrectionStatus.RECEIVED
    change = correction.changes.get()
    assert (change.status, change.changed_by, change.changed_by_display) == (
        CorrectionStatus.RECEIVED,
        patient.user,
        "Eleanor Hargreaves",
    )
    labels = set(AccessEvent.objects.filter(patient=patient).values_list("object_label", flat=True))
    assert labels == {"message thread", "record correction request"}


# Patient replies -----------------------------------------------------------------------------------------------


def test_a_reply_on_a_thread_waiting_on_the_patient_makes_it_new_with_a_fresh_due_date(patient, viewer, team, staff):
    with time_machine.travel(datetime.datetime(2026, 1, 5, 10, tzinfo=LONDON), tick=False):
        thread = start(viewer, team)
    with time_machine.travel(datetime.datetime(2026, 1, 6, 10, tzinfo=LONDON), tick=False):
        services.thread_reply_by_staff(viewer=staff, thread=thread, body="Yes, keep taking them.", files=[])
    assert thread.status == ThreadStatus.WAITING_ON_PATIENT and thread.reply_due_on is None

    with time_machine.travel(datetime.datetime(2026, 1, 9, 15, tzinfo=LONDON), tick=False):
        message = services.thread_reply_by_patient(viewer=viewer, thread=thread, body="Thank you. One more?", files=[])

    thread.refresh_from_db()
    assert thread.status == ThreadStatus.NEW
    assert thread.reply_due_on == datetime.date(2026, 1, 14)
    assert thread.last_patient_message_at == message.created_at
    assert message.author_role == AuthorRole.PATIENT and message.author_display == "Eleanor Hargreaves"
    event = AccessEvent.objects.filter(actor=patient.user, object_label="message").get()
    assert (event.action, event.object_id) == (AccessAction.CREATE, str(message.public_id))


def test_a_reply_on_a_closed_thread_reopens_it(viewer, team, staff):
    thread = start(viewer, team)
    services.thread_close(viewer=staff, thread=thread)
    assert thread.status == ThreadStatus.DONE

    services.thread_reply_by_patient(viewer=viewer, thread=thread, body="It is still happening.", files=[])

    thread.refresh_from_db()
    assert thread.status == ThreadStatus.NEW
    assert thread.closed_at is None and thread.closed_by is None
    assert thread.reply_due_on is not None


def test_writing_again_before_the_team_replies_keeps_the_first_due_date(viewer, team):
    with time_machine.travel(datetime.datetime(2026, 1, 12, 10, tzinfo=LONDON), tick=False):
        thread = start(viewer, team)
    with time_machine.travel(datetime.datetime(2026, 1, 14, 10, tzinfo=LONDON), tick=False):
        services.thread_reply_by_patient(viewer=viewer, thread=thread, body="Also, a second question", files=[])
    thread.refresh_from_db()
    assert thread.reply_due_on == datetime.date(2026, 1, 15)
    assert thread.last_patient_message_at == datetime.datetime(2026, 1, 14, 10, tzinfo=LONDON)


def test_a_reply_to_another_patients_thread_is_refused(viewer, team):
    other_thread = ThreadFactory(care_team=team, patient=PatientWithAccountFactory())
    with pytest.raises(MessagingError, match="could not find"):
        services.thread_reply_by_patient(viewer=viewer, thread=other_thread, body="Hello", files=[])
    assert not Message.objects.exists()


def test_a_reply_by_a_proxy_without_the_messages_scope_is_refused(team):
    relationship = ProxyRelationshipFactory(scopes=["appointments"])
    thread = ThreadFactory(patient=relationship.patient, care_team=team)
    with pytest.raises(MessagingError):
        services.thread_reply_by_patient(
            viewer=patient_side_viewer(relationship.proxy, relationship.patient), thread=thread, body="Hi", files=[]
        )
    assert not Message.objects.exists()


def test_a_reply_to_a_team_that_closed_is_refused(viewer, team):
    thread = start(viewer, team)
    team.is_active = False
    team.save()
    with pytest.raises(MessagingError, match="no longer takes messages"):
        services.thread_reply_by_patient(viewer=viewer, thread=thread, body="Hello?", files=[])
    assert thread.messages.count() == 1


def test_an_empty_reply_is_refused(viewer, team):
    thread = start(viewer, team)
    with pytest.raises(MessagingError, match="Enter your message"):
        services.thread_reply_by_patient(viewer=viewer, thread=thread, body=" ", files=[])
    assert thread.messages.count() == 1


# The care team -------------------------------------------------------------------------------------------------


@pytest.fixture
def thread(viewer, team):
    return start(viewer, team)


def test_a_staff_reply_waits_on_the_patient(patient, thread, staff, team):
    message = services.thread_reply_by_staff(viewer=staff, thread=thread, body="Keep taking them.", files=[])

    thread.refresh_from_db()
    assert thread.status == ThreadStatus.WAITING_ON_PATIENT
    assert thread.last_team_message_at == message.created_at
    assert thread.reply_due_on is None
    assert (message.author_role, message.author_display, message.is_internal_note) == (
        AuthorRole.STAFF,
        "Dr C Okafor, Haematology",
        False,
    )
    assert ReadMarker.objects.filter(thread=thread, user=staff.user).exists()
    event = AccessEvent.objects.get(actor=staff.user)
    assert (event.action, event.patient, event.care_team, event.object_label) == (
        AccessAction.CREATE,
        patient,
        team,
        "message",
    )


def test_a_staff_reply_on_a_closed_thread_reopens_it_as_waiting_on_the_patient(thread, staff):
    services.thread_close(viewer=staff, thread=thread)
    services.thread_reply_by_staff(viewer=staff, thread=thread, body="One more thing.", files=[])
    thread.refresh_from_db()
    assert thread.status == ThreadStatus.WAITING_ON_PATIENT and thread.closed_at is None


def _other_team_member():  # type: ignore[no-untyped-def]
    return clinician_viewer_for(CareTeamMembershipFactory(care_team=CareTeamFactory(name="Cardiology")).user)


def test_staff_outside_the_threads_team_are_refused_every_action(thread, member):
    outsider = _other_team_member()
    inactive = CareTeamMembershipFactory(care_team=thread.care_team, is_active=False)
    helpdesk = clinician_viewer_for(UserFactory(is_helpdesk=True))
    correction = CorrectionRequest.objects.create(
        thread=thread, created_at=timezone.now(), updated_at=timezone.now(), status=CorrectionStatus.RECEIVED
    )
    for who in (outsider, clinician_viewer_for(inactive.user), helpdesk):
        for call in (
            lambda v: services.thread_reply_by_staff(viewer=v, thread=thread, body="Hi", files=[]),
            lambda v: services.thread_note_by_staff(viewer=v, thread=thread, body="Hi"),
            lambda v: services.thread_assign(viewer=v, thread=thread, assignee=member.user),
            lambda v: services.thread_close(viewer=v, thread=thread),
            lambda v: services.correction_status_set(
                viewer=v, correction=correction, status=CorrectionStatus.UNDER_REVIEW, note=""
            ),
        ):
            with pytest.raises(MessagingError):
                call(who)
    thread.refresh_from_db()
    assert (thread.status, thread.assigned_to, thread.messages.count()) == (ThreadStatus.NEW, None, 1)
    assert CorrectionRequest.objects.get().status == CorrectionStatus.RECEIVED


def test_a_member_of_a_team_that_closed_is_refused(thread, staff, team):
    team.is_active = False
    team.save()
    with pytest.raises(MessagingError):
        services.thread_reply_by_staff(viewer=staff, thread=thread, body="Hi", files=[])


def test_an_internal_note_changes_nothing_the_patient_sees(patient, thread, staff):
    before = Thread.objects.values().get(pk=thread.pk)

    note = services.thread_note_by_staff(viewer=staff, thread=thread, body="Checked with pharmacy first.")

    assert note.is_internal_note
    assert note.author_role == AuthorRole.STAFF
    assert Thread.objects.values().get(pk=thread.pk) == before
    event = AccessEvent.objects.get(actor=staff.user)
    assert (event.action, event.patient, event.object_label) == (AccessAction.UPDATE, patient, "message thread")


def test_an_empty_internal_note_is_refused(thread, staff):
    with pytest.raises(MessagingError, match="Enter your message"):
        services.thread_note_by_staff(viewer=staff, thread=thread, body="\n")


def test_assign_to_a_team_member_and_back_to_nobody(thread, staff, team):
    colleague = CareTeamMembershipFactory(care_team=team, role="nurse").user

    services.thread_assign(viewer=staff, thread=thread, assignee=colleague)
    thread.refresh_from_db()
    assert thread.assigned_to == colleague
    assert thread.status == ThreadStatus.NEW

    services.thread_assign(viewer=staff, thread=thread, assignee=None)
    thread.refresh_from_db()
    assert thread.assigned_to is None
    assert AccessEvent.objects.filter(actor=staff.user, action=AccessAction.UPDATE).count() == 2


def test_assigning_to_the_same_person_again_changes_and_records_nothing(thread, staff):
    services.thread_assign(viewer=staff, thread=thread, assignee=staff.user)
    services.thread_assign(viewer=staff, thread=thread, assignee=staff.user)
    assert AccessEvent.objects.filter(actor=staff.user).count() == 1


def test_assigning_to_someone_outside_the_team_is_refused(thread, staff, team):
    outsider = CareTeamMembershipFactory(care_team=CareTeamFactory(name="Cardiology")).user
    former = CareTeamMembershipFactory(care_team=team, is_active=False).user
    left = CareTeamMembershipFactory(care_team=team, user__is_active=False).user
    for person in (outsider, former, left, thread.patient.user):
        with pytest.raises(MessagingError, match="member of this care team"):
            services.thread_assign(viewer=staff, thread=thread, assignee=person)
    thread.refresh_from_db()
    assert thread.assigned_to is None


def test_close_and_reopen(thread, staff):
    with time_machine.travel(datetime.datetime(2026, 2, 2, 9, tzinfo=LONDON), tick=False):
        services.thread_close(viewer=staff, thread=thread)
    thread.refresh_from_db()
    assert thread.status == ThreadStatus.DONE
    assert thread.closed_by == staff.user
    assert thread.closed_at == datetime.datetime(2026, 2, 2, 9, tzinfo=LONDON)
    assert thread.reply_due_on is None
    with pytest.raises(MessagingError, match="already closed"):
        services.thread_close(viewer=staff, thread=thread)

    services.thread_reopen(viewer=staff, thread=thread)
    thread.refresh_from_db()
    assert thread.status == ThreadStatus.NEW
    assert thread.closed_at is None and thread.closed_by is None
    # The patient's message is still unanswered: due as it was from that message.
    assert thread.reply_due_on == services.reply_due_on_for(
        care_team=thread.care_team, sent_at=thread.last_patient_message_at
    )
    with pytest.raises(MessagingError, match="not closed"):
        services.thread_reopen(viewer=staff, thread=thread)
    assert AccessEvent.objects.filter(actor=staff.user, action=AccessAction.UPDATE).count() == 2


def test_reopening_a_thread_the_team_answered_owes_nothing(thread, staff):
    services.thread_reply_by_staff(viewer=staff, thread=thread, body="Done.", files=[])
    services.thread_close(viewer=staff, thread=thread)
    services.thread_reopen(viewer=staff, thread=thread)
    thread.refresh_from_db()
    assert thread.status == ThreadStatus.NEW and thread.reply_due_on is None


# Staff start a thread ------------------------------------------------------------------------------------------


def test_staff_start_a_thread_with_a_patient_of_their_team(patient, staff, team):
    thread = services.thread_start_by_staff(
        viewer=staff,
        patient=patient,
        care_team=team,
        topic="results",
        subject="Your blood test",
        body="Call us",
        files=[],
    )
    thread.refresh_from_db()
    assert thread.started_by_staff
    assert thread.status == ThreadStatus.WAITING_ON_PATIENT
    assert thread.last_patient_message_at is None and thread.last_team_message_at is not None
    assert thread.reply_due_on is None
    assert thread.messages.get().author_display == "Dr C Okafor, Haematology"
    event = AccessEvent.objects.get(actor=staff.user)
    assert (event.action, event.object_label, event.care_team) == (AccessAction.CREATE, "message thread", team)


def test_staff_writing_from_another_of_their_teams_make_that_team_one_the_patient_can_write_to(patient, staff, member):
    physio = CareTeamFactory(name="Physiotherapy")
    CareTeamMembershipFactory(care_team=physio, user=member.user)
    assert physio not in services.teams_patient_may_write_to(patient)

    services.thread_start_by_staff(
        viewer=staff, patient=patient, care_team=physio, topic="appointment", subject="", body="Book in", files=[]
    )

    assert CareRelationship.objects.get(patient=patient, care_team=physio).reason == "message"
    assert physio in services.teams_patient_may_write_to(patient)


def test_an_ended_message_relationship_is_started_again(patient, staff, member):
    physio = CareTeamFactory(name="Physiotherapy")
    CareTeamMembershipFactory(care_team=physio, user=member.user)
    CareRelationshipFactory(patient=patient, care_team=physio, reason="message", ended_at=timezone.now())
    services.thread_start_by_staff(
        viewer=staff, patient=patient, care_team=physio, topic="care", subject="", body="Hello", files=[]
    )
    assert CareRelationship.objects.get(patient=patient, care_team=physio).ended_at is None


def test_staff_cannot_write_to_a_patient_none_of_their_teams_looks_after(staff, team):
    stranger = PatientFactory()
    with pytest.raises(MessagingError, match="one of your care teams is looking after"):
        services.thread_start_by_staff(
            viewer=staff, patient=stranger, care_team=team, topic="care", subject="", body="Hi", files=[]
        )
    assert not Thread.objects.exists()
    assert not CareRelationship.objects.filter(patient=stranger).exists()


def test_staff_cannot_write_as_a_team_they_are_not_in(patient, staff):
    other = CareTeamFactory(name="Cardiology")
    CareRelationshipFactory(patient=patient, care_team=other)
    with pytest.raises(MessagingError, match="member of"):
        services.thread_start_by_staff(
            viewer=staff, patient=patient, care_team=other, topic="care", subject="", body="Hi", files=[]
        )
    assert not Thread.objects.exists()


def test_staff_cannot_open_a_correction_request_for_the_patient(patient, staff, team):
    with pytest.raises(MessagingError, match="Only the patient"):
        services.thread_start_by_staff(
            viewer=staff, patient=patient, care_team=team, topic="correction", subject="", body="Hi", files=[]
        )


def test_staff_bodies_are_checked_like_patients(patient, staff, team, thread):
    with pytest.raises(MessagingError, match="Enter your message"):
        services.thread_start_by_staff(
            viewer=staff, patient=patient, care_team=team, topic="care", subject="", body="  ", files=[]
        )
    with pytest.raises(MessagingError, match="characters or fewer"):
        services.thread_reply_by_staff(viewer=staff, thread=thread, body="x" * 5001, files=[])
    thread.refresh_from_db()
    assert thread.status == ThreadStatus.NEW


# Record-correction requests ------------------------------------------------------------------------------------


@pytest.fixture
def correction(viewer, team):
    thread = start(viewer, team, topic=Topic.CORRECTION, subject="", body="My address is wrong")
    return thread.correction_request


def test_a_correction_request_followed_to_corrected(patient, correction, staff, team):
    services.correction_status_set(viewer=staff, correction=correction, status="under_review", note="")
    assert correction.status == CorrectionStatus.UNDER_REVIEW
    assert correction.decided_at is None

    services.correction_status_set(
        viewer=staff, correction=correction, status="corrected", note="  Address updated to 1 New Road.  "
    )

    correction.refresh_from_db()
    assert correction.status == CorrectionStatus.CORRECTED
    assert correction.outcome == "Address updated to 1 New Road."
    assert correction.decided_by == staff.user
    assert correction.decided_at == correction.changes.last().changed_at
    history = list(correction.changes.values_list("status", "note", "changed_by_display"))
    assert history == [
        ("received", "", "Eleanor Hargreaves"),
        ("under_review", "", "Dr C Okafor, Haematology"),
        ("corrected", "Address updated to 1 New Road.", "Dr C Okafor, Haematology"),
    ]
    events = AccessEvent.objects.filter(actor=staff.user)
    assert {(e.action, e.object_label, e.patient_id, e.care_team_id) for e in events} == {
        (AccessAction.UPDATE, "record correction request", patient.pk, team.pk)
    }
    assert events.count() == 2


def test_a_correction_request_declined_straight_away_needs_a_reason(correction, staff):
    for note in ("", "   "):
        with pytest.raises(MessagingError, match="reason for declining"):
            services.correction_status_set(viewer=staff, correction=correction, status="declined", note=note)
    correction.refresh_from_db()
    assert correction.status == CorrectionStatus.RECEIVED
    assert correction.changes.count() == 1

    services.correction_status_set(
        viewer=staff, correction=correction, status="declined", note="The record matches your GP's record."
    )
    correction.refresh_from_db()
    assert correction.status == CorrectionStatus.DECLINED
    assert correction.outcome == "The record matches your GP's record."


def test_corrected_needs_what_was_changed(correction, staff):
    with pytest.raises(MessagingError, match="what was corrected"):
        services.correction_status_set(viewer=staff, correction=correction, status="corrected", note="")
    assert CorrectionRequest.objects.get().status == CorrectionStatus.RECEIVED


@pytest.mark.parametrize("final", ["corrected", "declined"])
def test_outcomes_are_final(correction, staff, final):
    services.correction_status_set(viewer=staff, correction=correction, status=final, note="Done as asked.")
    for status in ("received", "under_review", "corrected", "declined"):
        with pytest.raises(MessagingError, match="which is final"):
            services.correction_status_set(viewer=staff, correction=correction, status=status, note="Again")
    assert correction.changes.count() == 2


def test_a_correction_request_cannot_go_back_or_stay_put(correction, staff):
    with pytest.raises(MessagingError, match="already received"):
        services.correction_status_set(viewer=staff, correction=correction, status="received", note="")
    services.correction_status_set(viewer=staff, correction=correction, status="under_review", note="")
    with pytest.raises(MessagingError, match="cannot go back to received"):
        services.correction_status_set(viewer=staff, correction=correction, status="received", note="")
    with pytest.raises(MessagingError, match="already under review"):
        services.correction_status_set(viewer=staff, correction=correction, status="under_review", note="")


@pytest.mark.parametrize(("status", "note"), [("bogus", "x"), ("", "x"), ("corrected", "x" * 2001)])
def test_bad_correction_input_is_refused(correction, staff, status, note):
    with pytest.raises(MessagingError):
        services.correction_status_set(viewer=staff, correction=correction, status=status, note=note)
    assert correction.changes.count() == 1


def test_a_stale_correction_object_is_checked_against_the_database(correction, staff):
    stale = CorrectionRequest.objects.get(pk=correction.pk)
    services.correction_status_set(viewer=staff, correction=correction, status="declined", note="Not an error.")
    with pytest.raises(MessagingError, match="final"):
        services.correction_status_set(viewer=staff, correction=stale, status="corrected", note="Fixed")


# Read markers --------------------------------------------------------------------------------------------------


def test_mark_read_creates_then_moves_forward_only(thread, staff):
    first = datetime.datetime(2026, 1, 12, 10, tzinfo=LONDON)
    services.thread_mark_read(user=staff.user, thread=thread, at=first)
    assert ReadMarker.objects.get(thread=thread, user=staff.user).read_at == first

    later = first + datetime.timedelta(hours=2)
    services.thread_mark_read(user=staff.user, thread=thread, at=later)
    services.thread_mark_read(user=staff.user, thread=thread, at=first)  # an older page, submitted late
    assert ReadMarker.objects.get(thread=thread, user=staff.user).read_at == later
    assert ReadMarker.objects.filter(user=staff.user).count() == 1


def test_mark_read_defaults_to_now(thread, patient):
    ReadMarker.objects.all().delete()
    with time_machine.travel(datetime.datetime(2026, 5, 1, 8, tzinfo=LONDON), tick=False):
        services.thread_mark_read(user=patient.user, thread=thread)
    assert ReadMarker.objects.get().read_at == datetime.datetime(2026, 5, 1, 8, tzinfo=LONDON)


# Urgent interceptions ------------------------------------------------------------------------------------------


def test_an_interception_records_the_phrase_not_the_text_and_sending_anyway_is_idempotent(team):
    phrase = UrgentPhrase.objects.get(phrase="chest pain")
    interception = services.urgent_interception_record(phrase=phrase, care_team=team, author_role="proxy")
    assert (interception.phrase, interception.phrase_text, interception.care_team, interception.sent_anyway) == (
        phrase,
        "chest pain",
        team,
        False,
    )

    services.urgent_interception_sent_anyway(interception_id=interception.pk)
    services.urgent_interception_sent_anyway(interception_id=interception.pk)
    services.urgent_interception_sent_anyway(interception_id=interception.pk + 1000)

    assert list(UrgentInterception.objects.values_list("sent_anyway", flat=True)) == [True]


def test_an_interception_keeps_the_phrase_text_after_the_phrase_is_deleted():
    phrase = UrgentPhrase.objects.create(phrase="tingling lips", category="allergic reaction")
    services.urgent_interception_record(phrase=phrase, care_team=None, author_role="patient")
    phrase.delete()
    assert UrgentInterception.objects.get().phrase_text == "tingling lips"


def test_an_interception_with_an_unknown_author_role_is_refused():
    with pytest.raises(MessagingError):
        services.urgent_interception_record(phrase=UrgentPhrase.objects.first(), care_team=None, author_role="someone")


# Concurrency (PostgreSQL: SQLite serialises every writer anyway) -------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_team_members_closing_at_once_do_not_both_succeed(team):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    member = CareTeamMembershipFactory(care_team=team, user__display_name="Dr C Okafor")
    patient = PatientWithAccountFactory()
    CareRelationshipFactory(patient=patient, care_team=team)
    thread = ThreadFactory(patient=patient, care_team=team)
    MessageFactory(thread=thread)
    staff = clinician_viewer_for(member.user)
    locked = threading.Event()
    release = threading.Event()
    outcome: dict[str, object] = {}

    def first_closer() -> None:
        # Closes the thread inside a transaction that stays open until the test lets it commit.
        try:
            with transaction.atomic():
                services.thread_close(viewer=staff, thread=Thread.objects.get(pk=thread.pk))
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    def second_closer() -> None:
        try:
            services.thread_close(viewer=staff, thread=Thread.objects.get(pk=thread.pk))
            outcome["second"] = "closed"
        except MessagingError as error:
            outcome["second"] = str(error)
        finally:
            connection.close()

    one = threading.Thread(target=first_closer)
    one.start()
    assert locked.wait(10)
    two = threading.Thread(target=second_closer)
    two.start()
    two.join(0.5)
    assert two.is_alive(), "the second close must wait for the first one's lock"
    release.set()
    one.join(10)
    two.join(10)
    assert outcome["second"] == "This conversation is already closed."
    assert AccessEvent.objects.filter(action=AccessAction.UPDATE).count() == 1


# Attachments ---------------------------------------------------------------------------------------------------


def _clean_pdf(name: str = "letter.pdf"):  # type: ignore[no-untyped-def]
    from careportal.messaging.attachments import CleanFile

    return CleanFile(display_name=name, content_type="application/pdf", data=b"%PDF-1.7\n%%EOF\n")


def test_files_are_stored_with_the_message_each_side_writes(viewer, team, staff, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        thread = services.thread_start_by_patient(
            viewer=viewer, care_team=team, topic="care", subject="", body="See attached", files=[_clean_pdf()]
        )
        reply = services.thread_reply_by_patient(
            viewer=viewer, thread=thread, body="And this", files=[_clean_pdf("b.pdf")]
        )
        answer = services.thread_reply_by_staff(viewer=staff, thread=thread, body="Thanks", files=[_clean_pdf("c.pdf")])

    first = thread.messages.order_by("created_at", "pk").first()
    assert [a.display_name for a in first.attachments.all()] == ["letter.pdf"]
    assert [a.display_name for a in reply.attachments.all()] == ["b.pdf"]
    assert [a.display_name for a in answer.attachments.all()] == ["c.pdf"]


def test_a_refused_message_stores_no_file(viewer, attachment_root):
    with pytest.raises(MessagingError):
        services.thread_start_by_patient(
            viewer=viewer,
            care_team=CareTeamFactory(name="Dermatology"),
            topic="care",
            subject="",
            body="Hi",
            files=[_clean_pdf()],
        )
    assert not Thread.objects.exists()
    assert [path for path in attachment_root.rglob("*") if path.is_file()] == []


# Administration ------------------------------------------------------------------------------------------------


def test_the_admin_shows_counts_per_urgent_phrase(admin_client, team):
    from django.urls import reverse

    phrase = UrgentPhrase.objects.get(phrase="chest pain")
    for sent in (True, False, True):
        interception = services.urgent_interception_record(phrase=phrase, care_team=team, author_role="patient")
        if sent:
            services.urgent_interception_sent_anyway(interception_id=interception.pk)

    page = admin_client.get(reverse("admin:messaging_urgentphrase_changelist") + "?q=chest+pain")
    assert page.status_code == 200
    row = page.content.decode().split("chest pain</a>", 1)[1].split("</tr>", 1)[0]
    assert f"?phrase__id__exact={phrase.pk}" in row and ">3</a>" in row and ">2<" in row
    assert admin_client.get(reverse("admin:messaging_urgentinterception_changelist")).status_code == 200


def test_a_phrase_added_in_the_admin_is_stored_normalised_and_duplicates_are_refused(admin_client):
    from django.urls import reverse

    url = reverse("admin:messaging_urgentphrase_add")
    response = admin_client.post(url, {"phrase": "Can't SWALLOW!", "category": "breathing", "is_active": "on"})
    assert response.status_code == 302
    assert UrgentPhrase.objects.filter(phrase="cant swallow").exists()
    response = admin_client.post(url, {"phrase": "cant   swallow", "category": "breathing", "is_active": "on"})
    assert response.status_code == 200
    assert "already in the list" in response.content.decode()


def test_the_admin_never_shows_what_people_wrote(admin_client, viewer, team, staff):
    from django.urls import reverse

    thread = services.thread_start_by_patient(
        viewer=viewer,
        care_team=team,
        topic=Topic.CORRECTION,
        subject="Secret subject line",
        body="Secret body text",
        files=[_clean_pdf("Secret file name.pdf")],
    )
    services.correction_status_set(
        viewer=staff, correction=thread.correction_request, status="declined", note="Secret outcome"
    )
    message = thread.messages.get()
    pages = [
        reverse("admin:messaging_thread_changelist"),
        reverse("admin:messaging_thread_change", args=[thread.pk]),
        reverse("admin:messaging_message_changelist"),
        reverse("admin:messaging_message_change", args=[message.pk]),
        reverse("admin:messaging_correctionrequest_changelist"),
        reverse("admin:messaging_correctionrequest_change", args=[thread.correction_request.pk]),
        reverse("admin:messaging_attachment_changelist"),
        reverse("admin:messaging_attachment_change", args=[message.attachments.get().pk]),
    ]
    for url in pages:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        for secret in ("Secret subject line", "Secret body text", "Secret outcome", "Secret file name"):
            assert secret not in html, (url, secret)
    assert str(thread.public_id) in admin_client.get(pages[2]).content.decode()


def test_the_messaging_admin_is_for_superusers_only(client, admin_client, team):
    from django.contrib.auth.models import Permission
    from django.urls import reverse

    for name in ("urgentphrase", "urgentinterception", "thread", "message", "correctionrequest", "attachment"):
        assert admin_client.get(reverse(f"admin:messaging_{name}_changelist")).status_code == 200, name
    staff_user = UserFactory(is_staff=True)
    staff_user.user_permissions.set(Permission.objects.filter(content_type__app_label="messaging"))
    client.force_login(staff_user)
    for name in ("urgentphrase", "urgentinterception", "thread", "message", "correctionrequest", "attachment"):
        # Refused (the admin answers 404 for an app the account may not see), where a superuser gets the page.
        assert client.get(reverse(f"admin:messaging_{name}_changelist")).status_code in {403, 404}, name
