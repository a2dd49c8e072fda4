"""Video consultations: the small interface every video provider implements, and the configured provider.

Appointments (careportal/appointments) ask the configured provider for a meeting when a video appointment is booked
or moved, outside the transaction that applied the HL7 message, and keep the join link on the appointment. The join
link is a credential for the meeting: it is shown only to the patient (and proxies with the appointments scope) on the
appointment page, in its joining window, and is never put in an email, an SMS or a log line.
"""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from careportal.video.teams import TeamsSettings


class VideoProviderError(Exception):
    """The provider could not create, move or cancel a meeting (down, refused, misconfigured). The message names
    the kind of failure only (an HTTP status, a setting), never a join link or anything about the patient."""


@dataclass(frozen=True)
class MeetingRequest:
    # An opaque, unguessable reference for the appointment (never a name or a hospital number): providers may use it
    # as an idempotency key, so that asking twice for the same appointment gives the same meeting.
    reference: str
    start: datetime.datetime
    end: datetime.datetime
    # Shown in the meeting's title to the clinician; no patient details ("Video consultation").
    subject: str = "Video consultation"


@dataclass(frozen=True)
class Meeting:
    provider: str
    # The provider's id for the meeting ("" when it has none), to move or cancel it later.
    external_id: str
    join_url: str


class VideoProvider(Protocol):
    name: str

    def meeting_create(self, request: MeetingRequest) -> Meeting: ...

    def meeting_update(self, meeting: Meeting, request: MeetingRequest) -> Meeting: ...

    def meeting_cancel(self, meeting: Meeting) -> None: ...


def video_provider() -> VideoProvider:
    """The provider named by the VIDEO_PROVIDER setting ("jitsi" or "teams"), built from its settings.

    Raises VideoProviderError when VIDEO_PROVIDER is "none" or a setting the provider needs is missing (production
    refuses to start in that case; see careportal/config/settings/base.py and docs/video.md).
    """
    from django.conf import settings

    name = settings.VIDEO_PROVIDER
    if name == "jitsi":
        from careportal.video.jitsi import JitsiProvider, JitsiTokenSettings

        if not settings.JITSI_BASE_URL:
            raise VideoProviderError("Jitsi: set JITSI_BASE_URL")
        token = None
        if settings.JITSI_APP_ID and settings.JITSI_APP_SECRET:
            token = JitsiTokenSettings(
                app_id=settings.JITSI_APP_ID,
                app_secret=settings.JITSI_APP_SECRET,
                audience=settings.JITSI_JWT_AUDIENCE,
                early=datetime.timedelta(minutes=settings.JITSI_TOKEN_EARLY_MINUTES),
                late=datetime.timedelta(minutes=settings.JITSI_TOKEN_LATE_MINUTES),
            )
        return JitsiProvider(base_url=settings.JITSI_BASE_URL, token=token)
    if name == "teams":
        from careportal.video.teams import TeamsSettings

        missing = [
            setting
            for setting in ("TEAMS_TENANT_ID", "TEAMS_CLIENT_ID", "TEAMS_CLIENT_SECRET", "TEAMS_ORGANIZER_USER_ID")
            if not getattr(settings, setting)
        ]
        if missing:
            raise VideoProviderError(f"Microsoft Teams: set {', '.join(missing)}")
        return _teams_provider(
            TeamsSettings(
                tenant_id=settings.TEAMS_TENANT_ID,
                client_id=settings.TEAMS_CLIENT_ID,
                client_secret=settings.TEAMS_CLIENT_SECRET,
                organizer_user_id=settings.TEAMS_ORGANIZER_USER_ID,
                authority_host=settings.TEAMS_AUTHORITY_HOST,
                graph_base_url=settings.GRAPH_BASE_URL,
                timeout_seconds=settings.TEAMS_TIMEOUT_SECONDS,
                ca_bundle=settings.TEAMS_CA_BUNDLE,
            )
        )
    raise VideoProviderError("No video service is set up: set VIDEO_PROVIDER to jitsi or teams (docs/video.md)")


@functools.lru_cache(maxsize=4)
def _teams_provider(teams_settings: TeamsSettings) -> VideoProvider:
    # One per configuration and process, so that msal's token (valid for about an hour) and Graph's connections
    # are reused rather than fetched for every appointment.
    from careportal.video.teams import TeamsProvider

    return TeamsProvider(teams_settings)
