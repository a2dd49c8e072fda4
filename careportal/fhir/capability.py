"""The CapabilityStatement at /fhir/r4/metadata: exactly the resource types, interactions and search parameters
the API implements (built from the same `KINDS` table the searches use), and the SMART on FHIR security extension
pointing at the authorisation server's endpoints."""

from typing import Any

from django.conf import settings
from django.utils import timezone
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from careportal.fhir.everything import EVERYTHING_DEFAULT_COUNT, EVERYTHING_MAX_COUNT
from careportal.fhir.reads import KINDS
from careportal.fhir.search import CONTROL_PARAMETERS

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
_CONTROL_DOCS = {
    "_count": "Results per page, 1 to 100 (50 if not given).",
    "_sort": "date (oldest first) or -date (newest first, the default); sent for Communication.",
    "_cursor": "Set by the server in `next` links only.",
    "_format": "json or application/fhir+json; XML is not served.",
}


def capability_statement(*, base_url: str) -> dict[str, Any]:
    resources = []
    for kind in KINDS.values():
        params = [{"name": name, "type": str(param_type)} for name, param_type in kind.params.items()]
        params += [
            {"name": name, "type": "number" if name == "_count" else "string", "documentation": _CONTROL_DOCS[name]}
            for name in sorted(CONTROL_PARAMETERS)
            if name != "_sort" or kind.sort_parameters
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
