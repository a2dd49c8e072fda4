"""The SMART authorisation endpoints: our consent page at /fhir/r4/auth/authorize/, and django-oauth-toolkit's
token, revocation, introspection and OpenID Connect endpoints beside it.

The consent page: the person signs in (with two-step verification, as everywhere), chooses whose record (their own,
or one they act for), reads in plain words what the app will see, and allows or refuses. The validated request
waits in the session between the two (under a random id), so nothing the app asked for can be changed in the form;
what is granted is worked out again from the person's current access when they allow.
"""

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.models import Application, get_access_token_model
from oauth2_provider.views import IntrospectTokenView
from oauth2_provider.views.base import BaseAuthorizationView
from oauthlib.oauth2.rfc6749 import errors

from careportal.access.layer import PatientChoice, patient_choices
from careportal.fhir import smart
from careportal.fhir.forms import ConsentForm
from careportal.fhir.oauth import CHOICE_ATTRIBUTE
from careportal.fhir.presenters import consent_options, consent_radio_items, listed

SESSION_KEY = "careportal_smart_requests"
REQUEST_SECONDS = 30 * 60
KEPT = ("client_id", "redirect_uri", "response_type", "state", "code_challenge", "code_challenge_method", "nonce")


def _requests(request: HttpRequest) -> dict[str, Any]:
    now = time.time()
    kept = {k: v for k, v in request.session.get(SESSION_KEY, {}).items() if v["at"] > now - REQUEST_SECONDS}
    return dict(sorted(kept.items(), key=lambda item: item[1]["at"])[-5:])


class AuthorizeView(BaseAuthorizationView):
    http_method_names = ["get", "post"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            scopes, credentials = self.validate_authorization_request(request)
        except OAuthToolkitError as error:
            return self.error_response(error, application=None)
        if "login" in request.GET.get("prompt", "").split():
            return self.handle_prompt_login()
        application = Application.objects.get(client_id=credentials["client_id"])
        problem = self._smart_problem(request, credentials)
        if problem:
            invalid = errors.InvalidRequestError(description=problem, state=credentials.get("state"))
            return self.error_response(
                OAuthToolkitError(error=invalid, redirect_uri=credentials["redirect_uri"]), application
            )
        request_id = secrets.token_urlsafe(16)
        stored = _requests(request)
        stored[request_id] = {
            "at": time.time(),
            "scopes": list(scopes),
            "credentials": {key: credentials[key] for key in KEPT if credentials.get(key)},
        }
        request.session[SESSION_KEY] = stored
        return self._consent(request, request_id, stored[request_id], application, ConsentForm(choices=self._choices()))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        request_id = request.POST.get("request_id", "")
        stored = _requests(request).get(request_id)
        if stored is None:
            return render(
                request, "fhir/authorize_expired.jinja", {"page_title": "This request has expired"}, status=400
            )
        credentials = dict(stored["credentials"])
        application = Application.objects.get(client_id=credentials["client_id"])
        choices = self._choices()
        form = ConsentForm(request.POST, choices=choices)
        allow = request.POST.get("decision") == "allow"
        if allow and not form.is_valid():
            return self._consent(request, request_id, stored, application, form, status=400)
        self._forget(request, request_id)
        if not allow:
            return self._decide(request, application, credentials, [], allow=False)
        choice: PatientChoice = form.cleaned_data["record"]
        granted = smart.granted_scopes(stored["scopes"], record_scopes=choice.scopes)
        credentials[CHOICE_ATTRIBUTE] = choice
        return self._decide(request, application, credentials, granted, allow=True)

    def _decide(
        self, request: HttpRequest, application: Any, credentials: dict, granted: list[str], *, allow: bool
    ) -> HttpResponse:
        try:
            with transaction.atomic():
                uri, _headers, _body, _status = self.create_authorization_response(
                    request=request, scopes=" ".join(granted), credentials=credentials, allow=allow
                )
        except OAuthToolkitError as error:
            return self.error_response(error, application)
        return self.redirect(uri, application)

    def _choices(self) -> list[PatientChoice]:
        return patient_choices(self.request.user)  # type: ignore[arg-type]

    def _forget(self, request: HttpRequest, request_id: str) -> None:
        stored = _requests(request)
        stored.pop(request_id, None)
        request.session[SESSION_KEY] = stored

    def _smart_problem(self, request: HttpRequest, credentials: dict) -> str:
        if credentials.get("code_challenge_method") != "S256":
            return "PKCE with code_challenge_method=S256 is required."
        if credentials.get("response_type") != "code":
            return "Only response_type=code is supported."
        aud = request.GET.get("aud")
        if aud is not None and aud.rstrip("/") != smart.fhir_base_url(request):
            return "aud must be this server's FHIR base URL."
        return ""

    def _consent(
        self,
        request: HttpRequest,
        request_id: str,
        stored: dict,
        application: Any,
        form: ConsentForm,
        status: int = 200,
    ) -> HttpResponse:
        options = consent_options(form.choices, stored["scopes"])
        response = render(
            request,
            "fhir/authorize.jinja",
            {
                "page_title": f"Allow {application.name or 'this app'} to see your information?",
                "app_name": application.name or "This app",
                "request_id": request_id,
                "options": options,
                "listed": listed,
                "radio_items": consent_radio_items(options, form["record"].value()),
                "form": form,
                "offline": smart.OFFLINE_ACCESS in stored["scopes"],
                "signs_in": smart.OPENID in stored["scopes"],
            },
            status=status,
        )
        # The form's answer redirects to the app: browsers apply the page's form-action policy to that redirect.
        redirect_to = urlsplit(stored["credentials"]["redirect_uri"])
        response._csp_update = {"form-action": [f"{redirect_to.scheme}://{redirect_to.netloc}"]}  # type: ignore[attr-defined]
        return response

    def error_response(self, error: OAuthToolkitError, application: Any, **kwargs: Any) -> HttpResponse:
        redirect, response = super(BaseAuthorizationView, self).error_response(error, **kwargs)
        if redirect:
            return self.redirect(response["url"], application)
        oauth_error = response["error"]
        return render(
            request=self.request,
            template_name="fhir/authorize_error.jinja",
            context={"page_title": "There is a problem with this app", "description": oauth_error.description},
            status=oauth_error.status_code,
        )


@method_decorator(csrf_exempt, name="dispatch")
class SmartIntrospectView(IntrospectTokenView):
    """RFC 7662 introspection for an app's own tokens (a confidential client authenticates): active, scope,
    client_id, exp and the SMART `patient`. Another client's token, or a token whose connection was revoked, is
    inactive. Never by GET, so tokens stay out of addresses and logs."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        token_value = request.POST.get("token")
        if not token_value:
            return JsonResponse(
                {"error": "invalid_request", "error_description": "Token parameter is missing."}, status=400
            )
        client_id = _client_id(request)
        token = (
            get_access_token_model()
            .objects.select_related("application", "careportal_context__connection__patient")
            .filter(token_checksum=_checksum(token_value), application__client_id=client_id)
            .first()
        )
        context = getattr(token, "careportal_context", None) if token is not None else None
        if token is None or context is None or not token.is_valid() or context.connection.revoked_at is not None:
            return JsonResponse({"active": False})
        return JsonResponse(
            {
                "active": True,
                "scope": token.scope,
                "client_id": client_id,
                "token_type": "Bearer",
                "exp": int(token.expires.timestamp()),
                "patient": str(context.connection.patient.public_id),
            }
        )


def _checksum(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _client_id(request: HttpRequest) -> str:
    """The client that authenticated (ClientProtectedResourceMixin has checked its secret): from HTTP Basic or the
    body."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header.startswith("Basic "):
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except (ValueError, UnicodeDecodeError):
            return ""
        return unquote_plus(decoded.split(":", 1)[0])
    return request.POST.get("client_id", "")
