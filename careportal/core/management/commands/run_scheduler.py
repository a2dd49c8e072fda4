"""`manage.py run_scheduler`: enqueue periodic jobs when they are due. Run exactly one per database.

A plain loop: every `--interval` seconds, enqueue the jobs that are due (careportal.core.scheduler) for the workers
(`manage.py db_worker`) to run. A second scheduler started by mistake, or during a rolling restart, waits on the
lock and takes over when the first stops. SIGTERM or SIGINT stop the loop after the current tick; a second signal
stops it at once.
"""

import signal
import threading
from types import FrameType
from typing import Any

import structlog
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from careportal.core.schedule import schedule
from careportal.core.scheduler import enqueue_due_jobs, scheduler_lock

logger = structlog.get_logger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def positive_seconds(value: str) -> float:
    seconds = float(value)
    if not 0 < seconds <= 3600:
        raise ValueError(value)
    return seconds


class Command(BaseCommand):
    help = "Enqueue periodic jobs (careportal/*/jobs.py) when they are due. Run exactly one per database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Enqueue the jobs due now, then exit (fails if another holds the lock)."
        )
        parser.add_argument(
            "--interval",
            type=positive_seconds,
            default=10.0,
            help="Seconds between checks for due jobs (default: %(default)s).",
        )

    def handle(self, *args: Any, once: bool, interval: float, **options: Any) -> None:
        schedule.autodiscover()
        jobs = schedule.jobs()
        lock = scheduler_lock()
        if once:
            if not lock.acquire():
                raise CommandError("Another scheduler holds the scheduler lock: nothing was enqueued.")
            try:
                enqueue_due_jobs(jobs)
            finally:
                lock.release()
            return

        stopping = threading.Event()
        received: list[str] = []
        previous_handlers = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}

        def stop(signum: int, _frame: FrameType | None) -> None:
            # Only note it here: logging from inside a signal handler can interleave with a line being written.
            received.append(signal.Signals(signum).name)
            stopping.set()
            # A second signal takes the usual course (KeyboardInterrupt, or termination) instead of waiting.
            for other, handler in previous_handlers.items():
                signal.signal(other, handler)

        for signum in STOP_SIGNALS:
            signal.signal(signum, stop)
        try:
            self._run(jobs=jobs, lock=lock, interval=interval, stopping=stopping)
        finally:
            for signum, handler in previous_handlers.items():
                signal.signal(signum, handler)
        logger.info("scheduler_stopped", signal=received[0] if received else None)

    def _run(self, *, jobs: list, lock: Any, interval: float, stopping: threading.Event) -> None:
        waiting_logged = False
        while not lock.acquire():
            if not waiting_logged:
                logger.warning("scheduler_waiting_for_lock", lock=lock.description)
                waiting_logged = True
            if stopping.wait(interval):
                return
        try:
            logger.info(
                "scheduler_started",
                lock=lock.description,
                interval=interval,
                jobs={job.name: job.description for job in jobs},
            )
            while not stopping.is_set():
                if not lock.is_held():
                    raise CommandError("The scheduler lost its lock (database connection lost?): stopping.")
                close_old_connections()
                enqueue_due_jobs(jobs)
                close_old_connections()
                stopping.wait(interval)
        finally:
            lock.release()
