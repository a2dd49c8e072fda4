"""Tasks for the tests of background tasks and the scheduler. Module-level, so a worker can import them by path."""

import os
import signal

from django.db import connection
from django_tasks import task

# What the tasks did, in order; tests/core/conftest.py empties it before each test.
CALLS: list[str] = []


@task()
def record(label: str) -> str:
    CALLS.append(label)
    return label


@task(queue_name="not-a-configured-queue")
def on_an_unknown_queue() -> None:
    CALLS.append("on_an_unknown_queue")


@task()
def stop_this_process(signal_name: str = "SIGTERM") -> None:
    """Sends SIGTERM (or the signal named) to this process, as an operator stopping the scheduler would."""
    CALLS.append("stop_this_process")
    os.kill(os.getpid(), signal.Signals[signal_name])


@task()
def cut_the_scheduler_lock_connection() -> None:
    """Ends the PostgreSQL session that holds the scheduler's advisory lock, as a database restart would."""
    CALLS.append("cut_the_scheduler_lock_connection")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"
        )
