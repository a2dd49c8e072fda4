"""Reads for the care teams' message inbox and the urgent-phrase list. Threads come from the access layer
(`threads_for_staff`), so a clinician only ever sees threads with their own active care teams."""

import datetime
from dataclasses import dataclass
from enum import StrEnum

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from careportal.access.layer import Viewer
from careportal.accounts.models import User
from careportal.messaging.access import threads_for_staff
from careportal.messaging.models import (
    Attachment,
    AuthorRole,
    CorrectionRequest,
    CorrectionStatusChange,
    Message,
    ReadMarker,
    Thread,
    ThreadStatus,
    UrgentPhrase,
    UrgentPhraseChange,
)
from careportal.messaging.urgent import normalise, phrase_pattern
from careportal.patients.access import patients_for_staff
from careportal.patients.models import CareTeam, CareTeamMembership, Patient

# The interception counts on the urgent-phrase page look back this far, besides "all time".
RECENT_INTERCEPTIONS_DAYS = 30


class InboxFilter(StrEnum):
    NEW = "new"
    MINE = "mine"
    WAITING = "waiting"
    DONE = "done"


INBOX_FILTER_LABELS = {
    InboxFilter.NEW: "New",
    InboxFilter.MINE: "Assigned to me",
    InboxFilter.WAITING: "Waiting on patient",
    InboxFilter.DONE: "Done",
}


def _last_activity() -> Greatest:
    # Either side's latest message, or when the thread began if nobody has written since. Coalesce each term:
    # SQLite's MAX() is null as soon as one argument is, PostgreSQL's GREATEST skips nulls.
    return Greatest(
        Coalesce("last_patient_message_at", "created_at"),
        Coalesce("last_team_message_at", "created_at"),
    )


def inbox_threads(*, viewer: Viewer, show: InboxFilter) -> QuerySet[Thread]:
    """A tab of the inbox in working order, in one query for a page of rows whatever its length.

    New (and "assigned to me", which is the new threads someone has taken): overdue first, then by the date the
    reply is due, oldest first, so the page reads as a to-do list. Waiting on the patient and done: the latest
    activity first. Each row comes with its patient, team, assignee, last activity and whether this person has
    read the patient's latest message.
    """
    threads = threads_for_staff(viewer)
    if show == InboxFilter.NEW:
        threads = threads.filter(status=ThreadStatus.NEW)
    elif show == InboxFilter.MINE:
        threads = threads.filter(status=ThreadStatus.NEW, assigned_to=viewer.user)
    elif show == InboxFilter.WAITING:
        threads = threads.filter(status=ThreadStatus.WAITING_ON_PATIENT)
    else:
        threads = threads.filter(status=ThreadStatus.DONE)
    threads = threads.select_related("patient", "care_team", "assigned_to").annotate(
        last_activity_at=_last_activity(),
        read_by_me=Exists(
            ReadMarker.objects.filter(
                thread=OuterRef("pk"), user=viewer.user, read_at__gte=OuterRef("last_patient_message_at")
            )
        ),
    )
    if show in {InboxFilter.NEW, InboxFilter.MINE}:
        # The earliest due date first puts every overdue thread (due before today) above the rest; a thread
        # with no due date (started by staff, no patient message yet) waits at the end.
        return threads.order_by(F("reply_due_on").asc(nulls_last=True), F("last_activity_at").asc(), "pk")
    return threads.order_by(F("last_activity_at").desc(), "-pk")


def thread_with_detail(*, thread: Thread) -> Thread:
    """The thread (already resolved through the access layer) with every message, internal notes included, their
    files, and any correction request with its history, in a fixed number of queries however long it grows."""
    return (
        Thread.objects.filter(pk=thread.pk)
        .select_related("patient", "care_team", "assigned_to", "closed_by", "correction_request")
        .prefetch_related(
            Prefetch(
                "messages",
                queryset=Message.objects.order_by("created_at", "pk").prefetch_related(
                    Prefetch("attachments", queryset=Attachment.objects.order_by("pk"))
                ),
            ),
            Prefetch(
                "correction_request__changes",
                queryset=CorrectionStatusChange.objects.order_by("changed_at", "pk"),
            ),
        )
        .get()
    )


def correction_of(thread: Thread) -> CorrectionRequest | None:
    """The thread's correction request, if it has one (already fetched by `thread_with_detail`)."""
    try:
        return thread.correction_request
    except CorrectionRequest.DoesNotExist:
        return None


def team_members(*, care_team: CareTeam) -> list[User]:
    """The active members of a team, who may take a thread in its inbox, by name."""
    memberships = (
        CareTeamMembership.objects.filter(care_team=care_team, is_active=True, user__is_active=True)
        .select_related("user")
        .order_by("user__display_name", "user__username")
    )
    return [membership.user for membership in memberships]


def patient_by_hospital_number(*, viewer: Viewer, hospital_number: str) -> Patient | None:
    """A patient under one of the clinician's care teams with this hospital number, or None: the same answer for a
    number nobody has and for a patient the clinician may not see. Not audited: the caller records what it shows
    with `patients_found_by_staff`."""
    return patients_for_staff(viewer).filter(hospital_number__iexact=hospital_number).first()


def urgent_phrases_with_counts(*, now: datetime.datetime | None = None) -> list[UrgentPhrase]:
    """Every phrase, by category, with how often it stopped someone (the last 30 days and all time) and how often
    the person sent anyway, in one query."""
    now = now or timezone.now()
    since = now - datetime.timedelta(days=RECENT_INTERCEPTIONS_DAYS)
    return list(
        UrgentPhrase.objects.annotate(
            recent_count=Count("interceptions", filter=Q(interceptions__occurred_at__gte=since)),
            recent_sent_anyway=Count(
                "interceptions", filter=Q(interceptions__occurred_at__gte=since, interceptions__sent_anyway=True)
            ),
            total_count=Count("interceptions"),
            total_sent_anyway=Count("interceptions", filter=Q(interceptions__sent_anyway=True)),
        ).order_by("category", "phrase")
    )


# How a new phrase would have fared: the messages patients and proxies sent (what the urgent check reads), the most
# recent first, no older than PREVIEW_DAYS and at most PREVIEW_MAX_MESSAGES of them, so the count costs one bounded
# query however busy the trust is.
PREVIEW_DAYS = 30
PREVIEW_MAX_MESSAGES = 5000
# A phrase that would have stopped more than this many of those messages, or more than this share of them, asks
# the person adding it to confirm: real emergencies are a small share of what people write to their care teams, and
# a phrase that stops many ordinary messages teaches people to click past the urgent-care page.
PREVIEW_CONFIRM_OVER_COUNT = 10
PREVIEW_CONFIRM_OVER_SHARE = 0.05


@dataclass(frozen=True)
class PhrasePreview:
    matched: int
    examined: int
    days: int

    @property
    def needs_confirmation(self) -> bool:
        return self.matched > PREVIEW_CONFIRM_OVER_COUNT or (
            self.examined > 0 and self.matched / self.examined > PREVIEW_CONFIRM_OVER_SHARE
        )

    @property
    def text(self) -> str:
        if self.examined == 0:
            return (
                f"No messages were sent in the last {self.days} days, so there is nothing to check this phrase against."
            )
        messages = "message" if self.examined == 1 else "messages"
        return (
            f"This phrase would have matched {self.matched:,} of the last {self.examined:,} {messages} sent in the "
            f"last {self.days} days."
        )


def urgent_phrase_preview(*, phrase: str, now: datetime.datetime | None = None) -> PhrasePreview:
    """How many recent messages `phrase` would have stopped, as a count only.

    The bodies are read here and nowhere else, one at a time, to be matched and dropped: nothing about them (text,
    patient, thread) leaves this function, is logged or is kept, and no access event is written since nobody sees
    anything of any patient's."""
    now = now or timezone.now()
    pattern = phrase_pattern(phrase)
    recent = (
        Message.objects.filter(
            created_at__gte=now - datetime.timedelta(days=PREVIEW_DAYS),
            author_role__in=[AuthorRole.PATIENT, AuthorRole.PROXY],
        )
        .order_by("-created_at", "-pk")
        .values_list("body", flat=True)[:PREVIEW_MAX_MESSAGES]
    )
    matched = examined = 0
    for body in recent.iterator(chunk_size=500):
        examined += 1
        if pattern is not None and pattern.search(normalise(body)):
            matched += 1
    return PhrasePreview(matched=matched, examined=examined, days=PREVIEW_DAYS)


def urgent_phrase_changes() -> QuerySet[UrgentPhraseChange]:
    """The history of the phrase list, newest first (paginated by the page)."""
    return UrgentPhraseChange.objects.order_by("-changed_at", "-pk")
