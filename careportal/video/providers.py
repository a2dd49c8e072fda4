"""Video consultations: the small interface every video provider implements, and the configured provider.

Appointments (careportal/appointments) ask the configured provider for a meeting when a video appointment is booked
or moved, outside the transaction that applied the HL7 message, and keep the join link on the appointment. The join
link is a credential for the meeting: it is shown only to the patient (and proxies with the appointments scope) on the
appointment page, in its joining window, and is never put in an email, an SMS or a log line.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Protocol


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
    """The provider named by the VIDEO_PROVIDER setting ("jitsi" or "teams"), built from its settings."""
    raise NotImplementedError("careportal/video: the Jitsi and Teams providers are being built (issue 12)")
