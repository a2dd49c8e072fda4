"""Microsoft Teams meetings through Microsoft Graph's onlineMeetings API, as an app (no signed-in user).

- Token: msal's ConfidentialClientApplication, client-credentials grant for https://graph.microsoft.com/.default,
  from the tenant's authority (TEAMS_AUTHORITY_HOST/TEAMS_TENANT_ID). msal keeps the token until shortly before it
  expires, so most calls need no round trip to Microsoft sign-in.
- Create: POST /users/{organizer}/onlineMeetings/createOrGet with an externalId made from the appointment's reference.
  Asking again for the same appointment (a retried task) returns the same meeting rather than a second one.
- Move: PATCH /users/{organizer}/onlineMeetings/{id}. Cancel: DELETE the same (a meeting already gone is cancelled).
- Graph accepts app calls for a user's meetings only when the tenant's application access policy, granted to that
  user, names the app (docs/video.md). Without it every call is refused with 403: the error says so.
- Time-outs on every call; 429 and 5xx (and a connection that failed or timed out) are retried a few times,
  waiting as long as Retry-After asks when it asks for no more than MAX_RETRY_AFTER_SECONDS. Every call is
  idempotent, so a retry is safe.
- Errors become VideoProviderError naming the action and the kind of failure (HTTP status, Graph's error code):
  never a response body, a join link, or anything about the patient. The join link (joinWebUrl) is never logged.
"""

from __future__ import annotations

import datetime
import email.utils
import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import msal
import requests
import requests.adapters
import structlog

from careportal.video.providers import Meeting, MeetingRequest, VideoProviderError

logger = structlog.get_logger(__name__)

NAME = "teams"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
# Prefixed, so that CarePortal's meetings cannot be confused with another system's createOrGet meetings for the
# same organiser.
EXTERNAL_ID_PREFIX = "careportal-"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_ATTEMPTS = 4
MAX_RETRY_AFTER_SECONDS = 30.0
# Waits between attempts when the server does not say (Retry-After): 1, 2, 4 seconds.
BACKOFF_SECONDS = (1.0, 2.0, 4.0)
# Graph's and Microsoft sign-in's error codes are short identifiers; anything else is not repeated.
_ERROR_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,63}$")

POLICY_HINT = (
    "the app needs the OnlineMeetings.ReadWrite.All application permission with admin consent, and an application "
    "access policy naming the app granted to TEAMS_ORGANIZER_USER_ID (New-CsApplicationAccessPolicy, then "
    "Grant-CsApplicationAccessPolicy; see docs/video.md)"
)


@dataclass(frozen=True)
class TeamsSettings:
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    organizer_user_id: str
    authority_host: str = "https://login.microsoftonline.com"
    graph_base_url: str = "https://graph.microsoft.com/v1.0"
    timeout_seconds: float = 10.0
    # A PEM file of the certificate authorities to trust for Microsoft sign-in and Graph instead of the usual ones
    # (for a network whose proxy inspects TLS); "" for the usual ones.
    ca_bundle: str = ""


def _error_code(value: Any) -> str:
    return value if isinstance(value, str) and _ERROR_CODE.match(value) else ""


def _graph_error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return _error_code(error.get("code")) if isinstance(error, dict) else ""


def _graph_time(value: datetime.datetime) -> str:
    if value.tzinfo is None:
        raise VideoProviderError("Microsoft Teams: meeting times must carry a time zone")
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _retry_after_seconds(response: httpx.Response | None) -> float | None:
    value = response.headers.get("Retry-After", "").strip() if response is not None else ""
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


class SignInHttpClient:
    """The HTTP client msal uses for Microsoft sign-in: requests, as msal's own default is, but with the CA bundle
    and the time-out passed on every request. (A requests Session's own `verify` loses to REQUESTS_CA_BUNDLE in the
    environment, so msal's `verify=` argument would be ignored wherever that variable is set.)"""

    def __init__(self, *, verify: str | bool, timeout: float) -> None:
        self._verify = verify
        self._timeout = timeout
        self._session = requests.Session()
        # One retry on a dropped connection, as msal's default client does.
        adapter = requests.adapters.HTTPAdapter(max_retries=1)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self._session.post(url, **self._options(kwargs))

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self._session.get(url, **self._options(kwargs))

    def close(self) -> None:
        self._session.close()

    def _options(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {**kwargs, "verify": self._verify, "timeout": kwargs.get("timeout") or self._timeout}


class TeamsProvider:
    name = NAME

    def __init__(
        self,
        settings: TeamsSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = MAX_ATTEMPTS,
        max_retry_after_seconds: float = MAX_RETRY_AFTER_SECONDS,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._max_attempts = max_attempts
        self._max_retry_after = max_retry_after_seconds
        self._graph = settings.graph_base_url.rstrip("/")
        self._organizer_path = f"/users/{quote(settings.organizer_user_id, safe='')}/onlineMeetings"
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=settings.ca_bundle) if settings.ca_bundle else True
        )
        self._http = httpx.Client(timeout=httpx.Timeout(settings.timeout_seconds), verify=verify)
        self._app: msal.ConfidentialClientApplication | None = None
        self._app_lock = threading.Lock()

    # The three operations ---------------------------------------------------------------------------------------

    def meeting_create(self, request: MeetingRequest) -> Meeting:
        if not request.reference:
            raise VideoProviderError("Microsoft Teams: a meeting needs an appointment reference")
        body = {
            "externalId": EXTERNAL_ID_PREFIX + request.reference,
            "startDateTime": _graph_time(request.start),
            "endDateTime": _graph_time(request.end),
            "subject": request.subject,
        }
        response = self._call("POST", f"{self._organizer_path}/createOrGet", action="create", json=body)
        meeting = self._meeting_from(response, action="create")
        # 201: a new meeting; 200: the one already made for this appointment (a retried task).
        logger.info("video_meeting_created", provider=NAME, already_existed=response.status_code == 200)
        return meeting

    def meeting_update(self, meeting: Meeting, request: MeetingRequest) -> Meeting:
        body = {
            "startDateTime": _graph_time(request.start),
            "endDateTime": _graph_time(request.end),
            "subject": request.subject,
        }
        response = self._call("PATCH", self._meeting_path(meeting), action="move", json=body)
        updated = self._meeting_from(response, action="move", previous=meeting)
        logger.info("video_meeting_moved", provider=NAME)
        return updated

    def meeting_cancel(self, meeting: Meeting) -> None:
        response = self._call("DELETE", self._meeting_path(meeting), action="cancel")
        logger.info("video_meeting_cancelled", provider=NAME, already_gone=response.status_code == 404)

    # Graph ----------------------------------------------------------------------------------------------------

    def _meeting_path(self, meeting: Meeting) -> str:
        if not meeting.external_id:
            raise VideoProviderError("Microsoft Teams: the meeting has no Teams id, so it cannot be changed")
        return f"{self._organizer_path}/{quote(meeting.external_id, safe='')}"

    def _meeting_from(self, response: httpx.Response, *, action: str, previous: Meeting | None = None) -> Meeting:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise VideoProviderError(f"Microsoft Graph: could not {action} the meeting (the answer was not JSON)")
        meeting_id = body.get("id") or (previous.external_id if previous else "")
        join_url = body.get("joinWebUrl") or (previous.join_url if previous else "")
        if not isinstance(meeting_id, str) or not meeting_id:
            raise VideoProviderError(f"Microsoft Graph: could not {action} the meeting (the answer had no id)")
        # Shown to patients as a link: only ever an https address.
        if not isinstance(join_url, str) or not join_url.startswith("https://"):
            raise VideoProviderError(f"Microsoft Graph: could not {action} the meeting (no https join link)")
        return Meeting(provider=NAME, external_id=meeting_id, join_url=join_url)

    def _call(self, method: str, path: str, *, action: str, json: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._access_token()}", "Accept": "application/json"}
        for attempt in range(1, self._max_attempts + 1):
            response: httpx.Response | None = None
            # Microsoft support can trace a call by this id; it says nothing about the appointment.
            headers["client-request-id"] = str(uuid.uuid4())
            try:
                response = self._http.request(method, self._graph + path, json=json, headers=headers)
            except httpx.TimeoutException:
                failure = "timed out"
            except httpx.TransportError:
                failure = "could not connect"
            else:
                status = response.status_code
                if status < 300 or (method == "DELETE" and status == 404):
                    return response
                if status not in RETRY_STATUSES:
                    raise self._refusal(response, action=action)
                failure = f"HTTP {status}"
            if attempt == self._max_attempts:
                raise VideoProviderError(
                    f"Microsoft Graph: could not {action} the meeting ({failure}, {attempt} attempts)"
                )
            wait = _retry_after_seconds(response)
            if wait is None:
                wait = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1]
            elif wait > self._max_retry_after:
                raise VideoProviderError(
                    f"Microsoft Graph: could not {action} the meeting ({failure}; asked to wait {wait:.0f} seconds, "
                    f"longer than the {self._max_retry_after:.0f} seconds we wait)"
                )
            logger.warning(
                "video_graph_retry", provider=NAME, action=action, failure=failure, attempt=attempt, wait_seconds=wait
            )
            self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _refusal(self, response: httpx.Response, *, action: str) -> VideoProviderError:
        status = response.status_code
        code = _graph_error_code(response)
        kind = f"HTTP {status}" + (f", {code}" if code else "")
        logger.warning(
            "video_graph_refused",
            provider=NAME,
            action=action,
            status=status,
            code=code,
            request_id=response.headers.get("request-id", ""),
        )
        start = f"Microsoft Graph refused to {action} the meeting ({kind})"
        if status == 403:
            return VideoProviderError(f"{start}: {POLICY_HINT}")
        if status == 401:
            return VideoProviderError(f"{start}: the access token was not accepted; check TEAMS_TENANT_ID")
        if status == 404:
            return VideoProviderError(
                f"{start}: not found; check TEAMS_ORGANIZER_USER_ID, or the meeting was deleted in Teams"
            )
        return VideoProviderError(start)

    # Microsoft sign-in ----------------------------------------------------------------------------------------

    def _access_token(self) -> str:
        try:
            with self._app_lock:
                if self._app is None:
                    self._app = self._build_app()
            result = self._app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
        except (ValueError, requests.RequestException) as exc:
            # msal checks the authority when it starts, and raises for an unknown tenant or an unreachable host.
            raise VideoProviderError(
                f"Microsoft sign-in could not be reached or did not know the tenant ({type(exc).__name__}): "
                "check TEAMS_AUTHORITY_HOST and TEAMS_TENANT_ID"
            ) from None
        token = result.get("access_token") if isinstance(result, dict) else None
        if isinstance(token, str) and token:
            return token
        code = _error_code(result.get("error")) if isinstance(result, dict) else ""
        logger.warning("video_token_refused", provider=NAME, code=code)
        raise VideoProviderError(
            f"Microsoft sign-in refused the app ({code or 'no token'}): check TEAMS_TENANT_ID, TEAMS_CLIENT_ID and "
            "TEAMS_CLIENT_SECRET (a client secret expires; make a new one in the app registration)"
        )

    def _build_app(self) -> msal.ConfidentialClientApplication:
        settings = self.settings
        return msal.ConfidentialClientApplication(
            settings.client_id,
            client_credential=settings.client_secret,
            authority=f"{settings.authority_host.rstrip('/')}/{settings.tenant_id}",
            # No instance discovery: it would ask login.microsoftonline.com to vouch for the authority host, which
            # is wrong for a sovereign cloud's or a test server's host. The tenant is still checked: msal reads its
            # OpenID configuration from the authority before any token request.
            instance_discovery=False,
            http_client=SignInHttpClient(verify=settings.ca_bundle or True, timeout=settings.timeout_seconds),
        )
