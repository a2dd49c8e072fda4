"""The MLLP listener, started for real on a free port and driven over real sockets.

Two kinds of test: the network behaviour (framing, noise, oversize frames, disconnects, time-outs, the connection
limit, ordering, shutdown) with a small recording handler in place of message_receive, so that each failure points
at the listener; and end to end with the real message_receive and every sample message.

The listener applies messages in its own worker threads, which commit: hence `transactional_db`. On SQLite the
test database is a shared-cache in-memory database, which the worker threads can open too.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from careportal.hl7.listener import oversize_header, oversize_message_reject
from careportal.hl7.models import InboundMessage, MessageSource, MessageStatus
from careportal.hl7.parsing import MessageHeader
from careportal.results.models import DiagnosticReport
from tests.hl7.mllp_client import END_BLOCK, START_BLOCK, ListenerThread, MLLPClient, ack_code, control_id
from tests.patients.factories import PatientFactory

SAMPLES = Path(__file__).parent / "samples"
FBC = (SAMPLES / "oru_r01_fbc_final.hl7").read_bytes()


def with_control_id(message: bytes, new_id: str) -> bytes:
    fields = message.split(b"\r", 1)
    msh = fields[0].split(b"|")
    msh[9] = new_id.encode()
    return b"|".join(msh) + b"\r" + fields[1]


class RecordingHandler:
    """Stands in for message_receive: records what it is given and answers AA with the message's control id."""

    def __init__(self, delay: float = 0.0) -> None:
        self.messages: list[bytes] = []
        self.calls: list[tuple[float, float]] = []
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, raw: bytes, *, peer: str = "", source: str = MessageSource.MLLP) -> bytes:
        assert source == MessageSource.MLLP
        assert peer.startswith("127.0.0.1:")
        started = time.monotonic()
        time.sleep(self.delay)
        with self.lock:
            self.messages.append(raw)
            self.calls.append((started, time.monotonic()))
        try:
            control = control_id(raw)
        except IndexError:
            control = ""
        header = f"MSH|^~\\&|CAREPORTAL|RRV|X|Y|20260101000000||ACK|A{len(self.messages)}|P|2.5"
        return f"{header}\rMSA|AA|{control}\r".encode()


@pytest.fixture
def start_listener() -> Iterator[Callable[..., ListenerThread]]:
    started: list[ListenerThread] = []

    def start(**options: Any) -> ListenerThread:
        # handler=None: the real message_receive.
        options.setdefault("handler", RecordingHandler())
        running = ListenerThread(**options).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


# --- Framing and noise ----------------------------------------------------------------------------------------


def test_messages_on_one_connection_are_acknowledged_in_order(start_listener: Callable[..., ListenerThread]) -> None:
    handler = RecordingHandler(delay=0.05)
    running = start_listener(handler=handler)
    messages = [with_control_id(FBC, f"ORDER{i}") for i in range(5)]
    with running.client() as client:
        # All five sent at once, as a sender that does not wait would: still handled one after another.
        client.send_raw(b"".join(START_BLOCK + m + END_BLOCK for m in messages))
        acks = [ack_code(client.read_frame()) for _ in messages]
    assert acks == [("AA", f"ORDER{i}") for i in range(5)]
    assert handler.messages == messages
    for (_, previous_end), (next_start, _) in zip(handler.calls, handler.calls[1:], strict=False):
        assert next_start >= previous_end


def test_noise_before_a_start_block_is_skipped_and_the_message_still_handled(
    start_listener: Callable[..., ListenerThread],
) -> None:
    handler = RecordingHandler()
    running = start_listener(handler=handler)
    noise = bytes(random.Random(5).randrange(256) for _ in range(5000)).replace(b"\x0b", b"").replace(b"\x1c", b"")
    with running.client() as client:
        client.send_raw(noise)
        assert ack_code(client.request(FBC)) == ("AA", "WP20261102093015001")
        # Noise between frames too.
        client.send_raw(b"\r\n\x00 junk \x00")
        assert ack_code(client.request(with_control_id(FBC, "SECOND"))) == ("AA", "SECOND")
    assert handler.messages == [FBC, with_control_id(FBC, "SECOND")]


def test_a_frame_abandoned_by_a_new_start_block_is_dropped(start_listener: Callable[..., ListenerThread]) -> None:
    handler = RecordingHandler()
    running = start_listener(handler=handler)
    with running.client() as client:
        # Random bytes holding stray start blocks (but no end block), then a well-framed message.
        noise = bytes(random.Random(7).randrange(256) for _ in range(3000)).replace(b"\x1c", b"")
        client.send_raw(START_BLOCK + FBC[:60] + noise)
        assert ack_code(client.request(FBC)) == ("AA", "WP20261102093015001")
    assert handler.messages == [FBC]


def test_a_message_arriving_a_byte_at_a_time_is_reassembled(start_listener: Callable[..., ListenerThread]) -> None:
    handler = RecordingHandler()
    running = start_listener(handler=handler)
    with running.client() as client:
        for byte in START_BLOCK + FBC + END_BLOCK:
            client.send_raw(bytes([byte]))
        assert ack_code(client.read_frame()) == ("AA", "WP20261102093015001")
    assert handler.messages == [FBC]


def test_end_block_without_carriage_return_does_not_end_the_frame(
    start_listener: Callable[..., ListenerThread],
) -> None:
    handler = RecordingHandler()
    running = start_listener(handler=handler)
    with running.client() as client:
        client.send_raw(START_BLOCK + FBC + b"\x1c")
        time.sleep(0.2)
        assert handler.messages == []
        client.send_raw(b"\x0d")
        assert ack_code(client.read_frame())[0] == "AA"
    assert handler.messages == [FBC]


# --- Size limit -----------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("transactional_db")
def test_a_frame_at_the_limit_is_handled_and_one_byte_more_is_rejected(
    start_listener: Callable[..., ListenerThread],
) -> None:
    handler = RecordingHandler()
    limit = 2000
    running = start_listener(handler=handler, max_message_bytes=limit)
    at_limit = FBC + b"Z" * (limit - len(FBC))
    too_big = with_control_id(FBC, "TOO-BIG")
    over = too_big + b"Z" * (limit - len(too_big) + 1)
    assert (len(at_limit), len(over)) == (limit, limit + 1)
    with running.client() as client:
        assert ack_code(client.request(at_limit))[0] == "AA"
        assert ack_code(client.request(over)) == ("AR", "TOO-BIG")
    assert handler.messages == [at_limit]
    stored = InboundMessage.objects.get()
    assert (stored.status, stored.ack_code, stored.error_kind) == (MessageStatus.REJECTED, "AR", "malformed")
    assert stored.error_text.startswith(f"Message larger than the {limit} byte limit")


@pytest.mark.usefixtures("transactional_db")
def test_a_10_mb_frame_is_rejected_and_kept_in_part_and_the_server_keeps_serving(
    start_listener: Callable[..., ListenerThread],
) -> None:
    handler = RecordingHandler()
    running = start_listener(handler=handler)  # the default 2 MiB limit
    huge = with_control_id(FBC, "HUGE-1") + b"OBX|5|TX|NOTE^Note^LOCAL||" + b"x" * (10 * 1024 * 1024) + b"||||||F\r"
    with running.client(timeout=60) as client:
        ack = client.request(huge)
        assert ack_code(ack) == ("AR", "HUGE-1")
        assert b"larger than the 2097152 byte limit" in ack
        # The same connection is back in step after the end block...
        assert ack_code(client.request(FBC)) == ("AA", "WP20261102093015001")
    # ...and a new one is served too.
    with running.client() as client:
        assert ack_code(client.request(with_control_id(FBC, "NEXT"))) == ("AA", "NEXT")
    stored = InboundMessage.objects.get(status=MessageStatus.REJECTED)
    assert len(stored.raw) == 64 * 1024
    assert bytes(stored.raw) == huge[: 64 * 1024]
    assert (stored.control_id, stored.message_type, stored.sending_application) == ("HUGE-1", "ORU^R01", "WINPATH")
    assert (stored.source, stored.peer[:10]) == (MessageSource.MLLP, "127.0.0.1:")
    assert "(10" in stored.error_text
    assert [control_id(m) for m in handler.messages] == ["WP20261102093015001", "NEXT"]


@pytest.mark.usefixtures("transactional_db")
def test_an_oversize_frame_without_a_header_is_still_rejected_and_kept(
    start_listener: Callable[..., ListenerThread],
) -> None:
    running = start_listener(max_message_bytes=1000)
    junk = bytes(random.Random(3).randrange(256) for _ in range(5000)).replace(b"\x0b", b"").replace(b"\x1c", b"")
    with running.client() as client:
        assert ack_code(client.request(junk)) == ("AR", "")
    stored = InboundMessage.objects.get()
    assert (bytes(stored.raw), stored.control_id, stored.message_type) == (junk[:1000], "", "")


def test_oversize_header_is_read_without_parsing_the_message() -> None:
    header = oversize_header(with_control_id(FBC, "C-9")[:300])
    assert (header.sending_application, header.sending_facility) == ("WINPATH", "RRV_LAB")
    assert (header.message_type, header.control_id, header.version) == ("ORU^R01", "C-9", "2.4")
    assert oversize_header(b"PID|1||40012345") == oversize_header(b"") == MessageHeader()


@pytest.mark.django_db
def test_oversize_reject_keeps_what_it_can_read_of_an_odd_header() -> None:
    # Its own separators, leading blanks, a control character, a non-ASCII byte and an over-long control id.
    head = b"  MSH#^~\\&#AP\x00P#FAC#" + "Ž".encode() + b"#X#20260101##ORU^R01#" + b"C" * 100 + b"\rPID#1"
    ack = oversize_message_reject(head, size=5_000_000, limit=100, peer="10.0.0.1:5000")
    stored = InboundMessage.objects.get()
    assert stored.control_id == "C" * 60
    assert (stored.sending_application, stored.message_type) == ("APP", "ORU^R01")
    assert ack_code(ack) == ("AR", "C" * 60)
    # Sent back to the sender's application and facility, as the ACK of the same trigger event.
    msh = ack.split(b"\r")[0].split(b"|")
    assert (msh[4], msh[5], msh[8]) == (b"APP", b"FAC", b"ACK^R01^ACK")


# --- Broken and slow clients, limits, shutdown ----------------------------------------------------------------


@pytest.mark.usefixtures("transactional_db")
def test_a_client_that_disconnects_mid_frame_stores_nothing_and_others_carry_on(
    start_listener: Callable[..., ListenerThread],
) -> None:
    handler = RecordingHandler()
    running = start_listener(handler=handler)
    with running.client() as steady:
        assert ack_code(steady.request(with_control_id(FBC, "BEFORE")))[0] == "AA"
        leaving = running.client()
        leaving.send_raw(START_BLOCK + FBC[: len(FBC) // 2])
        time.sleep(0.1)
        leaving.close()
        # Half a frame and then a reset (SO_LINGER 0) rather than a clean close.
        rude = running.client()
        rude.send_raw(START_BLOCK + FBC[:40])
        rude.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        rude.close()
        time.sleep(0.2)
        assert ack_code(steady.request(with_control_id(FBC, "AFTER")))[0] == "AA"
    assert [control_id(m) for m in handler.messages] == ["BEFORE", "AFTER"]
    assert not InboundMessage.objects.exists()


def test_a_client_stalling_mid_frame_is_closed_without_blocking_others(
    start_listener: Callable[..., ListenerThread],
) -> None:
    handler = RecordingHandler()
    running = start_listener(handler=handler, frame_timeout=0.5, idle_timeout=60)
    slow = running.client()
    slow.send_raw(START_BLOCK + FBC[:100])
    with running.client() as other:
        for i in range(3):
            assert ack_code(other.request(with_control_id(FBC, f"OTHER{i}")))[0] == "AA"
    assert slow.closed_by_server(timeout=5)
    slow.close()
    assert [control_id(m) for m in handler.messages] == ["OTHER0", "OTHER1", "OTHER2"]


def test_a_silent_connection_is_closed_after_the_idle_timeout(start_listener: Callable[..., ListenerThread]) -> None:
    running = start_listener(idle_timeout=0.5)
    with running.client() as quiet:
        assert not quiet.closed_by_server(timeout=0.2)
        assert quiet.closed_by_server(timeout=5)


def test_connections_over_the_limit_are_refused_and_served_again_when_one_closes(
    start_listener: Callable[..., ListenerThread],
) -> None:
    running = start_listener(max_connections=2)
    first, second = running.client(), running.client()
    assert ack_code(first.request(with_control_id(FBC, "ONE")))[0] == "AA"
    assert ack_code(second.request(with_control_id(FBC, "TWO")))[0] == "AA"
    with running.client() as third:
        assert third.closed_by_server(timeout=5)
    first.close()
    time.sleep(0.2)
    with running.client() as fourth:
        assert ack_code(fourth.request(with_control_id(FBC, "FOUR")))[0] == "AA"
    assert ack_code(second.request(with_control_id(FBC, "TWO-AGAIN")))[0] == "AA"
    second.close()


def test_connections_are_served_in_parallel(start_listener: Callable[..., ListenerThread]) -> None:
    # Each message waits until four are being handled at once: this only completes if four connections are
    # handled concurrently by four worker threads.
    barrier = threading.Barrier(4, timeout=10)
    inner = RecordingHandler()

    def handler(raw: bytes, **kwargs: Any) -> bytes:
        barrier.wait()
        return inner(raw, **kwargs)

    running = start_listener(handler=handler, workers=4)
    results: list[tuple[str, str]] = []

    def send(i: int) -> None:
        with running.client() as client:
            results.append(ack_code(client.request(with_control_id(FBC, f"PAR{i}"))))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(results) == [("AA", f"PAR{i}") for i in range(4)]


def test_a_handler_failure_closes_the_connection_without_an_ack_and_the_listener_carries_on(
    start_listener: Callable[..., ListenerThread],
) -> None:
    def handler(raw: bytes, **kwargs: Any) -> bytes:
        if b"FAIL" in raw:
            raise RuntimeError("database unavailable")
        return RecordingHandler()(raw, **kwargs)

    running = start_listener(handler=handler)
    with running.client() as client:
        client.send(with_control_id(FBC, "FAIL"))
        # No ACK: the sender keeps the message and sends it again later.
        assert client.closed_by_server(timeout=5)
    with running.client() as client:
        assert ack_code(client.request(FBC))[0] == "AA"


def test_shutdown_finishes_the_message_in_flight_and_acknowledges_it(
    start_listener: Callable[..., ListenerThread],
) -> None:
    release = threading.Event()
    entered = threading.Event()

    def handler(raw: bytes, **kwargs: Any) -> bytes:
        entered.set()
        assert release.wait(10)
        return RecordingHandler()(raw, **kwargs)

    running = start_listener(handler=handler)
    port = running.port
    idle = running.client()
    with running.client() as busy:
        busy.send(FBC)
        assert entered.wait(5)
        running.loop.call_soon_threadsafe(running.listener.stop)
        # Stopped accepting, and the idle connection is closed, while the message is still being applied.
        assert idle.closed_by_server(timeout=5)
        assert running.thread.is_alive()
        release.set()
        assert ack_code(busy.read_frame()) == ("AA", "WP20261102093015001")
        assert busy.closed_by_server(timeout=5)
    running.thread.join(10)
    assert not running.thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        MLLPClient("127.0.0.1", port)
    idle.close()


# --- Logs ---------------------------------------------------------------------------------------------------------


class RefusingHandler(RecordingHandler):
    """AA for every message but those whose control id starts with BAD, which get AR."""

    def __call__(self, raw: bytes, *, peer: str = "", source: str = MessageSource.MLLP) -> bytes:
        ack = super().__call__(raw, peer=peer, source=source)
        return ack.replace(b"MSA|AA|BAD", b"MSA|AR|BAD")


def listener_lines(caplog: pytest.LogCaptureFixture, event: str) -> list[tuple[int, dict[str, Any]]]:
    """(level, event dict) of each line with this event written by the listener."""
    return [
        (record.levelno, record.careportal_event_dict)  # type: ignore[attr-defined]
        for record in caplog.records
        if record.name == "careportal.hl7.listener" and record.getMessage() == event
    ]


@pytest.mark.parametrize("level", [logging.INFO, logging.DEBUG])
def test_a_line_per_message_at_info_for_one_not_accepted_and_at_debug_for_one_accepted(
    start_listener: Callable[..., ListenerThread], caplog: pytest.LogCaptureFixture, level: int
) -> None:
    caplog.set_level(level, logger="careportal.hl7.listener")
    running = start_listener(handler=RefusingHandler(), activity_log_seconds=0)
    with running.client() as client:
        assert ack_code(client.request(with_control_id(FBC, "GOOD1"))) == ("AA", "GOOD1")
        assert ack_code(client.request(with_control_id(FBC, "BAD1"))) == ("AR", "BAD1")
    running.stop()
    lines = [
        (line_level, line["control_id"], line["ack_code"]) for line_level, line in listener_lines(caplog, "hl7_message")
    ]
    refused = (logging.INFO, "BAD1", "AR")
    # With DEBUG on, the accepted message has its line too; never at INFO.
    assert lines == ([(logging.DEBUG, "GOOD1", "AA"), refused] if level == logging.DEBUG else [refused])


def test_the_activity_line_sums_up_what_was_answered_and_is_not_written_while_nothing_comes(
    start_listener: Callable[..., ListenerThread], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="careportal.hl7.listener")
    running = start_listener(handler=RefusingHandler(), activity_log_seconds=0.3)
    with running.client() as client:
        for control in ["A1", "A2", "BAD1", "A3"]:
            client.request(with_control_id(FBC, control))
        deadline = time.monotonic() + 10
        # Usually one line; two when an interval ends between the messages.
        while sum(line["messages"] for _, line in listener_lines(caplog, "hl7_listener_activity")) < 4:
            assert time.monotonic() < deadline, "no activity line"
            time.sleep(0.05)
        written = len(listener_lines(caplog, "hl7_listener_activity"))
        time.sleep(1)  # three more intervals, with no message
        lines = listener_lines(caplog, "hl7_listener_activity")
    assert len(lines) == written
    acks: collections.Counter[str] = collections.Counter()
    for level, line in lines:
        assert level == logging.INFO and line["connections"] == 1
        assert 0 <= line["mean_ms"] <= line["slowest_ms"] and 0 < line["seconds"] < 5
        acks.update(line["acks"])
    assert sum(line["messages"] for _, line in lines) == 4
    assert acks == {"AA": 3, "AR": 1}


def test_what_was_answered_since_the_last_activity_line_is_logged_at_shutdown(
    start_listener: Callable[..., ListenerThread], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="careportal.hl7.listener")
    running = start_listener(activity_log_seconds=3600)
    with running.client() as client:
        client.request(with_control_id(FBC, "LAST1"))
        client.request(with_control_id(FBC, "LAST2"))
    running.stop()
    [(_, line)] = listener_lines(caplog, "hl7_listener_activity")
    assert (line["messages"], line["acks"]) == (2, {"AA": 2})
    assert not listener_lines(caplog, "hl7_message")


def test_the_activity_interval_cannot_be_negative(tmp_path) -> None:
    from tests.core.test_settings import manage, production_environment

    result = manage("check", env=production_environment(tmp_path, HL7_ACTIVITY_LOG_SECONDS="-1"))
    assert result.returncode != 0
    assert "ImproperlyConfigured: HL7_ACTIVITY_LOG_SECONDS must be 0 (never) or more" in result.stderr


# --- End to end, with the real message_receive ----------------------------------------------------------------

# Registration and demographics first, then results in the order a lab sends them, then appointments and letters.
SAMPLE_ORDER = [
    "adt_a31_address.hl7",
    "oru_r01_fbc_final.hl7",
    "oru_r01_ue_final.hl7",
    "oru_r01_ue_corrected.hl7",
    "oru_r01_histology.hl7",
    "oru_r01_micro_prelim.hl7",
    "oru_r01_micro_final.hl7",
    "siu_s12_video.hl7",
    "siu_s15_cancel.hl7",
    "mdm_t02_letter.hl7",
]
BAD_SAMPLES = {
    "no_msh.hl7": ("AR", MessageStatus.REJECTED),
    "truncated.hl7": ("AR", MessageStatus.REJECTED),
    "unknown_patient.hl7": ("AE", MessageStatus.ERROR),
    "invalid_nhs_number.hl7": ("AE", MessageStatus.ERROR),
}


@pytest.fixture
def demo_patients(transactional_db: None) -> None:
    for hospital_number, nhs_number in (
        ("40012345", "9990000018"),
        ("40077801", "9990000026"),
        ("40055512", "9990000034"),
    ):
        PatientFactory(hospital_number=hospital_number, nhs_number=nhs_number)


def fbc_for_order(n: int) -> bytes:
    """The FBC sample as a new report: its own control id and order numbers."""
    lines = []
    for segment in FBC.rstrip(b"\r").split(b"\r"):
        fields = segment.split(b"|")
        if fields[0] == b"MSH":
            fields[9] = b"CONC%05d" % n
        elif fields[0] in (b"ORC", b"OBR"):
            fields[2], fields[3] = b"OE-C%05d" % n, b"C%05d" % n
        lines.append(b"|".join(fields))
    return b"\r".join(lines) + b"\r"


@pytest.mark.usefixtures("demo_patients")
def test_every_sample_message_is_acknowledged_over_a_real_socket_and_stored(
    start_listener: Callable[..., ListenerThread],
) -> None:
    assert sorted(SAMPLE_ORDER) == sorted(p.name for p in SAMPLES.glob("*.hl7")), "a sample is not sent"
    running = start_listener(handler=None)
    with running.client() as client:
        for name in SAMPLE_ORDER:
            raw = (SAMPLES / name).read_bytes()
            assert ack_code(client.request(raw)) == ("AA", control_id(raw)), name
    for name in SAMPLE_ORDER:
        raw = (SAMPLES / name).read_bytes()
        stored = InboundMessage.objects.get(control_id=control_id(raw))
        assert stored.status in {MessageStatus.APPLIED, MessageStatus.IGNORED}, name
        assert (bytes(stored.raw), stored.source, stored.ack_code) == (raw, MessageSource.MLLP, "AA")
        assert stored.peer.startswith("127.0.0.1:")
    fbc = DiagnosticReport.objects.get(filler_order_number="26H0456781")
    assert fbc.observations.count() == 4
    assert DiagnosticReport.objects.get(filler_order_number="26C0912210").is_amended
    assert DiagnosticReport.objects.get(filler_order_number="26M0334510").status == "final"


@pytest.mark.usefixtures("demo_patients")
@pytest.mark.parametrize("name", sorted(BAD_SAMPLES))
def test_each_bad_sample_is_answered_and_kept(start_listener: Callable[..., ListenerThread], name: str) -> None:
    raw = (SAMPLES / "bad" / name).read_bytes()
    expected_code, expected_status = BAD_SAMPLES[name]
    running = start_listener(handler=None)
    with running.client() as client:
        code, acknowledged = ack_code(client.request(raw))
        assert code == expected_code
        if raw.startswith(b"MSH") and name != "truncated.hl7":
            assert acknowledged == control_id(raw)
        # The connection still serves the next message.
        assert ack_code(client.request(FBC)) == ("AA", "WP20261102093015001")
    stored = InboundMessage.objects.exclude(control_id="WP20261102093015001").get()
    assert (bytes(stored.raw), stored.status, stored.ack_code) == (raw, expected_status, expected_code)


@pytest.mark.usefixtures("demo_patients")
def test_random_bytes_in_a_frame_are_rejected_and_the_connection_keeps_working(
    start_listener: Callable[..., ListenerThread],
) -> None:
    junk = bytes(random.Random(9).randrange(256) for _ in range(2000)).replace(b"\x0b", b"").replace(b"\x1c", b"")
    running = start_listener(handler=None)
    with running.client() as client:
        assert ack_code(client.request(junk))[0] == "AR"
        client.send_raw(junk)  # and the same outside any frame
        assert ack_code(client.request(FBC)) == ("AA", "WP20261102093015001")
    rejected = InboundMessage.objects.get(status=MessageStatus.REJECTED)
    assert bytes(rejected.raw) == junk


@pytest.mark.usefixtures("demo_patients")
def test_the_same_message_twice_is_acknowledged_twice_and_applied_once(
    start_listener: Callable[..., ListenerThread],
) -> None:
    running = start_listener(handler=None)
    with running.client() as client:
        assert ack_code(client.request(FBC)) == ("AA", "WP20261102093015001")
    with running.client() as client:
        assert ack_code(client.request(FBC)) == ("AA", "WP20261102093015001")
    assert DiagnosticReport.objects.filter(filler_order_number="26H0456781").count() == 1
    statuses = InboundMessage.objects.order_by("pk").values_list("status", flat=True)
    assert list(statuses) == [MessageStatus.APPLIED, MessageStatus.DUPLICATE]


@pytest.mark.usefixtures("demo_patients")
def test_a_correction_arriving_before_its_original_is_not_overwritten_by_it(
    start_listener: Callable[..., ListenerThread],
) -> None:
    corrected = (SAMPLES / "oru_r01_ue_corrected.hl7").read_bytes()
    original = (SAMPLES / "oru_r01_ue_final.hl7").read_bytes()
    running = start_listener(handler=None)
    with running.client() as client:
        assert ack_code(client.request(corrected)) == ("AA", control_id(corrected))
        assert ack_code(client.request(original)) == ("AA", control_id(original))
    report = DiagnosticReport.objects.get(filler_order_number="26C0912210")
    assert report.status == "corrected"
    assert str(report.observations.get(code="K").value_numeric).rstrip("0").rstrip(".") == "4.6"


@pytest.mark.usefixtures("demo_patients")
def test_eight_connections_at_once_each_sending_several_messages(
    start_listener: Callable[..., ListenerThread],
) -> None:
    running = start_listener(handler=None)
    failures: list[str] = []

    def send(connection: int) -> None:
        try:
            with running.client() as client:
                for n in range(connection * 5, connection * 5 + 5):
                    raw = fbc_for_order(n)
                    if ack_code(client.request(raw)) != ("AA", control_id(raw)):
                        failures.append(control_id(raw))
        except Exception as exc:
            failures.append(repr(exc))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert DiagnosticReport.objects.filter(filler_order_number__startswith="C").count() == 40
    assert InboundMessage.objects.filter(status=MessageStatus.APPLIED).count() == 40


# --- The command ----------------------------------------------------------------------------------------------


def listen_command(port: int, tmp_path: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "careportal.config.settings.base",
        "CAREPORTAL_ENV": "development",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        "LOG_FORMAT": "json",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "hl7_listen", "--host", "127.0.0.1", "--port", str(port)],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_hl7_listen_serves_until_a_stop_signal_then_exits_cleanly(tmp_path: Path, stop_signal: int) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = listen_command(port, tmp_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client = MLLPClient("127.0.0.1", port)
                break
            except ConnectionRefusedError:
                assert process.poll() is None and time.monotonic() < deadline, "the listener did not start"
                time.sleep(0.1)
        process.send_signal(stop_signal)
        # The idle connection is closed and the process ends on its own.
        assert client.closed_by_server(timeout=10)
        client.close()
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    events = [json.loads(line)["event"] for line in output.splitlines() if line.startswith("{")]
    # Libraries may log while Django starts (before the listener does): only the listener's own order matters.
    listener_events = [event for event in events if event.startswith("hl7_listener_")]
    assert listener_events[0] == "hl7_listener_started"
    assert listener_events[-1] == "hl7_listener_stopped"


def test_hl7_listen_on_a_port_in_use_fails_with_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = listen_command(port, tmp_path)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in output
