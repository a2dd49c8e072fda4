"""The MLLP listener: HL7 v2 messages over TCP, each acknowledged only after it has been stored and committed.

Framing (MLLP): every message arrives as 0x0B <message> 0x1C 0x0D and its ACK goes back framed the same way. Each
connection is served by its own asyncio task; messages on one connection are handled strictly in order (the ACK of
one is written before the next is read off the buffer), and the database work runs in a bounded pool of worker
threads, since Django's ORM is synchronous and its connections belong to the thread that opened them. Messages
from an interface that acknowledges after store go instead to the group commit, which stores every message waiting
at that moment in one transaction and answers each connection once it has committed: the event loop itself, on a
database connection of its own (GroupCommitter).

The frame reader is our own rather than python-hl7's `hl7.mllp` (0.4.5). Its `readblock()` has no way to recover
from what real senders do: bytes before a start block make it raise and throw away the valid frame that follows;
on a frame over its limit it clears the whole buffer when the end block has not arrived yet, so the rest of that
frame is then read as a new, broken frame; and it cannot keep the head of an oversize frame for the journal.

What the listener survives, per connection, without affecting any other:
- bytes outside a frame (noise before a start block, between frames): skipped and counted;
- a frame that never ends because a new start block arrives: the sender gave up on it, so it is dropped (it was
  never acknowledged, so the sender sends it again); logged;
- a frame over HL7_MAX_MESSAGE_BYTES: read to its end block without holding it in memory, stored as a REJECTED
  message keeping only its first 64 KiB, and answered with AR; the connection stays open, as the stream is back
  in step after the end block;
- a client that disconnects mid-frame: nothing stored, nothing acknowledged;
- a client that stalls mid-frame (HL7_FRAME_TIMEOUT_SECONDS) or says nothing for HL7_IDLE_TIMEOUT_SECONDS, or
  does not read its ACKs: the connection is closed;
- more than HL7_MAX_CONNECTIONS at once: the extra connection is closed at once (senders reconnect and retry);
- a database failure while applying a message: no ACK is sent and the connection is closed, so the sender keeps
  the message and sends it again (an ACK is a promise that the message is stored).

TLS (optional): with HL7_TLS_CERT_FILE and HL7_TLS_KEY_FILE set, the listener speaks MLLP inside TLS 1.2 or later
only; with HL7_TLS_CA_FILE as well, a sender must present a client certificate signed by that CA. A sender that
does not complete the handshake (a plaintext client, an unknown client certificate) never reaches the frame reader:
nothing is stored, nothing acknowledged. A missing or unreadable file stops the listener at start-up
(`TLSConfigurationError`), rather than serving in plaintext.

Logs carry the peer address, sizes, control ids and ACK codes only: never message content.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import os
import re
import signal
import socket
import sqlite3
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg
import structlog
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, SynchronousOnlyOperation
from django.db import close_old_connections, connections
from django.utils import timezone

from careportal.hl7.ack import ack_build
from careportal.hl7.interfaces import interface_for_if_cached
from careportal.hl7.models import AckMode, ErrorKind, InboundMessage, MessageSource, MessageStatus
from careportal.hl7.parsing import MessageHeader, read_first_header
from careportal.hl7.services import (
    STORED_ROWS_PER_STATEMENT,
    StoredPrepared,
    message_receive,
    stored_insert,
    stored_insert_statement,
    stored_prepare,
)
from careportal.hl7.stored_services import stored_apply_enqueue, stored_apply_wake_due

logger = structlog.get_logger(__name__)
# The standard library's logger behind it, asked whether DEBUG lines are wanted before one is built.
_stdlib_logger = logging.getLogger(__name__)

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
# How much of an oversize frame the journal keeps: enough for staff to see what it was (its header, its patient).
OVERSIZE_KEEP_BYTES = 64 * 1024
READ_CHUNK_BYTES = 64 * 1024

Handler = Callable[..., bytes]
_FROM_SETTINGS = "settings"


class TLSConfigurationError(ImproperlyConfigured):
    """The TLS settings name files that are missing, unreadable, or not a certificate and its key."""


def _readable(setting: str, path: str) -> None:
    if not os.path.isfile(path):
        raise TLSConfigurationError(f"{setting}: {path} does not exist or is not a file")
    if not os.access(path, os.R_OK):
        raise TLSConfigurationError(f"{setting}: {path} cannot be read by this user")


def tls_context(*, cert_file: str, key_file: str, ca_file: str = "") -> ssl.SSLContext | None:
    """The server's TLS context, or None for plain TCP (no certificate configured)."""
    if not cert_file and not key_file:
        if ca_file:
            raise TLSConfigurationError("HL7_TLS_CA_FILE needs HL7_TLS_CERT_FILE and HL7_TLS_KEY_FILE as well")
        return None
    if not cert_file or not key_file:
        raise TLSConfigurationError("Set both HL7_TLS_CERT_FILE and HL7_TLS_KEY_FILE, or neither")
    _readable("HL7_TLS_CERT_FILE", cert_file)
    _readable("HL7_TLS_KEY_FILE", key_file)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, OSError) as exc:
        raise TLSConfigurationError(
            "HL7_TLS_CERT_FILE and HL7_TLS_KEY_FILE are not a PEM certificate and its private key "
            f"({type(exc).__name__})"
        ) from None
    if ca_file:
        _readable("HL7_TLS_CA_FILE", ca_file)
        try:
            context.load_verify_locations(cafile=ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise TLSConfigurationError(
                f"HL7_TLS_CA_FILE is not a PEM file of CA certificates ({type(exc).__name__})"
            ) from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def tls_context_from_settings() -> ssl.SSLContext | None:
    return tls_context(
        cert_file=settings.HL7_TLS_CERT_FILE, key_file=settings.HL7_TLS_KEY_FILE, ca_file=settings.HL7_TLS_CA_FILE
    )


def frame(message: bytes) -> bytes:
    """Wrap a message (or ACK) in MLLP framing."""
    return START_BLOCK + message + END_BLOCK


class IncompleteFrameError(Exception):
    """The peer closed the connection after a start block and before its end block."""

    def __init__(self, size: int) -> None:
        super().__init__(f"connection closed {size} bytes into a frame")
        self.size = size


@dataclass(frozen=True)
class Frame:
    data: bytes  # the whole message, or only its first OVERSIZE_KEEP_BYTES when oversize
    size: int  # the message's full size in bytes, without framing
    oversize: bool


class FrameReader:
    """Reads MLLP frames from a stream, never holding more than about `max_bytes` + one read in memory."""

    def __init__(
        self,
        stream: asyncio.StreamReader,
        *,
        max_bytes: int,
        idle_timeout: float,
        frame_timeout: float,
        keep_bytes: int = OVERSIZE_KEEP_BYTES,
    ) -> None:
        self._stream = stream
        self._max = max_bytes
        self._idle_timeout = idle_timeout
        self._frame_timeout = frame_timeout
        self._keep = min(keep_bytes, max_bytes)
        self._buf = bytearray()
        self.bytes_received = 0
        self.bytes_discarded = 0  # outside any frame
        self.frames_abandoned = 0  # started, then given up by the sender (a new start block came first)

    async def _fill(self, timeout: float) -> bool:
        """Append the next read to the buffer; False at end of stream. Raises TimeoutError."""
        # asyncio.timeout rather than wait_for: on Python 3.11 wait_for wraps the read in a Task of its own, every
        # read of every message (bench/bench_mllp.py).
        async with asyncio.timeout(timeout):
            chunk = await self._stream.read(READ_CHUNK_BYTES)
        self.bytes_received += len(chunk)
        self._buf += chunk
        return bool(chunk)

    async def _find_start(self) -> bool:
        while True:
            start = self._buf.find(START_BLOCK)
            if start >= 0:
                self.bytes_discarded += start
                del self._buf[: start + 1]
                return True
            self.bytes_discarded += len(self._buf)
            self._buf.clear()
            if not await self._fill(self._idle_timeout):
                return False

    async def read_frame(self) -> Frame | None:
        """The next frame; None when the peer closes cleanly between frames.

        Raises IncompleteFrameError when the peer closes mid-frame, TimeoutError when it goes quiet.
        """
        if not await self._find_start():
            return None
        oversize = False
        head = b""
        dropped = 0  # bytes of this frame already let go of (oversize frames only)
        scan = 0  # where to resume searching, so a frame arriving in many reads is not searched from the start
        while True:
            end = self._buf.find(END_BLOCK, scan)
            restart = self._buf.find(START_BLOCK, scan, end if end >= 0 else len(self._buf))
            if restart >= 0:
                # 0x0B never occurs inside an HL7 message: the sender abandoned this frame and began another.
                self.frames_abandoned += 1
                logger.warning("hl7_frame_abandoned", bytes=dropped + restart)
                del self._buf[: restart + 1]
                oversize, head, dropped, scan = False, b"", 0, 0
                continue
            if end >= 0:
                size = dropped + end
                if not oversize and size > self._max:
                    oversize, head = True, bytes(self._buf[: self._keep])
                result = Frame(head, size, True) if oversize else Frame(bytes(self._buf[:end]), size, False)
                del self._buf[: end + len(END_BLOCK)]
                return result
            if not oversize and dropped + len(self._buf) > self._max:
                oversize, head = True, bytes(self._buf[: self._keep])
            if oversize:
                # Keep a trailing 0x1C: it may be the first half of the end block.
                keep_tail = 1 if self._buf.endswith(END_BLOCK[:1]) else 0
                let_go = len(self._buf) - keep_tail
                dropped += let_go
                del self._buf[:let_go]
                scan = 0
            else:
                scan = max(0, len(self._buf) - 1)
            if not await self._fill(self._frame_timeout):
                raise IncompleteFrameError(dropped + len(self._buf))


# --- Oversize frames: stored and rejected here, since message_receive() is never given more than the limit. ---


def oversize_header(head: bytes) -> MessageHeader:
    """The MSH fields of a message's first segment, read without parsing the rest (the message is cut short, and
    may be anything); blank when it has no MSH. Values are cut to the journal's column lengths."""
    text = head.lstrip()
    if not text.startswith(b"MSH") or len(text) < 8:
        return MessageHeader()
    separator = text[3:4]
    first_segment = re.split(rb"[\r\n]", text, maxsplit=1)[0]
    fields = [f.decode("utf-8", errors="replace") for f in first_segment.split(separator)]
    component = fields[1][:1] or "^"

    def msh(number: int, *, max_length: int = 60, components: int = 1) -> str:
        # MSH-1 is the field separator itself, so MSH-n is at index n - 1.
        value = fields[number - 1] if len(fields) >= number else ""
        value = "".join(ch for ch in value if ch.isprintable())
        return component.join(value.split(component)[:components])[:max_length]

    message_type = msh(9, components=2).split(component)
    return MessageHeader(
        sending_application=msh(3),
        sending_facility=msh(4),
        receiving_application=msh(5),
        receiving_facility=msh(6),
        message_code=message_type[0][:10],
        trigger_event=message_type[1][:10] if len(message_type) > 1 else "",
        control_id=msh(10, components=99),
        processing_id=msh(11, max_length=3),
        version=msh(12, max_length=10),
    )


def oversize_message_reject(head: bytes, *, size: int, limit: int, peer: str) -> bytes:
    """Journal an oversize message as REJECTED, keeping only its head, and return its AR ACK."""
    header = oversize_header(head)
    text = f"Message larger than the {limit} byte limit"
    InboundMessage.objects.create(
        received_at=timezone.now(),
        source=MessageSource.MLLP,
        peer=peer[:100],
        raw=head,
        control_id=header.control_id,
        message_type=header.message_type,
        sending_application=header.sending_application,
        sending_facility=header.sending_facility,
        hl7_version=header.version,
        status=MessageStatus.REJECTED,
        ack_code="AR",
        error_kind=ErrorKind.MALFORMED,
        error_text=f"{text} ({size} bytes); only the first {len(head)} bytes were kept.",
    )
    return ack_build(header=header, code="AR", text=text)


_MSA = re.compile(rb"(?:^|[\r\n])MSA\|([A-Z]{2})\|([^|\r\n]*)")

# How an ACK that accepts its message begins its MSA segment: CA (enhanced mode, stored) or AA. Every ACK CarePortal
# sends is built by ack_build, with these delimiters.
_ACCEPTED = ((b"\rMSA|CA|", "CA"), (b"\rMSA|AA|", "AA"))


def accepted_code(ack: bytes) -> str | None:
    """The ACK's code when it accepts its message (CA or AA); None for any other answer. Cheaper than
    `ack_summary`."""
    for marker, code in _ACCEPTED:
        if marker in ack:
            return code
    return None


@dataclass
class ListenerActivity:
    """What the listener answered since its last `hl7_listener_activity` line."""

    started: float = field(default_factory=time.monotonic)
    messages: int = 0
    acks: collections.Counter[str] = field(default_factory=collections.Counter)  # by ACK code; "none": not stored
    total_ms: float = 0.0
    slowest_ms: float = 0.0

    def add(self, code: str, ms: float) -> None:
        self.messages += 1
        self.acks[code] += 1
        self.total_ms += ms
        self.slowest_ms = max(self.slowest_ms, ms)


def ack_summary(ack: bytes) -> tuple[str, str]:
    """(ACK code, control id acknowledged) from an ACK message, for the log line."""
    match = _MSA.search(ack)
    if not match:
        return "", ""
    return match.group(1).decode("ascii"), match.group(2).decode("utf-8", errors="replace")[:60]


def _peer_label(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        # IPv6 in brackets, so that the port cannot be read as part of the address (interfaces.peer_address).
        host = f"[{peer[0]}]" if ":" in str(peer[0]) else peer[0]
        return f"{host}:{peer[1]}"
    return str(peer or "unknown")


# --- Group commit: after-store messages from several connections stored by one transaction ---------------------

# The most messages one batch stores: as many as one INSERT statement takes, so that a batch is one statement, its
# own transaction. Each connection has at most one message waiting (MLLP senders wait for each ACK), so a batch is
# at most one message per connection; more connections sending at once make several batches.
GROUP_COMMIT_MAX_MESSAGES = STORED_ROWS_PER_STATEMENT
# How many times, at most, a batch waits for messages that have already reached the listener to join it
# (GroupCommitter._gather): two rounds of the event loop each time, microseconds.
GROUP_COMMIT_GATHER_ROUNDS = 4


class _FullPath:
    """The answer for a message the group commit does not store: the connection sends it down the full path."""


FULL_PATH = _FullPath()


class SQLiteWriterBusy(Exception):
    """SQLite's one write lock is held by another connection (a worker applying messages, a web request): the event
    loop does not wait for it."""


async def stored_insert_async(
    connection: psycopg.AsyncConnection[Any] | sqlite3.Connection, rows: list[dict[str, Any]]
) -> None:
    """`stored_insert` for the event loop: the same one INSERT, its own transaction (the connection is in autocommit
    mode), committed when this returns.

    On SQLite the INSERT runs on the loop itself, as SQLite's driver has no asynchronous form: a few hundred
    microseconds for a batch (a write to the WAL, no fsync with synchronous=NORMAL). The connection never waits
    for the write lock (its busy timeout is 0): SQLiteWriterBusy at once, and the caller waits in a thread."""
    sql, params = stored_insert_statement(rows)
    if isinstance(connection, sqlite3.Connection):
        try:
            connection.execute(_sqlite_placeholders(sql), params)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise SQLiteWriterBusy from exc
            raise
        return
    async with psycopg.AsyncRawCursor(connection) as cursor:
        await cursor.execute(sql, params)


@functools.lru_cache(maxsize=STORED_ROWS_PER_STATEMENT)
def _sqlite_placeholders(sql: str) -> str:
    # The statement is written for Django's cursor (%s); sqlite3's own takes ?. One per row count.
    return sql.replace("%s", "?")


def _sqlite_connection_for_the_loop() -> sqlite3.Connection:
    """A connection of the listener's own to Django's SQLite database, set up as Django sets up its own (WAL,
    synchronous=NORMAL, foreign keys), in autocommit mode, and never waiting for the write lock."""
    database = connections["default"]
    params = database.get_connection_params()
    params["timeout"] = 0
    connection = sqlite3.connect(**params, isolation_level=None)
    try:
        connection.execute("PRAGMA foreign_keys = ON")
        for command in getattr(database, "init_commands", ()):
            if command := command.strip():
                connection.execute(command)
    except BaseException:
        connection.close()
        raise
    return connection


def _stored_insert_in_thread(rows: list[dict[str, Any]]) -> None:
    # SQLite only, when its write lock was taken: Django's connection in a worker thread waits for it (its timeout).
    close_old_connections()
    try:
        stored_insert(rows)
    finally:
        close_old_connections()


class GroupCommitter:
    """The group commit, run by the listener's event loop: it takes every after-store message waiting (at most
    GROUP_COMMIT_MAX_MESSAGES, once those that have already arrived have joined them: `_gather`), whose
    after-store checks (`stored_prepare`) the connection has already run, INSERTs their rows among the arrivals
    (InboundArrival, a table with no index but its key) in one statement, which in autocommit mode is its own
    transaction, and only then answers each connection with its ACK. One COMMIT, and one round trip to the
    database, for all the connections that had a message at that moment instead of one each; every ACK still
    follows the commit of its own row.

    It stores on database connections of its own: asynchronous psycopg connections on PostgreSQL; on SQLite, whose
    driver has no asynchronous form, a plain sqlite3 connection whose INSERT runs on the loop (a few hundred
    microseconds a batch) and never waits for the write lock: a batch that finds it taken (SQLiteWriterBusy) waits
    for it in a worker thread, so the loop keeps serving every connection meanwhile.

    Why on the loop: with group commit threads, each message crossed from the event loop to a thread and back, and
    those threads fought the event loop for the GIL. On PostgreSQL the listener then spent about 600 µs of CPU a
    message and stored about 1,450 messages/s over 4 connections; on the event loop, about 360 µs and 2,300–2,600
    messages/s, on the same machine (bench/bench_mllp.py). On SQLite, 2,640–2,670 messages/s against 2,300–2,420
    with a thread, in alternating runs. The after-store checks read nothing from the database but the interfaces'
    snapshot, which the caller has just found fresh, so they run on the loop too.

    `connections` batches may be in flight at once, each on its own connection (HL7_GROUP_COMMIT_THREADS), so that
    a batch can be stored while another commits (on PostgreSQL; on SQLite a batch runs to its end on the loop).

    Order is unaffected where it is defined. A connection has at most one message in the committer at a time (its
    next message is read only after this one's ACK), so its messages are committed one after the other, each
    after the commit of the one before; the id of each is therefore higher (the order in which the workers move
    arrivals into the journal and then apply them, stored_services.stored_move and stored_claim), and no worker
    can see the later without the earlier. The same holds across connections for a
    message sent only after another's ACK. Two batches in flight at once may commit messages that arrived at the
    same moment on two connections with their ids in either order (a worker may then apply the higher first, for
    one patient): such messages were in flight together, neither sender waiting for the other, so no order between
    them was ever defined (nor is it with the after-apply worker threads).

    What it does not store is answered FULL_PATH, and the connection sends the message to `message_receive` in a
    worker thread as usual: a message the after-store checks refuse (answered there with its AR or AE), and every
    message of a batch whose transaction failed, so that a message that cannot be stored costs only its own
    connection while the others are stored one by one. A connection that fails is closed and the next batch opens
    a new one. An ACK is never sent for a batch that did not commit."""

    def __init__(
        self,
        *,
        connections: int = 1,
        max_messages: int = GROUP_COMMIT_MAX_MESSAGES,
        executor: ThreadPoolExecutor,
    ) -> None:
        if connections < 1:
            raise ValueError("a group commit needs at least one connection")
        self._max = max_messages
        self._executor = executor
        self._pending: collections.deque[tuple[StoredPrepared, asyncio.Future[bytes | _FullPath | None]]] = (
            collections.deque()
        )
        self._waiting = asyncio.Event()
        self._stopping = False
        self._connections: list[psycopg.AsyncConnection[Any] | sqlite3.Connection | None] = [None] * connections
        self.batches = 0
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run(slot)) for slot in range(connections)]

    @property
    def threads(self) -> int:
        return len(self._tasks)

    async def store(self, raw: bytes, header: MessageHeader, codec: str, peer: str) -> bytes | _FullPath | None:
        """Check the message (after-store checks), queue it for the next batch and wait for that batch's commit:
        its ACK, FULL_PATH for the full path, or None (not stored: close the connection without an ACK)."""
        try:
            ready = stored_prepare(
                raw, header=header, codec=codec, peer=peer, source=MessageSource.MLLP, received_at=timezone.now()
            )
        except SynchronousOnlyOperation:
            # The interfaces' snapshot went stale since the caller looked: the full path reads it again.
            return FULL_PATH
        except Exception:
            logger.exception("hl7_group_commit_check_failed", peer=peer)
            return FULL_PATH
        if ready is None:
            return FULL_PATH
        answer: asyncio.Future[bytes | _FullPath | None] = asyncio.get_running_loop().create_future()
        self._pending.append((ready, answer))
        self._waiting.set()
        return await answer

    async def stop(self) -> None:
        """Store what is queued, then end every batch task and close its connection."""
        self._stopping = True
        self._waiting.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, slot: int) -> None:
        try:
            while True:
                if not self._pending:
                    if self._stopping:
                        return
                    self._waiting.clear()
                    await self._waiting.wait()
                    continue
                await self._gather()
                if not self._pending:
                    continue  # another batch task took them while this one waited
                batch = [self._pending.popleft() for _ in range(min(self._max, len(self._pending)))]
                try:
                    answers = await self._store(slot, batch)
                except Exception:
                    # A bug here must not leave connections waiting for ever; with no ACK, the senders send again.
                    logger.exception("hl7_group_commit_failed", messages=len(batch))
                    answers = [None] * len(batch)
                for (_, answer), ack in zip(batch, answers, strict=True):
                    if not answer.done():  # a connection cancelled at shutdown no longer waits
                        answer.set_result(ack)
                if any(isinstance(ack, bytes) for ack in answers) and stored_apply_wake_due():
                    # Enqueuing the task is a query: in a worker thread, after the ACKs. At most once every
                    # HL7_STORED_WAKE_SECONDS.
                    asyncio.get_running_loop().run_in_executor(self._executor, _stored_apply_enqueue_in_thread)
        finally:
            await self._discard(slot)

    async def _gather(self) -> None:
        """Before a batch is taken, let the messages that have already reached the listener join it.

        A message that arrived while the loop was busy is read off its socket in one round of the event loop, and
        checked and queued by its connection's task in the next. Taking the batch at once left those for the next
        batch: over 4 busy connections a batch held 1.7 messages on average. Waiting two rounds at a time, for as
        long as the queue grows (at most GROUP_COMMIT_GATHER_ROUNDS times), a batch holds 3.9, and each message
        costs the database a third less (one COMMIT, one write of each index page, for more rows). Measured in
        alternating runs of 20,000 messages: SQLite 2,441-2,590 -> 3,067-3,671 messages/s. On PostgreSQL, whose
        commits run in its own process, the rate did not change (means of 7 alternating runs: 2,940 and 2,950),
        but there are fewer commits for the server to flush. A round with nothing to do takes microseconds, so a
        message alone waits no longer than that."""
        for _ in range(GROUP_COMMIT_GATHER_ROUNDS):
            waiting = len(self._pending)
            if waiting >= self._max:
                return
            await asyncio.sleep(0)  # the sockets' new data is read
            await asyncio.sleep(0)  # the connections' tasks check and queue what was read
            if len(self._pending) == waiting:
                return

    async def _store(
        self, slot: int, batch: list[tuple[StoredPrepared, asyncio.Future[bytes | _FullPath | None]]]
    ) -> list[bytes | _FullPath | None]:
        rows = [ready.row for ready, _ in batch]
        try:
            connection = await self._connection(slot)
            try:
                await stored_insert_async(connection, rows)
            except SQLiteWriterBusy:
                # Nothing was written. The batch waits for the lock in a thread while the loop serves the others.
                await asyncio.get_running_loop().run_in_executor(self._executor, _stored_insert_in_thread, rows)
        except Exception:
            # Nothing of the batch is stored: each message goes down the full path on its own.
            logger.exception("hl7_group_commit_failed", messages=len(batch))
            await self._discard(slot)
            return [FULL_PATH] * len(batch)
        # Committed: only now may the senders be told.
        self.batches += 1
        return [ready.ack for ready, _ in batch]

    async def _connection(self, slot: int) -> psycopg.AsyncConnection[Any] | sqlite3.Connection:
        connection = self._connections[slot]
        if isinstance(connection, sqlite3.Connection):
            return connection
        if connection is None and connections["default"].vendor == "sqlite":
            connection = _sqlite_connection_for_the_loop()
            self._connections[slot] = connection
            return connection
        if connection is None or connection.closed:
            # The same server, database, role and options as Django's own connections; psycopg's own adapters.
            params = connections["default"].get_connection_params()
            for key in ("cursor_factory", "context"):
                params.pop(key, None)
            connection = await psycopg.AsyncConnection.connect(**params, autocommit=True)
            self._connections[slot] = connection
        return connection

    async def _discard(self, slot: int) -> None:
        connection, self._connections[slot] = self._connections[slot], None
        if isinstance(connection, sqlite3.Connection):
            with contextlib.suppress(Exception):
                connection.close()
        elif connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()


def _stored_apply_enqueue_in_thread() -> None:
    close_old_connections()
    try:
        stored_apply_enqueue()
    finally:
        close_old_connections()


class _Connection:
    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None
        self.busy = False  # a message has been handed to a worker and its ACK is not written yet


class MLLPListener:
    """An asyncio MLLP server. `await start()`, then `await serve_until_stopped()`; `stop()` asks it to finish."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        handler: Handler | None = None,  # message_receive; tests pass their own
        max_message_bytes: int | None = None,
        idle_timeout: float | None = None,
        frame_timeout: float | None = None,
        max_connections: int | None = None,
        workers: int | None = None,
        shutdown_grace: float | None = None,
        tls: ssl.SSLContext | str | None = _FROM_SETTINGS,  # a context, None for plain TCP, or from HL7_TLS_*
        group_commit: bool = True,  # after-store messages stored in batches (GroupCommitter); default handler only
        group_commit_threads: int | None = None,  # HL7_GROUP_COMMIT_THREADS when not given
        activity_log_seconds: float | None = None,  # HL7_ACTIVITY_LOG_SECONDS when not given; 0: no activity lines
    ) -> None:
        self.host = host
        # Read here, so that a bad certificate stops the listener before it listens.
        if isinstance(tls, str):
            if tls != _FROM_SETTINGS:
                raise TypeError("tls must be an ssl.SSLContext, None, or left to the settings")
            self.tls: ssl.SSLContext | None = tls_context_from_settings()
        else:
            self.tls = tls
        self.requested_port = port
        self.handler = handler or message_receive
        self.group_commit = group_commit and handler is None
        self._committer: GroupCommitter | None = None
        self.max_message_bytes = max_message_bytes or settings.HL7_MAX_MESSAGE_BYTES
        self.idle_timeout = idle_timeout or settings.HL7_IDLE_TIMEOUT_SECONDS
        self.frame_timeout = frame_timeout or settings.HL7_FRAME_TIMEOUT_SECONDS
        self.max_connections = max_connections or settings.HL7_MAX_CONNECTIONS
        self.workers = workers or settings.HL7_WORKER_THREADS
        self.group_commit_threads = group_commit_threads or settings.HL7_GROUP_COMMIT_THREADS
        self.shutdown_grace = shutdown_grace if shutdown_grace is not None else settings.HL7_SHUTDOWN_GRACE_SECONDS
        self.activity_log_seconds = (
            activity_log_seconds if activity_log_seconds is not None else settings.HL7_ACTIVITY_LOG_SECONDS
        )
        self.activity = ListenerActivity()
        self._activity_task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="hl7-worker")
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._stop_requested: asyncio.Event | None = None
        self.stopping = False
        self.messages_handled = 0

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        if self._server is None:
            raise RuntimeError("start() first")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._stop_requested = asyncio.Event()
        if self.group_commit:
            self._committer = GroupCommitter(connections=self.group_commit_threads, executor=self._executor)
        self._server = await asyncio.start_server(
            self._accept,
            self.host,
            self.requested_port,
            limit=READ_CHUNK_BYTES,
            reuse_address=True,
            ssl=self.tls,
            ssl_handshake_timeout=self.frame_timeout if self.tls is not None else None,
        )
        if self.activity_log_seconds > 0:
            self._activity_task = asyncio.get_running_loop().create_task(self._log_activity_every())
        logger.info(
            "hl7_listener_started",
            host=self.host,
            port=self.port,
            max_message_bytes=self.max_message_bytes,
            max_connections=self.max_connections,
            workers=self.workers,
            group_commit_threads=self.group_commit_threads if self.group_commit else 0,
            tls=self.tls is not None,
            client_certificates=self.tls is not None and self.tls.verify_mode == ssl.CERT_REQUIRED,
        )

    def stop(self) -> None:
        """Ask the listener to shut down gracefully (call on its event loop, e.g. from a signal handler)."""
        if self._stop_requested is not None:
            self._stop_requested.set()

    async def serve_until_stopped(self) -> None:
        if self._stop_requested is None:
            raise RuntimeError("start() first")
        await self._stop_requested.wait()
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop accepting; let messages being applied finish and be acknowledged; close every connection."""
        self.stopping = True
        if self._server is not None:
            self._server.close()
        idle = [conn for conn in self._connections if not conn.busy]
        busy = [conn for conn in self._connections if conn.busy]
        for conn in idle:
            # Waiting for the next frame: a partly received frame is dropped, and the sender, with no ACK, resends.
            if conn.task is not None:
                conn.task.cancel()
        tasks = [conn.task for conn in self._connections if conn.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.shutdown_grace)
            for task in pending:
                task.cancel()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
        # Every connection is done: what a cancelled one left queued is stored (never acknowledged, so its sender
        # sends it again, and the workers apply it once).
        if self._committer is not None:
            await self._committer.stop()
        await asyncio.get_running_loop().run_in_executor(None, self._close_worker_connections)
        if self._activity_task is not None:
            self._activity_task.cancel()
            await asyncio.gather(self._activity_task, return_exceptions=True)
            self.log_activity()
        logger.info("hl7_listener_stopped", messages=self.messages_handled, finished_in_flight=len(busy))

    def _close_worker_connections(self) -> None:
        # A Django connection can only be closed by the thread that opened it, and a pool gives no way to pick a
        # thread; one job per worker, all held at a barrier until every worker has one, reaches each thread once.
        # Left open, they would keep PostgreSQL from dropping the database (tests) and hold server slots.
        barrier = threading.Barrier(self.workers)

        def close_here() -> None:
            connections.close_all()
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=10)

        for future in [self._executor.submit(close_here) for _ in range(self.workers)]:
            future.result()
        self._executor.shutdown(wait=True)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer_label(writer)
        if self.stopping or len(self._connections) >= self.max_connections:
            logger.warning(
                "hl7_connection_refused",
                peer=peer,
                reason="stopping" if self.stopping else "connection limit",
                limit=self.max_connections,
            )
            writer.close()
            return
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # Finds peers that vanished without closing (a pulled cable, a rebooted firewall) while idle.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        conn = _Connection()
        conn.task = asyncio.get_running_loop().create_task(self._serve(reader, writer, peer, conn))
        self._connections.add(conn)
        conn.task.add_done_callback(lambda _task: self._connections.discard(conn))

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str, conn: _Connection
    ) -> None:
        frames = FrameReader(
            reader,
            max_bytes=self.max_message_bytes,
            idle_timeout=self.idle_timeout,
            frame_timeout=self.frame_timeout,
        )
        messages = 0
        outcome = "closed by peer"
        logger.info("hl7_connection_opened", peer=peer)
        try:
            while not self.stopping:
                try:
                    received = await frames.read_frame()
                except TimeoutError:
                    outcome = "timed out"
                    break
                except IncompleteFrameError as exc:
                    logger.warning("hl7_frame_incomplete", peer=peer, bytes=exc.size)
                    outcome = "closed by peer mid-frame"
                    break
                if received is None:
                    break
                conn.busy = True
                try:
                    started = time.perf_counter()
                    ack = await self._handle(received, peer)
                    if ack is None:
                        self._log_message(received, peer, None, started)
                        outcome = "message not stored"
                        break
                    writer.write(frame(ack))
                    # Logged once the ACK is on its way: the sender need not wait for the log line.
                    self._log_message(received, peer, ack, started)
                    if writer.transport.get_write_buffer_size():
                        # The kernel did not take the whole ACK: wait for the peer to read, at most frame_timeout.
                        try:
                            async with asyncio.timeout(self.frame_timeout):
                                await writer.drain()
                        except TimeoutError:
                            outcome = "peer not reading its ACKs"
                            break
                    else:
                        # Nothing waiting to be sent: drain() returns at once (or raises if the peer is gone), so
                        # no timer is needed, one less per message.
                        await writer.drain()
                finally:
                    conn.busy = False
                messages += 1
            else:
                outcome = "listener stopping"
        except asyncio.CancelledError:
            outcome = "listener stopping"
            raise
        except (ConnectionError, OSError) as exc:
            outcome = f"connection error: {type(exc).__name__}"
        except Exception:
            # A bug here must cost one connection, never the listener.
            logger.exception("hl7_connection_failed", peer=peer)
            outcome = "internal error"
        finally:
            if outcome.startswith("connection error"):
                writer.transport.abort()
            else:
                writer.close()
            logger.info(
                "hl7_connection_closed",
                peer=peer,
                outcome=outcome,
                messages=messages,
                bytes_received=frames.bytes_received,
                bytes_discarded=frames.bytes_discarded,
                frames_abandoned=frames.frames_abandoned,
            )

    async def _handle(self, received: Frame, peer: str) -> bytes | None:
        loop = asyncio.get_running_loop()
        ack: bytes | _FullPath | None = FULL_PATH
        if self._committer is not None and not received.oversize:
            ack = await self._group_commit(received, peer)
        if ack is FULL_PATH:
            ack = await loop.run_in_executor(self._executor, self._handle_in_worker, received, peer)
        assert not isinstance(ack, _FullPath)  # noqa: S101 - for mypy
        self.messages_handled += 1
        return ack

    def _log_message(self, received: Frame, peer: str, ack: bytes | None, started: float) -> None:
        """Count the message for the activity line; log a line for it at INFO when it was not accepted (AE, AR, or
        not stored: what an operator must see), at DEBUG when it was. The journal (/staff/hl7/messages/) records
        every message; a line for each accepted one cost the event loop about a sixth of its time per message
        (docs/hl7.md, "Logs")."""
        ms = (time.perf_counter() - started) * 1000
        accepted = accepted_code(ack) if ack is not None else None
        if accepted is not None and not _stdlib_logger.isEnabledFor(logging.DEBUG):
            self.activity.add(accepted, ms)
            return
        code, control_id = ack_summary(ack) if ack is not None else ("", "")
        self.activity.add(code or "none", ms)
        log = logger.debug if accepted is not None else logger.info
        log(
            "hl7_message",
            peer=peer,
            bytes=received.size,
            oversize=received.oversize,
            control_id=control_id,
            ack_code=code or "none",
            ms=round(ms, 1),
        )

    async def _log_activity_every(self) -> None:
        while True:
            await asyncio.sleep(self.activity_log_seconds)
            self.log_activity()

    def log_activity(self) -> None:
        """One INFO line summing up what was answered since the last one (nothing when no message came): how many
        messages, by ACK code, and how long they took from frame to ACK."""
        activity, self.activity = self.activity, ListenerActivity()
        if not activity.messages:
            return
        logger.info(
            "hl7_listener_activity",
            seconds=round(time.monotonic() - activity.started, 1),
            messages=activity.messages,
            acks=dict(sorted(activity.acks.items())),
            mean_ms=round(activity.total_ms / activity.messages, 1),
            slowest_ms=round(activity.slowest_ms, 1),
            connections=len(self._connections),
        )

    async def _group_commit(self, received: Frame, peer: str) -> bytes | _FullPath | None:
        """A message from an interface that acknowledges after store goes to the group commit; any other, or one
        whose interface this process has not read lately (the full path reads it), is answered FULL_PATH here."""
        quick = read_first_header(received.data)
        if quick is None:
            return FULL_PATH
        rule = interface_for_if_cached(quick[0])
        if rule is None or rule.ack_mode != AckMode.AFTER_STORE or self._committer is None:
            return FULL_PATH
        return await self._committer.store(received.data, quick[0], quick[1], peer)

    def _handle_in_worker(self, received: Frame, peer: str) -> bytes | None:
        # As around a web request: drop this thread's connection if it broke or outlived CONN_MAX_AGE.
        close_old_connections()
        try:
            if received.oversize:
                return oversize_message_reject(
                    received.data, size=received.size, limit=self.max_message_bytes, peer=peer
                )
            return self.handler(received.data, peer=peer, source=MessageSource.MLLP)
        except Exception:
            logger.exception("hl7_message_not_stored", peer=peer, bytes=received.size)
            return None
        finally:
            close_old_connections()


async def _run(listener: MLLPListener) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, listener.stop)
    await listener.start()
    await listener.serve_until_stopped()


def run_listener(listener: MLLPListener) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully."""
    asyncio.run(_run(listener))
