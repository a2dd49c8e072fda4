"""What the FHIR API reads: for each resource type, the rows the caller may see (through each domain's access
layer, so proxies' scopes and sensitive categories apply exactly as in the portal), its search parameters as
query filters, and keyset paging. Every read and every search is audited through the access layer, with the app's
name carried by the viewer.

A search costs the same number of queries whatever the number of rows: a count, one page of rows with what the
builders need fetched up front, and (for a next page) one lookup of where the last page ended.
"""

import contextlib
import functools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core import signing
from django.db.models import F, Prefetch, Q, QuerySet
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone
from fhir.resources.R4B.resource import Resource

from careportal.access.layer import Viewer, access_object, access_patient_record, deny, own_record_stand_in
from careportal.access.scopes import Scope
from careportal.appointments.access import visible_appointments
from careportal.appointments.models import Appointment, AppointmentStatus
from careportal.audit.models import AccessAction, AccessEvent, ActorRole
from careportal.audit.selectors import access_events_for_patient
from careportal.core.compiled_queries import CompiledQuery
from careportal.fhir import resources
from careportal.fhir.coding import (
    NHS_NUMBER_SYSTEM,
    OBSERVATION_CATEGORY,
    V2_DIAGNOSTIC_SECTION,
    hl7_systems_for,
    hospital_number_system,
)
from careportal.fhir.errors import BadSearchParameter, Forbidden
from careportal.fhir.search import DateBound, ParamType, SearchQuery, Token
from careportal.letters.access import access_letter, visible_letters
from careportal.letters.models import Letter
from careportal.messaging.models import Message
from careportal.messaging.selectors import threads_for_list
from careportal.patients.models import Patient
from careportal.proxy.models import ProxyRelationship, ProxyStatus
from careportal.results.access import visible_reports
from careportal.results.models import DiagnosticReport, Observation, ResultKind

NOTHING = Q(pk__in=[])
_CURSOR_SALT = "careportal.fhir.search-cursor"


# Filters ---------------------------------------------------------------------------------------------------------


def date_q(lookup: str, bound: DateBound) -> Q:
    """One date condition on an instant (`lookup`), with FHIR's prefixes over the value's precision range."""
    within = Q(**{f"{lookup}__gte": bound.start, f"{lookup}__lt": bound.end})
    return {
        "eq": within,
        "ne": ~within,
        "lt": Q(**{f"{lookup}__lt": bound.start}),
        "eb": Q(**{f"{lookup}__lt": bound.start}),
        "le": Q(**{f"{lookup}__lt": bound.end}),
        "gt": Q(**{f"{lookup}__gte": bound.end}),
        "sa": Q(**{f"{lookup}__gte": bound.end}),
        "ge": Q(**{f"{lookup}__gte": bound.start}),
    }[bound.prefix]


def any_of(tokens: tuple[Token, ...], one: Callable[[Token], Q]) -> Q:
    combined = NOTHING
    for token in tokens:
        combined |= one(token)
    return combined


def coded_q(token: Token, *, code: str, system: str) -> Q:
    """`code=system|code` on a code stored with its HL7 v2 coding system name."""
    if token.system is None:
        return Q(**{code: token.code})
    names = hl7_systems_for(token.system) if token.system else None
    if names is None:
        return NOTHING
    return Q(**{code: token.code, f"{system}__in": names})


def _observation_category(token: Token, *, kind_lookup: str) -> Q:
    if token.system not in (None, OBSERVATION_CATEGORY):
        return NOTHING
    if token.code == "imaging":
        return Q(**{kind_lookup: ResultKind.IMAGING})
    if token.code == "laboratory":
        return ~Q(**{kind_lookup: ResultKind.IMAGING})
    return NOTHING


# Resource types --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One resource type the API serves."""

    name: str
    scope: Scope | None  # None: anyone reading the record (the Patient resource itself)
    label: str  # the patient's access log: "<app> viewed your <label>"
    params: dict[str, ParamType]
    sort_parameters: frozenset[str]
    rows: Callable[[Viewer], QuerySet[Any]]  # visible rows, annotated `fhir_sort`, with what `build` needs
    filters: Callable[[str, tuple[Any, ...]], Q]  # (parameter, its values) → a condition
    id_q: Callable[[str], Q | None]  # a resource id → the condition for its row (None: not a valid id)
    build: Callable[[list[Any], Viewer, str], Sequence[Resource | dict[str, Any]]]  # a dict: already the JSON
    resource_id: Callable[[Any], str]
    reference_targets: dict[str, str] = field(default_factory=lambda: {"patient": "Patient"})


def _uuid_q(value: str, lookup: str = "public_id") -> Q | None:
    try:
        return Q(**{lookup: uuid.UUID(value)})
    except ValueError:
        return None


def _observation_id_q(value: str) -> Q | None:
    report_id, dash, sequence = value[:36], value[36:37], value[37:]
    if dash != "-" or not sequence.isascii() or not sequence.isdigit() or len(sequence) > 6:
        return None
    report_q = _uuid_q(report_id, "report__public_id")
    return None if report_q is None else report_q & Q(sequence=int(sequence))


def _int_id_q(value: str) -> Q | None:
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        return None
    return Q(pk=int(value))


# Patient


def _patient_rows(viewer: Viewer) -> QuerySet[Patient]:
    if viewer.patient is None:
        return Patient.objects.none()
    return Patient.objects.filter(pk=viewer.patient.pk).annotate(fhir_sort=F("created_at"))


def _identifier_q(token: Token) -> Q:
    if token.system is None:
        return Q(nhs_number=token.code) | Q(hospital_number=token.code)
    if token.system == NHS_NUMBER_SYSTEM:
        return Q(nhs_number=token.code)
    if token.system == hospital_number_system():
        return Q(hospital_number=token.code)
    return NOTHING


def _patient_filters(name: str, values: tuple[Any, ...]) -> Q:
    q = Q()
    for tokens in values:
        if name == "_id":
            q &= any_of(tokens, lambda t: _uuid_q(t.code) or NOTHING)
        else:
            q &= any_of(tokens, _identifier_q)
    return q


def _patient_build(rows: list[Patient], viewer: Viewer, base_url: str) -> list[Resource]:
    return [resources.patient_resource(p, with_contact_details=viewer.can(Scope.DETAILS)) for p in rows]


# Observation


def _observation_rows(viewer: Viewer) -> QuerySet[Observation]:
    rows = visible_reports(
        viewer=viewer,
        queryset=Observation.objects.filter(report__released_at__isnull=False),
        report_path="report",
    )
    return (
        rows.select_related("report__patient")
        # Only what resources.observation_json reads: a report and a patient row each have a dozen more columns
        # (dates above all) that would be fetched and converted fifty times a page for nothing.
        .only(*_OBSERVATION_FIELDS)
        .annotate(
            fhir_sort=Coalesce("observed_at", "report__collected_at", "report__reported_at", "report__arrived_at")
        )
    )


_OBSERVATION_FIELDS = (
    *(
        "report",
        "sequence",
        "status",
        "coding_system",
        "code",
        "name",
        "observed_at",
        "value_type",
        "value_numeric",
        "value_comparator",
        "value_code",
        "value_code_system",
        "value_text",
        "unit",
        "interpretation",
        "reference_low",
        "reference_high",
        "reference_range",
        "comment",
    ),
    *(
        f"report__{name}"
        for name in (
            "public_id",
            "status",
            "retracted_at",
            "result_kind",
            "collected_at",
            "reported_at",
            "arrived_at",
            "released_at",
            "patient",
        )
    ),
    "report__patient__public_id",
)


def _observation_filters(name: str, values: tuple[Any, ...]) -> Q:
    q = Q()
    for value in values:
        if name == "date":
            q &= date_q("fhir_sort", value)
        elif name == "code":
            q &= any_of(value, lambda t: coded_q(t, code="code", system="coding_system"))
        elif name == "category":
            q &= any_of(value, lambda t: _observation_category(t, kind_lookup="report__result_kind"))
    return q


def _observation_build(rows: list[Observation], viewer: Viewer, base_url: str) -> list[Resource | dict[str, Any]]:
    # The JSON itself, not models: a page of fifty is the API's commonest answer (resources.py says why).
    return [resources.observation_json(o) for o in rows]


# DiagnosticReport


def _report_rows(viewer: Viewer) -> QuerySet[DiagnosticReport]:
    rows = visible_reports(viewer=viewer, queryset=DiagnosticReport.objects.filter(released_at__isnull=False))
    return (
        rows.select_related("patient")
        .prefetch_related(Prefetch("observations", queryset=Observation.objects.order_by("sequence")))
        .annotate(fhir_sort=Coalesce("collected_at", "reported_at", "arrived_at"))
    )


def _report_category(token: Token) -> Q:
    if token.system == V2_DIAGNOSTIC_SECTION:
        return Q(category=token.code)
    if token.system is None and token.code not in ("imaging", "laboratory"):
        return Q(category=token.code)
    return _observation_category(token, kind_lookup="result_kind")


def _report_filters(name: str, values: tuple[Any, ...]) -> Q:
    q = Q()
    for value in values:
        if name == "date":
            q &= date_q("fhir_sort", value)
        elif name == "code":
            q &= any_of(value, lambda t: coded_q(t, code="test_code", system="test_coding_system"))
        elif name == "category":
            q &= any_of(value, _report_category)
    return q


def _report_build(rows: list[DiagnosticReport], viewer: Viewer, base_url: str) -> list[Resource]:
    built: list[Resource] = []
    for report in rows:
        observations = list(report.observations.all())
        for observation in observations:
            observation.report = report  # already fetched: no query per observation
        built.append(resources.diagnostic_report_resource(report, observations))
    return built


# Appointment


def _appointment_rows(viewer: Viewer) -> QuerySet[Appointment]:
    return (
        visible_appointments(viewer=viewer)
        .select_related("patient", "clinic", "care_team")
        .annotate(fhir_sort=F("start"))
    )


def _appointment_status(token: Token) -> Q:
    if token.system is not None and token.system != "http://hl7.org/fhir/appointmentstatus":
        return NOTHING
    now = timezone.now()
    if token.code == "booked":
        return Q(status=AppointmentStatus.BOOKED, end__gte=now)
    if token.code == "fulfilled":
        return Q(status=AppointmentStatus.FULFILLED) | Q(status=AppointmentStatus.BOOKED, end__lt=now)
    return Q(status=token.code)


def _appointment_filters(name: str, values: tuple[Any, ...]) -> Q:
    q = Q()
    for value in values:
        if name == "date":
            q &= date_q("start", value)
        elif name == "status":
            q &= any_of(value, _appointment_status)
    return q


def _appointment_build(rows: list[Appointment], viewer: Viewer, base_url: str) -> list[Resource]:
    now = timezone.now()
    return [resources.appointment_resource(a, now=now) for a in rows]


# Communication


def _communication_rows(viewer: Viewer) -> QuerySet[Message]:
    threads = threads_for_list(viewer=viewer).order_by().values("pk")
    return (
        Message.objects.filter(is_internal_note=False, thread__in=threads)
        .select_related("thread__care_team", "thread__patient")
        .annotate(fhir_sort=F("created_at"))
    )


def _sent_filters(name: str, values: tuple[Any, ...]) -> Q:
    q = Q()
    for value in values:
        q &= date_q("created_at", value)
    return q


def _communication_build(rows: list[Message], viewer: Viewer, base_url: str) -> list[Resource]:
    return [resources.communication_resource(m) for m in rows]


# DocumentReference


def _letter_rows(viewer: Viewer) -> QuerySet[Letter]:
    return visible_letters(viewer=viewer).select_related("patient", "care_team").annotate(fhir_sort=F("letter_date"))


def _date_filters(lookup: str) -> Callable[[str, tuple[Any, ...]], Q]:
    def filters(name: str, values: tuple[Any, ...]) -> Q:
        q = Q()
        for value in values:
            q &= date_q(lookup, value)
        return q

    return filters


def _letter_build(rows: list[Letter], viewer: Viewer, base_url: str) -> list[Resource]:
    return [resources.document_reference_resource(letter, base_url=base_url) for letter in rows]


# RelatedPerson (the patient's own list of who acts for them)


def _related_rows(viewer: Viewer) -> QuerySet[ProxyRelationship]:
    if viewer.role != ActorRole.PATIENT or viewer.patient is None:
        return ProxyRelationship.objects.none()
    return (
        ProxyRelationship.objects.filter(patient=viewer.patient)
        .exclude(status=ProxyStatus.REQUESTED)
        .select_related("proxy", "patient")
        .annotate(fhir_sort=F("created_at"))
    )


def _related_build(rows: list[ProxyRelationship], viewer: Viewer, base_url: str) -> list[Resource]:
    return [resources.related_person_resource(r) for r in rows]


# AuditEvent (the patient's own access log)


def _audit_rows(viewer: Viewer) -> QuerySet[AccessEvent]:
    if viewer.role != ActorRole.PATIENT or viewer.patient is None:
        return AccessEvent.objects.none()
    return access_events_for_patient(patient=viewer.patient).annotate(fhir_sort=F("occurred_at"))


def _audit_build(rows: list[AccessEvent], viewer: Viewer, base_url: str) -> list[Resource]:
    return [resources.audit_event_resource(e) for e in rows]


def _public_id(row: Any) -> str:
    return str(row.public_id)


_DATE = ParamType.DATE
_TOKEN = ParamType.TOKEN
_REF = ParamType.REFERENCE

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            name="Patient",
            scope=None,
            label="name and NHS number",
            params={"_id": _TOKEN, "identifier": _TOKEN},
            sort_parameters=frozenset(),
            rows=_patient_rows,
            filters=_patient_filters,
            id_q=_uuid_q,
            build=_patient_build,
            resource_id=_public_id,
            reference_targets={},
        ),
        Kind(
            name="Observation",
            scope=Scope.RESULTS,
            label="test results",
            params={"patient": _REF, "category": _TOKEN, "code": _TOKEN, "date": _DATE},
            sort_parameters=frozenset({"date"}),
            rows=_observation_rows,
            filters=_observation_filters,
            id_q=_observation_id_q,
            build=_observation_build,
            resource_id=resources.observation_id,
        ),
        Kind(
            name="DiagnosticReport",
            scope=Scope.RESULTS,
            label="test results",
            params={"patient": _REF, "category": _TOKEN, "code": _TOKEN, "date": _DATE},
            sort_parameters=frozenset({"date"}),
            rows=_report_rows,
            filters=_report_filters,
            id_q=_uuid_q,
            build=_report_build,
            resource_id=_public_id,
        ),
        Kind(
            name="Appointment",
            scope=Scope.APPOINTMENTS,
            label="appointments",
            params={"patient": _REF, "date": _DATE, "status": _TOKEN},
            sort_parameters=frozenset({"date"}),
            rows=_appointment_rows,
            filters=_appointment_filters,
            id_q=_uuid_q,
            build=_appointment_build,
            resource_id=_public_id,
        ),
        Kind(
            name="Communication",
            scope=Scope.MESSAGES,
            label="messages",
            params={"patient": _REF, "sent": _DATE},
            sort_parameters=frozenset({"sent"}),
            rows=_communication_rows,
            filters=_sent_filters,
            id_q=_uuid_q,
            build=_communication_build,
            resource_id=_public_id,
        ),
        Kind(
            name="DocumentReference",
            scope=Scope.LETTERS,
            label="letters",
            params={"patient": _REF, "date": _DATE},
            sort_parameters=frozenset({"date"}),
            rows=_letter_rows,
            filters=_date_filters("letter_date"),
            id_q=_uuid_q,
            build=_letter_build,
            resource_id=_public_id,
        ),
        Kind(
            name="RelatedPerson",
            scope=Scope.ACCESS_LOG,
            label="people who can act for you",
            params={"patient": _REF},
            sort_parameters=frozenset(),
            rows=_related_rows,
            filters=lambda name, values: Q(),
            id_q=_uuid_q,
            build=_related_build,
            resource_id=_public_id,
        ),
        Kind(
            name="AuditEvent",
            scope=Scope.ACCESS_LOG,
            label="record access log",
            params={"patient": _REF, "date": _DATE},
            sort_parameters=frozenset({"date"}),
            rows=_audit_rows,
            filters=_date_filters("occurred_at"),
            id_q=_int_id_q,
            build=_audit_build,
            resource_id=lambda event: str(event.pk),
        ),
    )
}


# Reading and searching -------------------------------------------------------------------------------------------


def may_read_kind(viewer: Viewer, kind: Kind) -> bool:
    """Whether the viewer's part of the record (the portal's rule) includes this resource type."""
    if viewer.patient is None:
        return False
    return kind.scope is None or viewer.can(kind.scope)


def count_rows(viewer: Viewer, kind: Kind) -> int:
    """How many `kind` resources of the record the viewer may read (for Patient/$everything's `total`): one query,
    none without that part of the record. Not audited: no resource is read."""
    return kind.rows(viewer).count() if may_read_kind(viewer, kind) else 0


def _audit_kind(viewer: Viewer, kind: Kind) -> None:
    """Record the read of a list of `kind` (Http404, audited, when the viewer lacks its part of the record)."""
    access_patient_record(viewer=viewer, scope=kind.scope or Scope.DETAILS, object_label=f"{kind.label} (list)")


def audit_list_read(viewer: Viewer, kind: Kind) -> None:
    if kind.scope is None:
        # The Patient resource: everyone reading the record sees whose it is; audited like any read.
        scope = Scope.DETAILS if viewer.can(Scope.DETAILS) else min(viewer.scopes, default=Scope.DETAILS)
        access_patient_record(viewer=viewer, scope=scope, object_label=kind.label)
    else:
        _audit_kind(viewer, kind)


def read(*, viewer: Viewer, kind: Kind, resource_id: str, base_url: str) -> Resource | dict[str, Any]:
    """One resource by its id, through the access layer; the audited Http404 for an unknown id, another patient's,
    one the viewer's part of the record does not include, or a malformed id: all look the same."""
    id_q = kind.id_q(resource_id)
    rows = kind.rows(viewer) if may_read_kind(viewer, kind) else None
    if kind.name == "Patient":
        if rows is None or id_q is None or not rows.filter(id_q).exists():
            deny(viewer, object_label="a patient record", object_type="patients.patient", object_id=resource_id[:64])
        audit_list_read(viewer, kind)
        return kind.build(list(rows), viewer, base_url)[0]
    if rows is None or id_q is None:
        deny(viewer, object_label=kind.label, object_type=f"fhir.{kind.name}", object_id=resource_id[:64])
    if kind.name in ("Observation", "AuditEvent"):
        row = rows.filter(id_q).first()
        if row is None:
            deny(viewer, object_label=kind.label, object_type=f"fhir.{kind.name}", object_id=resource_id[:64])
        if kind.name == "Observation":
            access_object(
                viewer=viewer,
                queryset=DiagnosticReport.objects.all(),
                public_id=row.report.public_id,
                scope=Scope.RESULTS,
                object_label="test result",
            )
        else:
            access_patient_record(viewer=viewer, scope=Scope.ACCESS_LOG, object_label=kind.label)
        return kind.build([row], viewer, base_url)[0]
    row = access_object(
        viewer=viewer,
        queryset=rows,
        public_id=resource_id,
        scope=kind.scope or Scope.DETAILS,
        object_label=_READ_LABELS.get(kind.name, kind.label),
        patient_field="thread__patient" if kind.name == "Communication" else "patient",
    )
    return kind.build([row], viewer, base_url)[0]


_READ_LABELS = {
    "DiagnosticReport": "test result",
    "Appointment": "appointment",
    "Communication": "message",
    "DocumentReference": "a letter",
    "RelatedPerson": "someone who can act for you",
}


@dataclass(frozen=True)
class SearchPage:
    resources: Sequence[Resource | dict[str, Any]]
    total: int
    next_cursor: str


def _sign_cursor(kind: Kind, resource_id: str, descending: bool) -> str:
    return signing.dumps({"t": kind.name, "i": resource_id, "d": descending}, salt=_CURSOR_SALT, compress=True)


def _read_cursor(kind: Kind, cursor: str, descending: bool) -> str:
    try:
        data = signing.loads(cursor, salt=_CURSOR_SALT)
    except signing.BadSignature:
        data = None
    if not isinstance(data, dict) or data.get("t") != kind.name or data.get("d") is not descending:
        raise BadSearchParameter("_cursor", "this paging link is not valid for this search; start the search again.")
    return str(data.get("i", ""))


def search(
    *,
    viewer: Viewer,
    kind: Kind,
    query: SearchQuery,
    base_url: str,
    everything: bool = False,
    count_from_page: bool = True,
) -> SearchPage:
    """One page of a search: the total, the rows after the cursor in (sort key, id) order, and the cursor for
    the next page. 403 when the viewer's part of the record does not include this resource type (a proxy without
    the results scope searching Observation), as an app can then tell "not allowed" from "none".

    With `count_from_page`, a first page that holds every match gives the total without a count query; without
    it (Patient/$everything, whose every page costs the same queries however large the record) the matches are
    always counted."""
    if not may_read_kind(viewer, kind):
        _refuse_search(viewer, kind)
    if not everything:
        audit_list_read(viewer, kind)
    wanted = query.references.get("patient", ())
    descending = query.descending
    if not everything and _is_own_plain_first_page(viewer, kind, query, wanted):
        page = _own_first_page(kind.name, descending, query.count + 1).instances(viewer.patient.pk)  # type: ignore[union-attr]
        count_matching: Callable[[], int] = functools.partial(count_rows, viewer, kind)
    else:
        matching, ordered = _matching_and_ordered(viewer, kind, query, wanted)
        count_matching = matching.count
        if everything:
            page = list(ordered)
            return SearchPage(resources=kind.build(page, viewer, base_url), total=len(page), next_cursor="")
        page = list(ordered[: query.count + 1])
    more = len(page) > query.count
    # A first page that holds every match is its own count: no second query (the usual case for one patient's
    # search); after a cursor, or with more to come, the matches are counted.
    total = len(page) if count_from_page and not query.cursor and not more else count_matching()
    page = page[: query.count]
    next_cursor = _sign_cursor(kind, kind.resource_id(page[-1]), descending) if more and page else ""
    return SearchPage(resources=kind.build(page, viewer, base_url), total=total, next_cursor=next_cursor)


def _matching_and_ordered(
    viewer: Viewer, kind: Kind, query: SearchQuery, wanted: tuple[str, ...]
) -> tuple[QuerySet[Any], QuerySet[Any]]:
    """Every row the search matches, whatever the page (the Bundle's total counts these), and the rows from the
    cursor on in (sort key, id) order."""
    rows = kind.rows(viewer)
    own_id = str(viewer.patient.public_id) if viewer.patient is not None else ""
    if any(value != own_id for value in wanted):
        rows = rows.none()
    for name, values in (*query.dates.items(), *query.tokens.items()):
        rows = rows.filter(kind.filters(name, values))
    matching = rows
    descending = query.descending
    if query.cursor:
        anchor_id = _read_cursor(kind, query.cursor, descending)
        id_q = kind.id_q(anchor_id)
        anchor = rows.filter(id_q).values("fhir_sort", "pk").first() if id_q is not None else None
        if anchor is None:
            raise BadSearchParameter("_cursor", "this paging link has expired; start the search again.")
        if descending:
            after = Q(fhir_sort__lt=anchor["fhir_sort"]) | Q(fhir_sort=anchor["fhir_sort"], pk__lt=anchor["pk"])
        else:
            after = Q(fhir_sort__gt=anchor["fhir_sort"]) | Q(fhir_sort=anchor["fhir_sort"], pk__gt=anchor["pk"])
        rows = rows.filter(after)
    return matching, rows.order_by(*_ordering(descending))


def _ordering(descending: bool) -> tuple[str, str]:
    return ("-fhir_sort", "-pk") if descending else ("fhir_sort", "pk")


# The kinds whose rows, for a patient reading their own record, depend on nothing but the patient's id: their first
# page is compiled once (careportal/core/compiled_queries.py). Observation is an app's commonest search.
_COMPILED_FIRST_PAGE_KINDS = frozenset({"Observation"})


def _is_own_plain_first_page(viewer: Viewer, kind: Kind, query: SearchQuery, wanted: tuple[str, ...]) -> bool:
    """A patient's own first page of a search with no filter but the patient (which is them)."""
    return (
        kind.name in _COMPILED_FIRST_PAGE_KINDS
        and viewer.role == ActorRole.PATIENT
        and viewer.patient is not None
        and not query.cursor
        and not query.dates
        and not query.tokens
        and all(value == str(viewer.patient.public_id) for value in wanted)
    )


@functools.lru_cache(maxsize=32)  # by page size and order: apps use a few
def _own_first_page(kind_name: str, descending: bool, limit: int) -> CompiledQuery:
    kind = KINDS[kind_name]

    def build(patient_id: int) -> QuerySet[Any]:
        # The same rows function as every other search, with a stand-in viewer: the SQL cannot drift from it.
        return kind.rows(own_record_stand_in(patient_id)).order_by(*_ordering(descending))[:limit]

    build.__qualname__ = f"_own_first_page({kind_name}, descending={descending}, limit={limit})"
    return CompiledQuery(build)


def _refuse_search(viewer: Viewer, kind: Kind) -> None:
    # Records the refusal, as the portal does, then raises Http404; for a search the API answers 403.
    with contextlib.suppress(Http404):
        _audit_kind(viewer, kind)
    raise Forbidden(f"This app cannot search {kind.name} resources for this record.")


def letter_pdf_for_app(*, viewer: Viewer, resource_id: str) -> Letter:
    """A letter for its PDF (FHIR Binary), audited as a download; the audited Http404 otherwise."""
    if _uuid_q(resource_id) is None:
        deny(viewer, object_label="a letter", object_type="letters.letter", object_id=resource_id[:64])
    return access_letter(viewer=viewer, public_id=resource_id, action=AccessAction.DOWNLOAD)
