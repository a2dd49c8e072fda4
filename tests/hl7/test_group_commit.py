"""Group commit in the MLLP listener (careportal/hl7/listener.py, GroupCommitter): after-store messages waiting on
several connections at once are stored by one transaction, and each is acknowledged only after that commit.

A batch is one INSERT statement, its own transaction (autocommit). With one group commit thread, the first batch
is held at its INSERT, before the statement runs, by a patched `stored_insert`, so that the next messages queue up
behind it and are stored together: which messages share a transaction is then certain, not a matter of timing.
With several threads (the default on PostgreSQL), one thread is held, before its checks or at its INSERT, while the
others store, commit and acknowledge.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from careportal.hl7 import listener as listener_module
from careportal.hl7 import services
from careportal.hl7.interfaces import active_rules, interfaces_cache_clear
from careportal.hl7.models import AckMode, InboundInterface, InboundMessage, MessageStatus
from careportal.hl7.parsing import read_first_header
from careportal.hl7.stored_services import stored_apply_batch
from careportal.results.models import DiagnosticReport
from tests.hl7.interfaces import LOCAL_PEER
from tests.hl7.mllp_client import END_BLOCK, START_BLOCK, ListenerThread, MLLPClient, ack_code
from tests.hl7.test_ack_after_store import fbc, msh_field

pytestmark = pytest.mark.django_db(transaction=True)


class HeldInserts:
    """`stored_insert` as the group commit calls it, recording each batch's control ids; the first batch is held
    at its INSERT, uncommitted, until `release()`, and the batch numbered `fail` (1-based) fails there: its
    statement fails, so nothing of it is committed, as when the database refuses the COMMIT."""

    def __init__(self, real: Callable[[list[dict[str, Any]]], None], fail: int = 0, fail_if: str = "") -> None:
        self.real, self.fail, self.fail_if = real, fail, fail_if
        self.batches: list[list[str]] = []
        self.holding = threading.Event()
        self.gate = threading.Event()

    def __call__(self, rows: list[dict[str, Any]]) -> None:
        self.batches.append([str(row["control_id"]) for row in rows])
        if self.fail_if in self.batches[-1]:
            raise OperationalError("this message cannot be stored")
        if len(self.batches) == 1:
            self.holding.set()
            assert self.gate.wait(20)
        if len(self.batches) == self.fail:
            raise OperationalError("the commit failed")
        self.real(rows)

    def release(self) -> None:
        self.gate.set()


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Callable[..., HeldInserts]:
    def make(**options: Any) -> HeldInserts:
        inserts = HeldInserts(services.stored_insert, **options)
        monkeypatch.setattr(listener_module, "stored_insert", inserts)
        return inserts

    return make


@pytest.fixture
def running(after_store: None) -> Iterator[ListenerThread]:
    # One thread: which messages share a batch is then certain (the tests with several are below).
    thread = ListenerThread(handler=None, group_commit_threads=1, group_commit_on_loop=False).start()
    yield thread
    thread.stop()


def queued(running: ListenerThread, count: int) -> None:
    """Wait until `count` messages wait for the group commit."""
    committer = running.listener._committer
    assert committer is not None
    for _ in range(200):
        if committer._queue.qsize() == count:
            return
        threading.Event().wait(0.02)
    raise AssertionError(f"{committer._queue.qsize()} messages queued, expected {count}")


def no_reply_yet(client: MLLPClient) -> bool:
    client.sock.settimeout(0.3)
    try:
        return not client.sock.recv(1)
    except TimeoutError:
        return True
    finally:
        client.sock.settimeout(30)


@pytest.mark.parametrize("commit_fails", [False, True], ids=["commits", "commit-fails-once"])
def test_several_connections_share_one_transaction_and_each_ack_waits_for_its_commit(
    running: ListenerThread, held: Callable[..., HeldInserts], commit_fails: bool
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
        queued(running, 4)
        assert no_reply_yet(clients[0])  # stored, not committed: no ACK
        inserts.release()
        answers = [ack_code(client.read_frame()) for client in clients]
    finally:
        for client in clients:
            client.close()

    # One transaction for the four that waited; the refused one was checked there too, and stored by the full path.
    assert_the_held_batch_and_the_next_are_stored_once(answers, inserts.batches)
    # The copy sent twice in one batch is applied once, as if the two had come one after the other.
    stored_apply_batch()
    statuses = sorted(InboundMessage.objects.filter(control_id="STORE00002").values_list("status", flat=True))
    assert statuses == [MessageStatus.APPLIED, MessageStatus.DUPLICATE]
    assert DiagnosticReport.objects.filter(filler_order_number="S00002").count() == 1
    assert DiagnosticReport.objects.count() == 3


def assert_the_held_batch_and_the_next_are_stored_once(
    answers: list[tuple[str, str]], batches: list[list[str]]
) -> None:
    """For the scenario above (shared by tests/hl7/test_group_commit_on_loop.py): message 1 held alone at its
    INSERT, then 2, 2 and 3 in one batch, and the refused 9: every ACK, the batches, and each row stored once,
    whether the second batch committed or failed and its messages were stored one by one."""
    assert answers[:4] == [("CA", "STORE00001"), ("CA", "STORE00002"), ("CA", "STORE00002"), ("CA", "STORE00003")]
    assert answers[4] == ("AR", "STORE00009")
    assert [sorted(batch) for batch in batches] == [["STORE00001"], ["STORE00002", "STORE00002", "STORE00003"]]
    assert sorted(InboundMessage.objects.values_list("control_id", "status")) == [
        ("STORE00001", MessageStatus.STORED),
        ("STORE00002", MessageStatus.STORED),
        ("STORE00002", MessageStatus.STORED),
        ("STORE00003", MessageStatus.STORED),
        ("STORE00009", MessageStatus.REJECTED),
    ]


def test_a_message_that_cannot_be_stored_costs_only_its_own_connection(
    running: ListenerThread, held: Callable[..., HeldInserts], monkeypatch: pytest.MonkeyPatch
) -> None:
    inserts = held(fail_if="STORE00002")
    real_insert_one = services._insert_stored

    def insert_one(values: dict[str, Any]) -> None:
        if values["control_id"] == "STORE00002":
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
    assert sorted(InboundMessage.objects.values_list("control_id", flat=True)) == [
        "STORE00001",
        "STORE00003",
        "STORE00004",
    ]


def test_one_connections_messages_are_stored_in_the_order_sent_even_when_it_does_not_wait(
    running: ListenerThread, held: Callable[..., HeldInserts]
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
    in_order = list(InboundMessage.objects.order_by("pk").values_list("control_id", flat=True))
    assert in_order == ["STORE00001", "STORE00002", "STORE00003", "STORE00004"]


def test_an_after_apply_interface_and_an_unread_interface_snapshot_take_the_full_path(
    running: ListenerThread, held: Callable[..., HeldInserts]
) -> None:
    inserts = held()
    inserts.release()
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


# --- Several group commit threads ----------------------------------------------------------------------------------

THREADS = 3
WHERE_HELD = ["before its checks", "at its INSERT"]


class HoldOne:
    """The group commit thread that takes the message `control_id` is held until `release()`: before its checks
    (in `stored_prepare`) or at its INSERT, before the statement runs; with `fail`, that batch then fails (its
    statement fails: nothing of it is committed). Records each batch's control ids as `stored_insert` is called."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, control_id: str, where: str, fail: bool = False) -> None:
        self.control_id, self.at_insert, self.fail = control_id, where == "at its INSERT", fail
        self.real_prepare, self.real_insert = listener_module.stored_prepare, listener_module.stored_insert
        self.batches: list[list[str]] = []
        self.held_in: str = ""
        self.holding = threading.Event()
        self.gate = threading.Event()
        self._lock = threading.Lock()
        monkeypatch.setattr(listener_module, "stored_prepare", self.prepare)
        monkeypatch.setattr(listener_module, "stored_insert", self.insert)

    def _hold(self) -> None:
        self.held_in = threading.current_thread().name
        self.holding.set()
        assert self.gate.wait(20)

    def prepare(self, raw: bytes, **options: Any) -> Any:
        if not self.at_insert and options["header"].control_id == self.control_id:
            self._hold()
        return self.real_prepare(raw, **options)

    def insert(self, rows: list[dict[str, Any]]) -> None:
        ids = [str(row["control_id"]) for row in rows]
        with self._lock:
            self.batches.append(ids)
        if self.control_id in ids:
            if self.at_insert:
                self._hold()
            if self.fail:
                raise OperationalError("the commit failed")
        self.real_insert(rows)

    def release(self) -> None:
        self.gate.set()


@pytest.fixture
def running_threads(after_store: None) -> Iterator[ListenerThread]:
    thread = ListenerThread(handler=None, group_commit_threads=THREADS, group_commit_on_loop=False).start()
    yield thread
    thread.stop()


def committed_control_ids() -> list[str]:
    """What another connection (this test's) sees committed."""
    return sorted(InboundMessage.objects.values_list("control_id", flat=True))


@pytest.mark.parametrize("where", WHERE_HELD)
def test_a_batch_is_stored_and_acknowledged_while_another_thread_holds_its_own(
    running_threads: ListenerThread, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    hold = HoldOne(monkeypatch, control_id="STORE00001", where=where)
    with running_threads.client() as held_sender, running_threads.client() as other_sender:
        try:
            held_sender.send(fbc(1))
            assert hold.holding.wait(10)
            # Another connection's message is stored, committed and acknowledged by another thread meanwhile.
            assert ack_code(other_sender.request(fbc(2))) == ("CA", "STORE00002")
            assert committed_control_ids() == ["STORE00002"]
            # The held message is not committed, so it has no ACK.
            assert no_reply_yet(held_sender)
        finally:
            hold.release()
        assert ack_code(held_sender.read_frame()) == ("CA", "STORE00001")

    assert sorted(hold.batches) == [["STORE00001"], ["STORE00002"]]
    assert committed_control_ids() == ["STORE00001", "STORE00002"]
    committer = running_threads.listener._committer
    assert committer is not None and committer.batches == 2
    assert hold.held_in.startswith("hl7-group-commit-")


@pytest.mark.parametrize("where", WHERE_HELD)
def test_a_failed_batch_in_one_thread_costs_the_others_nothing(
    running_threads: ListenerThread, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    hold = HoldOne(monkeypatch, control_id="STORE00001", where=where, fail=True)
    with running_threads.client() as failing, running_threads.client() as second, running_threads.client() as third:
        try:
            failing.send(fbc(1))
            assert hold.holding.wait(10)
            assert ack_code(second.request(fbc(2))) == ("CA", "STORE00002")
            assert ack_code(third.request(fbc(3))) == ("CA", "STORE00003")
            assert no_reply_yet(failing)
        finally:
            hold.release()
        # Its batch failed: the message took the full path on its own, and only then was acknowledged.
        assert ack_code(failing.read_frame()) == ("CA", "STORE00001")
        # The other threads still store: the failure cost its own batch only.
        assert ack_code(second.request(fbc(4))) == ("CA", "STORE00004")

    assert ["STORE00001"] in hold.batches
    rows = sorted(InboundMessage.objects.values_list("control_id", "status"))
    assert rows == [(f"STORE0000{n}", MessageStatus.STORED) for n in (1, 2, 3, 4)]  # each once
    committer = running_threads.listener._committer
    assert committer is not None and committer.batches == 3  # the failed batch is not counted


def test_one_connections_messages_keep_their_order_across_threads(
    running_threads: ListenerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold = HoldOne(monkeypatch, control_id="STORE00001", where="before its checks")
    with running_threads.client() as held_sender, running_threads.client() as eager:
        try:
            held_sender.send(fbc(1))
            assert hold.holding.wait(10)
            # Five at once without waiting: each is read only after the previous one's ACK, so the free threads
            # take them one at a time, and each is committed after the one before.
            eager.send_raw(b"".join(START_BLOCK + fbc(n) + END_BLOCK for n in range(2, 7)))
            assert [ack_code(eager.read_frame())[1] for _ in range(5)] == [f"STORE0000{n}" for n in range(2, 7)]
        finally:
            hold.release()
        assert ack_code(held_sender.read_frame()) == ("CA", "STORE00001")

    # The workers apply in id order (stored_claim): the eager connection's messages in the order sent.
    in_order = list(InboundMessage.objects.exclude(control_id="STORE00001").order_by("pk"))
    assert [row.control_id for row in in_order] == [f"STORE0000{n}" for n in range(2, 7)]
    stored_apply_batch()
    assert InboundMessage.objects.filter(status=MessageStatus.APPLIED).count() == 6


def test_stop_stores_everything_queued_and_ends_every_thread(
    after_store: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    real_prepare = listener_module.stored_prepare
    held = threading.Semaphore(0)

    def prepare_when_released(raw: bytes, **options: Any) -> Any:
        held.release()
        assert gate.wait(20)
        return real_prepare(raw, **options)

    monkeypatch.setattr(listener_module, "stored_prepare", prepare_when_released)
    loop = asyncio.new_event_loop()
    try:
        committer = listener_module.GroupCommitter(loop, threads=THREADS)
        waiting = []
        for n in range(1, 9):
            quick = read_first_header(fbc(n))
            assert quick is not None
            waiting.append(
                listener_module._Waiting(fbc(n), quick[0], quick[1], LOCAL_PEER, timezone.now(), loop.create_future())
            )
        committer.submit(waiting[0])
        assert held.acquire(timeout=10)  # one thread holds a message; the rest wait queued, or are held too
        for item in waiting[1:]:
            committer.submit(item)
        stopper = threading.Thread(target=committer.stop)
        stopper.start()
        threading.Event().wait(0.2)
        assert stopper.is_alive()  # stop() waits for what is queued and held
        gate.set()
        stopper.join(20)
        assert not stopper.is_alive()
        assert not any(thread.is_alive() for thread in committer._threads)
        assert committer._queue.empty()  # every thread took exactly one of the stops
        loop.run_until_complete(asyncio.sleep(0))  # the answers, handed to the event loop
        answers = [item.answer.result() for item in waiting]
    finally:
        gate.set()
        loop.close()
    acknowledged = [ack_code(answer)[1] for answer in answers if isinstance(answer, bytes)]
    if connection.vendor == "postgresql":
        assert acknowledged == [f"STORE0000{n}" for n in range(1, 9)]
    else:
        # SQLite has one writer at a time, and the test database (shared-cache, in memory) refuses a second writer
        # at once instead of waiting: a thread released together with another may find it locked. Its batch is
        # then answered FULL_PATH, for the connection to store down the full path; never an ACK without a commit.
        assert acknowledged
        assert all(answer is listener_module.FULL_PATH for answer in answers if not isinstance(answer, bytes))
    assert committed_control_ids() == acknowledged


def test_the_listener_takes_its_thread_count_from_the_settings(after_store: None, settings: Any) -> None:
    settings.HL7_GROUP_COMMIT_THREADS = 2
    running = ListenerThread(handler=None, group_commit_on_loop=False).start()
    try:
        committer = running.listener._committer
        assert committer is not None and committer.threads == 2
        with running.client() as client:
            assert ack_code(client.request(fbc(1))) == ("CA", "STORE00001")
    finally:
        running.stop()
    assert not any(thread.is_alive() for thread in committer._threads)
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="at least one thread"):
            listener_module.GroupCommitter(loop, threads=0)
    finally:
        loop.close()


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
    rows = [{**row, "control_id": f"BIG{n:05d}"} for n, row in enumerate(_prepared_rows(1) * 30)]
    rows = [{**row, "public_id": uuid.uuid4()} for row in rows]
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
