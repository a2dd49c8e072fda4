"""The FHIR R4 read/search API's views: parse the request, find the caller, check the app's scopes, read through
`careportal/fhir/reads.py`, answer FHIR JSON. Every failure is an OperationOutcome (`fhir_endpoint`)."""

import functools
from collections.abc import Callable

import structlog
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from careportal.fhir import reads
from careportal.fhir.authentication import FhirCaller, FhirUnauthorized, caller_for_request
from careportal.fhir.bundles import searchset
from careportal.fhir.capability import capability_statement
from careportal.fhir.errors import (
    FhirError,
    Forbidden,
    NotFound,
    error_response,
    not_found_response,
    outcome_response,
    unauthorized_response,
)
from careportal.fhir.everything import everything_page
from careportal.fhir.rendering import accepted_media_types, fhir_json_response, wants_json
from careportal.fhir.resources import binary_resource, to_json
from careportal.fhir.search import parse_search
from careportal.letters.storage import letter_file_open

logger = structlog.get_logger(__name__)

View = Callable[..., HttpResponse]


def base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/fhir/r4/")


def fhir_endpoint(view: View) -> View:
    """GET (and HEAD) only; JSON only; every error an OperationOutcome; nothing unforeseen escapes as a 500 page
    (it is logged, without patient data, and answered with an OperationOutcome without details)."""

    @csrf_exempt
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        try:
            if request.method not in ("GET", "HEAD"):
                response = outcome_response(
                    status=405, code="not-supported", diagnostics="This API is read-only: use GET."
                )
                response["Allow"] = "GET, HEAD"
                return response
            if not wants_json(request) and not getattr(wrapped, "accepts_pdf", False):
                return outcome_response(
                    status=406, code="not-supported", diagnostics="Only JSON (application/fhir+json) is served."
                )
            return view(request, *args, **kwargs)
        except FhirUnauthorized as refusal:
            return unauthorized_response(str(refusal))
        except FhirError as error:
            return error_response(error)
        except Http404:
            return not_found_response()
        except Exception:
            logger.exception("fhir_unexpected_error", view=view.__name__)
            return outcome_response(status=500, code="exception", diagnostics="Something went wrong on our side.")

    return wrapped


def _caller(request: HttpRequest, resource_type: str, interaction: str) -> FhirCaller:
    caller = caller_for_request(request)
    if not caller.may(resource_type, interaction):  # type: ignore[arg-type]
        raise Forbidden(f"This app was not given access to {interaction} {resource_type} resources.")
    return caller


def _kind(resource_type: str) -> reads.Kind:
    kind = reads.KINDS.get(resource_type)
    if kind is None:
        raise NotFound(f"The resource type '{resource_type[:40]}' is not supported by this server.")
    return kind


@fhir_endpoint
def metadata(request: HttpRequest) -> HttpResponse:
    return fhir_json_response(capability_statement(base_url=base_url(request)))


@fhir_endpoint
def type_search(request: HttpRequest, resource_type: str) -> HttpResponse:
    kind = _kind(resource_type)
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


@fhir_endpoint
def instance_read(request: HttpRequest, resource_type: str, resource_id: str) -> HttpResponse:
    kind = _kind(resource_type)
    caller = _caller(request, kind.name, "read")
    _only_format(request)
    resource = reads.read(viewer=caller.viewer, kind=kind, resource_id=resource_id, base_url=base_url(request))
    return fhir_json_response(to_json(resource))


@fhir_endpoint
def patient_everything(request: HttpRequest, resource_id: str) -> HttpResponse:
    caller = _caller(request, "Patient", "read")
    patient = caller.viewer.patient
    if patient is None or str(patient.public_id) != resource_id:
        reads.read(viewer=caller.viewer, kind=reads.KINDS["Patient"], resource_id=resource_id, base_url="")
    return fhir_json_response(everything_page(caller, params=request.GET, base_url=base_url(request)))


def _wants_pdf(request: HttpRequest) -> bool:
    if request.GET.get("_format") is not None:
        return False
    media = accepted_media_types(request)
    return "application/pdf" in media and not any(m in ("application/fhir+json", "application/json") for m in media)


@fhir_endpoint
def binary_read(request: HttpRequest, resource_id: str) -> HttpResponse:
    """A letter's PDF: the file itself for `Accept: application/pdf`, else a FHIR Binary (base64 in JSON)."""
    caller = caller_for_request(request)
    if not (caller.may("Binary", "read") or caller.may("DocumentReference", "read")):
        raise Forbidden("This app was not given access to read Binary or DocumentReference resources.")
    pdf = _wants_pdf(request)
    if not pdf and not wants_json(request):
        raise FhirError("Ask for application/pdf or application/fhir+json.", status=406, code="not-supported")
    letter = reads.letter_pdf_for_app(viewer=caller.viewer, resource_id=resource_id)
    with letter_file_open(letter.stored_name) as handle:
        data = handle.read()
    if pdf:
        response = HttpResponse(data, content_type="application/pdf")
        response["Content-Disposition"] = 'inline; filename="letter.pdf"'
        response["Cache-Control"] = "no-store"
        return response
    return fhir_json_response(to_json(binary_resource(letter, data)))


binary_read.accepts_pdf = True  # type: ignore[attr-defined]


@fhir_endpoint
def unknown(request: HttpRequest, path: str = "") -> HttpResponse:
    raise NotFound("No such address in this FHIR API. See /fhir/r4/metadata for what is served.")


def _only_format(request: HttpRequest) -> None:
    """A read takes no parameters but `_format`."""
    for name in request.GET:
        if name != "_format":
            raise FhirError(f"Parameter '{name[:60]}': a read takes no parameters but _format.", code="invalid")
