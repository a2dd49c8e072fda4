"""Reads for "download my record": the person's current copy, and what a copy holds.

`record_contents` reads every part through the domain apps' access functions (`visible_reports`,
`visible_appointments`, `visible_letters`, the messaging rules, the patient's access log), so a proxy's copy holds
exactly what their pages show: only their scopes, never an ungranted sensitive category, never the access log.
It does not audit: the task that makes the copy audits each part once (`record_export_build`). A fixed number of
queries, however much the record holds.
"""

from dataclasses import dataclass, field

from django.db.models import Prefetch

from careportal.access.layer import Viewer
from careportal.access.scopes import Scope
from careportal.appointments.access import visible_appointments
from careportal.appointments.models import Appointment
from careportal.audit.models import AccessEvent
from careportal.audit.presenters import AccessLogEntry, EventNames, access_log_entry
from careportal.audit.selectors import access_events_for_patient, event_names
from careportal.fhir.models import RecordExport, RecordExportStatus
from careportal.letters.access import visible_letters
from careportal.letters.models import Letter
from careportal.messaging.models import Message, Thread
from careportal.messaging.selectors import visible_threads
from careportal.results.access import visible_reports
from careportal.results.models import DiagnosticReport, Observation, ReportStatus


def export_current(*, viewer: Viewer) -> RecordExport | None:
    """This person's latest copy of the record in view (whatever its state), if any."""
    if viewer.patient is None:
        return None
    return RecordExport.objects.filter(patient=viewer.patient, requested_by=viewer.user).order_by("-created_at").first()


def export_in_progress(*, viewer: Viewer) -> RecordExport | None:
    if viewer.patient is None:
        return None
    return (
        RecordExport.objects.filter(
            patient=viewer.patient,
            requested_by=viewer.user,
            status__in=[RecordExportStatus.QUEUED, RecordExportStatus.BUILDING],
        )
        .order_by("-created_at")
        .first()
    )


@dataclass
class ThreadCopy:
    thread: Thread
    messages: list[Message]


@dataclass
class RecordContents:
    """What one copy holds. An empty list for a part the copy may not hold."""

    viewer: Viewer
    reports: list[DiagnosticReport] = field(default_factory=list)
    appointments: list[Appointment] = field(default_factory=list)
    letters: list[Letter] = field(default_factory=list)
    threads: list[ThreadCopy] = field(default_factory=list)
    access_events: list[AccessEvent] = field(default_factory=list)
    access_log: list[AccessLogEntry] = field(default_factory=list)

    def holds(self, scope: Scope) -> bool:
        return self.viewer.can(scope)


def _reports(viewer: Viewer) -> list[DiagnosticReport]:
    # Released reports only: one withdrawn since stays, flagged, without its values (the PDF and Bundle say so).
    reports = (
        visible_reports(viewer=viewer, queryset=DiagnosticReport.objects.all())
        .filter(released_at__isnull=False)
        .exclude(status=ReportStatus.CANCELLED, released_at__isnull=True)
        .prefetch_related(Prefetch("observations", queryset=Observation.objects.order_by("sequence")))
        .order_by("-collected_at", "-arrived_at", "-pk")
    )
    return list(reports)


def _threads(viewer: Viewer) -> list[ThreadCopy]:
    # The threads the messages pages show this viewer (a proxy never sees an ungranted sensitive one); staff's
    # internal notes are never the patient's.
    rows = (
        visible_threads(viewer=viewer)
        .select_related("care_team")
        .prefetch_related(
            Prefetch(
                "messages",
                queryset=Message.objects.filter(is_internal_note=False).order_by("created_at", "pk"),
                to_attr="copy_messages",
            )
        )
    )
    return [ThreadCopy(thread=t, messages=list(t.copy_messages)) for t in rows.order_by("-created_at", "-pk")]


def record_contents(*, viewer: Viewer) -> RecordContents:
    contents = RecordContents(viewer=viewer)
    if viewer.can(Scope.RESULTS):
        contents.reports = _reports(viewer)
    if viewer.can(Scope.APPOINTMENTS):
        contents.appointments = list(
            visible_appointments(viewer=viewer).select_related("clinic", "care_team").order_by("-start", "-pk")
        )
    if viewer.can(Scope.LETTERS):
        contents.letters = list(visible_letters(viewer=viewer).select_related("care_team").order_by("-letter_date"))
    if viewer.can(Scope.MESSAGES):
        contents.threads = _threads(viewer)
    if viewer.can(Scope.ACCESS_LOG) and not viewer.is_proxy and viewer.patient is not None:
        events = list(access_events_for_patient(patient=viewer.patient))
        reports, relationships = event_names(patient=viewer.patient, events=events)
        names = EventNames(reports=reports, relationships=relationships)
        contents.access_events = events
        contents.access_log = [access_log_entry(e, patient=viewer.patient, names=names) for e in events]
    return contents


def is_withdrawn(report: DiagnosticReport) -> bool:
    return report.retracted_at is not None
