"""The scheduler's work: enqueue the periodic jobs that are due, and make sure only one scheduler does it.

Single instance
---------------
Two schedulers enqueueing the same jobs would double every periodic job, so `run_scheduler` holds a lock that the
operating system or database server releases by itself when the process dies (no stale lock to clear by hand):

- PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) on a connection of its own, opened for the lock
  and kept for the scheduler's lifetime. Django's usual connection is closed and reopened between ticks
  (CONN_MAX_AGE), which would drop a lock taken on it; this one is not. Advisory locks belong to one database, so
  schedulers of different databases (or the test database) never block each other. Every tick checks that the
  session still holds the lock; if the connection was lost, the scheduler stops with an error instead of running
  on unguarded, and its supervisor restarts it.
- SQLite: an exclusive `flock` on a file beside the database file (`<database>-scheduler.lock`). SQLite databases
  live on one machine's local disk, so every process that can open the database can see that lock; the kernel drops
  it when the process exits, however it exits. (An in-memory database belongs to one process: its lock file is
  named after that process.)

Exactly once
------------
The row of `ScheduledJobRun` is advanced with a compare-and-set (`UPDATE ... WHERE last_enqueued_at = <what we
read>`) in the same transaction as the enqueue. With the database task backend the task row is written in that
transaction too, so a job is enqueued and recorded together or not at all. Even if two schedulers somehow ran at
once, the compare-and-set lets only one of them enqueue a given run.
"""

import datetime
import fcntl
import os
import tempfile
from pathlib import Path
from typing import Protocol

import structlog
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from careportal.core.models import ScheduledJobRun
from careportal.core.schedule import PeriodicJob

logger = structlog.get_logger(__name__)

# pg_try_advisory_lock(int, int): a CarePortal namespace ("Care" in ASCII) and the scheduler's number in it.
ADVISORY_LOCK_NAMESPACE = 0x43617265
ADVISORY_LOCK_SCHEDULER = 1


def enqueue_if_due(job: PeriodicJob, *, now: datetime.datetime | None = None) -> bool:
    """Enqueue `job` if it is due, and record that it was. Returns whether it was enqueued."""
    now = now or timezone.now()
    run, _ = ScheduledJobRun.objects.get_or_create(name=job.name)
    if not job.is_due(last_enqueued_at=run.last_enqueued_at, now=now):
        return False
    with transaction.atomic():
        claimed = ScheduledJobRun.objects.filter(pk=run.pk, last_enqueued_at=run.last_enqueued_at).update(
            last_enqueued_at=now
        )
        if not claimed:
            # Someone else advanced the row since we read it: that run is theirs.
            return False
        # Enqueued inside the transaction on purpose (not on commit): with the database backend the task row then
        # commits together with the record above, so a crash between the two can neither lose nor repeat a run.
        result = job.task.enqueue(**job.kwargs)
        ScheduledJobRun.objects.filter(pk=run.pk).update(last_task_result_id=str(result.id))
    logger.info("scheduled_job_enqueued", job=job.name, task_result_id=str(result.id))
    return True


def enqueue_due_jobs(jobs: list[PeriodicJob], *, now: datetime.datetime | None = None) -> list[str]:
    """Enqueue every job that is due; one failing job does not hold up the others. Returns the names enqueued."""
    enqueued = []
    for job in jobs:
        try:
            if enqueue_if_due(job, now=now):
                enqueued.append(job.name)
        except Exception:
            # Nothing was recorded, so the job is still due and the next tick tries again.
            logger.exception("scheduled_job_enqueue_failed", job=job.name)
    return enqueued


class SchedulerLock(Protocol):
    description: str

    def acquire(self) -> bool:
        """Take the lock if nobody holds it; never waits."""
        ...

    def is_held(self) -> bool:
        """Whether this process still holds the lock it acquired."""
        ...

    def release(self) -> None: ...


class PostgresAdvisoryLock:
    description = "PostgreSQL advisory lock"

    def __init__(self, alias: str = "default") -> None:
        self.alias = alias
        self._connection: BaseDatabaseWrapper | None = None

    def acquire(self) -> bool:
        if self._connection is not None:
            return True
        # A connection of our own, outside django.db.connections, so nothing else closes or reuses it.
        connection = connections.create_connection(self.alias)
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_try_advisory_lock(%s, %s)", [ADVISORY_LOCK_NAMESPACE, ADVISORY_LOCK_SCHEDULER]
                )
                (acquired,) = cursor.fetchone()
        except BaseException:
            connection.close()
            raise
        if acquired:
            self._connection = connection
        else:
            connection.close()
        return bool(acquired)

    def is_held(self) -> bool:
        if self._connection is None:
            return False
        try:
            with self._connection.cursor() as cursor:
                cursor.execute(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND pid = pg_backend_pid() AND classid = %s::oid AND objid = %s::oid AND objsubid = 2)",
                    [ADVISORY_LOCK_NAMESPACE, ADVISORY_LOCK_SCHEDULER],
                )
                (held,) = cursor.fetchone()
        except DatabaseError:
            return False
        return bool(held)

    def release(self) -> None:
        if self._connection is None:
            return
        try:
            with self._connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [ADVISORY_LOCK_NAMESPACE, ADVISORY_LOCK_SCHEDULER])
        except DatabaseError:
            pass  # The session is gone, and the lock with it.
        finally:
            # Closing the session releases the lock in any case.
            self._connection.close()
            self._connection = None


class FileLock:
    description = "file lock"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        # For an operator wondering who holds it. The file itself is never deleted: deleting a lock file lets a
        # second process lock a new file while the first still holds the old one.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def is_held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None


def sqlite_lock_path(connection: BaseDatabaseWrapper) -> Path:
    if connection.is_in_memory_db():  # type: ignore[attr-defined]
        return Path(tempfile.gettempdir()) / f"careportal-scheduler-memory-{os.getpid()}.lock"
    # Named like SQLite's own -wal and -shm files, which sit beside the database the same way.
    return Path(f"{connection.settings_dict['NAME']}-scheduler.lock")


def scheduler_lock(alias: str = "default") -> SchedulerLock:
    connection = connections[alias]
    if connection.vendor == "postgresql":
        return PostgresAdvisoryLock(alias)
    if connection.vendor == "sqlite":
        return FileLock(sqlite_lock_path(connection))
    raise ImproperlyConfigured(f"run_scheduler supports PostgreSQL and SQLite, not {connection.vendor}")
