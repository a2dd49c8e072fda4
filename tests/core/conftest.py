import logging
import signal
from collections.abc import Callable

import pytest
from django.core.management import call_command

from careportal.core.schedule import Schedule, schedule
from tests.core import sample_tasks

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


@pytest.fixture(autouse=True)
def _forget_task_calls() -> None:
    sample_tasks.CALLS.clear()


@pytest.fixture
def database_task_backend(settings) -> None:
    """Tasks go to the database queue, as in production, instead of running at once as elsewhere in the tests."""
    settings.TASKS = DATABASE_TASKS


@pytest.fixture
def run_db_worker() -> Callable[[], None]:
    """Runs `manage.py db_worker` until the queue is empty, in this process.

    The command installs its own SIGINT/SIGTERM handlers and sets its loggers' levels and never undoes either;
    this puts them back, so that Ctrl+C still stops pytest and later tests see the usual logging.
    """

    def run() -> None:
        signals = [signal.SIGINT, signal.SIGTERM, signal.SIGQUIT]
        handlers = {signum: signal.getsignal(signum) for signum in signals}
        loggers = [logging.getLogger(name) for name in ("django_tasks", "django_tasks_db")]
        levels = {logger: logger.level for logger in loggers}
        try:
            call_command(
                "db_worker", "--batch", "--queue-name", "*", "--no-startup-delay", "--worker-id", "test-worker"
            )
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
            for logger, level in levels.items():
                logger.setLevel(level)

    return run


@pytest.fixture
def periodic_jobs(monkeypatch) -> Schedule:
    """The project's schedule, emptied for one test: only the jobs the test registers run."""
    schedule.autodiscover()  # import every app's jobs.py now, so that run_scheduler's autodiscover adds nothing
    monkeypatch.setattr(schedule, "_jobs", {})
    return schedule
