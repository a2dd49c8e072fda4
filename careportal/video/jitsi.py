"""Jitsi Meet on the trust's own server: a room per appointment, and optionally a signed token to enter it.

No call to the Jitsi server is needed: a Jitsi room exists as soon as someone opens its address. What keeps a
stranger out is therefore the room name, and (when the server uses token authentication) the token:

- The room name is 128 bits from an HMAC of the appointment's reference, keyed by SECRET_KEY (Django's
  `salted_hmac`, with a salt of its own), so it cannot be guessed or worked out from the reference, and asking twice
  for the same appointment gives the same room: a retried task does not hand out a second room. A random name kept
  only in the database would be as unguessable, but a retry after a crash between "create" and "save" would make a
  second room; the HMAC needs no extra state and no extra secret to manage. Once made, the room name is kept with
  the meeting (`Meeting.external_id`), so moving the appointment keeps its room even if SECRET_KEY is later changed.
- With JITSI_APP_ID and JITSI_APP_SECRET set (Prosody's `authentication = "token"`), the join link carries a JWT
  (HS256) for that room only, valid from shortly before the appointment until a while after its end
  (JITSI_TOKEN_EARLY_MINUTES, JITSI_TOKEN_LATE_MINUTES). Moving the appointment issues a new token for the same room.

The join link is a credential: it is stored with the appointment, shown to the patient, and never logged.
"""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import jwt
from django.utils.crypto import salted_hmac

from careportal.video.providers import Meeting, MeetingRequest, VideoProviderError

NAME = "jitsi"
ROOM_SALT = "careportal.video.jitsi.room"
ROOM_PREFIX = "videoconsultation"
# 128 bits of the HMAC, in lower-case base32 (Prosody lower-cases room names, so a case-sensitive alphabet such as
# base64 would lose bits).
ROOM_BYTES = 16


def room_name_for(reference: str) -> str:
    if not reference:
        raise VideoProviderError("Jitsi: a meeting needs an appointment reference")
    digest = salted_hmac(ROOM_SALT, reference, algorithm="sha256").digest()[:ROOM_BYTES]
    token = base64.b32encode(digest).decode("ascii").rstrip("=").lower()
    return f"{ROOM_PREFIX}-{token}"


@dataclass(frozen=True)
class JitsiTokenSettings:
    app_id: str
    app_secret: str
    audience: str
    early: datetime.timedelta
    late: datetime.timedelta


class JitsiProvider:
    name = NAME

    def __init__(self, *, base_url: str, token: JitsiTokenSettings | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in {"https", "http"} or not parts.hostname:
            raise VideoProviderError("Jitsi: JITSI_BASE_URL must be an https address, such as https://meet.example.org")
        if parts.query or parts.fragment:
            raise VideoProviderError("Jitsi: JITSI_BASE_URL must not have a query string or a fragment")
        self.base_url = base_url.rstrip("/")
        self.token = token
        # Prosody compares `sub` with the tenant for https://host/TENANT/ROOM addresses, else with the domain.
        path = parts.path.strip("/")
        self.subject = (path.rsplit("/", 1)[-1] if path else parts.hostname).lower()

    def meeting_create(self, request: MeetingRequest) -> Meeting:
        return self._meeting(room_name_for(request.reference), request)

    def meeting_update(self, meeting: Meeting, request: MeetingRequest) -> Meeting:
        # The same room as before (the one kept with the meeting), with a token for the new times.
        room = meeting.external_id or room_name_for(request.reference)
        return self._meeting(room, request)

    def meeting_cancel(self, meeting: Meeting) -> None:
        # Nothing to tell the server: a Jitsi room lives only while people are in it. The portal stops showing the
        # link; a token in a link already seen stops working at its expiry time.
        return None

    def _meeting(self, room: str, request: MeetingRequest) -> Meeting:
        if request.end <= request.start:
            raise VideoProviderError("Jitsi: a meeting must end after it starts")
        url = f"{self.base_url}/{room}"
        if self.token is not None:
            url += "?" + urlencode({"jwt": self._token_for(room, request)})
        return Meeting(provider=NAME, external_id=room, join_url=url)

    def _token_for(self, room: str, request: MeetingRequest) -> str:
        token = self.token
        if token is None:
            raise VideoProviderError("Jitsi: no token settings")
        claims = {
            "iss": token.app_id,
            "aud": token.audience,
            "sub": self.subject,
            "room": room,
            "nbf": int((request.start - token.early).timestamp()),
            "exp": int((request.end + token.late).timestamp()),
        }
        # No `context` (name, email, avatar): nothing about the patient goes into a link.
        return jwt.encode(claims, token.app_secret, algorithm="HS256")
