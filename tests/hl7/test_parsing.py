"""Reading HL7 v2 text: decoding, segment endings, escapes, timestamps, values, ACKs and batches."""

import datetime
from decimal import Decimal
from pathlib import Path

import hl7
import pytest
import time_machine
from django.test import override_settings

from careportal.hl7.ack import AckError, ack_build, ack_read
from careportal.hl7.parsing import (
    Encoding,
    MalformedMessage,
    escape,
    parse_date,
    parse_message,
    parse_number,
    parse_timestamp,
    read_header,
    unescape,
)

SAMPLES = Path(__file__).parent / "samples"
MSH = "MSH|^~\\&|WINPATH|RRV_LAB|CAREPORTAL|RRV|20261102093015||ORU^R01|CTRL1|P|2.4|||AL|NE|GBR|UNICODE UTF-8"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.mark.parametrize("ending", ["\r", "\n", "\r\n"])
def test_segment_endings_cr_lf_and_crlf_are_all_accepted(ending: str) -> None:
    text = ending.join([MSH, "PID|1||40012345^^^RRV^MR", "OBX|1|NM|HB^Haemoglobin||98|g/L"]) + ending
    message = parse_message(text.encode())
    assert [s.name for s in message.segments] == ["MSH", "PID", "OBX"]
    assert message.first("OBX").value(5) == "98"


def test_blank_lines_bom_and_mllp_bytes_around_the_message_are_dropped() -> None:
    raw = b"\x0b\xef\xbb\xbf" + MSH.encode() + b"\r\n\r\nPID|1||1^^^^MR\r\x1c\r"
    message = parse_message(raw)
    assert [s.name for s in message.segments] == ["MSH", "PID"]


def test_header_fields_are_read() -> None:
    header = parse_message(sample("oru_r01_fbc_final.hl7")).header
    assert header.sending_application == "WINPATH"
    assert header.sending_facility == "RRV_LAB"
    assert header.message_type == "ORU^R01"
    assert header.control_id == "WP20261102093015001"
    assert header.version == "2.4"
    assert header.charset == "UNICODE UTF-8"
    assert header.sent_at == datetime.datetime(2026, 11, 2, 9, 30, 15, tzinfo=datetime.UTC)  # GMT in November


def test_field_numbering_matches_the_standard_for_msh_and_other_segments() -> None:
    message = parse_message(sample("oru_r01_fbc_final.hl7"))
    msh = message.first("MSH")
    assert msh.value(3) == "WINPATH"
    assert msh.value(9, 2) == "R01"
    obr = message.first("OBR")
    assert obr.value(3) == "26H0456781"
    assert obr.value(4, 2) == "Full blood count"
    assert obr.value(16, 6) == "DR"


def test_repetitions_components_and_subcomponents() -> None:
    message = parse_message(f"{MSH}\rPID|1||111^^^RRV^MR~9990000018^^^NHS^NH||A&B^C\r".encode())
    pid = message.first("PID")
    reps = pid.repetitions(3)
    assert [r.value(1) for r in reps] == ["111", "9990000018"]
    assert [r.value(5) for r in reps] == ["MR", "NH"]
    assert pid.value(5, 1, 1) == "A"
    assert pid.value(5, 1, 2) == "B"
    assert pid.value(5, 2) == "C"
    assert pid.value(5, 9) == ""
    assert pid.value(40) == ""


def test_z_segments_are_kept_as_segments_and_do_not_break_parsing() -> None:
    message = parse_message(f"{MSH}\rZPI|1|local stuff^x\rPID|1||1^^^^MR\r".encode())
    assert [s.name for s in message.segments] == ["MSH", "ZPI", "PID"]


@pytest.mark.parametrize(
    ("escaped", "plain"),
    [
        ("a\\F\\b", "a|b"),
        ("10\\S\\6", "10^6"),
        ("haemolysis\\T\\delayed", "haemolysis&delayed"),
        ("one\\R\\two", "one~two"),
        ("back\\E\\slash", "back\\slash"),
        ("line 1\\.br\\line 2", "line 1\nline 2"),
        ("a\\.sp 2\\b", "a\n\nb"),
        ("\\H\\bold\\N\\", "bold"),
        ("caf\\XC3A9\\", "café"),
        ("unknown \\Q\\ kept", "unknown \\Q\\ kept"),
        ("C:\\path\\file", "C:\\path\\file"),
        ("lonely \\ escape", "lonely \\ escape"),
        ("\\X4\\", "\\X4\\"),
        ("nul \\X00\\ kept as written", "nul \\X00\\ kept as written"),
        ("no escapes", "no escapes"),
    ],
)
def test_escape_sequences(escaped: str, plain: str) -> None:
    assert unescape(escaped, Encoding()) == plain


def test_hex_escape_uses_the_message_character_set() -> None:
    assert unescape("\\XE9\\", Encoding(codec="latin-1")) == "é"
    # Not valid in the message's character set: read as Latin-1 rather than lost.
    assert unescape("\\XE9\\", Encoding(codec="utf-8")) == "é"


def test_escaping_for_the_ack_round_trips() -> None:
    value = "a|b^c&d~e\\f\ng"
    assert unescape(escape(value)) == value


def test_other_delimiters_from_msh_2_are_honoured() -> None:
    raw = b"MSH#*@!%#LAB#F#CP#RRV#20261102##ORU*R01#C1#P#2.5\rOBX#1#ST#X*Name##a!F!b@c\r"
    message = parse_message(raw)
    obx = message.first("OBX")
    assert obx.value(3, 2) == "Name"
    assert [r.value(1) for r in obx.repetitions(5)] == ["a#b", "c"]


def test_latin1_message_with_msh_18_8859_1_is_decoded() -> None:
    text = MSH.replace("UNICODE UTF-8", "8859/1") + "\rPID|1||1^^^^MR||O'SULLIVAN^SIOBHÁN\r"
    message = parse_message(text.encode("latin-1"))
    assert message.encoding.codec == "latin-1"
    assert message.first("PID").value(5, 2) == "SIOBHÁN"


def test_unlabelled_latin1_falls_back_from_utf8() -> None:
    text = MSH.replace("|UNICODE UTF-8", "") + "\rPID|1||1^^^^MR||MÜLLER^JOSÉ\r"
    message = parse_message(text.encode("latin-1"))
    assert message.first("PID").value(5) == "MÜLLER"


def test_bytes_that_are_not_utf8_when_msh_18_says_utf8_are_rejected() -> None:
    text = MSH + "\rPID|1||1^^^^MR||MÜLLER\r"
    with pytest.raises(MalformedMessage, match="not valid UNICODE UTF-8"):
        parse_message(text.encode("latin-1"))


@pytest.mark.parametrize("version", ["2.3", "2.3.1", "2.4", "2.5", "2.5.1"])
def test_versions_2_3_to_2_5_1_are_read(version: str) -> None:
    message = parse_message(MSH.replace("|2.4|", f"|{version}|").encode())
    assert message.header.version == version


def test_version_2_7_fifth_encoding_character_is_not_taken_for_a_separator() -> None:
    raw = MSH.replace("^~\\&", "^~\\&#").replace("|2.4|", "|2.7|") + "\rOBX|1|ST|X||a&b#c\r"
    message = parse_message(raw.encode())
    assert message.first("OBX").value(5, 1, 2) == "b#c"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b"\r\n  \x0b\x1c", "empty"),
        (b"PID|1||40012345^^^RRV^MR\r", "does not start with an MSH"),
        (b"hello world", "does not start with an MSH"),
        (b"MSH|^~\\&", "incomplete"),
        (b"MSH|^~\\&|WINPATH|RRV_LAB|CAREPORTAL|RRV|20261102093015||ORU^R01|WP2026", "MSH-11"),
        (b"MSH|^~\\&|A|B|C|D|2026||ORU^R01||P|2.4\r", "MSH-10"),
        (b"MSH|^~\\&|A|B|C|D|2026|||X1|P|2.4\r", "MSH-9"),
        (b"MSH|^~\\&|A|B|C|D|2026||ORU^R01|X1|P|3.0\r", "version 2"),
        (b"MSH|AB|A\r", "MSH-1 and MSH-2"),
        (MSH.encode() + b"\rthis is not a segment\r", "Segment 2"),
        (MSH.encode() + b"\r" + MSH.encode(), "More than one message"),
        (MSH.encode() + b"\rPID|1\x00\r", "NUL"),
    ],
)
def test_unreadable_messages_raise_malformed(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedMessage, match=reason):
        parse_message(raw)


def test_truncated_sample_keeps_what_header_fields_it_had() -> None:
    with pytest.raises(MalformedMessage) as caught:
        parse_message(sample("bad/truncated.hl7"))
    assert caught.value.header is not None
    assert caught.value.header.sending_application == "WINPATH"
    assert caught.value.header.control_id == "WP2026110209301"


def test_read_header_of_garbage_is_none() -> None:
    assert read_header(b"\xff\xfe garbage") is None
    assert read_header(sample("bad/no_msh.hl7")) is None


def test_explicit_null_and_presence() -> None:
    message = parse_message(f'{MSH}\rPID|1||1^^^^MR||""||||||""|\r'.encode())
    pid = message.first("PID")
    assert pid.is_null(5) and pid.is_present(5)
    assert pid.is_null(11)
    assert not pid.is_present(7) and not pid.is_null(7)
    assert not pid.is_null(3)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("202611020930", datetime.datetime(2026, 11, 2, 9, 30, tzinfo=datetime.UTC)),
        # Summer time in London: local 09:30 is 08:30 UTC.
        ("20260702093000", datetime.datetime(2026, 7, 2, 8, 30, tzinfo=datetime.UTC)),
        ("2026070209", datetime.datetime(2026, 7, 2, 8, 0, tzinfo=datetime.UTC)),
        ("20260702", datetime.datetime(2026, 7, 1, 23, 0, tzinfo=datetime.UTC)),
        ("20261102093015.25+0100", datetime.datetime(2026, 11, 2, 8, 30, 15, 250000, tzinfo=datetime.UTC)),
        ("20261102093015-0500", datetime.datetime(2026, 11, 2, 14, 30, 15, tzinfo=datetime.UTC)),
        ("", None),
    ],
)
def test_timestamps_are_local_time_unless_an_offset_is_given(value: str, expected: datetime.datetime | None) -> None:
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize("value", ["2026-11-02", "20261302", "20261132", "202611020960", "yesterday", "2026110+0100"])
def test_invalid_timestamps_raise(value: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(value)


def test_dates() -> None:
    assert parse_date("19580314") == datetime.date(1958, 3, 14)
    assert parse_date("195803141200") == datetime.date(1958, 3, 14)
    assert parse_date("") is None
    for bad in ("1958", "19581314", "1958031x"):
        with pytest.raises(ValueError):
            parse_date(bad)


@pytest.mark.parametrize(
    ("value", "expected"), [("98", Decimal("98")), ("-1.5", Decimal("-1.5")), (".5", Decimal("0.5")), ("", None)]
)
def test_numbers(value: str, expected: Decimal | None) -> None:
    assert parse_number(value) == expected


@pytest.mark.parametrize("value", ["not-a-number", "NaN", "Infinity", "1e5", "1,000", "99999999999999999", "5 5"])
def test_invalid_numbers_raise(value: str) -> None:
    with pytest.raises(ValueError):
        parse_number(value)


def _parse_ack(ack: bytes) -> hl7.Message:
    assert ack.endswith(b"\r")
    assert b"\n" not in ack and b"\x0b" not in ack and b"\x1c" not in ack
    return hl7.parse(ack.decode("utf-8"))


def test_ack_echoes_the_control_id_and_swaps_sender_and_receiver() -> None:
    header = parse_message(sample("oru_r01_fbc_final.hl7")).header
    ack = _parse_ack(ack_build(header=header, code="AA", text="Applied", charset="UNICODE UTF-8"))
    msh, msa = ack.segment("MSH"), ack.segment("MSA")
    assert str(msh(3)) == "CAREPORTAL" and str(msh(5)) == "WINPATH" and str(msh(6)) == "RRV_LAB"
    assert str(msh(9)) == "ACK^R01^ACK"
    assert str(msh(12)) == "2.4"
    assert str(msh(18)) == "UNICODE UTF-8"
    assert str(msh(10)) != "WP20261102093015001"
    assert str(msa(1)) == "AA" and str(msa(2)) == "WP20261102093015001"


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime.datetime(2026, 7, 1, 11, 59, 59, 900000, tzinfo=datetime.UTC), "20260701125959+0100"),
        (datetime.datetime(2026, 12, 1, 9, 0, 0, tzinfo=datetime.UTC), "20261201090000+0000"),
    ],
)
def test_ack_is_stamped_with_the_trusts_local_time_to_the_second(now, expected) -> None:
    header = parse_message(sample("oru_r01_fbc_final.hl7")).header
    with time_machine.travel(now, tick=False):
        first = _parse_ack(ack_build(header=header, code="AA"))
        again = _parse_ack(ack_build(header=header, code="AA"))
    # The time is formatted once a second: a later second, or another time zone, gets its own.
    with time_machine.travel(now + datetime.timedelta(seconds=1), tick=False):
        next_second = _parse_ack(ack_build(header=header, code="AA"))
    with override_settings(TIME_ZONE="America/New_York"), time_machine.travel(now, tick=False):
        elsewhere = _parse_ack(ack_build(header=header, code="AA"))
    assert str(first.segment("MSH")(7)) == str(again.segment("MSH")(7)) == expected
    assert str(next_second.segment("MSH")(7)) != expected
    assert str(elsewhere.segment("MSH")(7)).endswith(("-0400", "-0500"))


def test_each_ack_has_its_own_control_id_of_twenty_characters() -> None:
    header = parse_message(sample("oru_r01_fbc_final.hl7")).header
    control_ids = {str(_parse_ack(ack_build(header=header, code="AA")).segment("MSH")(10)) for _ in range(200)}
    assert len(control_ids) == 200
    assert all(len(value) == 20 and value.isalnum() and value == value.upper() for value in control_ids)


def test_ack_with_error_has_err_segment_with_table_0357_code_and_location() -> None:
    header = parse_message(sample("oru_r01_fbc_final.hl7")).header
    error = AckError(code=204, text="PID-3: no patient with this hospital number", segment="PID", sequence=2, field=3)
    raw = ack_build(header=header, code="AE", text=error.text, error=error)
    ack = _parse_ack(raw)
    err = ack.segment("ERR")
    assert str(err(2)) == "PID^2^3"
    assert str(err(3)(1)(1)) == "204" and str(err(3)(1)(3)) == "HL70357"
    assert str(err(4)) == "E"
    assert ack.unescape(str(err(8))) == error.text
    summary = ack_read(raw)
    assert (summary.code, summary.control_id, summary.error_code) == ("AE", "WP20261102093015001", "204")


def test_ack_for_an_unreadable_message_is_still_a_valid_ack() -> None:
    raw = ack_build(header=None, code="AR", text="The message does not start with an MSH segment")
    ack = _parse_ack(raw)
    assert str(ack.segment("MSH")(9)) == "ACK"
    assert str(ack.segment("MSH")(12)) == "2.5"
    assert ack_read(raw).code == "AR"
    assert ack_read(raw).control_id == ""


def test_ack_escapes_delimiters_in_echoed_values() -> None:
    header = parse_message(MSH.replace("CTRL1", "A\\F\\B").encode()).header
    assert header.control_id == "A|B"
    raw = ack_build(header=header, code="AA")
    assert ack_read(raw).control_id == "A|B"


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("A|B", "A\\F\\B"),
        ("A^B", "A\\S\\B"),
        ("A~B", "A\\R\\B"),
        ("A&B", "A\\T\\B"),
        ("A\\B", "A\\E\\B"),
        ("A\rB", "A B"),
        ("A\nB", "A\\.br\\B"),
        ("WINPATH RRV_LAB 2.5.1 É", "WINPATH RRV_LAB 2.5.1 É"),  # nothing to escape: returned as it is
    ],
)
def test_escape_replaces_each_delimiter_and_leaves_other_values_alone(value: str, escaped: str) -> None:
    assert escape(value) == escaped
    # Other delimiters (MSH-1 and MSH-2 of the message answered): its own characters, not the standard ones.
    other = Encoding(field="#", component="!", repetition="@", escape="$", subcomponent="%")
    assert escape("A#B!C@D$E%F|G^", other) == "A$F$B$S$C$R$D$E$E$T$F|G^"


def test_ack_is_encoded_in_the_message_character_set() -> None:
    header = parse_message(MSH.replace("CTRL1", "É1").replace("UNICODE UTF-8", "8859/1").encode("latin-1")).header
    raw = ack_build(header=header, code="AA", codec="latin-1", charset="8859/1")
    assert "É1".encode("latin-1") in raw
    assert "É1".encode() not in raw


# --- Splitting without python-hl7 (parsing._split_message) --------------------------------------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from careportal.hl7 import parsing  # noqa: E402

_SEGMENT_TEXT = st.text(alphabet="ab ^~\\&|\x0c\u2003", max_size=30)
_ENCODINGS = st.sampled_from(["|^~\\&", "#$%!*"])


def _python_hl7_trees(segments: list[str]) -> list[list[parsing.RawField]]:
    return [[parsing._field_tree(item) for item in segment] for segment in hl7.parse("\r".join(segments))]


@given(
    separators=_ENCODINGS,
    msh_rest=_SEGMENT_TEXT,
    others=st.lists(st.tuples(st.sampled_from(["PID", "OBX", "NTE"]), _SEGMENT_TEXT), max_size=4),
)
def test_the_splitter_gives_the_field_trees_python_hl7_gives(separators: str, msh_rest: str, others) -> None:
    field = separators[0]
    translate = str.maketrans("|^~\\&", separators)
    msh = f"MSH{separators}{field}" + msh_rest.translate(translate)
    segments = [msh, *(f"{name}{field}{text.translate(translate)}" for name, text in others)]
    encoding = parsing._msh_encoding(msh, "utf-8")
    assert encoding is not None
    assert parsing._split_message(segments, encoding) == _python_hl7_trees(segments)


def test_the_splitter_gives_python_hl7_s_trees_for_every_sample() -> None:
    for path in sorted(SAMPLES.rglob("*.hl7")):
        raw = path.read_bytes()
        try:
            message = parsing.parse_message(raw)
        except parsing.MalformedMessage:
            continue
        text = parsing.decode(raw)[0]
        segments = [line for line in parsing._split_segments(text) if line[:3] not in parsing._BATCH_SEGMENTS]
        first, end = segments[0], segments[0].find(message.encoding.field, 4)
        if end - 4 == 5:
            segments[0] = first[:8] + first[9:]
        assert [segment.fields for segment in message.segments] == _python_hl7_trees(segments), path.name
