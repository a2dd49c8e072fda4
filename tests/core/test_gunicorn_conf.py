"""careportal/config/gunicorn.conf.py: every setting from the environment, its defaults, and the one combination
it refuses."""

import runpy
from pathlib import Path
from typing import Any

import pytest

CONF = Path(__file__).resolve().parents[2] / "careportal" / "config" / "gunicorn.conf.py"
WEB_SETTINGS = ("WEB_PROCESSES", "WEB_CONCURRENCY", "WEB_THREADS", "WEB_WORKER_CONNECTIONS", "WEB_BIND", "WEB_PORT")


def _conf(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    for name in WEB_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONF))


def test_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = _conf(monkeypatch)
    assert conf["worker_class"] == "gthread"
    assert conf["threads"] == 2
    assert conf["worker_connections"] == 1000  # gunicorn's own
    assert conf["bind"] == ["127.0.0.1:8000"]


def test_the_environment_sets_processes_threads_and_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = _conf(monkeypatch, WEB_PROCESSES="3", WEB_THREADS="4", WEB_WORKER_CONNECTIONS="16", WEB_PORT="9001")
    assert (conf["workers"], conf["threads"], conf["worker_connections"]) == (3, 4, 16)
    assert conf["bind"] == ["127.0.0.1:9001"]


@pytest.mark.parametrize("connections", ["2", "1"])
def test_connections_at_or_below_the_threads_are_refused_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, connections: str
) -> None:
    with pytest.raises(SystemExit, match=r"WEB_WORKER_CONNECTIONS \(\d\) must be more than WEB_THREADS \(2\)"):
        _conf(monkeypatch, WEB_THREADS="2", WEB_WORKER_CONNECTIONS=connections)
