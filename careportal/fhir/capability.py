"""The CapabilityStatement at /fhir/r4/metadata: exactly the resource types, interactions and search parameters
the API implements (built from the same `KINDS` table the searches use), and the SMART on FHIR security extension
pointing at the authorisation server's endpoints.

`search_parameters(kind)` is the one list of what a search of each resource type takes: the CapabilityStatement
lists it, and the API's OpenAPI document (careportal/fhir/api.py) declares it as the search operations' query
parameters, so the two cannot drift apart.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from careportal.fhir.everything import EVERYTHING_DEFAULT_COUNT, EVERYTHING_MAX_COUNT
from careportal.fhir.reads import KINDS, Kind
from careportal.fhir.rendering import JSON_FORMATS
from careportal.fhir.search import CONTROL_PARAMETERS, DATE_PREFIXES, MAX_COUNT, MAX_VALUE_LENGTH, ParamType

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
_CONTROL_DOCS = {
    "_count": "Results per page, 1 to 100 (50 if not given).",
    "_sort": "date (oldest first) or -date (newest first, the default); sent for Communication.",
    "_cursor": "Set by the server in `next` links only.",
    "_format": "json or application/fhir+json; XML is not served.",
}
_TYPE_DOCS = {
    ParamType.DATE: "A date with an optional prefix (" + ", ".join(DATE_PREFIXES) + "): YYYY, YYYY-MM, YYYY-MM-DD or "
    "YYYY-MM-DDThh:mm:ss+zz:zz. Repeat it to combine conditions.",
    ParamType.TOKEN: "system|code or code; several, separated by commas, match any of them.",
    ParamType.REFERENCE: "Patient/<id> or <id>.",
}
# The shape of one value on the wire (JSON Schema, for the OpenAPI document). A value that fits can still be
# refused with a 400 naming the parameter (a date that does not exist, a forged cursor): search.py decides.
_DATE_VALUE = (
    "^(" + "|".join(DATE_PREFIXES) + r")?[0-9]{4}(-[0-9]{2}(-[0-9]{2}"
    r"(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2}))?)?)?$"
)
_VALUE_SCHEMAS: dict[str, dict[str, Any]] = {
    ParamType.DATE: {"type": "string", "pattern": _DATE_VALUE},
    ParamType.TOKEN: {"type": "string", "minLength": 1, "maxLength": MAX_VALUE_LENGTH},
    ParamType.REFERENCE: {"type": "string", "pattern": r"^(Patient/)?[A-Za-z0-9\-.]{1,64}$"},
    "_count": {"type": "integer", "minimum": 1, "maximum": MAX_COUNT},
    "_cursor": {"type": "string", "pattern": r"^[A-Za-z0-9_\-:.]{1,200}$"},
    "_format": {"type": "string", "enum": sorted(JSON_FORMATS)},
}


@dataclass(frozen=True)
class SearchParameter:
    """One parameter a search of a resource type takes."""

    name: str
    type: str  # FHIR's search parameter type: date, token, reference, number or string
    documentation: str
    schema: dict[str, Any]  # JSON Schema of one value
    repeatable: bool  # the resource type's own parameters may be repeated (all must hold); the controls may not
    control: bool  # paging, sorting and format, listed with their documentation in the CapabilityStatement


def search_parameters(kind: Kind) -> list[SearchParameter]:
    """The resource type's own parameters, then the controls (`_sort` only where there is something to sort by)."""
    params = [
        SearchParameter(
            name=name,
            type=str(param_type),
            documentation=_TYPE_DOCS[param_type],
            schema=_VALUE_SCHEMAS[param_type],
            repeatable=True,
            control=False,
        )
        for name, param_type in kind.params.items()
    ]
    for name in sorted(CONTROL_PARAMETERS):
        if name == "_sort" and not kind.sort_parameters:
            continue
        if name == "_sort":
            keys = sorted(kind.sort_parameters)
            schema: dict[str, Any] = {"type": "string", "enum": [*keys, *(f"-{key}" for key in keys)]}
        else:
            schema = _VALUE_SCHEMAS[name]
        params.append(
            SearchParameter(
                name=name,
                type="number" if name == "_count" else "string",
                documentation=_CONTROL_DOCS[name],
                schema=schema,
                repeatable=False,
                control=True,
            )
        )
    return params


def capability_statement(*, base_url: str) -> dict[str, Any]:
    resources = []
    for kind in KINDS.values():
        params = [
            {"name": p.name, "type": p.type, "documentation": p.documentation}
            if p.control
            else {"name": p.name, "type": p.type}
            for p in search_parameters(kind)
        ]
        resource: dict[str, Any] = {
            "type": kind.name,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": params,
        }
        if kind.name == "Patient":
            resource["operation"] = [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                    "documentation": (
                        f"GET only, for the token's own patient. Pages: _count (default {EVERYTHING_DEFAULT_COUNT}, "
                        f"at most {EVERYTHING_MAX_COUNT}) and the opaque _cursor of the 'next' link; total counts "
                        "the whole record. _since, start, end and _type are not supported (400)."
                    ),
                }
            ]
        resources.append(resource)
    resources.append({"type": "Binary", "interaction": [{"code": "read"}]})
    statement = CapabilityStatement.model_validate(
        {
            "status": "active",
            "date": timezone.now().isoformat(),
            "publisher": settings.CAREPORTAL_TRUST_NAME,
            "kind": "instance",
            "software": {"name": settings.CAREPORTAL_SERVICE_NAME},
            "implementation": {"description": f"{settings.CAREPORTAL_SERVICE_NAME} FHIR R4 API", "url": base_url},
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [
                {
                    "mode": "server",
                    "documentation": "Read and search for patients and the people who act for them, through SMART on "
                    "FHIR apps (standalone patient launch).",
                    "security": {
                        "cors": False,
                        "service": [
                            {
                                "coding": [
                                    {
                                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                        "code": "SMART-on-FHIR",
                                    }
                                ]
                            }
                        ],
                        "extension": [
                            {
                                "url": OAUTH_URIS,
                                "extension": [
                                    {"url": "authorize", "valueUri": f"{base_url}auth/authorize/"},
                                    {"url": "token", "valueUri": f"{base_url}auth/token/"},
                                    {"url": "revoke", "valueUri": f"{base_url}auth/revoke/"},
                                ],
                            }
                        ],
                    },
                    "resource": resources,
                }
            ],
        }
    )
    return statement.model_dump(mode="json", exclude_none=True)
