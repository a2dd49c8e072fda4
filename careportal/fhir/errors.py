"""FHIR errors: every refusal or failure under /fhir/r4/ is an OperationOutcome with the right HTTP status.

Diagnostics name the search parameter or the problem in plain words; they never carry patient data (no names,
numbers, values or dates from anyone's record), since apps may log them.
"""

from typing import Any

from django.http import HttpResponse
from fhir.resources.R4B.operationoutcome import OperationOutcome

from careportal.fhir.rendering import fhir_json_response


class FhirError(Exception):
    """A request the API refuses: raised anywhere below a FHIR view and turned into an OperationOutcome."""

    status = 400
    code = "invalid"
    headers: dict[str, str] = {}  # read-only; a subclass gives its own

    def __init__(self, diagnostics: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class BadSearchParameter(FhirError):
    """400: an unknown or malformed search parameter or value (the message names the parameter)."""

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"Search parameter '{parameter[:60]}': {problem}", status=400, code="invalid")
        self.parameter = parameter


class Forbidden(FhirError):
    status = 403
    code = "forbidden"


class NotFound(FhirError):
    status = 404
    code = "not-found"


class ReadOnly(FhirError):
    """405: any method but GET and HEAD."""

    status = 405
    code = "not-supported"
    headers = {"Allow": "GET, HEAD"}

    def __init__(self) -> None:
        super().__init__("This API is read-only: use GET.")


class NotAcceptable(FhirError):
    """406: the request accepts neither FHIR JSON nor (for Binary) a PDF."""

    status = 406
    code = "not-supported"


class Unavailable(FhirError):
    """503: the record names something the storage cannot give back at the moment (a letter's missing file)."""

    status = 503
    code = "transient"
    headers = {"Retry-After": "3600"}


def operation_outcome(*, code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    outcome = OperationOutcome.model_validate(
        {"issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}]}
    )
    return outcome.model_dump(mode="json", exclude_none=True)


def outcome_response(
    *, status: int, code: str, diagnostics: str, headers: dict[str, str] | None = None
) -> HttpResponse:
    response = fhir_json_response(operation_outcome(code=code, diagnostics=diagnostics), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error_response(error: FhirError) -> HttpResponse:
    return outcome_response(status=error.status, code=error.code, diagnostics=error.diagnostics, headers=error.headers)


def unauthorized_response(diagnostics: str) -> HttpResponse:
    return outcome_response(
        status=401,
        code="login",
        diagnostics=diagnostics,
        headers={"WWW-Authenticate": 'Bearer realm="CarePortal FHIR", error="invalid_token"'},
    )


def not_found_response() -> HttpResponse:
    return outcome_response(status=404, code="not-found", diagnostics="No such resource, or not one this app may read.")
