"""SMART App Launch 2.0 on this server: the scopes we accept, what each lets an app see (in plain words for the
consent page), the scopes a person may grant for one record, and the configuration document apps discover us by.

Scopes accepted (anything else is refused with `invalid_scope`):
- `openid`, `fhirUser` (OpenID Connect, when an ID-token key is configured), `launch/patient`, `offline_access`;
- read-only patient scopes, SMART v1 `patient/<type>.read` and v2 `patient/<type>.r`, `.s` or `.rs`, where `<type>`
  is `*` or a FHIR resource type. A resource type this server does not serve is dropped from what is granted (the
  token response's `scope` says what was). Write permissions, `user/` and `system/` scopes, and scopes narrowed by
  search parameters (`patient/Observation.rs?category=...`) are refused: this API is read-only, per patient, and
  does not enforce parameter-narrowed scopes.

A proxy grants only resource types within their relationship's scopes: `patient/*.read` from a parent who sees a
child's appointments only becomes `patient/Appointment.read`.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from oauth2_provider.settings import oauth2_settings

from careportal.access.scopes import ALL_SCOPES, Scope

LAUNCH_PATIENT = "launch/patient"
OPENID = "openid"
FHIR_USER = "fhirUser"
OFFLINE_ACCESS = "offline_access"
OIDC_SCOPES = frozenset({OPENID, FHIR_USER})
CONTEXT_SCOPES = (LAUNCH_PATIENT, OPENID, FHIR_USER, OFFLINE_ACCESS)


@dataclass(frozen=True)
class ResourceType:
    name: str
    scope: Scope  # the part of the record (as in the portal) that reading it needs
    words: str  # what it is, in plain words, for the consent and connected-apps pages


# The resource types this server serves, in the order the consent page lists them.
RESOURCE_TYPES: dict[str, ResourceType] = {
    rt.name: rt
    for rt in [
        ResourceType("Patient", Scope.DETAILS, "name, date of birth, NHS number and contact details"),
        ResourceType("Observation", Scope.RESULTS, "test results"),
        ResourceType("DiagnosticReport", Scope.RESULTS, "test results"),
        ResourceType("Appointment", Scope.APPOINTMENTS, "appointments"),
        ResourceType("Communication", Scope.MESSAGES, "messages with care teams"),
        ResourceType("DocumentReference", Scope.LETTERS, "letters"),
        ResourceType("Binary", Scope.LETTERS, "letters"),
        ResourceType("RelatedPerson", Scope.ACCESS_LOG, "who can act for them"),
        ResourceType("AuditEvent", Scope.ACCESS_LOG, "who has viewed the record"),
    ]
}

_READ_SCOPE = re.compile(r"^patient/(?P<type>\*|[A-Z][A-Za-z]+)\.(?P<perms>read|rs|r|s)$")


def scope_accepted(scope: str, *, oidc: bool) -> bool:
    if scope in (LAUNCH_PATIENT, OFFLINE_ACCESS):
        return True
    if scope in OIDC_SCOPES:
        return oidc
    return _READ_SCOPE.match(scope) is not None


def scopes_accepted(scopes: Iterable[str], *, oidc: bool) -> bool:
    scopes = list(scopes)
    return bool(scopes) and all(scope_accepted(s, oidc=oidc) for s in scopes)


def granted_scopes(requested: Iterable[str], *, record_scopes: frozenset[Scope]) -> list[str]:
    """What may be granted for a record the person sees `record_scopes` of: context scopes as asked; resource scopes
    for types this server serves and the person may see; `*` kept only for someone who sees everything (the
    patient), else expanded into the types they may see."""
    granted: list[str] = []
    for scope in requested:
        match = _READ_SCOPE.match(scope)
        if match is None:
            if scope in CONTEXT_SCOPES:
                granted.append(scope)
            continue
        kind, perms = match["type"], match["perms"]
        if kind == "*":
            if record_scopes >= ALL_SCOPES:
                granted.append(scope)
            else:
                granted.extend(
                    f"patient/{name}.{perms}" for name, rt in RESOURCE_TYPES.items() if rt.scope in record_scopes
                )
        elif kind in RESOURCE_TYPES and RESOURCE_TYPES[kind].scope in record_scopes:
            granted.append(scope)
    return list(dict.fromkeys(granted))


def _types_in(scopes: Iterable[str]) -> list[ResourceType]:
    types: list[ResourceType] = []
    for scope in scopes:
        match = _READ_SCOPE.match(scope)
        if match is None:
            continue
        if match["type"] == "*":
            types.extend(RESOURCE_TYPES.values())
        elif match["type"] in RESOURCE_TYPES:
            types.append(RESOURCE_TYPES[match["type"]])
    return types


def words_for(scopes: Iterable[str]) -> list[str]:
    """What an app with these scopes can see, in plain words, each once, in the consent page's order."""
    found = {rt.words for rt in _types_in(scopes)}
    return [words for words in dict.fromkeys(rt.words for rt in RESOURCE_TYPES.values()) if words in found]


def withheld_words(requested: Iterable[str], granted: Iterable[str]) -> list[str]:
    """What the app asked for that it will not get from this record (outside a proxy's access)."""
    given = set(words_for(granted))
    return [words for words in words_for(requested) if words not in given]


def record_scopes_needed(scopes: Iterable[str]) -> frozenset[Scope]:
    """The parts of the record (as the portal names them) that reading everything these SMART scopes allow needs.
    A connection whose person no longer sees all of them stops working (careportal/fhir/authentication.py)."""
    return frozenset(rt.scope for rt in _types_in(scopes))


def asks_for_data(scopes: Iterable[str]) -> bool:
    return any(_READ_SCOPE.match(s) for s in scopes)


def oidc_enabled() -> bool:
    return bool(oauth2_settings.OIDC_ENABLED and oauth2_settings.OIDC_RSA_PRIVATE_KEY)


def supported_scopes() -> list[str]:
    scopes = [LAUNCH_PATIENT, OFFLINE_ACCESS, "patient/*.read", "patient/*.rs"]
    if oidc_enabled():
        scopes[1:1] = [OPENID, FHIR_USER]
    for name in RESOURCE_TYPES:
        scopes += [f"patient/{name}.read", f"patient/{name}.rs"]
    return scopes


def fhir_base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("fhir:smart-configuration")).removesuffix(
        "/.well-known/smart-configuration"
    )


def smart_configuration(request: HttpRequest) -> JsonResponse:
    """GET /fhir/r4/.well-known/smart-configuration (SMART App Launch 2.0, section "Conformance")."""
    capabilities = [
        "launch-standalone",
        "context-standalone-patient",
        "client-public",
        "client-confidential-symmetric",
        "permission-v1",
        "permission-v2",
        "permission-offline",
        "permission-patient",
    ]
    data: dict[str, object] = {
        "authorization_endpoint": request.build_absolute_uri(reverse("oauth2_provider:authorize")),
        "token_endpoint": request.build_absolute_uri(reverse("oauth2_provider:token")),
        "revocation_endpoint": request.build_absolute_uri(reverse("oauth2_provider:revoke-token")),
        "introspection_endpoint": request.build_absolute_uri(reverse("oauth2_provider:introspect")),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "scopes_supported": supported_scopes(),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": capabilities,
    }
    if oidc_enabled():
        issuer = oauth2_settings.oidc_issuer(request)
        data = {"issuer": issuer, "jwks_uri": request.build_absolute_uri(reverse("oauth2_provider:jwks-info")), **data}
        data["userinfo_endpoint"] = request.build_absolute_uri(reverse("oauth2_provider:user-info"))
        capabilities.append("sso-openid-connect")
    response = JsonResponse(data)
    response["Access-Control-Allow-Origin"] = "*"
    return response
