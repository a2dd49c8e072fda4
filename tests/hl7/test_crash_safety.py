"""Crash-safe ingestion, run for real: a real listener (`manage.py hl7_listen`) and a real apply worker
(`manage.py hl7_apply_worker`) are killed with SIGKILL at random points while senders push result messages at them
from two laboratories, one acknowledged after store (the worker applies its messages) and one after apply; each
sender sends again whatever was not acknowledged (reconnecting with a backoff), as an interface engine does. Both
modes share one listener and one worker, so that the test pays for starting processes once.

Afterwards, once the stored queue is drained:
- every message was acknowledged, and every acknowledged control id was applied exactly once (one APPLIED row; any
  other copy of it is a DUPLICATE, as the sender resent a message whose ACK the kill swallowed); no row is left
  STORED (a killed worker's claim is released with its transaction), none failed (ERROR, REJECTED);
- no report, value or history entry was written twice;
- every report converged to the state one in-order apply of the same messages gives (careportal/hl7/bulk_apply.py,
  as in tests/hl7/test_bulk_apply_equivalence.py), whatever order its preliminary, final and corrected versions
  arrived in.

The processes use a database of their own: on SQLite a file in tmp_path copied from pytest's in-memory database
(already migrated); on PostgreSQL a copy of pytest's test database made with CREATE DATABASE … TEMPLATE (as
tests/deployment/test_scale_out.py does). The in-order apply runs in pytest's own database.

Sizes (docs/hl7.md, "Crash safety"): CAREPORTAL_CRASH_MESSAGES (default 600, kept small for CI: two thirds after
store, a third after apply), CAREPORTAL_CRASH_KILLS (kills of each process, default 3), CAREPORTAL_CRASH_SEED. Most
of the wall time is the processes starting again after each kill. A soak: CAREPORTAL_CRASH_MESSAGES=30000
CAREPORTAL_CRASH_KILLS=30.
"""

from __future__ import annotations

import datetime
import os
import random
import secrets
import signal
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from django.db import connection, transaction

from careportal.hl7.bulk_apply import messages_apply_in_batch
from careportal.hl7.interfaces import interfaces_cache_clear
from careportal.hl7.models import AckMode, InboundInterface, InboundMessage, MessageSource
from careportal.hl7.services import STORED_TEXT
from careportal.patients.models import Patient
from careportal.results.models import DiagnosticReport, DiagnosticReportVersion, Observation, ReportAction
from tests.deployment.test_scale_out import Child, free_port, wait_until
from tests.hl7.mllp_client import MLLPClient, ack_code, control_id
from tests.hl7.test_bulk_apply_equivalence import oru
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = int(os.environ.get("CAREPORTAL_CRASH_MESSAGES", "600"))
KILLS = int(os.environ.get("CAREPORTAL_CRASH_KILLS", "3"))
SEED = int(os.environ.get("CAREPORTAL_CRASH_SEED", "20261206"))
CONNECTIONS = 3
PATIENTS = 30
ACK_TIMEOUT = 20.0
START_SECONDS = 60.0
DRAIN_SECONDS = 180.0
# Preliminary, final, corrected: each report gets one of these sequences, its versions reported an hour apart.
SEQUENCES = [("P", "F"), ("P", "F", "C"), ("F", "C"), ("F",), ("P", "F"), ("P", "F", "C")]
VALUES = {"P": "118", "F": "121", "C": "125"}


# --- The messages ---------------------------------------------------------------------------------------------


# Two laboratories, one per ACK mode: the messages of every third report come from the one acknowledging after
# apply.
AFTER_STORE_SENDER = b"|WINPATH|RRV_LAB|"
AFTER_APPLY_SENDER = b"|COPATH|RRV_PATH|"


def generate(count: int, rng: random.Random) -> tuple[list[bytes], list[bytes]]:
    """About `count` result messages: (in the order each report's versions were reported, shuffled)."""
    in_order: list[bytes] = []
    report = 0
    while len(in_order) < count:
        hospital_number = f"5{report % PATIENTS:07d}"
        for hour, status in enumerate(rng.choice(SEQUENCES)):
            reported = f"20261102{8 + hour:02d}{report % 60:02d}"
            raw = oru(
                f"CRASH{report:06d}{status}", hospital_number, "", f"CR-{report}", status, reported, VALUES[status]
            )
            if report % 3 == 2:
                raw = raw.replace(AFTER_STORE_SENDER, AFTER_APPLY_SENDER, 1)
            in_order.append(raw)
        report += 1
    shuffled = list(in_order)
    rng.shuffle(shuffled)
    return in_order, shuffled


# --- The processes' database ------------------------------------------------------------------------------------


class Database:
    """The processes' database: its URL for them, and plain DB-API reads for the test (no Django connection)."""

    def __init__(self, url: str, connect: Callable[[], Any]) -> None:
        self.url = url
        self._connect = connect

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        db = self._connect()
        try:
            cursor = db.cursor()
            cursor.execute(sql)
            return list(cursor.fetchall())
        finally:
            db.close()


@pytest.fixture
def crash_database(django_db_blocker: Any, tmp_path: Path) -> Iterator[Callable[[], Database]]:
    """Call it once the data the processes need is committed: it copies pytest's database for them."""
    dropped: list[Callable[[], None]] = []

    def copy() -> Database:
        if connection.vendor == "sqlite":
            path = tmp_path / "crash.sqlite3"
            with django_db_blocker.unblock():
                connection.ensure_connection()
                target = sqlite3.connect(path)
                connection.connection.backup(target)
                target.close()
            return Database(f"sqlite:///{path}", lambda: sqlite3.connect(path, timeout=30))
        settings_dict = connection.settings_dict
        template = settings_dict["NAME"]
        name = f"{template}_crash"[:63]
        password = f":{quote(settings_dict['PASSWORD'], safe='')}" if settings_dict.get("PASSWORD") else ""
        host = f"{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}"
        server = f"{quote(settings_dict['USER'], safe='')}{password}@{host}"
        with django_db_blocker.unblock():
            connection.close()  # PostgreSQL copies a database only while nobody is connected to it
        with psycopg.connect(f"postgresql://{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')

        def drop() -> None:
            with psycopg.connect(f"postgresql://{server}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        dropped.append(drop)
        return Database(f"postgres://{server}/{name}", lambda: psycopg.connect(f"postgresql://{server}/{name}"))

    yield copy
    for drop in dropped:
        drop()


# --- The processes ----------------------------------------------------------------------------------------------


class Restartable:
    """One process (the listener or the worker), killed with SIGKILL and started again, each run logging to its own
    file."""

    def __init__(self, name: str, args: list[str], *, env: dict[str, str], logs: Path) -> None:
        self.name, self.args, self.env, self.logs = name, args, env, logs
        self.runs: list[Child] = []
        self.kills = 0
        self.start()

    @property
    def current(self) -> Child:
        return self.runs[-1]

    def start(self) -> None:
        self.runs.append(Child(f"{self.name}-{len(self.runs) + 1}", self.args, env=self.env, logs=self.logs))

    def kill_and_restart(self) -> None:
        self.current.popen.send_signal(signal.SIGKILL)
        self.current.popen.wait()
        self.kills += 1
        self.start()

    def stop(self) -> None:
        self.current.stop()

    def report(self) -> str:
        return "\n".join(
            f"----- {run.name} (exit status {run.popen.returncode}) -----\n{run.tail(15)}" for run in self.runs
        )


def accepts(port: int) -> bool:
    try:
        MLLPClient("127.0.0.1", port, timeout=1).close()
    except OSError:
        return False
    return True


# --- Sending, with resends --------------------------------------------------------------------------------------


class Senders:
    """CONNECTIONS threads, each sending its share of the messages one after another and waiting for each ACK; a
    message without an ACK (connection refused, closed or reset, or no answer) is sent again on a new connection,
    after a backoff, until it is acknowledged."""

    def __init__(self, port: int, messages: list[bytes]) -> None:
        self.port = port
        self.acknowledged: dict[str, str] = {}  # control id → MSA-3 of its ACK
        self.resends = 0  # messages sent again because their connection was lost before the ACK
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._send, args=(messages[i::CONNECTIONS],), name=f"sender-{i}", daemon=True)
            for i in range(CONNECTIONS)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    @property
    def done(self) -> bool:
        return not any(thread.is_alive() for thread in self.threads)

    def count(self) -> int:
        with self.lock:
            return len(self.acknowledged)

    def _send(self, queue: list[bytes]) -> None:
        client: MLLPClient | None = None
        backoff = 0.02
        position = 0
        give_up = time.monotonic() + DRAIN_SECONDS * 2
        try:
            while position < len(queue):
                raw = queue[position]
                try:
                    if client is None:
                        client = MLLPClient("127.0.0.1", self.port, timeout=ACK_TIMEOUT)
                    ack = client.request(raw)
                except OSError:  # refused, reset, closed (ConnectionError), timed out
                    if client is not None:
                        client.close()
                        client = None
                        with self.lock:
                            self.resends += 1
                    assert time.monotonic() < give_up, "the listener stayed unreachable"
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 0.5)
                    continue
                backoff = 0.02
                code, acknowledged = ack_code(ack)
                msa = next(segment for segment in ack.split(b"\r") if segment.startswith(b"MSA|")).split(b"|")
                with self.lock:
                    if acknowledged != control_id(raw) or code != "AA":
                        self.failures.append(f"{control_id(raw)} answered {code} for {acknowledged}")
                    self.acknowledged[control_id(raw)] = msa[3].decode() if len(msa) > 3 else ""
                position += 1
        except Exception as exc:
            with self.lock:
                self.failures.append(f"sender stopped: {exc!r}")
        finally:
            if client is not None:
                client.close()


# --- What the database holds, comparable across databases and orders of arrival -----------------------------------


def _moment(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return str(value.astimezone(datetime.UTC).isoformat())


def _number(value: Any) -> str | None:
    return None if value is None else str(Decimal(str(value)).normalize())


def reports_state(rows: Callable[[str], list[tuple[Any, ...]]]) -> dict[str, Any]:
    """Each report by its order number: patient, status, report time, version count, amended, values, the earlier
    versions it keeps, and how many history entries it has. Leaves out what depends on when or in which order
    messages arrived (arrival and release times, version numbers)."""
    report_table, patient_table = DiagnosticReport._meta.db_table, Patient._meta.db_table
    state: dict[str, Any] = {}
    names: dict[int, str] = {}
    for pk, filler, hospital_number, status, reported_at, version, amended in rows(
        f"SELECT r.id, r.filler_order_number, p.hospital_number, r.status, r.reported_at, r.version, r.is_amended "  # noqa: S608
        f"FROM {report_table} r JOIN {patient_table} p ON p.id = r.patient_id"
    ):
        assert filler not in state, f"report {filler} stored twice"
        names[pk] = filler
        state[filler] = {
            "patient": hospital_number,
            "status": status,
            "reported_at": _moment(reported_at),
            "version": version,
            "amended": bool(amended),
            "values": [],
            "earlier": [],
            "history": 0,
        }
    for report_id, code, numeric, text, status in rows(
        f"SELECT report_id, code, value_numeric, value_text, status FROM {Observation._meta.db_table}"  # noqa: S608
    ):
        state[names[report_id]]["values"].append((code, _number(numeric), text, status))
    for report_id, status, reason, reported_at in rows(
        f"SELECT report_id, status, reason, reported_at FROM {DiagnosticReportVersion._meta.db_table}"  # noqa: S608
    ):
        state[names[report_id]]["earlier"].append((status, reason, _moment(reported_at)))
    for report_id, count in rows(
        f"SELECT report_id, count(*) FROM {ReportAction._meta.db_table} GROUP BY report_id"  # noqa: S608
    ):
        state[names[report_id]]["history"] = count
    for report in state.values():
        report["values"].sort()
        report["earlier"].sort()
    return state


def django_rows(sql: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def apply_in_order(in_order: list[bytes]) -> None:
    """The reference: the same messages, each once, in the order they were reported, applied in pytest's database."""
    for start in range(0, len(in_order), 500):
        with transaction.atomic():
            messages_apply_in_batch(
                [
                    InboundMessage(raw=raw, peer="in-order", source=MessageSource.IMPORT, received_at=_now())
                    for raw in in_order[start : start + 500]
                ]
            )


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


# --- The test -------------------------------------------------------------------------------------------------------


def test_killed_listener_and_worker_lose_nothing_and_apply_nothing_twice(
    crash_database: Callable[[], Database], tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    in_order, shuffled = generate(MESSAGES, rng)
    for n in range(PATIENTS):
        PatientFactory(hospital_number=f"5{n:07d}")
    InboundInterface.objects.filter(sending_application="WINPATH", sending_facility="RRV_LAB").update(
        ack_mode=AckMode.AFTER_STORE
    )
    database = crash_database()
    # The in-order reference runs in pytest's database, where both laboratories are acknowledged after apply.
    InboundInterface.objects.update(ack_mode=AckMode.AFTER_APPLY)
    interfaces_cache_clear()

    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "DJANGO_SETTINGS_MODULE": "careportal.config.settings.base",
        "CAREPORTAL_ENV": "development",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": database.url,
        "LOG_FORMAT": "json",
        "HL7_STORED_WAKE_SECONDS": "0",  # no task queue here: the worker below applies what is stored
        "HL7_WORKER_THREADS": "1" if connection.vendor == "sqlite" else "3",
    }
    listen = ["manage.py", "hl7_listen", "--host", "127.0.0.1", "--port", str(port)]
    listener = Restartable("listener", listen, env=env, logs=tmp_path)
    # Small batches, so that most kills land inside a batch's transaction.
    apply = ["manage.py", "hl7_apply_worker", "--batch-size", "25", "--poll", "0.1"]
    worker = Restartable("worker", apply, env=env, logs=tmp_path)
    processes = [listener, worker]

    def waiting() -> int:
        # Acknowledged, not applied: among the arrivals, or moved into the journal and waiting there.
        sql = (
            "SELECT (SELECT count(*) FROM hl7_inboundmessage WHERE status = 'stored')"
            " + (SELECT count(*) FROM hl7_inboundarrival)"
        )
        return int(database.rows(sql)[0][0])

    senders = Senders(port, shuffled)
    # Kill the listener when these many messages have been acknowledged, a few milliseconds later (mid-message).
    listener_kills = sorted(rng.sample(range(len(shuffled) // 20, len(shuffled) * 9 // 10), KILLS))
    killer_failures: list[str] = []
    worker_kills_while_waiting: list[int] = []

    def kill_listener() -> None:
        try:
            for threshold in listener_kills:
                while senders.count() < threshold and not senders.done:
                    time.sleep(0.01)
                time.sleep(rng.uniform(0, 0.05))
                listener.kill_and_restart()
        except Exception as exc:
            killer_failures.append(repr(exc))

    worker_rng = random.Random(f"{SEED}-worker")  # its own: the two killers run in parallel

    def kill_worker() -> None:
        # At random moments while messages wait to be applied: most kills land inside a batch's transaction.
        try:
            while worker.kills < KILLS:
                time.sleep(worker_rng.uniform(0.3, 1.5))
                while (backlog := waiting()) == 0 and not senders.done:
                    time.sleep(0.05)
                if backlog == 0:
                    break  # everything sent and applied
                worker.kill_and_restart()
                worker_kills_while_waiting.append(backlog)
        except Exception as exc:
            killer_failures.append(repr(exc))

    try:
        wait_until("the listener", lambda: accepts(port), timeout=START_SECONDS, processes=[listener.current])
        started = time.monotonic()
        senders.start()
        killers = [
            threading.Thread(target=kill_listener, daemon=True),
            threading.Thread(target=kill_worker, daemon=True),
        ]
        for killer in killers:
            killer.start()
        for thread in senders.threads:
            thread.join(DRAIN_SECONDS * 2)
        acknowledged_in = time.monotonic() - started
        for killer in killers:
            killer.join(DRAIN_SECONDS)
        assert not senders.failures, senders.failures[:10]
        assert not killer_failures, killer_failures
        assert senders.count() == len(shuffled), "every message is acknowledged in the end"
        # Drain the stored queue: the last run of the worker applies what the killed ones left.
        wait_until(
            "the stored queue to drain", lambda: waiting() == 0, timeout=DRAIN_SECONDS, processes=[worker.current]
        )
        drained_in = time.monotonic() - started
    finally:
        for process in processes:
            process.current.ask_to_stop()
        for process in processes:
            process.stop()
        # Shown by pytest only when the test failed (or with -s): what each run of each process logged last.
        for process in processes:
            print(process.report())
    print(
        f"{len(shuffled)} messages, {senders.resends} sent again; listener killed {listener.kills} times, worker"
        f" {worker.kills} times (backlog at each kill: {worker_kills_while_waiting}); all acknowledged in"
        f" {acknowledged_in:.1f}s, all applied in {drained_in:.1f}s"
    )
    assert listener.kills == KILLS
    assert worker_kills_while_waiting, "the worker was killed while messages waited to be applied"
    # Each laboratory's messages took its own path: stored and acknowledged, or applied and acknowledged.
    texts = Counter(
        (AFTER_STORE_SENDER in raw, senders.acknowledged[control_id(raw)] == STORED_TEXT) for raw in shuffled
    )
    assert set(texts) == {(True, True), (False, False)}, texts

    # The journal: every acknowledged control id applied exactly once, every other copy a duplicate, nothing left
    # waiting or failed.
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    for control, status, count in database.rows(
        "SELECT control_id, status, count(*) FROM hl7_inboundmessage GROUP BY control_id, status"
    ):
        statuses[control][status] += count
    assert set(statuses) == set(senders.acknowledged)
    wrong = {
        control: dict(counts)
        for control, counts in statuses.items()
        if counts["applied"] != 1 or set(counts) - {"applied", "duplicate"}
    }
    assert not wrong, f"{len(wrong)} control ids not applied exactly once: {list(wrong.items())[:5]}"

    # The reports: each converged to what one in-order apply of the same messages gives.
    got = reports_state(database.rows)
    checked = time.monotonic()
    apply_in_order(in_order)
    expected = reports_state(django_rows)
    print(f"in-order reference applied and read in {time.monotonic() - checked:.1f}s")
    assert len(got) == len(expected)
    different = [filler for filler in expected if got.get(filler) != expected[filler]]
    assert not different, [(got.get(f), expected[f]) for f in different[:3]]
