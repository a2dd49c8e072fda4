"""The group commit on the event loop (careportal/hl7/listener.py, AsyncGroupCommitter): the listener's event loop
stores after-store messages in batches on a database connection of its own (asynchronous on PostgreSQL; on SQLite
a plain one that never waits for the write lock), and acknowledges each only after its batch has committed. The
group commit in threads is tests/hl7/test_group_commit.py.

As there, the first batch is held at its INSERT (a patched `stored_insert_async`) so that the next messages queue
up behind it: which messages share a transaction is then certain, not a matter of timing.
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
from django.db import connection
from django.utils import timezone

from careportal.hl7 import listener as listener_module
from careportal.hl7.models import InboundMessage, MessageSource, MessageStatus
from careportal.hl7.parsing import read_first_header
from careportal.hl7.services import stored_prepare
from careportal.hl7.stored_services import stored_apply_wake_reset
from tests.hl7.interfaces import LOCAL_PEER
from tests.hl7.mllp_client import ListenerThread, ack_code
from tests.hl7.test_ack_after_store import fbc, msh_field
from tests.hl7.test_group_commit import (
    assert_the_held_batch_and_the_next_are_stored_once,
    committed_control_ids,
    no_reply_yet,
)

pytestmark = pytest.mark.django_db(transaction=True)
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL server's own behaviour")
sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's write lock")


class HeldAsyncInserts:
    """`stored_insert_async` recording each batch's control ids; the first batch is held at its INSERT, before the
    statement runs, until `release()` (called from the test's thread), and the batch numbered `fail` (1-based)
    fails there, as when the database refuses the statement or the connection drops."""

    def __init__(self, fail: int = 0) -> None:
        self.real = listener_module.stored_insert_async
        self.fail = fail
        self.batches: list[list[str]] = []
        self.holding = threading.Event()
        self._gate: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(
        self, database: psycopg.AsyncConnection[Any] | sqlite3.Connection, rows: list[dict[str, Any]]
    ) -> None:
        self.batches.append([str(row["control_id"]) for row in rows])
        if len(self.batches) == 1:
            self._loop, self._gate = asyncio.get_running_loop(), asyncio.Event()
            self.holding.set()
            await asyncio.wait_for(self._gate.wait(), 20)
        if len(self.batches) == self.fail:
            raise psycopg.OperationalError("the commit failed")
        await self.real(database, rows)

    def release(self) -> None:
        assert self._loop is not None and self._gate is not None
        self._loop.call_soon_threadsafe(self._gate.set)


@pytest.fixture
def running(after_store: None) -> Iterator[ListenerThread]:
    thread = ListenerThread(handler=None).start()
    yield thread
    thread.stop()


def queued(running: ListenerThread, count: int) -> None:
    committer = running.listener._committer
    assert isinstance(committer, listener_module.AsyncGroupCommitter)
    for _ in range(200):
        if len(committer._pending) == count:
            return
        threading.Event().wait(0.02)
    raise AssertionError(f"{len(committer._pending)} messages queued, expected {count}")


def test_the_listener_stores_on_its_event_loop_with_no_thread_of_its_own(
    running: ListenerThread,
) -> None:
    assert isinstance(running.listener._committer, listener_module.AsyncGroupCommitter)
    clients = [running.client() for _ in range(3)]
    try:
        answers = [ack_code(client.request(fbc(n))) for n, client in enumerate(clients, start=1)]
        answers += [ack_code(client.request(fbc(n))) for n, client in enumerate(clients, start=4)]
    finally:
        for client in clients:
            client.close()
    assert answers == [("CA", f"STORE0000{n}") for n in range(1, 7)]
    assert committed_control_ids() == [f"STORE0000{n}" for n in range(1, 7)]
    assert set(InboundMessage.objects.values_list("status", flat=True)) == {MessageStatus.STORED}
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("hl7-group-commit")]
    assert running.listener._committer.batches >= 1


@pytest.mark.parametrize("commit_fails", [False, True], ids=["commits", "commit-fails-once"])
def test_several_connections_share_one_insert_and_each_ack_waits_for_its_commit(
    running: ListenerThread, monkeypatch: pytest.MonkeyPatch, commit_fails: bool
) -> None:
    inserts = HeldAsyncInserts(fail=2 if commit_fails else 0)
    monkeypatch.setattr(listener_module, "stored_insert_async", inserts)
    lab_adt = msh_field(fbc(9), 9, b"ADT^A04")  # a type the interface does not allow: refused, AR
    clients = [running.client() for _ in range(5)]
    try:
        clients[0].send(fbc(1))
        assert inserts.holding.wait(10)
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

    assert_the_held_batch_and_the_next_are_stored_once(answers, inserts.batches)


def _backend_pid(running: ListenerThread) -> int:
    committer = running.listener._committer
    assert isinstance(committer, listener_module.AsyncGroupCommitter)
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
            committer = listener_module.AsyncGroupCommitter(connections=1, executor=executor)
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


def test_a_stored_batch_wakes_a_worker_at_most_once_a_wake_interval(running: ListenerThread, settings: Any) -> None:
    # The test settings run tasks at once (ImmediateBackend): the wake-up, in a worker thread after the ACK, applies
    # what is stored.
    settings.HL7_STORED_WAKE_SECONDS = 3600
    stored_apply_wake_reset()
    try:
        with running.client() as client:
            assert ack_code(client.request(fbc(1))) == ("CA", "STORE00001")
            for _ in range(250):
                if _status("STORE00001") == MessageStatus.APPLIED:
                    break
                threading.Event().wait(0.02)
            assert _status("STORE00001") == MessageStatus.APPLIED
            assert ack_code(client.request(fbc(2))) == ("CA", "STORE00002")  # within the interval: no second task
        running.stop()  # every worker thread has finished what it was given
        assert _status("STORE00002") == MessageStatus.STORED
    finally:
        stored_apply_wake_reset()


@sqlite_only
def test_on_sqlite_the_loop_never_waits_for_the_write_lock(tmp_path: Path, after_store: None) -> None:
    # A database file of its own with the journal's table: an in-memory test database shares its cache, where
    # SQLite reports a lock differently (SQLITE_LOCKED, also taken as busy).
    with connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE name = %s", [InboundMessage._meta.db_table])
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
        assert holder.execute(f"SELECT COUNT(*) FROM {InboundMessage._meta.db_table}").fetchone() == (0,)  # noqa: S608
        asyncio.run(listener_module.stored_insert_async(on_loop, [ready.row]))
        assert holder.execute(f"SELECT control_id FROM {InboundMessage._meta.db_table}").fetchall() == [  # noqa: S608
            ("STORE00001",)
        ]
    finally:
        on_loop.close()
        holder.close()


@sqlite_only
def test_on_sqlite_the_loops_connection_is_set_up_as_djangos(running: ListenerThread) -> None:
    with running.client() as client:
        assert ack_code(client.request(fbc(1))) == ("CA", "STORE00001")
    committer = running.listener._committer
    assert isinstance(committer, listener_module.AsyncGroupCommitter)
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


def test_the_group_commit_in_threads_is_still_there_when_asked_for(after_store: None) -> None:
    running = ListenerThread(handler=None, group_commit_on_loop=False).start()
    try:
        in_threads = isinstance(running.listener._committer, listener_module.GroupCommitter)
        with running.client() as client:
            assert ack_code(client.request(fbc(1))) == ("CA", "STORE00001")
    finally:
        running.stop()
    assert in_threads
    assert committed_control_ids() == ["STORE00001"]


def test_the_committer_needs_a_connection() -> None:
    async def build() -> None:
        with ThreadPoolExecutor(max_workers=1) as executor:
            listener_module.AsyncGroupCommitter(connections=0, executor=executor)

    with pytest.raises(ValueError, match="at least one connection"):
        asyncio.run(build())
