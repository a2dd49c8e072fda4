"""Group commit in the MLLP listener (careportal/hl7/listener.py, GroupCommitter): after-store messages waiting on
several connections at once are stored by one transaction on the listener's event loop, on a database connection
of its own (asynchronous on PostgreSQL; on SQLite a plain one that never waits for the write lock), and each is
acknowledged only after that commit.

A batch is one INSERT statement, its own transaction (autocommit). The first batch is held at its INSERT, before
the statement runs, by a patched `stored_insert_async`, so that the next messages queue up behind it and are stored
together: which messages share a transaction is then certain, not a matter of timing.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from careportal.hl7 import listener as listener_module
from careportal.hl7 import services
from careportal.hl7.interfaces import active_rules, interfaces_cache_clear
from careportal.hl7.models import (
    AckMode,
    InboundArrival,
    InboundInterface,
    InboundMessage,
    MessageSource,
    MessageStatus,
)
from careportal.hl7.parsing import read_first_header
from careportal.hl7.services import stored_prepare
from careportal.hl7.stored_services import stored_apply_batch, stored_apply_wake_reset, stored_move
from careportal.results.models import DiagnosticReport
from tests.hl7.interfaces import LOCAL_PEER
from tests.hl7.mllp_client import END_BLOCK, START_BLOCK, ListenerThread, MLLPClient, ack_code
from tests.hl7.test_ack_after_store import fbc, msh_field

pytestmark = pytest.mark.django_db(transaction=True)
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL server's own behaviour")
sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's write lock")


class HeldAsyncInserts:
    """`stored_insert_async` recording each batch's control ids. With `hold`, the first batch (or the first holding
    `hold_id`) is held at its INSERT, before the statement runs, until `release()` (called from the test's thread);
    the batch numbered `fail` (1-based), or every batch holding `fail_id`, fails there, as when the database
    refuses the statement or the connection drops: nothing of it is committed."""

    def __init__(self, *, hold: bool = True, hold_id: str = "", fail: int = 0, fail_id: str = "") -> None:
        self.real = listener_module.stored_insert_async
        self.hold, self.hold_id, self.fail, self.fail_id = hold, hold_id, fail, fail_id
        self.batches: list[list[str]] = []
        self.holding = threading.Event()
        self._gate: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _holds(self, ids: list[str]) -> bool:
        if not self.hold or self.holding.is_set():
            return False
        return self.hold_id in ids if self.hold_id else True

    async def __call__(
        self, database: psycopg.AsyncConnection[Any] | sqlite3.Connection, rows: list[dict[str, Any]]
    ) -> None:
        ids = [control_id_of(row["raw"]) for row in rows]
        self.batches.append(ids)
        if self._holds(ids):
            self._loop, self._gate = asyncio.get_running_loop(), asyncio.Event()
            self.holding.set()
            await asyncio.wait_for(self._gate.wait(), 20)
        if len(self.batches) == self.fail or (self.fail_id and self.fail_id in ids):
            raise psycopg.OperationalError("the commit failed")
        await self.real(database, rows)

    def release(self) -> None:
        assert self._loop is not None and self._gate is not None
        self._loop.call_soon_threadsafe(self._gate.set)


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Any:
    def make(**options: Any) -> HeldAsyncInserts:
        inserts = HeldAsyncInserts(**options)
        monkeypatch.setattr(listener_module, "stored_insert_async", inserts)
        return inserts

    return make


@pytest.fixture
def running(after_store: None) -> Iterator[ListenerThread]:
    # One connection of the event loop (the default): which messages share a batch is then certain.
    thread = ListenerThread(handler=None).start()
    yield thread
    thread.stop()


def queued(running: ListenerThread, count: int) -> None:
    """Wait until `count` messages wait for the group commit."""
    committer = running.listener._committer
    assert isinstance(committer, listener_module.GroupCommitter)
    for _ in range(200):
        if len(committer._pending) == count:
            return
        threading.Event().wait(0.02)
    raise AssertionError(f"{len(committer._pending)} messages queued, expected {count}")


def no_reply_yet(client: MLLPClient) -> bool:
    client.sock.settimeout(0.3)
    try:
        return not client.sock.recv(1)
    except TimeoutError:
        return True
    finally:
        client.sock.settimeout(30)


def control_id_of(raw: bytes) -> str:
    quick = read_first_header(bytes(raw))
    assert quick is not None
    return quick[0].control_id


def arrived_control_ids() -> list[str]:
    """The control ids of the arrivals (which keep only the bytes), in the order they were stored."""
    return [control_id_of(raw) for raw in InboundArrival.objects.order_by("pk").values_list("raw", flat=True)]


def committed_control_ids() -> list[str]:
    """What another connection (this test's) sees committed: the arrivals, and what the full path stored."""
    return sorted(arrived_control_ids() + list(InboundMessage.objects.values_list("control_id", flat=True)))


def journal_rows() -> list[tuple[str, str]]:
    """Every message's control id and status in the journal, once a worker has moved the arrivals into it."""
    stored_move(limit=1000)
    assert not InboundArrival.objects.exists()
    return sorted(InboundMessage.objects.values_list("control_id", "status"))


@pytest.mark.parametrize("commit_fails", [False, True], ids=["commits", "commit-fails-once"])
def test_several_connections_share_one_insert_and_each_ack_waits_for_its_commit(
    running: ListenerThread, held: Any, commit_fails: bool
) -> None:
    inserts = held(fail=2 if commit_fails else 0)
    lab_adt = msh_field(fbc(9), 9, b"ADT^A04")  # a type the interface does not allow: refused, AR
    clients = [running.client() for _ in range(5)]
    try:
        clients[0].send(fbc(1))
        assert inserts.holding.wait(10)
        # The same message on two connections at once, a new one, and one the after-store checks refuse.
        for client, message in zip(clients[1:], (fbc(2), fbc(2), fbc(3), lab_adt), strict=True):
            client.send(message)
        queued(running, 3)  # the refused one never joins a batch: the after-store checks run before it would
        assert no_reply_yet(clients[0])  # stored, not committed: no ACK
        assert committed_control_ids() == ["STORE00009"]  # only the refusal, by the full path
        inserts.release()
        answers = [ack_code(client.read_frame()) for client in clients]
    finally:
        for client in clients:
            client.close()

    # One INSERT for the three that waited, whether it committed or failed and they were stored one by one.
    assert answers[:4] == [("CA", "STORE00001"), ("CA", "STORE00002"), ("CA", "STORE00002"), ("CA", "STORE00003")]
    assert answers[4] == ("AR", "STORE00009")
    assert [sorted(batch) for batch in inserts.batches] == [["STORE00001"], ["STORE00002", "STORE00002", "STORE00003"]]
    rows = journal_rows()
    stored = MessageStatus.STORED
    assert rows == [
        ("STORE00001", stored),
        ("STORE00002", stored),
        ("STORE00002", stored),
        ("STORE00003", stored),
        ("STORE00009", MessageStatus.REJECTED),
    ]
    # The copy sent twice in one batch is applied once, as if the two had come one after the other.
    stored_apply_batch()
    statuses = sorted(InboundMessage.objects.filter(control_id="STORE00002").values_list("status", flat=True))
    assert statuses == [MessageStatus.APPLIED, MessageStatus.DUPLICATE]
    assert DiagnosticReport.objects.filter(filler_order_number="S00002").count() == 1
    assert DiagnosticReport.objects.count() == 3


def test_a_message_that_cannot_be_stored_costs_only_its_own_connection(
    running: ListenerThread, held: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    inserts = held(fail_id="STORE00002")
    real_insert_one = services._insert_stored

    def insert_one(values: dict[str, Any]) -> None:
        if control_id_of(values["raw"]) == "STORE00002":
            raise OperationalError("this message cannot be stored")
        real_insert_one(values)

    monkeypatch.setattr(services, "_insert_stored", insert_one)
    clients = [running.client() for _ in range(4)]
    try:
        clients[0].send(fbc(1))
        assert inserts.holding.wait(10)
        for client, n in zip(clients[1:], (2, 3, 4), strict=True):
            client.send(fbc(n))
        queued(running, 3)
        inserts.release()
        assert ack_code(clients[0].read_frame()) == ("CA", "STORE00001")
        assert ack_code(clients[2].read_frame()) == ("CA", "STORE00003")
        assert ack_code(clients[3].read_frame()) == ("CA", "STORE00004")
        # Not stored, so not acknowledged: its connection is closed and the sender sends it again.
        assert clients[1].closed_by_server()
    finally:
        for client in clients:
            client.close()

    assert sorted(inserts.batches[1]) == ["STORE00002", "STORE00003", "STORE00004"]
    assert committed_control_ids() == ["STORE00001", "STORE00003", "STORE00004"]


def test_one_connections_messages_are_stored_in_the_order_sent_even_when_it_does_not_wait(
    running: ListenerThread, held: Any
) -> None:
    inserts = held()
    with running.client() as first, running.client() as eager:
        first.send(fbc(1))
        assert inserts.holding.wait(10)
        # Three messages at once without waiting for the ACKs: the listener reads the next only after answering.
        eager.send_raw(b"".join(START_BLOCK + fbc(n) + END_BLOCK for n in (2, 3, 4)))
        queued(running, 1)
        threading.Event().wait(0.2)
        queued(running, 1)
        inserts.release()
        assert ack_code(first.read_frame()) == ("CA", "STORE00001")
        assert [ack_code(eager.read_frame())[1] for _ in range(3)] == ["STORE00002", "STORE00003", "STORE00004"]

    assert inserts.batches == [["STORE00001"], ["STORE00002"], ["STORE00003"], ["STORE00004"]]
    assert arrived_control_ids() == ["STORE00001", "STORE00002", "STORE00003", "STORE00004"]
    stored_move(limit=1000)  # and the journal, the workers' order, keeps it
    in_order = list(InboundMessage.objects.order_by("pk").values_list("control_id", flat=True))
    assert in_order == ["STORE00001", "STORE00002", "STORE00003", "STORE00004"]


def test_an_after_apply_interface_and_an_unread_interface_snapshot_take_the_full_path(
    running: ListenerThread, held: Any
) -> None:
    inserts = held(hold=False)
    interfaces_cache_clear()  # the event loop never queries: the first message goes to a worker thread
    with running.client() as client:
        assert ack_code(client.request(fbc(1))) == ("CA", "STORE00001")
        assert ack_code(client.request(fbc(2))) == ("CA", "STORE00002")  # the snapshot read: group commit
        InboundInterface.objects.filter(sending_application="WINPATH").update(ack_mode=AckMode.AFTER_APPLY)
        interfaces_cache_clear()
        active_rules()
        assert ack_code(client.request(fbc(3))) == ("AA", "STORE00003")  # applied before its ACK
    assert inserts.batches == [["STORE00002"]]
    assert InboundMessage.objects.get(control_id="STORE00003").status == MessageStatus.APPLIED


# --- Several connections of the event loop (HL7_GROUP_COMMIT_THREADS) ---------------------------------------------


@pytest.mark.parametrize("fails", [False, True], ids=["held", "held-then-fails"])
def test_a_batch_is_stored_and_acknowledged_while_another_is_held_and_a_failed_one_costs_the_others_nothing(
    after_store: None, settings: Any, held: Any, fails: bool
) -> None:
    settings.HL7_GROUP_COMMIT_THREADS = 3
    inserts = held(hold_id="STORE00001", fail_id="STORE00001" if fails else "")
    running = ListenerThread(handler=None).start()
    try:
        committer = running.listener._committer
        assert isinstance(committer, listener_module.GroupCommitter) and committer.threads == 3
        with running.client() as held_sender, running.client() as second, running.client() as third:
            try:
                held_sender.send(fbc(1))
                assert inserts.holding.wait(10)
                # Other connections' messages are stored, committed and acknowledged meanwhile.
                assert ack_code(second.request(fbc(2))) == ("CA", "STORE00002")
                assert ack_code(third.request(fbc(3))) == ("CA", "STORE00003")
                assert committed_control_ids() == ["STORE00002", "STORE00003"]
                assert no_reply_yet(held_sender)  # not committed: no ACK
            finally:
                inserts.release()
            # Committed, or, its batch failed, stored down the full path on its own: only then acknowledged.
            assert ack_code(held_sender.read_frame()) == ("CA", "STORE00001")
            assert ack_code(second.request(fbc(4))) == ("CA", "STORE00004")
    finally:
        running.stop()
    assert journal_rows() == [(f"STORE0000{n}", MessageStatus.STORED) for n in (1, 2, 3, 4)]  # each once
    assert committer.batches == (3 if fails else 4)  # a failed batch is not counted
    assert committer._connections == [None, None, None]  # every connection closed at stop


def test_the_listener_stores_on_its_event_loop_with_no_thread_of_its_own(
    running: ListenerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(running.listener._committer, listener_module.GroupCommitter)
    real = listener_module.stored_insert_async
    stored_by: set[str] = set()

    async def recording(database: Any, rows: list[dict[str, Any]]) -> None:
        stored_by.add(threading.current_thread().name)
        await real(database, rows)

    monkeypatch.setattr(listener_module, "stored_insert_async", recording)
    clients = [running.client() for _ in range(3)]
    try:
        answers = [ack_code(client.request(fbc(n))) for n, client in enumerate(clients, start=1)]
        answers += [ack_code(client.request(fbc(n))) for n, client in enumerate(clients, start=4)]
    finally:
        for client in clients:
            client.close()
    assert answers == [("CA", f"STORE0000{n}") for n in range(1, 7)]
    assert committed_control_ids() == [f"STORE0000{n}" for n in range(1, 7)]
    assert not InboundMessage.objects.exists()  # all six among the arrivals, none down the full path
    assert stored_by == {running.thread.name}  # the event loop's thread, on either database
    assert running.listener._committer.batches >= 1


def _backend_pid(running: ListenerThread) -> int:
    committer = running.listener._committer
    assert isinstance(committer, listener_module.GroupCommitter)
    database = committer._connections[0]
    assert database is not None
    return int(database.info.backend_pid)


@postgresql_only
def test_a_dropped_database_connection_costs_no_message_and_is_replaced(running: ListenerThread) -> None:
    with running.client() as client:
        assert ack_code(client.request(fbc(1))) == ("CA", "STORE00001")
        first = _backend_pid(running)
        with connection.cursor() as cursor:  # as a database restart or a failover would
            cursor.execute("SELECT pg_terminate_backend(%s)", [first])
        # Its INSERT fails on the dead connection: stored down the full path instead, then acknowledged.
        assert ack_code(client.request(fbc(2))) == ("CA", "STORE00002")
        assert ack_code(client.request(fbc(3))) == ("CA", "STORE00003")
        assert _backend_pid(running) != first
    assert committed_control_ids() == ["STORE00001", "STORE00002", "STORE00003"]


def test_stop_stores_what_a_cancelled_connection_left_queued_and_closes_its_connections(after_store: None) -> None:
    raws = [fbc(n) for n in (1, 2, 3)]

    async def scenario() -> tuple[list[Any], list[Any]]:
        with ThreadPoolExecutor(max_workers=1) as executor:
            committer = listener_module.GroupCommitter(connections=1, executor=executor)
            senders = []
            for raw in raws:
                header, codec = read_first_header(raw)  # type: ignore[misc]
                senders.append(asyncio.ensure_future(committer.store(raw, header, codec, LOCAL_PEER)))
            await asyncio.sleep(0)  # each has been checked and queued; none stored yet
            senders[2].cancel()  # its connection was cancelled at shutdown: never acknowledged
            await committer.stop()
            acks = [ack_code(sender.result()) for sender in senders[:2]]  # type: ignore[arg-type]
            return acks, committer._connections

    acks, left_open = asyncio.run(scenario())
    assert acks == [("CA", "STORE00001"), ("CA", "STORE00002")]
    # The third is stored too: its sender, with no ACK, sends it again, and the workers apply one of the two.
    assert committed_control_ids() == ["STORE00001", "STORE00002", "STORE00003"]
    assert left_open == [None]


def test_messages_that_arrive_while_a_batch_gathers_join_it_and_a_message_alone_does_not_wait(
    after_store: None, held: Any
) -> None:
    inserts = held(hold=False)

    async def scenario() -> list[Any]:
        with ThreadPoolExecutor(max_workers=1) as executor:
            committer = listener_module.GroupCommitter(connections=1, executor=executor)

            async def arrives_after(rounds: int, raw: bytes) -> Any:
                # A connection whose message is read and checked `rounds` rounds of the event loop from now.
                for _ in range(rounds):
                    await asyncio.sleep(0)
                header, codec = read_first_header(raw)  # type: ignore[misc]
                return ack_code(await committer.store(raw, header, codec, LOCAL_PEER))  # type: ignore[arg-type]

            # The first three each arrive while the batch still gathers; the fourth long after it stopped growing.
            arrivals = [(0, fbc(1)), (1, fbc(2)), (3, fbc(3)), (200, fbc(4))]
            acks = await asyncio.gather(*(arrives_after(rounds, raw) for rounds, raw in arrivals))
            await committer.stop()
            return acks

    acks = asyncio.run(scenario())
    assert acks == [("CA", f"STORE0000{n}") for n in (1, 2, 3, 4)]
    assert [sorted(batch) for batch in inserts.batches] == [["STORE00001", "STORE00002", "STORE00003"], ["STORE00004"]]
    assert committed_control_ids() == ["STORE00001", "STORE00002", "STORE00003", "STORE00004"]


def test_a_batch_gathers_no_more_than_its_limit(after_store: None, held: Any) -> None:
    inserts = held(hold=False)

    async def scenario() -> None:
        with ThreadPoolExecutor(max_workers=1) as executor:
            committer = listener_module.GroupCommitter(connections=1, max_messages=2, executor=executor)
            senders = []
            for n in (1, 2, 3):
                raw = fbc(n)
                header, codec = read_first_header(raw)  # type: ignore[misc]
                senders.append(committer.store(raw, header, codec, LOCAL_PEER))
            await asyncio.gather(*senders)
            await committer.stop()

    asyncio.run(scenario())
    assert [sorted(batch) for batch in inserts.batches] == [["STORE00001", "STORE00002"], ["STORE00003"]]


def test_a_message_the_checks_refuse_takes_the_full_path(running: ListenerThread) -> None:
    unknown_patient = fbc(1, hospital_number="40099999", nhs_number="9990000026")
    not_allowed = msh_field(fbc(2), 9, b"ADT^A04")
    with running.client() as client:
        assert ack_code(client.request(not_allowed)) == ("AR", "STORE00002")
        # An unknown patient is no reason to refuse: it is stored, and the workers send it to the unmatched queue.
        assert ack_code(client.request(unknown_patient)) == ("CA", "STORE00001")
    assert running.listener._committer is not None and running.listener._committer.batches == 1


def _status(control_id: str) -> str:
    return str(InboundMessage.objects.get(control_id=control_id).status)


def worker_threads_done(running: ListenerThread) -> None:
    """Wait until the listener's worker threads have finished every job given to them so far: one job per thread,
    all held at a barrier until each thread has taken one, so that none is still busy with an earlier one. Reading
    the journal while a worker thread applies would be a race on SQLite, whose in-memory test database shares its
    cache: there a read and a write of one table at once fail at once ("database table is locked")."""
    listener = running.listener
    barrier = threading.Barrier(listener.workers)
    jobs = [listener._executor.submit(barrier.wait, 10) for _ in range(listener.workers)]
    for job in jobs:
        job.result(timeout=15)


def test_a_stored_batch_wakes_a_worker_at_most_once_a_wake_interval(running: ListenerThread, settings: Any) -> None:
    # The test settings run tasks at once (ImmediateBackend): the wake-up, in a worker thread after the ACK, applies
    # what is stored.
    settings.HL7_STORED_WAKE_SECONDS = 3600
    stored_apply_wake_reset()
    try:
        with running.client() as client:
            assert ack_code(client.request(fbc(1))) == ("CA", "STORE00001")
            # The wake-up was handed to a worker thread before the ACK was written.
            worker_threads_done(running)
            assert _status("STORE00001") == MessageStatus.APPLIED
            assert ack_code(client.request(fbc(2))) == ("CA", "STORE00002")  # within the interval: no second task
        running.stop()  # every worker thread has finished what it was given
        assert arrived_control_ids() == ["STORE00002"]  # waits among the arrivals
    finally:
        stored_apply_wake_reset()


@sqlite_only
def test_on_sqlite_the_loop_never_waits_for_the_write_lock(tmp_path: Path, after_store: None) -> None:
    # A database file of its own with the arrivals' table: an in-memory test database shares its cache, where
    # SQLite reports a lock differently (SQLITE_LOCKED, also taken as busy).
    table = InboundArrival._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE name = %s", [table])
        (schema,) = cursor.fetchone()
    path = str(tmp_path / "journal.sqlite3")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute(schema)
    on_loop = sqlite3.connect(path, isolation_level=None, timeout=0)
    header, codec = read_first_header(fbc(1))  # type: ignore[misc]
    ready = stored_prepare(
        fbc(1), header=header, codec=codec, peer=LOCAL_PEER, source=MessageSource.MLLP, received_at=timezone.now()
    )
    assert ready is not None
    try:
        holder.execute("BEGIN IMMEDIATE")  # a worker applying messages holds the one write lock
        with pytest.raises(listener_module.SQLiteWriterBusy):
            asyncio.run(listener_module.stored_insert_async(on_loop, [ready.row]))
        holder.execute("COMMIT")
        assert holder.execute(f"SELECT COUNT(*) FROM {table}").fetchone() == (0,)  # noqa: S608
        asyncio.run(listener_module.stored_insert_async(on_loop, [ready.row]))
        stored = holder.execute(f"SELECT raw FROM {table}").fetchall()  # noqa: S608
        assert [control_id_of(raw) for (raw,) in stored] == ["STORE00001"]
    finally:
        on_loop.close()
        holder.close()


@sqlite_only
def test_on_sqlite_the_loops_connection_is_set_up_as_djangos(running: ListenerThread) -> None:
    with running.client() as client:
        assert ack_code(client.request(fbc(1))) == ("CA", "STORE00001")
    committer = running.listener._committer
    assert isinstance(committer, listener_module.GroupCommitter)
    database = committer._connections[0]
    assert isinstance(database, sqlite3.Connection)
    assert database.execute("PRAGMA busy_timeout").fetchone() == (0,)
    assert database.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert database.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL, from the settings' init_command
    assert database.in_transaction is False


def test_a_batch_that_finds_the_write_lock_taken_waits_for_it_in_a_thread(
    running: ListenerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = listener_module.stored_insert_async
    busy_then_real: list[str] = []
    in_thread: list[str] = []

    async def busy_once(database: Any, rows: list[dict[str, Any]]) -> None:
        if not busy_then_real:
            busy_then_real.append("busy")
            raise listener_module.SQLiteWriterBusy
        busy_then_real.append("stored")
        await real(database, rows)

    real_in_thread = listener_module._stored_insert_in_thread

    def spy(rows: list[dict[str, Any]]) -> None:
        in_thread.append(threading.current_thread().name)
        real_in_thread(rows)

    monkeypatch.setattr(listener_module, "stored_insert_async", busy_once)
    monkeypatch.setattr(listener_module, "_stored_insert_in_thread", spy)
    with running.client() as client:
        assert ack_code(client.request(fbc(1))) == ("CA", "STORE00001")
        assert ack_code(client.request(fbc(2))) == ("CA", "STORE00002")
    assert in_thread and in_thread[0].startswith("hl7-worker")
    assert busy_then_real == ["busy", "stored"]  # the next batch is back on the loop
    assert committed_control_ids() == ["STORE00001", "STORE00002"]
    assert running.listener._committer is not None and running.listener._committer.batches == 2


def test_the_committer_needs_a_connection() -> None:
    async def build() -> None:
        with ThreadPoolExecutor(max_workers=1) as executor:
            listener_module.GroupCommitter(connections=0, executor=executor)

    with pytest.raises(ValueError, match="at least one connection"):
        asyncio.run(build())


# --- stored_insert: one statement, its own transaction ------------------------------------------------------------


def _prepared_rows(count: int) -> list[dict[str, Any]]:
    rows = []
    for n in range(1, count + 1):
        raw = fbc(n)
        quick = read_first_header(raw)
        assert quick is not None
        ready = services.stored_prepare(
            raw, header=quick[0], codec=quick[1], peer=LOCAL_PEER, source="mllp", received_at=timezone.now()
        )
        assert ready is not None
        rows.append(ready.row)
    return rows


def test_a_batch_is_one_statement_committed_when_it_returns(after_store: None) -> None:
    rows = _prepared_rows(3)
    assert connection.get_autocommit()  # as in the group commit's threads: no transaction around the INSERT
    with CaptureQueriesContext(connection) as queries:
        services.stored_insert(rows)
    assert [query["sql"].split(" ", 1)[0] for query in queries] == ["INSERT"]
    assert not transaction.get_connection().in_atomic_block
    assert committed_control_ids() == ["STORE00001", "STORE00002", "STORE00003"]


def test_more_rows_than_one_statement_takes_are_stored_all_or_none(
    after_store: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _prepared_rows(1) * 30
    real = services._insert_stored_rows
    statements: list[int] = []

    def second_fails(chunk: list[dict[str, Any]]) -> None:
        statements.append(len(chunk))
        if len(statements) == 2:
            raise OperationalError("the second statement failed")
        real(chunk)

    monkeypatch.setattr(services, "_insert_stored_rows", second_fails)
    with pytest.raises(OperationalError):
        services.stored_insert(rows)
    assert statements == [services.STORED_ROWS_PER_STATEMENT, 30 - services.STORED_ROWS_PER_STATEMENT]
    assert committed_control_ids() == []  # the first statement's rows were rolled back with the second's

    monkeypatch.setattr(services, "_insert_stored_rows", real)
    services.stored_insert(rows)
    assert len(committed_control_ids()) == 30
    assert listener_module.GROUP_COMMIT_MAX_MESSAGES == services.STORED_ROWS_PER_STATEMENT  # a batch: one statement
