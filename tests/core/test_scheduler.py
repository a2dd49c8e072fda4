"""`manage.py run_scheduler`: enqueues each due job once, survives restarts, and only one runs at a time."""

import datetime
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import quote

import pytest
import time_machine
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django_tasks_db.models import DBTaskResult

from careportal.core.logging import EVENT_DICT
from careportal.core.models import ScheduledJobRun
from careportal.core.schedule import LONDON
from careportal.core.scheduler import scheduler_lock
from tests.core import sample_tasks
from tests.core.sample_tasks import CALLS

MINUTE = datetime.timedelta(minutes=1)
on_postgresql = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql", reason="PostgreSQL only"
)


def at_london(*args: int) -> time_machine.travel:
    return time_machine.travel(datetime.datetime(*args, tzinfo=LONDON), tick=False)


def run_once() -> None:
    call_command("run_scheduler", "--once")


@pytest.mark.django_db
def test_once_enqueues_due_jobs_and_records_when(periodic_jobs):
    periodic_jobs.register("test.daily", sample_tasks.record, daily_at=datetime.time(0, 5), kwargs={"label": "d"})
    periodic_jobs.register("test.minutely", sample_tasks.record, every=MINUTE, kwargs={"label": "m"})

    with at_london(2026, 6, 10, 12, 0):
        run_once()
        now = datetime.datetime.now(tz=datetime.UTC)

    assert sorted(CALLS) == ["d", "m"]
    runs = {run.name: run for run in ScheduledJobRun.objects.all()}
    assert set(runs) == {"test.daily", "test.minutely"}
    assert all(run.last_enqueued_at == now for run in runs.values())
    assert all(run.last_task_result_id for run in runs.values())


@pytest.mark.django_db
def test_daily_job_is_not_enqueued_again_after_a_restart(periodic_jobs):
    periodic_jobs.register("test.daily", sample_tasks.record, daily_at=datetime.time(0, 5), kwargs={"label": "d"})

    with at_london(2026, 6, 10, 0, 5, 2):
        run_once()
    assert CALLS == ["d"]
    # Each run_once is a fresh start of the scheduler: all it knows is what the database recorded.
    for hour, minute in [(0, 6), (9, 0), (23, 59)]:
        with at_london(2026, 6, 10, hour, minute):
            run_once()
    with at_london(2026, 6, 11, 0, 4, 59):
        run_once()
    assert CALLS == ["d"]

    with at_london(2026, 6, 11, 0, 5):
        run_once()
    assert CALLS == ["d", "d"]


@pytest.mark.django_db
def test_a_missed_daily_run_is_caught_up_once(periodic_jobs):
    periodic_jobs.register("test.daily", sample_tasks.record, daily_at=datetime.time(0, 5), kwargs={"label": "d"})
    with at_london(2026, 6, 8, 0, 5):
        run_once()
    CALLS.clear()

    # The scheduler was down from the 8th until 09:30 on the 11th: three midnights missed, one catch-up run.
    with at_london(2026, 6, 11, 9, 30):
        run_once()
        run_once()
    with at_london(2026, 6, 11, 9, 31):
        run_once()
    assert CALLS == ["d"]

    with at_london(2026, 6, 12, 0, 5):
        run_once()
    assert CALLS == ["d", "d"]


@pytest.mark.django_db
def test_a_missed_interval_job_is_caught_up_once_then_keeps_its_interval(periodic_jobs):
    periodic_jobs.register("test.minutely", sample_tasks.record, every=MINUTE, kwargs={"label": "m"})
    with at_london(2026, 6, 10, 12, 0):
        run_once()
    with at_london(2026, 6, 10, 12, 0, 30):
        run_once()
    assert CALLS == ["m"]

    with at_london(2026, 6, 10, 13, 0):  # an hour down
        run_once()
        run_once()
    with at_london(2026, 6, 10, 13, 0, 59):
        run_once()
    assert CALLS == ["m", "m"]
    with at_london(2026, 6, 10, 13, 1):
        run_once()
    assert CALLS == ["m", "m", "m"]


@pytest.mark.django_db
def test_a_job_that_cannot_be_enqueued_stays_due_and_does_not_hold_up_the_others(periodic_jobs, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default"]}}
    periodic_jobs.register("test.broken", sample_tasks.on_an_unknown_queue, every=MINUTE)
    periodic_jobs.register("test.working", sample_tasks.record, every=MINUTE, kwargs={"label": "w"})

    run_once()

    assert CALLS == ["w"]
    assert ScheduledJobRun.objects.get(name="test.broken").last_enqueued_at is None
    assert ScheduledJobRun.objects.get(name="test.working").last_enqueued_at is not None


@pytest.mark.django_db(transaction=True)
def test_scheduled_job_goes_through_the_database_queue_to_a_worker(periodic_jobs, database_task_backend, run_db_worker):
    periodic_jobs.register("test.daily", sample_tasks.record, daily_at=datetime.time(0, 5), kwargs={"label": "d"})

    run_once()
    run_once()

    stored = DBTaskResult.objects.get()
    assert str(stored.id) == ScheduledJobRun.objects.get(name="test.daily").last_task_result_id
    assert CALLS == []
    run_db_worker()
    assert CALLS == ["d"]


# The lock: two schedulers never both enqueue.


@pytest.mark.django_db
def test_scheduler_lock_is_held_by_one_scheduler_at_a_time():
    first, second = scheduler_lock(), scheduler_lock()
    try:
        assert first.acquire()
        assert first.is_held()
        assert not second.acquire()
        assert not second.is_held()
        first.release()
        assert not first.is_held()
        assert second.acquire()
    finally:
        first.release()
        second.release()


@pytest.mark.django_db
def test_once_refuses_to_enqueue_while_another_scheduler_holds_the_lock(periodic_jobs):
    periodic_jobs.register("test.minutely", sample_tasks.record, every=MINUTE, kwargs={"label": "m"})
    other = scheduler_lock()
    assert other.acquire()
    try:
        with pytest.raises(CommandError, match="Another scheduler holds the scheduler lock"):
            run_once()
    finally:
        other.release()
    assert CALLS == []
    assert not ScheduledJobRun.objects.exists()


class LogEvents(logging.Handler):
    """Collects structlog event names (the `event` of each line), so a test can wait for one."""

    def __init__(self) -> None:
        super().__init__()
        self.events: queue.Queue[str] = queue.Queue()

    def emit(self, record: logging.LogRecord) -> None:
        event_dict = getattr(record, EVENT_DICT, None)
        if event_dict is not None:
            self.events.put(event_dict.get("event", ""))

    def wait_for(self, event: str, timeout: float = 10) -> None:
        while self.events.get(timeout=timeout) != event:
            pass


@pytest.fixture
def log_events():
    handler = LogEvents()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
@pytest.mark.django_db(transaction=True)
def test_scheduler_stops_cleanly_on_sigterm_or_sigint(periodic_jobs, signal_name):
    periodic_jobs.register(
        "test.stop", sample_tasks.stop_this_process, every=MINUTE, kwargs={"signal_name": signal_name}
    )
    handlers_before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}

    # The job sends the signal to this process during the first tick; the loop must finish the tick and return.
    call_command("run_scheduler", "--interval", "0.05")

    assert CALLS == ["stop_this_process"]
    assert {signum: signal.getsignal(signum) for signum in handlers_before} == handlers_before
    lock = scheduler_lock()
    assert lock.acquire(), "the scheduler released its lock on the way out"
    lock.release()


@pytest.mark.django_db(transaction=True)
def test_a_second_scheduler_waits_for_the_lock_then_takes_over(periodic_jobs, log_events):
    periodic_jobs.register("test.stop", sample_tasks.stop_this_process, every=MINUTE)
    holding, done = threading.Event(), threading.Event()

    def first_scheduler() -> None:
        # Holds the lock (from its own thread and, on PostgreSQL, its own session) until the second one waits.
        lock = scheduler_lock()
        lock.acquire()
        holding.set()
        try:
            log_events.wait_for("scheduler_waiting_for_lock")
        finally:
            lock.release()
            done.set()

    thread = threading.Thread(target=first_scheduler)
    thread.start()
    assert holding.wait(10)
    try:
        call_command("run_scheduler", "--interval", "0.05")
    finally:
        thread.join(10)
    assert done.is_set()
    # It waited, took over once the lock was free, ran the job (which stopped it) and nothing ran before that.
    assert CALLS == ["stop_this_process"]


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_scheduler_stops_when_its_lock_session_is_lost(periodic_jobs):
    periodic_jobs.register("test.cut", sample_tasks.cut_the_scheduler_lock_connection, every=MINUTE)
    with pytest.raises(CommandError, match="lost its lock"):
        call_command("run_scheduler", "--interval", "0.05")
    assert CALLS == ["cut_the_scheduler_lock_connection"]


# Real processes: SIGTERM from outside, a standby taking over, --once refused. On PostgreSQL they share the test
# database; on SQLite (whose test database lives in this process's memory) a database file of their own.


class Process:
    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            self.output.append(line)
            self.lines.put(line)

    def wait_for(self, event: str, timeout: float = 20) -> None:
        while f'"event": "{event}"' not in self.lines.get(timeout=timeout):
            pass

    def stop(self) -> int:
        self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout=20)

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


def scheduler_environment(tmp_path: Path) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "careportal.config.settings.base",
        "CAREPORTAL_ENV": "development",
        "LOG_FORMAT": "json",
    }
    database = connection.settings_dict
    if connection.vendor == "postgresql":
        password = f":{quote(database['PASSWORD'], safe='')}" if database.get("PASSWORD") else ""
        env["DATABASE_URL"] = (
            f"postgres://{quote(database['USER'], safe='')}{password}"
            f"@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/{database['NAME']}"
        )
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'scheduler.sqlite3'}"
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
            cwd=settings.BASE_DIR,
            env=env,
            check=True,
            timeout=240,  # every migration on a fresh file: over a minute when the machine is busy
        )
    return env


@pytest.mark.django_db(transaction=True)
def test_scheduler_processes_stop_on_sigterm_and_a_standby_takes_over(tmp_path):
    env = scheduler_environment(tmp_path)
    first = Process("run_scheduler", "--interval", "0.1", env=env)
    second = None
    try:
        first.wait_for("scheduler_started")
        first.wait_for("scheduled_job_enqueued")  # the prune job, never run in this database before
        second = Process("run_scheduler", "--interval", "0.1", env=env)
        second.wait_for("scheduler_waiting_for_lock")

        refused = subprocess.run(
            [sys.executable, "manage.py", "run_scheduler", "--once"],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 1
        assert "Another scheduler holds the scheduler lock" in refused.stderr

        assert first.stop() == 0
        assert '"event": "scheduler_stopped"' in first.output[-1]
        assert '"signal": "SIGTERM"' in first.output[-1]

        second.wait_for("scheduler_started")
        assert second.stop() == 0
    finally:
        first.kill()
        if second is not None:
            second.kill()
    # The standby found the daily job already enqueued: one enqueue between them.
    enqueued = [
        line
        for line in first.output + second.output
        if '"event": "scheduled_job_enqueued"' in line and '"job": "core.prune_task_results"' in line
    ]
    assert len(enqueued) == 1
    if connection.vendor == "sqlite":
        # Beside the database, named like its -wal and -shm files (so .gitignore's *.sqlite3-* covers it).
        assert (tmp_path / "scheduler.sqlite3-scheduler.lock").is_file()
