"""Reads for the patient's (and proxy's) messages pages. Every function starts from the access layer, so a viewer
only ever reads threads of the patient in view, with Scope.MESSAGES, and never a care team's internal notes."""

from uuid import UUID

from django.db.models import (
    BooleanField,
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce, Greatest
from django.http import Http404

from careportal.access.layer import ModelT, Viewer, access_object, scoped_to_patient, without_ungranted_sensitive
from careportal.access.scopes import Scope
from careportal.audit.models import AccessAction
from careportal.messaging.models import (
    Attachment,
    CorrectionStatusChange,
    Message,
    ReadMarker,
    Thread,
)
from careportal.messaging.services import LABEL_THREAD, teams_patient_may_write_to
from careportal.patients.models import CareTeam, Patient

# The words in the patient's access log ("Priya Patel (mother) downloaded your file attached to a message"), the same
# as the care team's inbox uses.
LABEL_ATTACHMENT = "file attached to a message"
LABEL_LIST = "messages"
LABEL_COMPOSE = "list of care teams to message"


def _without_ungranted_sensitive(*, viewer: Viewer, queryset: QuerySet[ModelT], thread: str = "") -> QuerySet[ModelT]:
    """`queryset` less, for a proxy, every thread (or row of a thread, through the lookup `thread`) of a sensitive
    care team, or about something sensitive (a request about an appointment at a sensitive clinic), that staff have
    not granted them: not its content, and not even that it exists. As results, letters and appointments do."""
    prefix = f"{thread}__" if thread else ""
    queryset = without_ungranted_sensitive(
        viewer=viewer, queryset=queryset, field=f"{prefix}care_team__sensitive_category"
    )
    return without_ungranted_sensitive(viewer=viewer, queryset=queryset, field=f"{prefix}sensitive_category")


def visible_threads(*, viewer: Viewer) -> QuerySet[Thread]:
    """The threads of the patient in view that this viewer may see: none without the messages scope, and for a
    proxy none of a sensitive team or subject that staff have not granted them. Not audited (as `scoped_to_patient`):
    the caller reads them through the access layer, which is. "Download my record" reads through this too."""
    threads = scoped_to_patient(viewer=viewer, queryset=Thread.objects.all(), scope=Scope.MESSAGES)
    return _without_ungranted_sensitive(viewer=viewer, queryset=threads)


# The team wrote after this person last read the thread, or they have never opened it since the team wrote.
UNREAD = Q(last_team_message_at__isnull=False) & (
    Q(viewer_read_at__isnull=True) | Q(last_team_message_at__gt=F("viewer_read_at"))
)


def _with_read_at(threads: QuerySet[Thread], *, viewer: Viewer) -> QuerySet[Thread]:
    """Annotate `viewer_read_at`: when this person last read each thread. Read markers are per person, so a proxy
    reading a reply does not mark it read for the patient, nor the other way round."""
    read_at = ReadMarker.objects.filter(thread=OuterRef("pk"), user=viewer.user).values("read_at")[:1]
    return threads.annotate(viewer_read_at=Subquery(read_at, output_field=DateTimeField()))


def threads_for_list(*, viewer: Viewer) -> QuerySet[Thread]:
    """The viewer's threads, latest activity first, with what the list shows fetched in the same query."""
    # Coalesce each side with the thread's start: GREATEST ignores NULLs on PostgreSQL but not on SQLite.
    last_activity = Greatest(
        Coalesce("last_patient_message_at", "created_at"), Coalesce("last_team_message_at", "created_at")
    )
    threads = (
        visible_threads(viewer=viewer)
        .select_related("care_team", "correction_request")
        .annotate(last_activity_at=last_activity)
        .order_by("-last_activity_at", "-pk")
    )
    return _with_read_at(threads, viewer=viewer).annotate(
        is_unread=ExpressionWrapper(UNREAD, output_field=BooleanField())
    )


def thread_counts(*, viewer: Viewer) -> tuple[int, int]:
    """(threads, unread threads) for the home page card, in one query: counts only, never what anyone wrote."""
    counts = _with_read_at(visible_threads(viewer=viewer), viewer=viewer).aggregate(
        total=Count("pk"), unread=Count("pk", filter=UNREAD)
    )
    return counts["total"], counts["unread"]


def thread_for_page(*, viewer: Viewer, public_id: UUID) -> Thread:
    """One thread with its messages (oldest first, internal notes left out), their attachments and any
    correction request's history, fetched up front; Http404 (audited) otherwise."""
    messages = (
        Message.objects.filter(is_internal_note=False)
        .order_by("created_at", "pk")
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("pk")))
    )
    queryset = (
        visible_threads(viewer=viewer)
        .select_related("care_team", "correction_request")
        .prefetch_related(
            Prefetch("messages", queryset=messages, to_attr="patient_messages"),
            Prefetch(
                "correction_request__changes",
                queryset=CorrectionStatusChange.objects.order_by("changed_at", "pk"),
                to_attr="history",
            ),
        )
    )
    return access_object(
        viewer=viewer, queryset=queryset, public_id=public_id, scope=Scope.MESSAGES, object_label=LABEL_THREAD
    )


def thread_by_id(*, viewer: Viewer, public_id: UUID) -> Thread:
    """One thread with its care team, for a page that shows no messages; Http404 (audited) otherwise."""
    return access_object(
        viewer=viewer,
        queryset=visible_threads(viewer=viewer).select_related("care_team"),
        public_id=public_id,
        scope=Scope.MESSAGES,
        object_label=LABEL_THREAD,
    )


def attachment_for_download(*, viewer: Viewer, thread_id: UUID, attachment_id: UUID) -> Attachment:
    """A file on a message of one of the viewer's threads, never on an internal note; Http404 (audited)
    otherwise. The thread and the attachment are matched in the same query, so an attachment id paired with the
    wrong thread is refused like one that does not exist."""
    queryset = _without_ungranted_sensitive(
        viewer=viewer,
        queryset=Attachment.objects.filter(
            message__thread__public_id=thread_id, message__is_internal_note=False
        ).select_related("message__thread"),
        thread="message__thread",
    )
    return access_object(
        viewer=viewer,
        queryset=queryset,
        public_id=attachment_id,
        scope=Scope.MESSAGES,
        object_label=LABEL_ATTACHMENT,
        action=AccessAction.DOWNLOAD,
        patient_field="message__thread__patient",
    )


def compose_teams(*, viewer: Viewer, patient: Patient) -> list[CareTeam]:
    """The care teams the viewer may write to for the patient, in the order the compose page lists them. A proxy
    is not offered a sensitive team whose category staff have not granted them."""
    return list(without_ungranted_sensitive(viewer=viewer, queryset=teams_patient_may_write_to(patient)))


def compose_team(*, teams: list[CareTeam], public_id: UUID | str | None) -> CareTeam:
    """One of `teams` by its public id. Anything else is "not found", not a form error: the page only ever offers
    the patient's own teams, so another id was typed or forged."""
    chosen = next((team for team in teams if str(team.public_id) == str(public_id)), None)
    if chosen is None:
        raise Http404("Page not found")
    return chosen
