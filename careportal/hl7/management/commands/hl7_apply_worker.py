"""`manage.py hl7_apply_worker`: a dedicated worker applying messages that interfaces acknowledging after store
have stored (careportal/hl7/stored_services.py), batch after batch, polling every --poll seconds when none wait.

The task queue (`db_worker`) applies them too, woken by the listener; run this instead, or as well, when volumes
deserve workers of their own: several at once on PostgreSQL (each takes its own patients, in arrival order), one on
SQLite. SIGTERM or SIGINT: the batch in hand is finished and committed, then it exits. `--status` prints how many
messages wait and since when, and exits; `--until-empty` exits once none wait (benchmarks, catching up by hand).
"""

from __future__ import annotations

import signal
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from careportal.hl7.stored_services import stored_apply_batch, stored_waiting_count, stored_waiting_summary


def positive_float(value: str) -> float:
    number = float(value)
    if not 0 < number <= 3600:
        raise ValueError(value)
    return number


def batch_size(value: str) -> int:
    number = int(value)
    if not 1 <= number <= 10_000:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = "Apply HL7 messages stored and acknowledged but not applied yet (interfaces acknowledging after store)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=batch_size,
            default=settings.HL7_STORED_BATCH_SIZE,
            help="Messages per transaction, 1 to 10000 (default: %(default)s).",
        )
        parser.add_argument(
            "--poll",
            type=positive_float,
            default=0.2,
            help="Seconds to wait before looking again when no message waits (default: %(default)s).",
        )
        parser.add_argument("--until-empty", action="store_true", help="Exit once no message waits.")
        parser.add_argument("--status", action="store_true", help="Print how many messages wait, and exit.")

    def handle(self, *args: Any, batch_size: int, poll: float, until_empty: bool, status: bool, **options: Any) -> None:
        if status:
            summary = stored_waiting_summary()
            since = f", the oldest received {summary.oldest_received_at:%Y-%m-%d %H:%M:%S %Z}" if summary.count else ""
            arrivals = f" ({summary.arrivals} not in the journal yet)" if summary.arrivals else ""
            self.stdout.write(f"{summary.count} messages waiting to be applied{arrivals}{since}.")
            return
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        applied = waiting = 0
        while not stopping:
            close_old_connections()
            try:
                result = stored_apply_batch(limit=batch_size)
            except Exception as exc:
                # The batch rolled back: its messages wait for the next try. A database that went away is the
                # usual cause; wait, then try again, rather than exit and leave messages unapplied.
                self.stderr.write(f"Batch not applied ({type(exc).__name__}); trying again in {poll * 10:.0f} s")
                time.sleep(poll * 10)
                continue
            applied += result.applied + result.duplicates
            waiting += result.waiting
            if result.done or result.moved:
                continue
            if until_empty and stored_waiting_count() == 0:
                break
            time.sleep(poll)
        self.stdout.write(f"Applied {applied}; in the unmatched queue {waiting}.")
        if stopping and until_empty and stored_waiting_count():
            raise CommandError("Stopped before every message was applied")
