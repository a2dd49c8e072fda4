import pytest


@pytest.fixture
def video(monkeypatch):
    """The video service, replaced by a local stand-in (tests/appointments/video.py)."""
    from tests.appointments.video import FakeVideoProvider

    provider = FakeVideoProvider()
    monkeypatch.setattr("careportal.appointments.services.video_provider", lambda: provider)
    return provider
