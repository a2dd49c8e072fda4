"""The Django admin's appointment pages: what staff see of a failed video meeting, and never the join link."""

import pytest
from django.test import Client

from careportal.appointments.models import MeetingStatus
from tests.accounts.factories import UserFactory
from tests.appointments.factories import AppointmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    return client


def test_failed_meetings_are_listed_with_the_reason_and_never_the_link(admin_client) -> None:
    failed = AppointmentFactory(
        kind="video",
        video_meeting_status=MeetingStatus.FAILED,
        video_meeting_error="VideoProviderError: the video service answered HTTP 503",
    )
    ready = AppointmentFactory(
        kind="video", video_meeting_status=MeetingStatus.READY, video_join_url="https://video.example/join/secret"
    )

    listing = admin_client.get("/admin/appointments/appointment/?video_meeting_status__exact=failed")
    page = admin_client.get(f"/admin/appointments/appointment/{ready.pk}/change/")
    failed_page = admin_client.get(f"/admin/appointments/appointment/{failed.pk}/change/")

    assert listing.status_code == 200
    assert failed.external_id in listing.content.decode()
    assert ready.external_id not in listing.content.decode()
    assert page.status_code == 200
    assert "secret" not in page.content.decode()
    assert "the video service answered HTTP 503" in failed_page.content.decode()


def test_staff_can_try_a_failed_meeting_again(admin_client, monkeypatch) -> None:
    from tests.appointments.video import FakeVideoProvider

    provider = FakeVideoProvider()
    monkeypatch.setattr("careportal.appointments.services.video_provider", lambda: provider)
    failed = AppointmentFactory(kind="video", video_meeting_status=MeetingStatus.FAILED, video_meeting_attempts=8)

    response = admin_client.post(
        "/admin/appointments/appointment/",
        {"action": "retry_video_meeting", "_selected_action": [failed.pk]},
    )

    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.video_meeting_status == MeetingStatus.PENDING
    assert failed.video_meeting_attempts == 0
