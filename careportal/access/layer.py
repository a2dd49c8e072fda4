"""The shared access layer: who is asking, for which patient's record, with which scopes; and the one refusal.

Views ask the access layer for the patient in view and for objects by their public id; they never query
patient-data models themselves (`make lint` checks it). Every answer is either the object, already scoped to what
the viewer may see, or `Http404`: "does not exist" and "not yours" look the same from outside, and both are audited.

This module holds the primitives only: `Viewer` and how a request becomes one, the generic lookups
(`access_patient_record`, `scoped_to_patient`, `access_object`), the refusal (`deny`) and the audit writes. The
lookups for one app's own models live in that app's `access.py` (`careportal/results/access.py`,
`careportal/messaging/access.py`, ...), built on these; this module imports no domain app's models, so patients and
care teams are typed loosely here (`PatientRecord`, `CareTeamRecord`).
"""

from dataclasses import dataclass, field, replace
from typing import Any, NoReturn, TypeAlias, TypeVar
from uuid import UUID

import structlog
from django.db import connections
from django.db.models import BooleanField, Model, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.http import Http404, HttpRequest
from django.utils import timezone

from careportal.access.proxy_policy import effective_proxy_scopes
from careportal.access.roles import is_staff_member
from careportal.access.scopes import ALL_SCOPES, CLINICIAN_SCOPES, HELPDESK_SCOPES, Scope
from careportal.accounts.models import User
from careportal.audit.models import AccessAction, ActorRole
from careportal.audit.services import access_event_record, access_events_record_many
from careportal.core.compiled_queries import CompiledQuery
from careportal.proxy.models import ProxyPolicy, ProxyRelationship, ProxyStatus

ModelT = TypeVar("ModelT", bound=Model)

# A `careportal.patients.models.Patient` and a `careportal.patients.models.CareTeam`. The shared layer does not
# import the patients app (it would then know every app's models), so it types them loosely; the apps' own
# `access.py` modules return the real models.
PatientRecord: TypeAlias = Any
CareTeamRecord: TypeAlias = Any

# The session key holding the public id of the patient whose record a patient or proxy has in view.
ACTING_FOR_SESSION_KEY = "careportal_acting_for"


@dataclass(frozen=True)
class Viewer:
    """Who is asking, in which role, and for which patient's record."""

    user: User
    role: ActorRole
    patient: PatientRecord | None = None
    scopes: frozenset[Scope] = field(default_factory=frozenset)
    proxy_relationship: ProxyRelationship | None = None
    care_team: CareTeamRecord | None = None
    ip_address: str | None = None
    request_id: str = ""
    # The SMART on FHIR app the person is reading through (careportal/fhir/authentication.py); audited with it.
    app_name: str = ""

    def can(self, scope: Scope) -> bool:
        return scope in self.scopes

    @property
    def is_proxy(self) -> bool:
        return self.role == ActorRole.PROXY


@dataclass(frozen=True)
class PatientChoice:
    """A record the signed-in person may open: their own, or one they act for as a proxy."""

    patient: PatientRecord
    role: ActorRole
    scopes: frozenset[Scope]
    relationship: ProxyRelationship | None = None


def request_facts(request: HttpRequest | None) -> dict[str, Any]:
    """The `Viewer` fields that come from the request: the client's address and the request id."""
    if request is None:
        return {"ip_address": None, "request_id": ""}
    request_id = structlog.contextvars.get_contextvars().get("request_id", "")
    return {"ip_address": request.META.get("REMOTE_ADDR") or None, "request_id": str(request_id or "")}


_acts_as_proxy_sql: dict[str, str] = {}


def _acts_as_proxy(user: User) -> RawSQL:
    """EXISTS (an active proxy relationship of `user`), in the SQL the ORM writes for
    `Exists(ProxyRelationship.objects.filter(proxy=user, status=ProxyStatus.ACTIVE))` (tests/access/test_layer.py
    compares the two). Written out once per database: every patient-area page asks it, and the ORM resolved and
    compiled the subquery again each time, as long as the rest of the query took."""
    connection = connections[ProxyRelationship.objects.db]
    sql = _acts_as_proxy_sql.get(connection.vendor)
    if sql is None:
        quote = connection.ops.quote_name
        meta = ProxyRelationship._meta
        proxy, status = (quote(str(meta.get_field(name).column)) for name in ("proxy", "status"))  # type: ignore[union-attr]
        sql = f"EXISTS (SELECT 1 FROM {quote(meta.db_table)} WHERE {proxy} = %s AND {status} = %s)"  # noqa: S608 - our own names  # nosec B608
        _acts_as_proxy_sql[connection.vendor] = sql
    return RawSQL(sql, (user.pk, ProxyStatus.ACTIVE.value), output_field=BooleanField())  # noqa: S611 - our own SQL  # nosec B611


def _own_patient_record_query(user_id: int) -> QuerySet[Any]:
    patients: Any = User._meta.get_field("patient").related_model
    user = User(pk=user_id)
    return patients._default_manager.filter(user=user).annotate(acts_as_proxy=_acts_as_proxy(user)).order_by("pk")[:1]


# Every patient-area page asks it: compiled once (careportal/core/compiled_queries.py).
_OWN_PATIENT_RECORD = CompiledQuery(_own_patient_record_query)


def _own_patient_record(user: User) -> PatientRecord | None:
    """The patient record that is this account's own, if any, with `acts_as_proxy` (whether the account has any
    active proxy relationship): one query, found through the account's one-to-one `patient` relation so that this
    module need not import the patients app. (Not `user.patient`, which would cache the answer on the user
    object.)"""
    found = _OWN_PATIENT_RECORD.instances(user.pk)
    return found[0] if found else None


def own_record_stand_in(patient_id: int) -> Viewer:
    """A patient reading their own record, known only by the record's id: the viewer a compiled query
    (careportal/core/compiled_queries.py) is built with, so that its SQL comes from the same selector code as a
    request's. Never a request's viewer: it has no account."""
    patients: Any = User._meta.get_field("patient").related_model
    return Viewer(user=None, role=ActorRole.PATIENT, patient=patients(pk=patient_id), scopes=ALL_SCOPES)  # type: ignore[arg-type]


def patient_choices(user: User) -> list[PatientChoice]:
    """The records this person may open as a patient or proxy, their own first. A patient who acts for nobody
    costs one query; anyone else two."""
    if not user.is_authenticated:
        return []
    choices: list[PatientChoice] = []
    own = _own_patient_record(user)
    if own is not None:
        choices.append(PatientChoice(patient=own, role=ActorRole.PATIENT, scopes=ALL_SCOPES))
        if not own.acts_as_proxy:
            return choices
    today = timezone.localdate()
    relationships = ProxyRelationship.objects.filter(proxy=user, status=ProxyStatus.ACTIVE).select_related("patient")
    policy = ProxyPolicy.current()
    for relationship in relationships:
        scopes = effective_proxy_scopes(relationship, today=today, policy=policy)
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


def patient_choice_for(user: User, patient: PatientRecord) -> PatientChoice | None:
    """The choice in `patient_choices(user)` for `patient` (freshly read), or None when this person may no longer
    open that record. Their own record needs no query (its owner is on the row just read, and their own record
    comes first in `patient_choices`); another person's is looked up among their current proxy relationships."""
    if not user.is_authenticated:
        return None
    if patient.user_id is not None and patient.user_id == user.pk:
        return PatientChoice(patient=patient, role=ActorRole.PATIENT, scopes=ALL_SCOPES)
    return next((c for c in patient_choices(user) if c.patient.pk == patient.pk), None)


def viewer_for_request(request: HttpRequest) -> Viewer | None:
    """The patient or proxy viewer for this request, or None when they must first choose whose record to open.

    Re-checked on every request, so that a revoked proxy or a birthday takes effect at once.
    """
    return viewer_and_choices_for_request(request)[0]


def viewer_and_choices_for_request(request: HttpRequest) -> tuple[Viewer | None, list[PatientChoice]]:
    """`viewer_for_request`, with the records this person may open (for the page's "Switch" link), from the same
    queries."""
    user = request.user
    if not user.is_authenticated:
        return None, []
    choices = patient_choices(user)
    return _viewer_from_choices(request, choices), choices


def _viewer_from_choices(request: HttpRequest, choices: list[PatientChoice]) -> Viewer | None:
    user = request.user
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
        **request_facts(request),
    )


def anonymous_viewer(request: HttpRequest) -> Viewer:
    return Viewer(user=request.user, role=ActorRole.ANONYMOUS, **request_facts(request))  # type: ignore[arg-type]


def patient_context_choose(*, request: HttpRequest, public_id: UUID) -> PatientRecord:
    """Open the record of `public_id` for the rest of the session, if this person may act for that patient."""
    choice = next((c for c in patient_choices(request.user) if c.patient.public_id == public_id), None)  # type: ignore[arg-type]
    if choice is None:
        viewer = Viewer(user=request.user, role=ActorRole.PATIENT, **request_facts(request))  # type: ignore[arg-type]
        deny(viewer, object_label="a patient record", object_type="patients.patient", object_id=str(public_id))
    request.session[ACTING_FOR_SESSION_KEY] = str(choice.patient.public_id)
    return choice.patient


def record_chosen(request: HttpRequest) -> bool:
    """Whether this person chose whose record to open in this session (signing in starts a new session)."""
    return bool(request.session.get(ACTING_FOR_SESSION_KEY))


def deny(viewer: Viewer, *, object_label: str, object_type: str = "", object_id: str = "") -> NoReturn:
    """Refuse: audit the refused attempt, then raise the one `Http404` that looks the same for "does not exist" and
    "not yours". Every lookup in every app's `access.py` refuses through this."""
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


def deny_object(viewer: Viewer, *, queryset: QuerySet[Any], public_id: UUID | str, object_label: str) -> NoReturn:
    """`deny` for one object of `queryset`'s model asked for by its public id."""
    model = queryset.model._meta
    deny(
        viewer, object_label=object_label, object_type=f"{model.app_label}.{model.model_name}", object_id=str(public_id)
    )


def access_patient_record(
    *, viewer: Viewer, scope: Scope, object_label: str, action: AccessAction = AccessAction.VIEW
) -> PatientRecord:
    """The patient in view, when the viewer may read (or change) `scope` of their record; audited."""
    if viewer.patient is None or not viewer.can(scope):
        deny(viewer, object_label=object_label, object_type="scope", object_id=scope.value)
    access_event_record(viewer=viewer, patient=viewer.patient, action=action, object_label=object_label)
    return viewer.patient


def scoped_to_patient(*, viewer: Viewer, queryset: QuerySet[ModelT], scope: Scope) -> QuerySet[ModelT]:
    """Rows of the patient in view that the viewer may see, or none at all. Not audited: the caller reads them
    through `access_patient_record` or `access_object`, which are."""
    if viewer.patient is None or not viewer.can(scope):
        return queryset.none()
    return queryset.filter(patient=viewer.patient)


def without_ungranted_sensitive(
    *, viewer: Viewer, queryset: QuerySet[ModelT], field: str = "sensitive_category"
) -> QuerySet[ModelT]:
    """`queryset` less, for anyone but the patient themself (a proxy), every row in a sensitive category (sexual
    health, HIV, genetics, mental health, safeguarding) that staff have not granted on their relationship: not its
    content, and not even that it exists (DESIGN.md, Proxy). `field` is the lookup to the row's category (blank
    for none). Results, letters and appointments all filter through this."""
    if viewer.role == ActorRole.PATIENT:
        return queryset
    relationship = viewer.proxy_relationship
    granted = list(relationship.sensitive_categories_granted or []) if relationship is not None else []
    return queryset.filter(Q(**{field: ""}) | Q(**{f"{field}__in": granted}))


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
        deny_object(viewer, queryset=queryset, public_id=public_id, object_label=object_label)
    access_event_record(viewer=viewer, patient=viewer.patient, action=action, object_label=object_label, obj=obj)
    return obj


# Staff -------------------------------------------------------------------------------------------------------


def staff_viewer(request: HttpRequest, *, care_team: CareTeamRecord | None = None) -> Viewer:
    user: User = request.user  # type: ignore[assignment]
    if user.is_helpdesk:
        return Viewer(user=user, role=ActorRole.HELPDESK, scopes=HELPDESK_SCOPES, **request_facts(request))
    return Viewer(
        user=user,
        role=ActorRole.CLINICIAN,
        scopes=CLINICIAN_SCOPES,
        care_team=care_team,
        **request_facts(request),
    )


# Helpdesk ----------------------------------------------------------------------------------------------------


def helpdesk_viewer(request: HttpRequest) -> Viewer:
    """The viewer for the helpdesk console: helpdesk staff and superusers, who see account data and never clinical
    data (HELPDESK_SCOPES). Anyone else is refused with Http404, and the refusal is audited, as for another
    patient's object: a clinician or patient probing helpdesk addresses leaves a trace."""
    user = request.user
    if user.is_authenticated and user.is_active and (user.is_helpdesk or user.is_superuser):
        return Viewer(user=user, role=ActorRole.HELPDESK, scopes=HELPDESK_SCOPES, **request_facts(request))
    if is_staff_member(user):
        refused = staff_viewer(request)
    else:
        refused = viewer_for_request(request) or Viewer(
            user=user,  # type: ignore[arg-type]
            role=ActorRole.PATIENT,
            **request_facts(request),
        )
    match = request.resolver_match
    object_id = next((str(value) for value in (match.kwargs.values() if match else [])), "")
    deny(
        replace(refused, patient=None),
        object_label="the helpdesk console",
        object_type=f"page:{match.view_name if match else request.path[:80]}"[:100],
        object_id=object_id,
    )


def patients_found_by_staff(*, viewer: Viewer, patients: list[PatientRecord], object_label: str) -> list[PatientRecord]:
    """Record that a member of staff saw these patients listed in a search (one query however many there are)."""
    if patients:
        access_events_record_many(viewer=viewer, patients=patients, action=AccessAction.VIEW, object_label=object_label)
    return patients


# Care teams' inboxes (results, messages, ...) ------------------------------------------------------------------------


def team_inbox_rows_listed(*, viewer: Viewer, rows: list[Any], object_label: str) -> None:
    """Record that a member of staff saw these patients listed in a care team's inbox (results, messages): one
    event per patient on the page, filed under the team whose inbox listed them, so the patient's log reads
    "Dr A Okafor, Haematology, viewed your ...". `rows` have `care_team` and `patient` (loaded with the list). One
    query per team shown."""
    by_team: dict[int | None, tuple[CareTeamRecord | None, dict[int, PatientRecord]]] = {}
    for row in rows:
        team, patients = by_team.setdefault(row.care_team_id, (row.care_team, {}))
        patients.setdefault(row.patient_id, row.patient)
    for team, patients in by_team.values():
        patients_found_by_staff(
            viewer=replace(viewer, care_team=team), patients=list(patients.values()), object_label=object_label
        )


def team_rows_for_staff(*, viewer: Viewer, queryset: QuerySet[ModelT], scope: Scope) -> QuerySet[ModelT]:
    """Rows of `queryset` routed to the clinician's active care teams (only `viewer.care_team` when it is set), or
    none at all for anyone without `scope`. The one lookup behind every care team's inbox (results, messages, ...):
    the rows need a `care_team` field. Not audited: a list page records the patients it shows with
    `team_inbox_rows_listed`, and one object is read through `access_team_row_as_staff`."""
    if viewer.role != ActorRole.CLINICIAN or not viewer.can(scope):
        return queryset.none()
    teams = viewer.user.care_team_memberships.filter(is_active=True, care_team__is_active=True)
    if viewer.care_team is not None:
        teams = teams.filter(care_team=viewer.care_team)
    return queryset.filter(care_team__in=teams.values("care_team"))


def access_team_row_as_staff(
    *,
    viewer: Viewer,
    queryset: QuerySet[ModelT],
    public_id: UUID | str,
    object_label: str,
    action: AccessAction | None = AccessAction.VIEW,
) -> tuple[Viewer, ModelT]:
    """One row of a care team's inbox by its public id, from `queryset` (already narrowed by
    `team_rows_for_staff`), with the viewer naming its patient and team; Http404 (audited) otherwise, the same for
    an unknown id and another team's row. One query either way.

    With `action=None` nothing is recorded on success: the service that then changes the row records the change
    with `staff_change_record` inside its own transaction, so a refused change leaves no "changed" event.
    """
    obj: Any = queryset.select_related("patient", "care_team").filter(public_id=public_id).first()
    if obj is None:
        deny_object(viewer, queryset=queryset, public_id=public_id, object_label=object_label)
    viewer = replace(viewer, patient=obj.patient, care_team=obj.care_team)
    if action is not None:
        access_event_record(viewer=viewer, patient=obj.patient, action=action, object_label=object_label, obj=obj)
    return viewer, obj


def refuse_console(request: HttpRequest, *, object_label: str) -> NoReturn:
    """Refuse a staff console to someone it is not for: Http404, with the refusal audited and no patient named."""
    user = request.user
    if is_staff_member(user):
        refused = staff_viewer(request)
    else:
        refused = viewer_for_request(request) or Viewer(
            user=user,  # type: ignore[arg-type]
            role=ActorRole.PATIENT if user.is_authenticated else ActorRole.ANONYMOUS,
            **request_facts(request),
        )
    match = request.resolver_match
    object_id = next((str(value) for value in (match.kwargs.values() if match else [])), "")
    deny(
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


def staff_change_record(*, viewer: Viewer, patient: PatientRecord | None, object_label: str, obj: Model) -> None:
    """Record that a member of staff changed `obj` (already resolved through this layer), from inside the
    service's transaction."""
    access_event_record(viewer=viewer, patient=patient, action=AccessAction.UPDATE, object_label=object_label, obj=obj)
