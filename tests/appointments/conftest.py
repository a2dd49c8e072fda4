import pytest

from careportal.hl7.interfaces import interfaces_cache_clear
from tests.hl7.interfaces import configure_test_interfaces

_DB_FIXTURES = {"db", "transactional_db", "live_server"}


@pytest.fixture(autouse=True)
def test_interfaces(request: pytest.FixtureRequest):
    """The inbound interfaces of the test senders (tests/hl7/interfaces.py), for every test with a database."""
    names = set(request.fixturenames)
    marker = request.node.get_closest_marker("django_db")
    if not (names & _DB_FIXTURES or marker):
        yield None
        return
    transactional = (
        "transactional_db" in names or "live_server" in names or bool(marker and marker.kwargs.get("transaction"))
    )
    request.getfixturevalue("transactional_db" if transactional else "db")
    interfaces = configure_test_interfaces()
    yield interfaces
    interfaces_cache_clear()


@pytest.fixture
def video(monkeypatch):
    """The video service, replaced by a local stand-in (tests/appointments/video.py)."""
    from tests.appointments.video import FakeVideoProvider

    provider = FakeVideoProvider()
    monkeypatch.setattr("careportal.appointments.services.video_provider", lambda: provider)
    return provider
