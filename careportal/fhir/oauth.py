"""django-oauth-toolkit, taught SMART on FHIR: scopes, the record a token is for, and the ID token's fhirUser.

The authorisation code carries its connection (`GrantConnection`, made when the person allows the app on the
consent page); the token endpoint gives every access token it issues a `TokenContext` for that connection, and a
refresh gives the new token the context of the token it replaces. A code or refresh token whose connection was
revoked, or whose person can no longer open the record, gets no token. The token response says whose record it is
(`patient`, the Patient resource id: the patient's public id).
"""

import hashlib
from typing import Any

from django.db import transaction
from oauth2_provider.models import AbstractApplication, get_access_token_model, get_grant_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import BaseScopes
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import Request
from oauthlib.oauth2.rfc6749 import errors

from careportal.access.layer import patient_choices
from careportal.core.compiled_queries import CompiledQuery
from careportal.fhir import smart
from careportal.fhir.models import AppConnection, GrantConnection, TokenContext
from careportal.fhir.services import app_connection_create
from careportal.proxy.models import ProxyRelationship, ProxyStatus

AccessToken = get_access_token_model()
Grant = get_grant_model()

# Set on the oauthlib request: by the consent page (the record chosen), and by code or refresh-token validation.
CHOICE_ATTRIBUTE = "careportal_choice"
CONNECTION_ATTRIBUTE = "careportal_connection"


class SmartScopes(BaseScopes):
    """The scopes discovery documents list. Which scopes a request may carry is decided by pattern
    (`SmartValidator.validate_scopes`), as SMART scopes name any resource type."""

    def get_all_scopes(self) -> dict[str, str]:
        return {scope: scope for scope in smart.supported_scopes()}

    def get_available_scopes(self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any) -> list:
        return smart.supported_scopes()

    def get_default_scopes(self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any) -> list:
        return []


def _connection_usable(connection: AppConnection) -> bool:
    if connection.revoked_at is not None or not connection.user.is_active:
        return False
    return any(choice.patient.pk == connection.patient_id for choice in patient_choices(connection.user))


def oidc_usable(client: AbstractApplication | None) -> bool:
    return smart.oidc_enabled() and client is not None and client.algorithm == AbstractApplication.RS256_ALGORITHM


def _bearer_token_query(checksum: str) -> Any:
    # What django-oauth-toolkit reads (the token, its app and its person), and the record it is for: one row.
    return (
        AccessToken.objects.select_related("application", "user", "careportal_context__connection__patient")
        .filter(token_checksum=checksum)
        .order_by("pk")[:1]
    )


# Every FHIR request reads its bearer token: compiled once (careportal/core/compiled_queries.py).
_BEARER_TOKEN = CompiledQuery(_bearer_token_query, takes=(str,))


class SmartValidator(OAuth2Validator):
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "fhirUser": smart.FHIR_USER}

    def _load_access_token(self, token: str) -> Any:
        """The access token for a bearer token, as django-oauth-toolkit's own reads it (by its SHA-256), with its
        `careportal_context` (connection and patient) read in the same statement, from SQL written once."""
        found = _BEARER_TOKEN.instances(hashlib.sha256(token.encode("utf-8")).hexdigest())
        return found[0] if found else None

    def validate_scopes(self, client_id: str, scopes: list[str], client: Any, request: Request, *args, **kwargs):
        return smart.scopes_accepted(scopes, oidc=oidc_usable(client))

    def save_authorization_code(self, client_id: str, code: dict, request: Request, *args, **kwargs) -> None:
        choice = getattr(request, CHOICE_ATTRIBUTE, None)
        if choice is None:
            raise errors.AccessDeniedError(request=request)
        with transaction.atomic():
            grant = self._create_authorization_code(request, code)
            app_connection_create(
                user=request.user, application=request.client, choice=choice, scopes=request.scopes, grant=grant
            )

    def validate_code(self, client_id: str, code: str, client: Any, request: Request, *args, **kwargs) -> bool:
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            return False
        link = (
            GrantConnection.objects.select_related("connection__user", "connection__patient")
            .filter(grant__code=code, grant__application=client)
            .first()
        )
        if link is None or not _connection_usable(link.connection):
            return False
        setattr(request, CONNECTION_ATTRIBUTE, link.connection)
        return True

    def validate_refresh_token(self, refresh_token: str, client: Any, request: Request, *args, **kwargs) -> bool:
        if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            return False
        previous = request.refresh_token_instance.access_token
        context = (
            TokenContext.objects.select_related("connection__user", "connection__patient")
            .filter(access_token=previous)
            .first()
        )
        if context is None or not _connection_usable(context.connection):
            return False
        setattr(request, CONNECTION_ATTRIBUTE, context.connection)
        return True

    def save_bearer_token(self, token: dict, request: Request, *args, **kwargs) -> None:
        connection: AppConnection | None = getattr(request, CONNECTION_ATTRIBUTE, None)
        if connection is None:
            # Every token is for one connection; this server issues none other (no client credentials grant).
            raise errors.InvalidGrantError(request=request)
        if request.grant_type == "authorization_code" and smart.OFFLINE_ACCESS not in token["scope"].split():
            token.pop("refresh_token", None)  # refresh tokens only with offline_access (SMART)
        with transaction.atomic():
            super().save_bearer_token(token, request, *args, **kwargs)
            checksum = hashlib.sha256(token["access_token"].encode()).hexdigest()
            access_token = AccessToken.objects.get(token_checksum=checksum)
            TokenContext.objects.get_or_create(access_token=access_token, defaults={"connection": connection})
        token["patient"] = str(connection.patient.public_id)

    def get_additional_claims(self, request: Request) -> dict[str, Any]:
        connection: AppConnection | None = getattr(request, CONNECTION_ATTRIBUTE, None)
        if connection is None:
            return {}
        return {"fhirUser": fhir_user_url(request, connection)}

    def finalize_id_token(self, id_token: dict, token: dict, token_handler: Any, request: Request) -> str:
        if not oidc_usable(request.client):
            raise errors.InvalidScopeError(request=request)
        return super().finalize_id_token(id_token, token, token_handler, request)


def fhir_user_url(request: Request, connection: AppConnection) -> str:
    """The FHIR URL of the person who connected the app: Patient/<id> for the patient themself, RelatedPerson/<id>
    (their relationship) for someone acting for them."""
    base = oauth2_settings.oidc_issuer(request).removesuffix("/auth")
    if connection.patient.user_id == connection.user_id:
        return f"{base}/Patient/{connection.patient.public_id}"
    relationship = (
        ProxyRelationship.objects.filter(
            proxy_id=connection.user_id, patient_id=connection.patient_id, status=ProxyStatus.ACTIVE
        )
        .only("public_id")
        .first()
    )
    return f"{base}/RelatedPerson/{relationship.public_id}" if relationship else ""
