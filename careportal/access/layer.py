"""The access layer: who may see which patient's data, and the audit event for every read or change.

Views ask this module for the patient in view and for objects by their public id; they never query patient-data
models themselves (`make lint` checks it). Every answer is either the object, already scoped to what the viewer
may see, or `Http404`: "does not exist" and "not yours" look the same from outside, and both are audited.
"""

from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from uuid import UUID

import structlog
from django.db.models import Model, Q, QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone

from careportal.access.proxy_policy import effective_proxy_scopes
from careportal.access.roles import is_staff_member
from careportal.access.scopes import ALL_SCOPES, CLINICIAN_SCOPES, HELPDESK_SCOPES, Scope
from careportal.accounts.models import User
from careportal.audit.models import AccessAction, ActorRole
from careportal.audit.services import access_event_record, access_events_record_many
from careportal.hl7.models import InboundMessage
from careportal.messaging.models import Attachment, Thread
from careportal.patients.models import CareTeam, Patient
from careportal.proxy.models import ProxyRelationship, ProxyStatus
from careportal.results.models import DiagnosticReport

ModelT = TypeVar("ModelT", bound=Model)

# The session key holding the public id of the patient whose record a patient or proxy has in view.
ACTING_FOR_SESSION_KEY = "careportal_acting_for"


@dataclass(frozen=True)
class Viewer:
    """Who is asking, in which role, and for which patient's record."""

    user: User
    role: ActorRole
    patient: Patient | None = None
    scopes: frozenset[Scope] = field(default_factory=frozenset)
    proxy_relationship: ProxyRelationship | None = None
    care_team: CareTeam | None = None
    ip_address: str | None = None
    request_id: str = ""

    def can(self, scope: Scope) -> bool:
        return scope in self.scopes

    @property
    def is_proxy(self) -> bool:
        return self.role == ActorRole.PROXY


@dataclass(frozen=True)
class PatientChoice:
    """A record the signed-in person may open: their own, or one they act for as a proxy."""

    patient: Patient
    role: ActorRole
    scopes: frozenset[Scope]
    relationship: ProxyRelationship | None = None


def _request_facts(request: HttpRequest | None) -> dict[str, Any]:
    if request is None:
        return {"ip_address": None, "request_id": ""}
    request_id = structlog.contextvars.get_contextvars().get("request_id", "")
    return {"ip_address": request.META.get("REMOTE_ADDR") or None, "request_id": str(request_id or "")}


def patient_choices(user: User) -> list[PatientChoice]:
    """The records this person may open as a patient or proxy, their own first."""
    if not user.is_authenticated:
        return []
    choices: list[PatientChoice] = []
    own = Patient.objects.filter(user=user).first()
    if own is not None:
        choices.append(PatientChoice(patient=own, role=ActorRole.PATIENT, scopes=ALL_SCOPES))
    today = timezone.localdate()
    relationships = ProxyRelationship.objects.filter(proxy=user, status=ProxyStatus.ACTIVE).select_related("patient")
    for relationship in relationships:
        scopes = effective_proxy_scopes(relationship, today=today)
        if scopes:
            choices.append(
                PatientChoice(
                    patient=relationship.patient,
                    role=ActorRole.PROXY,
                    scopes=scopes,
                    relationship=relationship,
                )
            )
    return choices


def viewer_for_request(request: HttpRequest) -> Viewer | None:
    """The patient or proxy viewer for this request, or None when they must first choose whose record to open.

    Re-checked on every request, so that a revoked proxy or a birthday takes effect at once.
    """
    user = request.user
    if not user.is_authenticated:
        return None
    choices = patient_choices(user)  # type: ignore[arg-type]
    wanted = request.session.get(ACTING_FOR_SESSION_KEY)
    chosen: PatientChoice | None = None
    if wanted:
        chosen = next((c for c in choices if str(c.patient.public_id) == wanted), None)
        if chosen is None:
            request.session.pop(ACTING_FOR_SESSION_KEY, None)
    if chosen is None and len(choices) == 1:
        chosen = choices[0]
    if chosen is None:
        chosen = next((c for c in choices if c.role == ActorRole.PATIENT), None)
    if chosen is None:
        return None
    return Viewer(
        user=user,  # type: ignore[arg-type]
        role=chosen.role,
        patient=chosen.patient,
        scopes=chosen.scopes,
        proxy_relationship=chosen.relationship,
        **_request_facts(request),
    )


def anonymous_viewer(request: HttpRequest) -> Viewer:
    return Viewer(user=request.user, role=ActorRole.ANONYMOUS, **_request_facts(request))  # type: ignore[arg-type]


def patient_context_choose(*, request: HttpRequest, public_id: UUID) -> Patient:
    """Open the record of `public_id` for the rest of the session, if this person may act for that patient."""
    choice = next((c for c in patient_choices(request.user) if c.patient.public_id == public_id), None)  # type: ignore[arg-type]
    if choice is None:
        viewer = Viewer(user=request.user, role=ActorRole.PATIENT, **_request_facts(request))  # type: ignore[arg-type]
        _deny(viewer, object_label="a patient record", object_type="patients.patient", object_id=str(public_id))
    request.session[ACTING_FOR_SESSION_KEY] = str(choice.patient.public_id)  # type: ignore[union-attr]
    return choice.patient  # type: ignore[union-attr]


def _deny(viewer: Viewer, *, object_label: str, object_type: str = "", object_id: str = "") -> None:
    # The owner of a refused object is deliberately not recorded: the patient-facing log must not tell one
    # patient about another, and the security log needs only who asked for what.
    access_event_record(
        viewer=viewer,
        patient=None,
        action=AccessAction.DENIED,
        object_label=object_label,
        object_type=object_type,
        object_id=object_id,
        succeeded=False,
    )
    raise Http404("Page not found")


def access_patient_record(
    *, viewer: Viewer, scope: Scope, object_label: str, action: AccessAction = AccessAction.VIEW
) -> Patient:
    """The patient in view, when the viewer may read (or change) `scope` of their record; audited."""
    if viewer.patient is None or not viewer.can(scope):
        _deny(viewer, object_label=object_label, object_type="scope", object_id=scope.value)
    access_event_record(viewer=viewer, patient=viewer.patient, action=action, object_label=object_label)
    return viewer.patient  # type: ignore[return-value]


def scoped_to_patient(*, viewer: Viewer, queryset: QuerySet[ModelT], scope: Scope) -> QuerySet[ModelT]:
    """Rows of the patient in view that the viewer may see, or none at all. Not audited: the caller reads them
    through `access_patient_record` or `access_object`, which are."""
    if viewer.patient is None or not viewer.can(scope):
        return queryset.none()
    return queryset.filter(patient=viewer.patient)


def access_object(
    *,
    viewer: Viewer,
    queryset: QuerySet[ModelT],
    public_id: UUID | str,
    scope: Scope,
    object_label: str,
    action: AccessAction = AccessAction.VIEW,
    patient_field: str = "patient",
) -> ModelT:
    """One object of the patient in view by its public id, or Http404 (audited either way).

    The lookup is one query whether the id is unknown or belongs to someone else, so neither answer nor timing
    tells the two apart.
    """
    obj = None
    if viewer.patient is not None and viewer.can(scope):
        obj = queryset.filter(**{patient_field: viewer.patient, "public_id": public_id}).first()
    if obj is None:
        _deny(
            viewer,
            object_label=object_label,
            object_type=f"{queryset.model._meta.app_label}.{queryset.model._meta.model_name}",
            object_id=str(public_id),
        )
    access_event_record(viewer=viewer, patient=viewer.patient, action=action, object_label=object_label, obj=obj)
    return obj  # type: ignore[return-value]


# Test results ------------------------------------------------------------------------------------------------


def visible_reports(*, viewer: Viewer, queryset: QuerySet[ModelT], report_path: str = "") -> QuerySet[ModelT]:
    """Test-result rows (reports, or rows under a report such as observations) of the patient in view that the
    viewer may see. Not audited, like `scoped_to_patient`; the caller reads them through `access_patient_record`,
    `access_object` or `access_results`.

    Needs Scope.RESULTS. Anyone but the patient themself (a proxy) loses every report in a sensitive category
    (sexual health, HIV, genetics, mental health, safeguarding) that staff have not granted on their
    relationship: not its values, and not even that the test was done (DESIGN.md, Proxy). `report_path` is the
    lookup from the queryset's model to its report: "" for reports, "report" for observations.
    """
    if viewer.patient is None or not viewer.can(Scope.RESULTS):
        return queryset.none()
    prefix = f"{report_path}__" if report_path else ""
    rows = queryset.filter(**{f"{prefix}patient": viewer.patient})
    if viewer.role != ActorRole.PATIENT:
        relationship = viewer.proxy_relationship
        granted = list(relationship.sensitive_categories_granted or []) if relationship is not None else []
        rows = rows.filter(Q(**{f"{prefix}sensitive_category": ""}) | Q(**{f"{prefix}sensitive_category__in": granted}))
    return rows


def access_results(
    *,
    viewer: Viewer,
    queryset: QuerySet[ModelT],
    object_label: str,
    object_id: str,
    report_path: str = "",
    action: AccessAction = AccessAction.VIEW,
) -> QuerySet[ModelT]:
    """Several test-result rows read as one thing (a test's values over time): the `visible_reports` rows,
    audited as one read; Http404, audited as a refusal of `object_id`, when there are none, so that a test the
    patient never had and another patient's test look the same."""
    rows = visible_reports(viewer=viewer, queryset=queryset, report_path=report_path)
    if not rows.exists():
        _deny(viewer, object_label=object_label, object_type="results", object_id=object_id[:64])
    access_event_record(viewer=viewer, patient=viewer.patient, action=action, object_label=object_label)
    return rows


# Staff -------------------------------------------------------------------------------------------------------


def staff_viewer(request: HttpRequest, *, care_team: CareTeam | None = None) -> Viewer:
    user: User = request.user  # type: ignore[assignment]
    if user.is_helpdesk:
        return Viewer(user=user, role=ActorRole.HELPDESK, scopes=HELPDESK_SCOPES, **_request_facts(request))
    return Viewer(
        user=user,
        role=ActorRole.CLINICIAN,
        scopes=CLINICIAN_SCOPES,
        care_team=care_team,
        **_request_facts(request),
    )


def patients_for_staff(viewer: Viewer) -> QuerySet[Patient]:
    """Patients a member of staff may look up: for a clinician, those with an active relationship to one of
    their care teams; for the helpdesk, every patient (account data only: see HELPDESK_SCOPES)."""
    if viewer.role == ActorRole.HELPDESK:
        return Patient.objects.all()
    if viewer.role != ActorRole.CLINICIAN:
        return Patient.objects.none()
    teams = viewer.user.care_team_memberships.filter(is_active=True, care_team__is_active=True)
    if viewer.care_team is not None:
        teams = teams.filter(care_team=viewer.care_team)
    return Patient.objects.filter(
        care_relationships__care_team__in=teams.values("care_team"),
        care_relationships__ended_at__isnull=True,
    ).distinct()


def access_patient_as_staff(
    *,
    viewer: Viewer,
    public_id: UUID | str,
    scope: Scope,
    object_label: str,
    action: AccessAction = AccessAction.VIEW,
) -> tuple[Viewer, Patient]:
    """A patient a member of staff may see, with the viewer now naming that patient; Http404 otherwise."""
    patient = None
    if viewer.can(scope):
        patient = patients_for_staff(viewer).filter(public_id=public_id).first()
    if patient is None:
        _deny(viewer, object_label=object_label, object_type="patients.patient", object_id=str(public_id))
    care_team = viewer.care_team
    if care_team is None and viewer.role == ActorRole.CLINICIAN:
        # Name the team through which the clinician reached the record, so the patient's log can say
        # "Dr A Okafor, Haematology, viewed ...".
        care_team = CareTeam.objects.filter(
            memberships__user=viewer.user,
            memberships__is_active=True,
            care_relationships__patient=patient,
            care_relationships__ended_at__isnull=True,
        ).first()
    viewer = replace(viewer, patient=patient, care_team=care_team)
    access_event_record(viewer=viewer, patient=patient, action=action, object_label=object_label)
    return viewer, patient  # type: ignore[return-value]


# Helpdesk ----------------------------------------------------------------------------------------------------


def helpdesk_viewer(request: HttpRequest) -> Viewer:
    """The viewer for the helpdesk console: helpdesk staff and superusers, who see account data and never clinical
    data (HELPDESK_SCOPES). Anyone else is refused with Http404, and the refusal is audited, as for another
    patient's object: a clinician or patient probing helpdesk addresses leaves a trace."""
    user = request.user
    if user.is_authenticated and user.is_active and (user.is_helpdesk or user.is_superuser):  # type: ignore[union-attr]
        return Viewer(user=user, role=ActorRole.HELPDESK, scopes=HELPDESK_SCOPES, **_request_facts(request))  # type: ignore[arg-type]
    if is_staff_member(user):
        refused = staff_viewer(request)
    else:
        refused = viewer_for_request(request) or Viewer(
            user=user,  # type: ignore[arg-type]
            role=ActorRole.PATIENT,
            **_request_facts(request),
        )
    match = request.resolver_match
    object_id = next((str(value) for value in (match.kwargs.values() if match else [])), "")
    _deny(
        replace(refused, patient=None),
        object_label="the helpdesk console",
        object_type=f"page:{match.view_name if match else request.path[:80]}"[:100],
        object_id=object_id,
    )
    raise AssertionError("unreachable")  # pragma: no cover - _deny raises


def access_account_as_staff(
    *,
    viewer: Viewer,
    public_id: UUID | str,
    object_label: str,
    action: AccessAction = AccessAction.VIEW,
) -> tuple[Viewer, User, Patient | None]:
    """A portal account (a patient's, a proxy's or staff) by its public id, for the helpdesk; Http404 otherwise.

    When the account is a patient's own, the read goes into that patient's access log through
    `access_patient_as_staff`; other accounts' reads are audited without a patient.
    """
    account = None
    if viewer.can(Scope.ACCOUNT):
        account = User.objects.filter(public_id=public_id).first()
    if account is None:
        _deny(viewer, object_label=object_label, object_type="accounts.user", object_id=str(public_id))
    patient = Patient.objects.filter(user=account).first()
    if patient is not None:
        viewer, patient = access_patient_as_staff(
            viewer=viewer, public_id=patient.public_id, scope=Scope.ACCOUNT, object_label=object_label, action=action
        )
        return viewer, account, patient  # type: ignore[return-value]
    access_event_record(viewer=viewer, patient=None, action=action, object_label=object_label, obj=account)
    return viewer, account, None  # type: ignore[return-value]


def patients_found_by_staff(*, viewer: Viewer, patients: list[Patient], object_label: str) -> list[Patient]:
    """Record that a member of staff saw these patients listed in a search (one query however many there are)."""
    if patients:
        access_events_record_many(viewer=viewer, patients=patients, action=AccessAction.VIEW, object_label=object_label)
    return patients


# Clinicians' results inbox -----------------------------------------------------------------------------------


def team_inbox_rows_listed(*, viewer: Viewer, rows: list[Any], object_label: str) -> None:
    """Record that a member of staff saw these patients listed in a care team's inbox (results, messages): one
    event per patient on the page, filed under the team whose inbox listed them, so the patient's log reads
    "Dr A Okafor, Haematology, viewed your ...". `rows` have `care_team` and `patient` (loaded with the list). One
    query per team shown."""
    by_team: dict[int | None, tuple[CareTeam | None, dict[int, Patient]]] = {}
    for row in rows:
        team, patients = by_team.setdefault(row.care_team_id, (row.care_team, {}))
        patients.setdefault(row.patient_id, row.patient)
    for team, patients in by_team.values():
        patients_found_by_staff(
            viewer=replace(viewer, care_team=team), patients=list(patients.values()), object_label=object_label
        )


def refuse_console(request: HttpRequest, *, object_label: str) -> None:
    """Refuse a staff console to someone it is not for: Http404, with the refusal audited and no patient named."""
    user = request.user
    if is_staff_member(user):
        refused = staff_viewer(request)
    else:
        refused = viewer_for_request(request) or Viewer(
            user=user,  # type: ignore[arg-type]
            role=ActorRole.PATIENT if user.is_authenticated else ActorRole.ANONYMOUS,
            **_request_facts(request),
        )
    match = request.resolver_match
    object_id = next((str(value) for value in (match.kwargs.values() if match else [])), "")
    _deny(
        replace(refused, patient=None),
        object_label=object_label,
        object_type=f"page:{match.view_name if match else request.path[:80]}"[:100],
        object_id=object_id,
    )


def clinician_viewer(
    request: HttpRequest, *, scope: Scope = Scope.RESULTS, object_label: str = "a care team's results inbox"
) -> Viewer:
    """The viewer for a care team's inbox (results, messages): a member of an active care team, with clinical
    scopes. The helpdesk (no clinical scope), patients and proxies are refused with an audited Http404 that names
    `object_label`."""
    if is_staff_member(request.user):
        viewer = staff_viewer(request)
        if viewer.role == ActorRole.CLINICIAN and viewer.can(scope):
            return viewer
    refuse_console(request, object_label=object_label)
    raise AssertionError("unreachable")  # pragma: no cover - refuse_console raises


def reports_for_staff(viewer: Viewer) -> QuerySet[DiagnosticReport]:
    """Reports routed to the clinician's active care teams (only `viewer.care_team` when it is set). Not audited:
    a list page records the patients it shows with `patients_found_by_staff`."""
    if viewer.role != ActorRole.CLINICIAN or not viewer.can(Scope.RESULTS):
        return DiagnosticReport.objects.none()
    teams = viewer.user.care_team_memberships.filter(is_active=True, care_team__is_active=True)
    if viewer.care_team is not None:
        teams = teams.filter(care_team=viewer.care_team)
    return DiagnosticReport.objects.filter(care_team__in=teams.values("care_team"))


def access_report_as_staff(
    *,
    viewer: Viewer,
    public_id: UUID | str,
    object_label: str,
    action: AccessAction | None = AccessAction.VIEW,
) -> tuple[Viewer, DiagnosticReport]:
    """A report in one of the clinician's teams' inboxes, with the viewer naming its patient and team; Http404
    (audited) otherwise.

    With `action=None` nothing is recorded on success: the service that then changes the report records the
    change with `staff_change_record` inside its own transaction, so a refused change leaves no "changed" event.
    """
    report = reports_for_staff(viewer).select_related("patient", "care_team").filter(public_id=public_id).first()
    if report is None:
        _deny(viewer, object_label=object_label, object_type="results.diagnosticreport", object_id=str(public_id))
    viewer = replace(viewer, patient=report.patient, care_team=report.care_team)  # type: ignore[union-attr]
    if action is not None:
        access_event_record(viewer=viewer, patient=report.patient, action=action, object_label=object_label, obj=report)  # type: ignore[union-attr]
    return viewer, report  # type: ignore[return-value]


def staff_change_record(*, viewer: Viewer, patient: Patient | None, object_label: str, obj: Model) -> None:
    """Record that a member of staff changed `obj` (already resolved through this layer), from inside the
    service's transaction."""
    access_event_record(viewer=viewer, patient=patient, action=AccessAction.UPDATE, object_label=object_label, obj=obj)


# Care teams' message inbox ------------------------------------------------------------------------------------


def threads_for_staff(viewer: Viewer) -> QuerySet[Thread]:
    """Message threads with the clinician's active care teams (only `viewer.care_team` when it is set), internal
    notes and all. Not audited: a list page records the patients it shows with `patients_found_by_staff`."""
    if viewer.role != ActorRole.CLINICIAN or not viewer.can(Scope.MESSAGES):
        return Thread.objects.none()
    teams = viewer.user.care_team_memberships.filter(is_active=True, care_team__is_active=True)
    if viewer.care_team is not None:
        teams = teams.filter(care_team=viewer.care_team)
    return Thread.objects.filter(care_team__in=teams.values("care_team"))


def access_thread_as_staff(
    *,
    viewer: Viewer,
    public_id: UUID | str,
    object_label: str,
    action: AccessAction | None = AccessAction.VIEW,
) -> tuple[Viewer, Thread]:
    """A thread in one of the clinician's teams' inboxes, with the viewer naming its patient and team; Http404
    (audited) otherwise, the same for an unknown id and another team's thread.

    With `action=None` nothing is recorded on success: the messaging service that then changes the thread records
    the change in its own transaction, as for `access_report_as_staff`.
    """
    thread = threads_for_staff(viewer).select_related("patient", "care_team").filter(public_id=public_id).first()
    if thread is None:
        _deny(viewer, object_label=object_label, object_type="messaging.thread", object_id=str(public_id))
    viewer = replace(viewer, patient=thread.patient, care_team=thread.care_team)  # type: ignore[union-attr]
    if action is not None:
        access_event_record(viewer=viewer, patient=thread.patient, action=action, object_label=object_label, obj=thread)  # type: ignore[union-attr]
    return viewer, thread  # type: ignore[return-value]


def access_thread_attachment_as_staff(
    *, viewer: Viewer, thread_id: UUID | str, attachment_id: UUID | str, object_label: str
) -> tuple[Viewer, Attachment]:
    """A file attached to a message in one of the clinician's teams' threads, for download (audited as a
    download); Http404 (audited) for an unknown file, another team's thread, or a file that belongs to a
    different thread than the address names. One query either way."""
    attachment = (
        Attachment.objects.filter(
            public_id=attachment_id,
            message__thread__public_id=thread_id,
            message__thread__in=threads_for_staff(viewer),
        )
        .select_related("message__thread__patient", "message__thread__care_team")
        .first()
    )
    if attachment is None:
        _deny(viewer, object_label=object_label, object_type="messaging.attachment", object_id=str(attachment_id))
    thread = attachment.message.thread  # type: ignore[union-attr]
    viewer = replace(viewer, patient=thread.patient, care_team=thread.care_team)
    access_event_record(
        viewer=viewer, patient=thread.patient, action=AccessAction.DOWNLOAD, object_label=object_label, obj=attachment
    )
    return viewer, attachment  # type: ignore[return-value]


# HL7 interface operators -------------------------------------------------------------------------------------

HL7_OPERATOR_PERMISSION = "hl7.change_inboundmessage"


def hl7_operator_viewer(request: HttpRequest) -> Viewer:
    """The viewer for the HL7 message queue: superusers and holders of `hl7.change_inboundmessage` only, because
    raw messages carry clinical data. Anyone else (the helpdesk and clinicians included) gets an audited Http404.

    The role is the person's usual staff role (helpdesk, or clinician without a team) so that a patient's log
    names them plainly; no patient scopes come with it.
    """
    user = request.user
    if user.is_authenticated and user.is_active and user.has_perm(HL7_OPERATOR_PERMISSION):
        role = ActorRole.HELPDESK if user.is_helpdesk else ActorRole.CLINICIAN  # type: ignore[union-attr]
        return Viewer(user=user, role=role, **_request_facts(request))  # type: ignore[arg-type]
    refuse_console(request, object_label="the HL7 message queue")
    raise AssertionError("unreachable")  # pragma: no cover - refuse_console raises


def access_message_as_operator(
    *, viewer: Viewer, public_id: UUID | str, object_label: str, action: AccessAction = AccessAction.VIEW
) -> InboundMessage:
    """One received HL7 message, for an operator; Http404 (audited) otherwise. Reading a message that names a
    known patient is a read of that patient's record, so it goes into their access log."""
    message = None
    if viewer.user.has_perm(HL7_OPERATOR_PERMISSION):
        message = InboundMessage.objects.select_related("patient").filter(public_id=public_id).first()
    if message is None:
        _deny(viewer, object_label=object_label, object_type="hl7.inboundmessage", object_id=str(public_id))
    access_event_record(viewer=viewer, patient=message.patient, action=action, object_label=object_label, obj=message)  # type: ignore[union-attr]
    return message  # type: ignore[return-value]
