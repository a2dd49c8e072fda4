"""The FHIR R4 read/search API at /fhir/r4/: one NinjaAPI (django-ninja), whose operations are made from the table
of resource types (`reads.KINDS`) and the table of their search parameters (`capability.search_parameters`).

An operation finds the caller from the bearer token (`caller_for_request`, as the operations' ninja auth), checks
the app's SMART scopes, reads through careportal/fhir/reads.py (the access layer, audited with the app's name) and
answers FHIR JSON. Every refusal or failure, ninja's own included, is an OperationOutcome made by the exception
handlers below. The OpenAPI document at /fhir/r4/openapi.json describes the operations for app developers
(docs/fhir-api.md); ninja's interactive docs page is off, as it loads its scripts from a CDN.
"""

import functools
from collections.abc import Callable
from typing import Any

import structlog
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.decorators import decorate_view
from ninja.errors import AuthenticationError, ValidationError
from ninja.renderers import BaseRenderer
from ninja.security import HttpBearer

from careportal.fhir import reads
from careportal.fhir.authentication import FhirCaller, FhirUnauthorized, Interaction, caller_for_request
from careportal.fhir.bundles import searchset
from careportal.fhir.capability import SearchParameter, capability_statement, search_parameters
from careportal.fhir.errors import (
    FhirError,
    Forbidden,
    NotAcceptable,
    NotFound,
    ReadOnly,
    Unavailable,
    error_response,
    not_found_response,
    outcome_response,
    unauthorized_response,
)
from careportal.fhir.everything import EVERYTHING_DEFAULT_COUNT, EVERYTHING_MAX_COUNT, everything_page
from careportal.fhir.rendering import FHIR_JSON, accepted_media_types, dumps, fhir_json_response, wants_json
from careportal.fhir.resources import binary_resource, to_json
from careportal.fhir.search import parse_search
from careportal.letters.storage import letter_file_open

logger = structlog.get_logger(__name__)


class FhirJsonRenderer(BaseRenderer):
    """FHIR JSON for whatever ninja renders itself; the OpenAPI document names this media type."""

    media_type = FHIR_JSON

    def render(self, request: HttpRequest, data: Any, *, response_status: int) -> str:
        return dumps(data)


class SmartBearer(HttpBearer):
    """A SMART on FHIR access token: the caller, or FhirUnauthorized (a 401 with a Bearer challenge). The token is
    read and checked by careportal/fhir/authentication.py; being an HttpBearer gives the OpenAPI document its
    bearer security scheme."""

    def __call__(self, request: HttpRequest) -> FhirCaller:
        return caller_for_request(request)

    def authenticate(self, request: HttpRequest, token: str) -> FhirCaller:
        return caller_for_request(request)


fhir_api = NinjaAPI(
    title=f"{settings.CAREPORTAL_SERVICE_NAME} FHIR R4 API",
    version="4.0.1",
    description="Read-only FHIR R4 for SMART on FHIR apps: see /fhir/r4/metadata and docs/fhir-api.md.",
    urls_namespace="fhir:fhir-api",
    openapi_url="/openapi.json",
    docs_url=None,
    renderer=FhirJsonRenderer(),
)
BEARER = SmartBearer()


# Every error an OperationOutcome ---------------------------------------------------------------------------------


@fhir_api.exception_handler(FhirUnauthorized)
def _unauthorized(request: HttpRequest, exc: FhirUnauthorized) -> HttpResponse:
    return unauthorized_response(str(exc))


@fhir_api.exception_handler(AuthenticationError)
def _no_caller(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return unauthorized_response("The access token is missing, unknown or expired.")


@fhir_api.exception_handler(FhirError)
def _refused(request: HttpRequest, exc: FhirError) -> HttpResponse:
    return error_response(exc)


@fhir_api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    # The access layer's audited "not found": another patient's, unknown, or not in the caller's part of the record.
    return not_found_response()


@fhir_api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """Ninja's own check of an operation's declared parameters: a 400 naming the parameter (never its value)."""
    names = [str(error["loc"][-1]) for error in exc.errors if error.get("loc")]
    name = names[0][:60] if names else "unknown"
    return outcome_response(status=400, code="invalid", diagnostics=f"Parameter '{name}': the value is not valid.")


@fhir_api.exception_handler(Exception)
def _unforeseen(request: HttpRequest, exc: Exception) -> HttpResponse:
    # The logging setup writes the traceback without the exception's message (careportal/core/logging.py), which
    # could carry record data; the app is told nothing more than that it failed.
    match = request.resolver_match
    logger.error("fhir_unexpected_error", operation=match.url_name if match else "", exc_info=exc)
    return outcome_response(status=500, code="exception", diagnostics="Something went wrong on our side.")


def _json_only(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """406 for a request that does not accept FHIR JSON, before the token is looked at (as before ninja)."""

    @functools.wraps(run)
    def negotiated(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not wants_json(request):
            return fhir_api.on_exception(request, NotAcceptable("Only JSON (application/fhir+json) is served."))
        return run(request, *args, **kwargs)

    return negotiated


def _read_only_first(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """405 with `Allow: GET, HEAD` for any other method, whatever it is, before any token or format check (ninja
    answers a method an address has no operation for with a plain-text 405 of its own)."""

    @csrf_exempt
    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return fhir_api.on_exception(request, ReadOnly())
        return view(request, *args, **kwargs)

    return guarded


def api_urls() -> tuple[list[URLPattern | URLResolver], str, str]:
    """The API's URL patterns (for careportal/fhir/urls.py), each behind the read-only guard."""
    patterns, app_name, namespace = fhir_api.urls
    guarded: list[URLPattern | URLResolver] = [
        URLPattern(p.pattern, _read_only_first(p.callback), p.default_args, p.name) if isinstance(p, URLPattern) else p
        for p in patterns
    ]
    return guarded, app_name, namespace


# The OpenAPI document ----------------------------------------------------------------------------------------------

_OUTCOME_SCHEMA = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"type": "string"},
                    "code": {"type": "string"},
                    "diagnostics": {"type": "string"},
                },
            },
        },
    },
}
_WHY = {
    400: "A search parameter (or, for a read, any parameter but _format) is unknown or malformed.",
    401: "No token, or one that is unknown, expired or revoked.",
    403: "The token's SMART scopes, or the person's part of the record, do not include this.",
    404: "No such resource, or not one this app may read.",
    406: "The request accepts neither FHIR JSON nor (for Binary) a PDF.",
    503: "The letter's file cannot be read at the moment (Retry-After says when to try again).",
}


def _resource_schema(resource_type: str) -> dict[str, Any]:
    return {"type": "object", "required": ["resourceType"], "properties": {"resourceType": {"const": resource_type}}}


def _responses(ok: str, *errors: int, pdf: bool = False) -> dict[int, Any]:
    content = {FHIR_JSON: {"schema": _resource_schema(ok)}}
    if pdf:
        content["application/pdf"] = {"schema": {"type": "string", "format": "binary"}}
    responses: dict[int, Any] = {200: {"description": f"A {ok}.", "content": content}}
    for status in (*errors, 406):
        responses[status] = {
            "description": _WHY[status],
            "content": {FHIR_JSON: {"schema": _OUTCOME_SCHEMA}},
        }
    if 401 in errors:
        responses[401]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return responses


def _query_parameter(param: SearchParameter) -> dict[str, Any]:
    declared: dict[str, Any] = {
        "name": param.name,
        "in": "query",
        "required": False,
        "description": param.documentation,
        "x-fhir-type": param.type,
    }
    if param.repeatable:
        declared.update(schema={"type": "array", "items": param.schema}, style="form", explode=True)
    else:
        declared["schema"] = param.schema
    return declared


# The operations ----------------------------------------------------------------------------------------------------


def base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/fhir/r4/")


def _caller(request: HttpRequest, resource_type: str, interaction: Interaction) -> FhirCaller:
    caller: FhirCaller = request.auth  # type: ignore[attr-defined]  # set by SmartBearer
    if not caller.may(resource_type, interaction):
        raise Forbidden(f"This app was not given access to {interaction} {resource_type} resources.")
    return caller


def _only_format(request: HttpRequest) -> None:
    """A read takes no parameters but `_format`."""
    for name in request.GET:
        if name != "_format":
            raise FhirError(f"Parameter '{name[:60]}': a read takes no parameters but _format.", code="invalid")


def _address(
    route: str,
    view: Callable[..., HttpResponse],
    *,
    name: str,
    auth: SmartBearer | None = BEARER,
    json_only: bool = True,
    **documented: Any,
) -> None:
    """GET (in the OpenAPI document) and HEAD at `route`, and the same at `route/`, as the API has always taken a
    trailing slash."""
    if json_only:
        view = decorate_view(_json_only)(view)
    for path, url_name, shown in ((route, name, True), (f"{route}/", f"{name}-slash", False)):
        extra = documented if shown else {}
        fhir_api.api_operation(["GET"], path, auth=auth, url_name=url_name, include_in_schema=shown, **extra)(view)
        fhir_api.api_operation(["HEAD"], path, auth=auth, url_name=url_name, include_in_schema=False)(view)


def metadata(request: HttpRequest) -> HttpResponse:
    return fhir_json_response(capability_statement(base_url=base_url(request)))


def _search_operation(kind: reads.Kind) -> Callable[..., HttpResponse]:
    def search(request: HttpRequest) -> HttpResponse:
        caller = _caller(request, kind.name, "search")
        query = parse_search(
            request.GET,
            spec=kind.params,
            sort_parameters=kind.sort_parameters,
            reference_targets=kind.reference_targets,
        )
        base = base_url(request)
        page = reads.search(viewer=caller.viewer, kind=kind, query=query, base_url=base)
        return fhir_json_response(
            searchset(
                base_url=base,
                resource_type=kind.name,
                query=query,
                resources=page.resources,
                total=page.total,
                next_cursor=page.next_cursor,
            )
        )

    return search


def _read_operation(kind: reads.Kind) -> Callable[..., HttpResponse]:
    def read(request: HttpRequest, resource_id: str) -> HttpResponse:
        caller = _caller(request, kind.name, "read")
        _only_format(request)
        resource = reads.read(viewer=caller.viewer, kind=kind, resource_id=resource_id, base_url=base_url(request))
        return fhir_json_response(to_json(resource))

    return read


def patient_everything(request: HttpRequest, resource_id: str) -> HttpResponse:
    caller = _caller(request, "Patient", "read")
    patient = caller.viewer.patient
    if patient is None or str(patient.public_id) != resource_id:
        # Another patient's id, or an unknown one: the audited 404 of reading it.
        reads.read(viewer=caller.viewer, kind=reads.KINDS["Patient"], resource_id=resource_id, base_url="")
    return fhir_json_response(everything_page(caller, params=request.GET, base_url=base_url(request)))


def _wants_pdf(request: HttpRequest) -> bool:
    if request.GET.get("_format") is not None:
        return False
    media = accepted_media_types(request)
    return "application/pdf" in media and not any(m in ("application/fhir+json", "application/json") for m in media)


def binary_read(request: HttpRequest, resource_id: str) -> HttpResponse:
    """A letter's PDF: the file itself for `Accept: application/pdf`, else a FHIR Binary (base64 in JSON)."""
    caller: FhirCaller = request.auth  # type: ignore[attr-defined]  # set by SmartBearer
    if not (caller.may("Binary", "read") or caller.may("DocumentReference", "read")):
        raise Forbidden("This app was not given access to read Binary or DocumentReference resources.")
    pdf = _wants_pdf(request)
    if not pdf and not wants_json(request):
        raise NotAcceptable("Ask for application/pdf or application/fhir+json.")
    letter = reads.letter_pdf_for_app(viewer=caller.viewer, resource_id=resource_id)
    try:
        with letter_file_open(letter.stored_name) as handle:
            data = handle.read()
    except OSError as exc:
        # As on the patient's letter page: the record has the letter, the storage has no file (a restore that
        # missed the files, a storage outage). The app is told to try later; the operators read the log line, which
        # names the letter's internal id and nothing about the patient.
        logger.error("letter_file_unavailable", letter_id=letter.pk, via="fhir")
        raise Unavailable("This letter's file cannot be read at the moment. Try again later.") from exc
    if pdf:
        response = HttpResponse(data, content_type="application/pdf")
        response["Content-Disposition"] = 'inline; filename="letter.pdf"'
        response["Cache-Control"] = "no-store"
        return response
    return fhir_json_response(to_json(binary_resource(letter, data)))


def _format_only(kind: reads.Kind) -> list[dict[str, Any]]:
    return [_query_parameter(p) for p in search_parameters(kind) if p.name == "_format"]


_address(
    "/metadata",
    metadata,
    name="metadata",
    auth=None,
    operation_id="metadata",
    summary="The CapabilityStatement: what this server serves (no token needed)",
    openapi_extra={"responses": _responses("CapabilityStatement")},
)
for _kind in reads.KINDS.values():
    _address(
        f"/{_kind.name}",
        _search_operation(_kind),
        name=f"search-{_kind.name}",
        operation_id=f"search{_kind.name}",
        summary=f"Search {_kind.name}",
        tags=[_kind.name],
        openapi_extra={
            "parameters": [_query_parameter(p) for p in search_parameters(_kind)],
            "responses": _responses("Bundle", 400, 401, 403),
        },
    )
    _address(
        f"/{_kind.name}/{{resource_id}}",
        _read_operation(_kind),
        name=f"read-{_kind.name}",
        operation_id=f"read{_kind.name}",
        summary=f"Read one {_kind.name}",
        tags=[_kind.name],
        openapi_extra={"parameters": _format_only(_kind), "responses": _responses(_kind.name, 400, 401, 403, 404)},
    )
_address(
    "/Patient/{resource_id}/$everything",
    patient_everything,
    name="everything",
    operation_id="everythingPatient",
    summary="Everything in the record the token may read, in one Bundle (Patient first)",
    tags=["Patient"],
    openapi_extra={
        "parameters": [
            *_format_only(reads.KINDS["Patient"]),
            {
                "name": "_count",
                "in": "query",
                "required": False,
                "description": (
                    f"Resources per page (at most {EVERYTHING_MAX_COUNT}; {EVERYTHING_DEFAULT_COUNT} if not given)."
                ),
                "schema": {"type": "integer", "minimum": 1, "maximum": EVERYTHING_MAX_COUNT},
            },
            {
                "name": "_cursor",
                "in": "query",
                "required": False,
                "description": "Where the next page starts: copy it from the Bundle's 'next' link, never build it.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 400},
            },
        ],
        "responses": _responses("Bundle", 400, 401, 403, 404),
    },
)
_address(
    "/Binary/{resource_id}",
    binary_read,
    name="binary",
    json_only=False,
    operation_id="readBinary",
    summary="A letter's PDF: the PDF itself for Accept: application/pdf, else a FHIR Binary",
    tags=["Binary"],
    openapi_extra={"responses": _responses("Binary", 401, 403, 404, 503, pdf=True)},
)


@csrf_exempt
def unknown(request: HttpRequest, path: str = "") -> HttpResponse:
    """Any other address under /fhir/r4/ (careportal/fhir/urls.py): an OperationOutcome, never an HTML page."""
    error: FhirError
    if request.method not in ("GET", "HEAD"):
        error = ReadOnly()
    elif not wants_json(request):
        error = NotAcceptable("Only JSON (application/fhir+json) is served.")
    else:
        error = NotFound("No such address in this FHIR API. See /fhir/r4/metadata for what is served.")
    return fhir_api.on_exception(request, error)
