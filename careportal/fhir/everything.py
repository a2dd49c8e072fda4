"""Patient/$everything: the whole of a record that a caller may read, as one FHIR Bundle (a JSON-able dict).

Used by the API (`GET /fhir/r4/Patient/<id>/$everything`) and by "download my record", which calls
`everything_bundle(viewer)` with the portal's viewer for the patient (or proxy) asking. Each resource type is
included when the viewer's part of the record includes it (a proxy's scopes; the access log and the list of
people who act for the patient are the patient's own) and, for an app, when its SMART scopes allow searching it.
Each type read is audited once, through the access layer.
"""

from typing import Any

from django.conf import settings

from careportal.access.layer import Viewer
from careportal.fhir.authentication import FhirCaller
from careportal.fhir.bundles import searchset
from careportal.fhir.reads import KINDS, audit_list_read, may_read_kind, search
from careportal.fhir.search import SearchQuery


def everything_bundle(caller_or_viewer: FhirCaller | Viewer, *, base_url: str = "") -> dict[str, Any]:
    """Everything of the record the caller may read, as a searchset Bundle (Patient first).

    `base_url` is the FHIR base for the entries' fullUrls (`https://portal.example/fhir/r4/`); by default
    CAREPORTAL_FHIR_BASE_URL.
    """
    if isinstance(caller_or_viewer, FhirCaller):
        viewer = caller_or_viewer.viewer
        caller: FhirCaller | None = caller_or_viewer
    else:
        viewer, caller = caller_or_viewer, None
    base_url = base_url or settings.CAREPORTAL_FHIR_BASE_URL
    found = []
    for kind in KINDS.values():
        if not may_read_kind(viewer, kind):
            continue
        if caller is not None and not caller.may(kind.name, "search"):
            continue
        audit_list_read(viewer, kind)
        page = search(viewer=viewer, kind=kind, query=SearchQuery(), base_url=base_url, everything=True)
        found.extend(page.resources)
    self_url = f"{base_url}Patient/{viewer.patient.public_id}/$everything" if viewer.patient is not None else ""
    return searchset(
        base_url=base_url, resource_type="Patient", query=None, resources=found, total=len(found), self_url=self_url
    )
