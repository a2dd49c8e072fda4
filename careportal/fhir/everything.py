"""Patient/$everything: the whole of a record that a caller may read, as FHIR searchset Bundles (JSON-able dicts).

The API (`GET /fhir/r4/Patient/<id>/$everything`) answers one page at a time (`everything_page`): `_count`
resources (default EVERYTHING_DEFAULT_COUNT, at most EVERYTHING_MAX_COUNT), `total` for the whole record, and a
`next` link while more remain. The order is fixed: the resource types in KINDS' order (Patient first), each newest
first as its own search sorts it (sort key, then row id), so the pages walk the record once without duplicates or
gaps. The `next` link's cursor is signed and names only a resource type and the last resource of the page (the
search cursor of careportal/fhir/reads.py); a page costs the same number of queries however large the record is.

"Download my record" calls `everything_bundle(viewer)` with the portal's viewer for the patient (or proxy) asking,
and gets every resource in one Bundle.

Each resource type is included when the viewer's part of the record includes it (a proxy's scopes; the access log
and the list of people who act for the patient are the patient's own) and, for an app, when its SMART scopes allow
searching it. Each type whose resources a page holds is audited once, through the access layer.
"""

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.http import QueryDict
from fhir.resources.R4B.resource import Resource

from careportal.access.layer import Viewer
from careportal.fhir.authentication import FhirCaller
from careportal.fhir.bundles import searchset
from careportal.fhir.errors import BadSearchParameter, NotFound
from careportal.fhir.reads import KINDS, Kind, audit_list_read, count_rows, may_read_kind, search
from careportal.fhir.search import SearchQuery

EVERYTHING_DEFAULT_COUNT = 100
EVERYTHING_MAX_COUNT = 500
_CURSOR_SALT = "careportal.fhir.everything.cursor"
_PARAMETERS = ("_count", "_cursor", "_format")


def everything_bundle(caller_or_viewer: FhirCaller | Viewer, *, base_url: str = "") -> dict[str, Any]:
    """Everything of the record the caller may read, as one searchset Bundle (Patient first), unpaged.

    `base_url` is the FHIR base for the entries' fullUrls (`https://portal.example/fhir/r4/`); by default
    CAREPORTAL_FHIR_BASE_URL.
    """
    if isinstance(caller_or_viewer, FhirCaller):
        viewer = caller_or_viewer.viewer
        caller: FhirCaller | None = caller_or_viewer
    else:
        viewer, caller = caller_or_viewer, None
    base_url = base_url or settings.CAREPORTAL_FHIR_BASE_URL
    found: list[Resource | dict[str, Any]] = []
    for kind in _kinds(viewer, caller):
        audit_list_read(viewer, kind)
        page = search(viewer=viewer, kind=kind, query=SearchQuery(), base_url=base_url, everything=True)
        found.extend(page.resources)
    self_url = f"{base_url}Patient/{viewer.patient.public_id}/$everything" if viewer.patient is not None else ""
    return searchset(
        base_url=base_url, resource_type="Patient", query=None, resources=found, total=len(found), self_url=self_url
    )


def everything_page(caller: FhirCaller, *, params: QueryDict, base_url: str) -> dict[str, Any]:
    """One page of Patient/$everything for an app: `params` are the request's (`_count`, `_cursor`, `_format`);
    anything else, or a bad value, is a 400 OperationOutcome naming it."""
    count, cursor, echoed = _parse(params)
    viewer = caller.viewer
    if viewer.patient is None:  # never for an app's caller (authentication.py); the type checker cannot know
        raise NotFound("This app is not connected to a record.")
    kinds = _kinds(viewer, caller)
    start, inner = _read_cursor(cursor, kinds) if cursor else (0, "")
    found: list[Any] = []
    total = 0
    next_cursor = ""
    for index, kind in enumerate(kinds):
        remaining = count - len(found)
        if index < start or remaining == 0:
            # Before the cursor, or after a full page: counted for `total`, not read.
            kind_total = count_rows(viewer, kind)
            if remaining == 0 and kind_total and not next_cursor:
                next_cursor = _sign_cursor(kind, "")
            total += kind_total
            continue
        page = search(
            viewer=viewer,
            kind=kind,
            query=SearchQuery(count=remaining, cursor=inner if index == start else ""),
            base_url=base_url,
            count_from_page=False,
        )
        total += page.total
        found.extend(page.resources)
        if page.next_cursor:
            next_cursor = _sign_cursor(kind, page.next_cursor)
    everything = f"{base_url}Patient/{viewer.patient.public_id}/$everything"
    bundle = searchset(
        base_url=base_url,
        resource_type="Patient",
        query=None,
        resources=found,
        total=total,
        self_url=_url(everything, [*echoed, *([("_cursor", cursor)] if cursor else [])]),
    )
    if next_cursor:
        bundle["link"].append({"relation": "next", "url": _url(everything, [*echoed, ("_cursor", next_cursor)])})
    return bundle


def _kinds(viewer: Viewer, caller: FhirCaller | None) -> list[Kind]:
    return [
        kind
        for kind in KINDS.values()
        if may_read_kind(viewer, kind) and (caller is None or caller.may(kind.name, "search"))
    ]


def _parse(params: QueryDict) -> tuple[int, str, list[tuple[str, str]]]:
    count, cursor = EVERYTHING_DEFAULT_COUNT, ""
    echoed: list[tuple[str, str]] = []
    for name, values in params.lists():
        if name not in _PARAMETERS:
            raise BadSearchParameter(
                name, "not supported by Patient/$everything here; it takes _count, _cursor and _format."
            )
        if len(values) > 1:
            raise BadSearchParameter(name, "give it once.")
        (raw,) = values
        if name == "_count":
            if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= EVERYTHING_MAX_COUNT:
                raise BadSearchParameter(name, f"give a whole number from 1 to {EVERYTHING_MAX_COUNT}.")
            count = int(raw)
            echoed.append((name, raw))
        elif name == "_cursor":
            if not raw or len(raw) > 400:
                raise BadSearchParameter(name, "this paging link is not valid; start again from the first page.")
            cursor = raw
        else:
            echoed.append((name, raw[:40]))
    return count, cursor, echoed


def _sign_cursor(kind: Kind, inner: str) -> str:
    """Where the next page starts: `kind`'s first resource, or (with `inner`, its search cursor) after one."""
    return signing.dumps({"k": kind.name, "c": inner}, salt=_CURSOR_SALT, compress=True)


def _read_cursor(cursor: str, kinds: list[Kind]) -> tuple[int, str]:
    try:
        data = signing.loads(cursor, salt=_CURSOR_SALT)
    except signing.BadSignature:
        data = None
    names = [kind.name for kind in kinds]
    if not isinstance(data, dict) or data.get("k") not in names or not isinstance(data.get("c"), str):
        raise BadSearchParameter("_cursor", "this paging link is not valid; start again from the first page.")
    return names.index(data["k"]), data["c"]


def _url(address: str, params: list[tuple[str, str]]) -> str:
    return address + (f"?{urlencode(params)}" if params else "")
