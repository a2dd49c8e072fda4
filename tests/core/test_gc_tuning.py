"""The garbage collector's settings for CarePortal's processes (careportal/core/gc_tuning.py): every process that
loads the application is tuned. What it saves a batch of HL7 messages: tests/hl7/test_performance.py."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.conf import settings

from careportal.core.gc_tuning import gc_tune

PYTHON_DEFAULT_THRESHOLD = 700


@contextmanager
def gc_state_kept() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.freeze()  # what the test unfroze or left unfrozen goes back out of the collector's reach


def test_the_young_generation_threshold_is_raised_and_the_rest_kept():
    with gc_state_kept():
        gc.set_threshold(PYTHON_DEFAULT_THRESHOLD, 10, 10)
        gc.unfreeze()
        gc_tune(12_345)
        assert gc.get_threshold() == (12_345, 10, 10)
        assert gc.get_freeze_count() > 0


def test_zero_leaves_pythons_own_settings_alone():
    with gc_state_kept():
        gc.set_threshold(PYTHON_DEFAULT_THRESHOLD, 10, 10)
        gc.unfreeze()
        gc_tune(0)
        assert gc.get_threshold() == (PYTHON_DEFAULT_THRESHOLD, 10, 10)
        assert gc.get_freeze_count() == 0


def _python_loading_the_application(code: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter that imports the WSGI module (as gunicorn does in each web process; manage.py commands,
    the task worker, the HL7 listener and workers and hl7_import, load the same apps through django.setup()), then
    runs `code`."""
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "careportal.config.settings.test",
        "DATABASE_URL": "sqlite:///:memory:",
        **environment,
    }
    return subprocess.run(
        [sys.executable, "-c", f"import careportal.config.wsgi\n{code}"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # a safety net for a loaded machine, not a timing assertion
    )


@pytest.mark.database_independent
@pytest.mark.parametrize(
    ("environment", "expected"),
    [({}, "10000 True"), ({"GC_GENERATION0_THRESHOLD": "0"}, f"{PYTHON_DEFAULT_THRESHOLD} False")],
    ids=["default", "turned-off"],
)
def test_every_process_that_loads_the_application_is_tuned(environment, expected):
    result = _python_loading_the_application(
        "import gc; print(gc.get_threshold()[0], gc.get_freeze_count() > 0)", **environment
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected


@pytest.mark.database_independent
def test_a_negative_threshold_stops_start_up_with_a_clear_message():
    result = _python_loading_the_application("", GC_GENERATION0_THRESHOLD="-5")
    assert result.returncode != 0
    assert "GC_GENERATION0_THRESHOLD must be 0 (Python's defaults) or more" in result.stderr
