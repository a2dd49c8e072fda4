"""Fuzzing the HL7 input paths with real messages mutated the ways real feeds and real faults break them: bytes
flipped, segments dropped or repeated, fields cut short, other delimiters or broken encoding characters in MSH-2,
huge fields, bytes that are not UTF-8, a character set that does not match, control characters, odd escape
sequences, other segment endings; and, on a live socket, MLLP framing gone wrong.

What must hold for every input:
- `parse_message` returns, or raises its own documented error (MalformedMessage) with a reason; nothing else
  escapes, and the header readers (`read_header`, `read_first_header`) and `content_hash` never raise;
- `message_receive`, in both ACK modes (with the worker's `stored_apply_batch` after an after-store ACK), stores
  exactly one journal row, answers an ACK that says AA, AE or AR (AE and AR with a reason in MSA-3 and, from the
  full path, an ERR segment), never hits an internal error, and a message that is not applied leaves nothing
  behind (no report, value, history entry, patient, letter or appointment written for it);
- the listener answers every frame with an ACK, recovers from framing garbage (or closes that connection only)
  and keeps serving the next sender.

Examples are bounded (max_examples per test below) to keep the file a few seconds; the counts are in the report of
`pytest --hypothesis-show-statistics`. tests/hl7/test_services.py fuzzes message_receive with random bytes and
sliced samples, tests/hl7/test_parsing.py the segment splitter: this file adds the structured mutations, the
"nothing half-written" check, the after-store path and the socket.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careportal.appointments.models import Appointment
from careportal.hl7.ack import ack_read
from careportal.hl7.interfaces import interfaces_cache_clear
from careportal.hl7.models import (
    AckMode,
    InboundArrival,
    InboundInterface,
    InboundMessage,
    MessageSource,
    MessageStatus,
)
from careportal.hl7.parsing import MalformedMessage, content_hash, parse_message, read_first_header, read_header
from careportal.hl7.services import INTERNAL_ERROR_TEXT, message_receive
from careportal.hl7.stored_services import stored_apply_batch, stored_move
from careportal.letters.models import Letter
from careportal.patients.models import CareRelationship, Patient
from careportal.results.models import DiagnosticReport, DiagnosticReportVersion, Observation, ReportAction
from tests.hl7.interfaces import LOCAL_PEER
from tests.hl7.mllp_client import END_BLOCK, START_BLOCK, ListenerThread, MLLPClient, ack_code
from tests.patients.factories import PatientFactory

SAMPLES = Path(__file__).parent / "samples"
SAMPLE_BYTES = [path.read_bytes() for path in sorted(SAMPLES.rglob("*.hl7"))]
FBC = (SAMPLES / "oru_r01_fbc_final.hl7").read_bytes()
KNOWN_PATIENTS = (("40012345", "9990000018"), ("40077801", "9990000026"), ("40055512", "9990000034"))


# --- Mutations of real messages ---------------------------------------------------------------------------------


def _segments(raw: bytes) -> list[bytes]:
    return raw.replace(b"\r\n", b"\r").replace(b"\n", b"\r").rstrip(b"\r").split(b"\r")


def _join(segments: list[bytes]) -> bytes:
    return b"\r".join(segments) + b"\r"


def _at(draw: Any, raw: bytes) -> int:
    return draw(st.integers(0, len(raw)))


def flip_a_byte(draw: Any, raw: bytes) -> bytes:
    if not raw:
        return raw
    i = draw(st.integers(0, len(raw) - 1))
    return raw[:i] + bytes([raw[i] ^ (1 << draw(st.integers(0, 7)))]) + raw[i + 1 :]


def drop_a_segment(draw: Any, raw: bytes) -> bytes:
    segments = _segments(raw)
    del segments[draw(st.integers(0, len(segments) - 1))]
    return _join(segments)


def repeat_a_segment(draw: Any, raw: bytes) -> bytes:
    segments = _segments(raw)
    segment = segments[draw(st.integers(0, len(segments) - 1))]
    segments.insert(draw(st.integers(0, len(segments))), segment)
    return _join(segments)


def cut_a_segment_short(draw: Any, raw: bytes) -> bytes:
    segments = _segments(raw)
    k = draw(st.integers(0, len(segments) - 1))
    fields = segments[k].split(b"|")
    kept = fields[: draw(st.integers(0, len(fields)))]
    if kept:
        kept[-1] = kept[-1][: draw(st.integers(0, len(kept[-1])))]
    segments[k] = b"|".join(kept)
    return _join(segments)


def other_field_separator(draw: Any, raw: bytes) -> bytes:
    new = draw(st.sampled_from([b"#", b"!", b"\t", b" ", b"^", b"~", b"\\", b"\xa6", b"\x00"]))
    if draw(st.booleans()):
        return raw.replace(b"|", new)  # consistently
    first, _, rest = raw.partition(b"\r")
    return first.replace(b"|", new) + b"\r" + rest  # MSH only: the other segments no longer match


def broken_encoding_characters(draw: Any, raw: bytes) -> bytes:
    if not raw.startswith(b"MSH"):
        return raw
    encoding = draw(
        st.sampled_from([b"", b"^", b"^~", b"^~\\", b"^~\\&#", b"^~\\&#%", b"^^^^", b"\\\\\\\\", b"\xff\xfe", b"|"])
    )
    end = raw.find(b"|", 4)
    return raw[:4] + encoding + (raw[end:] if end >= 0 else b"")


def huge_field(draw: Any, raw: bytes) -> bytes:
    unit = draw(st.sampled_from([b"X", b"~", b"^", b"&", b"\\X41\\", b"\\", b"\\.br\\", b"9"]))
    size = draw(st.sampled_from([1_000, 70_000, 300_000]))
    segments = _segments(raw)
    k = draw(st.integers(0, len(segments) - 1))
    fields = segments[k].split(b"|")
    j = draw(st.integers(0, len(fields) - 1))
    fields[j] += unit * (size // len(unit))
    segments[k] = b"|".join(fields)
    return _join(segments)


def not_utf8(draw: Any, raw: bytes) -> bytes:
    junk = draw(st.binary(min_size=1, max_size=12).map(lambda b: bytes(0x80 | byte for byte in b)))
    i = _at(draw, raw)
    return raw[:i] + junk + raw[i:]


def declared_charset(draw: Any, raw: bytes) -> bytes:
    segments = _segments(raw)
    if not segments[0].startswith(b"MSH"):
        return raw
    fields = segments[0].split(b"|")
    fields += [b""] * max(0, 18 - len(fields))
    fields[17] = draw(
        st.sampled_from([b"UNICODE UTF-8", b"8859/1", b"ASCII", b"8859/7", b"ISO IR192", b"UTF-16", b"EBCDIC", b"\xff"])
    )
    segments[0] = b"|".join(fields)
    return _join(segments)


def control_characters(draw: Any, raw: bytes) -> bytes:
    junk = draw(st.sampled_from([b"\x00", b"\x0b", b"\x1c", b"\x1c\r", b"\x7f", b"\x1b", b"\x0c", b"\xef\xbb\xbf"]))
    i = _at(draw, raw)
    return raw[:i] + junk + raw[i:]


def odd_escapes(draw: Any, raw: bytes) -> bytes:
    junk = draw(
        st.sampled_from(
            [b"\\", b"\\X\\", b"\\XZZ\\", b"\\X00\\", b"\\.sp 99999999\\", b"\\.sp -1\\", b"\\Z123", b"\\H\\\\N\\"]
        )
        | st.just(b"\\X" + b"41" * 5000 + b"\\")
    )
    i = _at(draw, raw)
    return raw[:i] + junk + raw[i:]


def other_line_endings(draw: Any, raw: bytes) -> bytes:
    return raw.replace(b"\r", draw(st.sampled_from([b"\n", b"\r\n", b"\n\r", b"\r\r", b""])))


MUTATIONS: list[Callable[[Any, bytes], bytes]] = [
    flip_a_byte,
    drop_a_segment,
    repeat_a_segment,
    cut_a_segment_short,
    other_field_separator,
    broken_encoding_characters,
    huge_field,
    not_utf8,
    declared_charset,
    control_characters,
    odd_escapes,
    other_line_endings,
]


@st.composite
def mutated_messages(draw: Any) -> bytes:
    raw = draw(st.sampled_from(SAMPLE_BYTES))
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3)):
        raw = mutation(draw, raw)
    return raw


# --- The parser ---------------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(raw=mutated_messages())
def test_the_parser_reads_a_mutated_message_or_says_why_not(raw: bytes) -> None:
    read_header(raw)
    read_first_header(raw)
    assert len(content_hash(raw)) == 64
    try:
        message = parse_message(raw)
    except MalformedMessage as exc:
        assert str(exc).strip(), "a rejection says why"
        return
    assert message.header.message_type is not None
    for segment in message.segments:
        assert segment.name


# --- The apply path -----------------------------------------------------------------------------------------------

# Everything a message may write besides its journal row.
WRITTEN = (
    Patient,
    CareRelationship,
    DiagnosticReport,
    Observation,
    DiagnosticReportVersion,
    ReportAction,
    Letter,
    Appointment,
)


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in WRITTEN}


@pytest.fixture
def known_patients(db: None) -> None:
    for hospital_number, nhs_number in KNOWN_PATIENTS:
        PatientFactory(hospital_number=hospital_number, nhs_number=nhs_number)


def _set_ack_mode(mode: str) -> None:
    InboundInterface.objects.update(ack_mode=mode)
    interfaces_cache_clear()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=mutated_messages(), after_store=st.booleans())
def test_a_mutated_message_is_stored_once_answered_clearly_and_never_half_applied(
    known_patients: None, raw: bytes, after_store: bool
) -> None:
    _set_ack_mode(AckMode.AFTER_STORE if after_store else AckMode.AFTER_APPLY)
    try:
        before, rows_before = _counts(), InboundMessage.objects.count()
        ack = message_receive(raw, peer=LOCAL_PEER, source=MessageSource.MLLP)
        answer = ack_read(ack)
        assert answer.code in {"AA", "AE", "AR", "CA"}  # CA: stored, from a sender in enhanced mode (MSH-15)
        # Stored after store: among the arrivals, which a worker moves into the journal.
        if stored_move(limit=10):
            assert answer.code in {"AA", "CA"}
        assert not InboundArrival.objects.exists()
        assert InboundMessage.objects.count() == rows_before + 1
        stored = InboundMessage.objects.order_by("-pk").first()
        assert stored is not None and bytes(stored.raw) == raw
        if stored.status == MessageStatus.STORED:
            assert answer.code in {"AA", "CA"}
            stored_apply_batch()
            stored.refresh_from_db()
            assert stored.status != MessageStatus.STORED
        else:
            assert stored.ack_code == answer.code
            if answer.code != "AA":
                assert answer.text.strip(), "AE and AR say why in MSA-3"
                assert b"\rERR|" in ack, "AE and AR carry an ERR segment"
        assert stored.error_text != INTERNAL_ERROR_TEXT, "a message's content never causes an internal error"
        if stored.status in {MessageStatus.ERROR, MessageStatus.REJECTED}:
            assert stored.error_text.strip()
        if stored.status != MessageStatus.APPLIED:
            assert _counts() == before, f"{stored.status}: something was written for a message not applied"
    finally:
        _set_ack_mode(AckMode.AFTER_APPLY)


# --- The listener, over a real socket -------------------------------------------------------------------------------


@pytest.fixture
def live_listener(transactional_db: None) -> Iterator[ListenerThread]:
    for hospital_number, nhs_number in KNOWN_PATIENTS:
        PatientFactory(hospital_number=hospital_number, nhs_number=nhs_number)
    # Short time-outs: a frame left open by the fuzzer must not hold the test for the default 30 s.
    running = ListenerThread(frame_timeout=1.0, idle_timeout=5.0, max_message_bytes=256 * 1024).start()
    yield running
    running.stop()


# What a broken sender puts on the wire around (or instead of) a frame.
FRAMING_GARBAGE = st.sampled_from(
    [
        b"",
        b"noise before the frame",
        b"\x1c\r",  # an end block with no frame
        b"\r\n\r\n",
        b"\x0bMSH|^~\\&|cut off by a new start block",
        b"\x0b",  # a start block, then the real one: the first frame is abandoned
        b"\x1c",  # half an end block
        b"\x00\xff\x0d",
    ]
) | st.binary(max_size=40).map(lambda b: b.replace(b"\x0b", b"").replace(b"\x1c", b""))


def _answers(client: MLLPClient) -> bytes | None:
    try:
        return client.read_frame()
    except (ConnectionError, TimeoutError, OSError):
        return None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=mutated_messages(), before=FRAMING_GARBAGE, inside=st.booleans(), end=st.sampled_from([END_BLOCK, b""]))
def test_the_listener_answers_every_frame_and_recovers_from_framing_garbage(
    live_listener: ListenerThread, raw: bytes, before: bytes, inside: bool, end: bytes
) -> None:
    # `inside`: the message keeps any framing bytes its mutations put in it (a frame ending early, or two frames).
    payload = raw if inside else raw.replace(START_BLOCK, b"").replace(b"\x1c", b"")
    framed_cleanly = START_BLOCK not in payload and b"\x1c" not in payload
    with live_listener.client(timeout=10) as client:
        client.send_raw(before + START_BLOCK + payload + end)
        if end:
            # A complete frame, whatever was before it, is answered with an ACK (AR for one over the size limit);
            # bytes that frame something else may at worst get the connection closed, never left hanging.
            reply = _answers(client)
            if framed_cleanly:
                assert reply is not None, "a complete frame is always answered"
            if reply is not None:
                assert ack_code(reply)[0] in {"AA", "AE", "AR", "CA"}
    # The listener still serves the next sender.
    with live_listener.client(timeout=10) as client:
        code, _ = ack_code(client.request(FBC))
        assert code == "AA"
    assert live_listener.thread.is_alive()


def test_a_connection_reset_mid_frame_stores_nothing(live_listener: ListenerThread) -> None:
    before = InboundMessage.objects.count()
    sock = socket.create_connection(("127.0.0.1", live_listener.port))
    sock.sendall(START_BLOCK + FBC[:100])
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
    sock.close()
    with live_listener.client(timeout=10) as client:
        assert ack_code(client.request(FBC))[0] == "AA"
    assert InboundMessage.objects.count() == before + 1
