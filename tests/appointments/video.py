"""A stand-in for the video service (Jitsi, Microsoft Teams): the VideoProvider protocol, recording what it was
asked. Not a mock of CarePortal's code: a test double for an external service, as tests/smtp.py is for email."""

from dataclasses import dataclass, field

from careportal.video.providers import Meeting, MeetingRequest, VideoProviderError


@dataclass
class FakeVideoProvider:
    name: str = "fake"
    fail: bool = False
    created: list[MeetingRequest] = field(default_factory=list)
    updated: list[tuple[Meeting, MeetingRequest]] = field(default_factory=list)
    cancelled: list[Meeting] = field(default_factory=list)

    def _check(self) -> None:
        if self.fail:
            raise VideoProviderError("the video service answered HTTP 503")

    def meeting_create(self, request: MeetingRequest) -> Meeting:
        self._check()
        self.created.append(request)
        return Meeting(
            provider=self.name,
            external_id=f"meeting-{len(self.created)}",
            join_url=f"https://video.example.nhs.uk/join/secret-{request.reference}-{len(self.created)}",
        )

    def meeting_update(self, meeting: Meeting, request: MeetingRequest) -> Meeting:
        self._check()
        self.updated.append((meeting, request))
        return meeting

    def meeting_cancel(self, meeting: Meeting) -> None:
        self._check()
        self.cancelled.append(meeting)
