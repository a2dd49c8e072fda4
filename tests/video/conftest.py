import socket
from collections.abc import Iterator

import pytest

from careportal.video import providers
from careportal.video.teams import TeamsSettings
from tests.video.graph_server import CLIENT_ID, CLIENT_SECRET, ORGANIZER_ID, TENANT_ID, GraphServer


@pytest.fixture
def graph(tmp_path) -> Iterator[GraphServer]:
    """A Graph-shaped HTTPS server on 127.0.0.1 (tests/video/graph_server.py); fails the test if it saw a malformed
    request."""
    server = GraphServer(tmp_path)
    server.start()
    yield server
    server.stop()
    assert server.problems == []


@pytest.fixture
def teams_settings(graph) -> TeamsSettings:
    return TeamsSettings(
        tenant_id=TENANT_ID,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        organizer_user_id=ORGANIZER_ID,
        authority_host=graph.url,
        graph_base_url=graph.graph_base_url,
        timeout_seconds=5,
        ca_bundle=str(graph.ca_path),
    )


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def _fresh_teams_providers() -> Iterator[None]:
    providers._teams_provider.cache_clear()
    yield
    providers._teams_provider.cache_clear()
