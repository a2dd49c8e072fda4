"""Registering a SMART app (an OAuth client): the rules the admin form and `manage.py fhir_app_register` share.

Apps use the authorisation code grant with PKCE, and sign in with OpenID Connect (RS256 ID tokens, when a key is
configured). Redirect addresses are https; in development an app on this machine may also use
http://127.0.0.1, http://[::1] or http://localhost (RFC 8252 loopback redirects).
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import AbstractApplication, Application

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def redirect_uri_problems(uris: list[str]) -> list[str]:
    """Why these redirect addresses cannot be registered (none: they can)."""
    if not uris:
        return ["Give at least one redirect address."]
    problems = []
    for uri in uris:
        parts = urlsplit(uri)
        if parts.fragment or "#" in uri:
            problems.append(f"{uri}: a redirect address cannot have a fragment (#...).")
        elif (parts.scheme == "https" and parts.hostname) or (
            parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS and not settings.IS_PRODUCTION
        ):
            continue
        elif parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
            problems.append(f"{uri}: http://127.0.0.1 redirect addresses are for development only; use https.")
        else:
            problems.append(f"{uri}: a redirect address must be an https:// address.")
    return problems


@dataclass(frozen=True)
class Registered:
    application: AbstractApplication
    client_secret: str  # blank for a public client; shown once, stored hashed


@transaction.atomic
def smart_app_register(*, name: str, redirect_uris: list[str], confidential: bool) -> Registered:
    problems = redirect_uri_problems(redirect_uris)
    if problems:
        raise ValueError(" ".join(problems))
    # A public client gets a random secret too, never shown: an empty one would let anyone authenticate as it.
    secret = generate_client_secret()
    application = Application(
        name=name,
        client_type=Application.CLIENT_CONFIDENTIAL if confidential else Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=" ".join(redirect_uris),
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=False,
        client_secret=secret,
    )
    application.full_clean()
    application.save()
    return Registered(application=application, client_secret=secret if confidential else "")
