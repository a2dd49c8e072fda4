"""Factories for connected apps: an OAuth client, and a ready bearer token for one person and one record (as if
the SMART launch had happened)."""

import datetime
import secrets

import factory
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from careportal.fhir.models import AppConnection, TokenContext
from tests.accounts.factories import UserFactory
from tests.patients.factories import PatientFactory


class ApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Application

    name = factory.Sequence(lambda n: f"Health app {n}")
    client_type = Application.CLIENT_PUBLIC
    authorization_grant_type = Application.GRANT_AUTHORIZATION_CODE
    redirect_uris = "http://127.0.0.1:8765/callback"
    skip_authorization = False


class AppConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AppConnection

    user = factory.SubFactory(UserFactory)
    application = factory.SubFactory(ApplicationFactory)
    patient = factory.SubFactory(PatientFactory)
    scopes = "launch/patient openid fhirUser patient/*.read"


def bearer_token(connection: AppConnection, *, scope: str = "", expires_in: int = 3600) -> str:
    """A live access token for `connection` (its scopes unless `scope` is given), as the token endpoint would
    issue it; returns the token string for an `Authorization: Bearer` header."""
    value = secrets.token_urlsafe(30)
    token = AccessToken.objects.create(
        user=connection.user,
        application=connection.application,
        token=value,
        scope=scope or connection.scopes,
        expires=timezone.now() + datetime.timedelta(seconds=expires_in),
    )
    TokenContext.objects.create(access_token=token, connection=connection)
    return value
