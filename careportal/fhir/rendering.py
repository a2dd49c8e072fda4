"""JSON out: FHIR's media type, and which formats a request may ask for."""

import json
from typing import Any

from django.http import HttpRequest, HttpResponse

FHIR_JSON = "application/fhir+json"
JSON_FORMATS = {"json", "application/json", "application/fhir+json", "application/json+fhir"}
_JSON_ACCEPT = {"application/fhir+json", "application/json", "application/json+fhir", "*/*", "application/*", ""}


def dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def fhir_json_response(body: dict[str, Any], *, status: int = 200) -> HttpResponse:
    response = HttpResponse(
        dumps(body),
        status=status,
        content_type=f"{FHIR_JSON}; charset=utf-8",
    )
    response["Cache-Control"] = "no-store"
    return response


def accepted_media_types(request: HttpRequest) -> list[str]:
    """The media types in the Accept header, without parameters (q-values are ignored: we serve one format)."""
    header = request.headers.get("Accept", "")
    return [part.split(";")[0].strip().lower() for part in header.split(",")] if header else [""]


def wants_json(request: HttpRequest) -> bool:
    """Whether the request accepts FHIR JSON: `_format` (json, application/fhir+json, ...) wins over Accept;
    a missing Accept, `*/*` or any JSON type is fine. XML is not served."""
    fmt = request.GET.get("_format")
    if fmt is not None:
        return fmt.strip().lower() in JSON_FORMATS
    return any(media in _JSON_ACCEPT for media in accepted_media_types(request))
