"""Reading HL7 v2 messages (2.3 to 2.5.1, and later 2.x read the same way) as they arrive from real feeds.

Segments are split into fields, repetitions, components and subcomponents exactly as python-hl7's `hl7.parse` splits
them, by `_split_message` (plain `str.split`, four times as fast; python-hl7 only for an MSH it reads its own way).
Around that, this module does what feeds need and the library leaves to us:

- bytes are decoded with the character set named in MSH-18 (UTF-8 when none is named, then Latin-1 as a last
  resort, since unlabelled feeds from older systems are usually Windows/Latin-1 text);
- segment endings may be CR, LF or CRLF; blank lines, a byte-order mark and stray MLLP framing bytes are dropped;
- escape sequences are decoded only after splitting, field by field (that is why they exist): \\F\\ \\S\\ \\T\\
  \\R\\ \\E\\, \\.br\\ and the other formatting commands, \\Xhh…\\ bytes; unknown ones are kept as they were so
  that a reader still sees them;
- MSH is checked before anything is applied, so that a message we cannot identify is rejected (AR), never guessed.

Nothing here touches the database or logs anything: a message is patient data.

That is why python-hl7's own `unescape` (`Message.unescape`, hl7/util.py; checked in hl7 0.4.5) is not used. It logs
the whole field it was decoding, message text and all, through a logger named after its file path
(`logging.getLogger(__file__)`, so configuring a logger called "hl7" does not reach it): a warning for an empty
sequence (two escape characters together) and for the \\C..\\ and \\M..\\ character-set switches it does not
implement, and an error with `logger.exception` (a traceback, or "NoneType: None") for a malformed \\X..\\ and for
any sequence it does not know, such as a sender's local \\Z..\\. Those sequences are then dropped from the text
rather than kept, and \\X..\\ bytes become `chr()` of each byte whatever the character set. `unescape` below logs
nothing, keeps what it cannot decode, and decodes \\X..\\ with the message's codec.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import hl7
from django.utils import timezone

# HL7 table 0211 (alternate character sets), as senders actually write them, to Python codecs.
CHARSETS: dict[str, str] = {
    "ASCII": "ascii",
    "ISO IR6": "ascii",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "UTF8": "utf-8",
    "ISO IR192": "utf-8",
    # Version 2.5 deprecates the bare "UNICODE"; the senders that still write it mean UTF-8 on the wire.
    "UNICODE": "utf-8",
    "8859/1": "latin-1",
    "ISO IR100": "latin-1",
    "8859/2": "iso8859-2",
    "8859/3": "iso8859-3",
    "8859/4": "iso8859-4",
    "8859/5": "iso8859-5",
    "8859/6": "iso8859-6",
    "8859/7": "iso8859-7",
    "8859/8": "iso8859-8",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "WINDOWS-1252": "cp1252",
    "CP1252": "cp1252",
}
DEFAULT_CODEC = "utf-8"
# HL7 table 0357 (message error condition codes) used in ERR-3.
ERR_SEGMENT_SEQUENCE = 100
ERR_REQUIRED_FIELD_MISSING = 101
ERR_DATA_TYPE = 102
ERR_TABLE_VALUE_NOT_FOUND = 103
ERR_UNSUPPORTED_MESSAGE_TYPE = 200
ERR_UNSUPPORTED_EVENT = 201
ERR_UNSUPPORTED_VERSION = 203
ERR_UNKNOWN_KEY = 204
ERR_DUPLICATE_KEY = 205
ERR_APPLICATION = 207

SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")
_BATCH_SEGMENTS = frozenset({"FHS", "FTS", "BHS", "BTS"})
_LINE_END = re.compile(rb"\r\n|\r|\n")
_MAX_SPACING = 20


class MalformedMessage(ValueError):
    """The bytes are not an HL7 message we can identify: answered with AR and stored for staff to see.

    `header` holds whatever MSH fields could still be read (for the ACK and the stored row), possibly none.
    """

    def __init__(
        self,
        reason: str,
        *,
        code: int = ERR_SEGMENT_SEQUENCE,
        header: MessageHeader | None = None,
        codec: str = DEFAULT_CODEC,
        location: tuple[str, int, int] | None = None,
        unsupported: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.header = header
        self.codec = codec
        self.location = location
        self.unsupported = unsupported


@dataclass(frozen=True)
class Encoding:
    """The delimiters from MSH-1 and MSH-2, and the codec the text was decoded with (for \\X..\\ escapes)."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    codec: str = DEFAULT_CODEC


STANDARD_ENCODING = Encoding()


@dataclass
class MessageHeader:
    """The MSH fields CarePortal uses, escapes decoded. Any of them may be blank when read from a broken message."""

    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    timestamp: str = ""
    message_code: str = ""
    trigger_event: str = ""
    control_id: str = ""
    processing_id: str = ""
    version: str = ""
    charset: str = ""
    # MSH-15: present (AL, NE, ER, SU) when the sender uses HL7's enhanced acknowledgement mode (commit ACKs).
    accept_ack_type: str = ""

    @property
    def message_type(self) -> str:
        if self.trigger_event:
            return f"{self.message_code}^{self.trigger_event}"
        return self.message_code

    @property
    def sent_at(self) -> datetime.datetime | None:
        try:
            return parse_timestamp(self.timestamp)
        except ValueError:
            return None


# A field as lists: repetitions → components → subcomponents, each still escaped.
RawField = list[list[list[str]]]


class Repetition:
    """One repetition of a field, read by 1-based component and subcomponent as in the HL7 standard."""

    __slots__ = ("_components", "_encoding")

    def __init__(self, components: list[list[str]], encoding: Encoding) -> None:
        self._components = components
        self._encoding = encoding

    def value(self, component: int = 1, subcomponent: int = 1) -> str:
        try:
            raw = self._components[component - 1][subcomponent - 1]
        except IndexError:
            return ""
        return unescape(raw, self._encoding).strip()

    def text(self) -> str:
        """The whole repetition as one text: for text data types (ST, TX, FT), which have no components, so a
        separator that a sender left unescaped is read back as the character it was."""
        enc = self._encoding
        joined = enc.component.join(enc.subcomponent.join(comp) for comp in self._components)
        return unescape(joined, enc)

    def raw(self, component: int = 1, subcomponent: int = 1) -> str:
        try:
            return self._components[component - 1][subcomponent - 1]
        except IndexError:
            return ""

    @property
    def is_empty(self) -> bool:
        return all(not sub.strip() for comp in self._components for sub in comp)


class Segment:
    """One segment. `field(n)` numbers fields as the standard does: for MSH, field 1 is the field separator."""

    __slots__ = ("encoding", "fields", "name", "occurrence", "position")

    def __init__(
        self, name: str, fields: list[RawField], encoding: Encoding, position: int, occurrence: int = 1
    ) -> None:
        self.name = name
        self.fields = fields  # fields[0] is the segment name, so fields[n] is field n
        self.encoding = encoding
        self.position = position  # 1-based position in the message
        # 1 for the first segment of this name in the message, 2 for the second...: the "segment sequence" of an
        # error location (ERR-2), which counts occurrences of the segment, not its place in the message.
        self.occurrence = occurrence

    def _raw(self, n: int) -> RawField:
        if n < len(self.fields):
            return self.fields[n]
        return [[[""]]]

    def repetitions(self, n: int) -> list[Repetition]:
        """The non-empty repetitions of field n."""
        reps = [Repetition(rep, self.encoding) for rep in self._raw(n)]
        return [rep for rep in reps if not rep.is_empty]

    def value(self, n: int, component: int = 1, subcomponent: int = 1, repetition: int = 1) -> str:
        """One value, escapes decoded and surrounding spaces removed; "" when absent."""
        raw = self._raw(n)
        if repetition > len(raw):
            return ""
        return Repetition(raw[repetition - 1], self.encoding).value(component, subcomponent)

    def is_present(self, n: int) -> bool:
        """Whether the message carries something in field n (an HL7 null "" counts as present)."""
        return any(sub.strip() for rep in self._raw(n) for comp in rep for sub in comp)

    def is_null(self, n: int) -> bool:
        """The HL7 explicit null: a field holding exactly "" means "delete the stored value"."""
        raw = self._raw(n)
        return len(raw) == 1 and len(raw[0]) == 1 and len(raw[0][0]) == 1 and raw[0][0][0].strip() == '""'

    def __repr__(self) -> str:  # never the content: it is patient data
        return f"<Segment {self.name} #{self.position}>"


@dataclass
class ParsedMessage:
    header: MessageHeader
    segments: list[Segment]
    encoding: Encoding
    # The declared MSH-18, or "" when the codec was guessed.
    charset: str = ""
    warnings: list[str] = field(default_factory=list)

    def first(self, name: str) -> Segment | None:
        for segment in self.segments:
            if segment.name == name:
                return segment
        return None

    def all(self, name: str) -> list[Segment]:
        return [segment for segment in self.segments if segment.name == name]


# ---------------------------------------------------------------------------------------------------------------
# Escapes


def _formatting(command: str) -> str | None:
    """\\.br\\ and the other FT formatting commands, as plain text."""
    name, _, argument = command.partition(" ")
    if not argument and len(name) > 3 and name[3:].lstrip("+-").isdigit():
        name, argument = name[:3], name[3:]
    try:
        count = max(1, min(_MAX_SPACING, abs(int(argument)))) if argument.strip() else 1
    except ValueError:
        count = 1
    match name:
        case ".br" | ".ce":
            return "\n"
        case ".sp":
            return "\n" * count
        case ".sk":
            return " " * count
        case ".fi" | ".nf" | ".in" | ".ti":
            return ""
    return None


def _hex_text(digits: str, codec: str) -> str | None:
    if not digits or len(digits) % 2:
        return None
    try:
        data = binascii.unhexlify(digits)
    except (binascii.Error, ValueError):
        return None
    try:
        text = data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        text = data.decode("latin-1")
    # Control characters (NUL above all, which PostgreSQL cannot store) are no text a person should read.
    if any(ord(char) < 32 and char not in "\t\n\r" for char in text):
        return None
    return text


def _escape_replacement(sequence: str, encoding: Encoding) -> str | None:
    match sequence:
        case "F":
            return encoding.field
        case "S":
            return encoding.component
        case "T":
            return encoding.subcomponent
        case "R":
            return encoding.repetition
        case "E":
            return encoding.escape
        case "H" | "N":
            # Highlighting on/off: plain text has no highlighting.
            return ""
    if sequence.startswith("."):
        return _formatting(sequence)
    if sequence.startswith("X"):
        return _hex_text(sequence[1:], encoding.codec)
    if sequence.startswith(("C", "M")) and sequence[1:] and all(c in "0123456789ABCDEFabcdef" for c in sequence[1:]):
        # Character-set switches (ISO 2022): the text was already decoded as a whole, so they carry nothing.
        return ""
    return None


def unescape(value: str, encoding: Encoding = STANDARD_ENCODING) -> str:
    """Decode HL7 escape sequences. An unknown sequence, or an escape character with no partner, stays as it was:
    the reader then still sees what the sender wrote."""
    esc = encoding.escape
    if esc not in value:
        return value
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        start = value.find(esc, i)
        if start < 0:
            out.append(value[i:])
            break
        out.append(value[i:start])
        end = value.find(esc, start + 1)
        if end < 0:
            out.append(value[start:])
            break
        replacement = _escape_replacement(value[start + 1 : end], encoding)
        # Unknown sequences are kept whole, so that a reader still sees what the sender wrote.
        out.append(value[start : end + 1] if replacement is None else replacement)
        i = end + 1
    return "".join(out)


# The characters `escape` replaces, with the standard delimiters.
_STANDARD_ESCAPED = frozenset("|^~\\&\r\n")


def escape(value: str, encoding: Encoding = STANDARD_ENCODING) -> str:
    """The reverse, for values we write into an ACK."""
    if encoding is STANDARD_ENCODING:
        escaped = _STANDARD_ESCAPED
    else:
        delimiters = (encoding.escape, encoding.field, encoding.component, encoding.subcomponent, encoding.repetition)
        escaped = frozenset((*delimiters, "\r", "\n"))
    if escaped.isdisjoint(value):
        # Nearly every value (a name, a code, an id) holds none of them: each ACK escapes about ten values, and the
        # seven replaces below cost the after-store listener more per message than the check (bench/bench_mllp.py).
        return value
    value = value.replace(encoding.escape, f"{encoding.escape}E{encoding.escape}")
    for char, code in (
        (encoding.field, "F"),
        (encoding.component, "S"),
        (encoding.subcomponent, "T"),
        (encoding.repetition, "R"),
    ):
        value = value.replace(char, f"{encoding.escape}{code}{encoding.escape}")
    return value.replace("\r", " ").replace("\n", f"{encoding.escape}.br{encoding.escape}")


# ---------------------------------------------------------------------------------------------------------------
# Values


_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,4}))?([+-]\d{4})?$")


def parse_timestamp(value: str) -> datetime.datetime | None:
    """HL7 TS/DTM (YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]) as an aware datetime. Without an offset the time is in
    the trust's own time zone (settings.TIME_ZONE), as hospital systems send local time. Blank → None; anything
    else that does not read as a time raises ValueError."""
    value = value.strip()
    if not value:
        return None
    match = _TS.match(value)
    if not match:
        raise ValueError("not an HL7 date and time")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0").ljust(6, "0")[:6])
    if offset:
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[3:5])
        if hours > 14 or minutes > 59:
            raise ValueError("not an HL7 time-zone offset")
        tz: datetime.tzinfo = datetime.timezone(sign * datetime.timedelta(hours=hours, minutes=minutes))
    else:
        tz = timezone.get_default_timezone()
    return datetime.datetime(
        int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0), int(second or 0), micro, tzinfo=tz
    )


def parse_date(value: str) -> datetime.date | None:
    """HL7 DT (or the date part of a TS): YYYYMMDD. Blank → None; otherwise a full date is required."""
    value = value.strip()
    if not value:
        return None
    digits = value[:8]
    if len(digits) != 8 or not digits.isdigit():
        raise ValueError("not an HL7 date")
    return datetime.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))


# Decimal accepts "NaN", "Infinity" and "1e5"; a lab value is plain digits with an optional sign and point.
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
# Observation.value_numeric holds 20 digits, 6 after the point.
_NUMBER_LIMIT = Decimal(10) ** 14


def parse_number(value: str) -> Decimal | None:
    """An HL7 NM value. Blank → None; not a plain decimal number (or too large to store) → ValueError."""
    value = value.strip()
    if not value:
        return None
    if not _NUMBER.match(value):
        raise ValueError("not a number")
    try:
        number = Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - the pattern only lets numbers through
        raise ValueError("not a number") from exc
    if abs(number) >= _NUMBER_LIMIT:
        raise ValueError("number too large")
    return number.quantize(Decimal("0.000001"))


def decode_base64(value: str) -> bytes:
    """ED data in Base64; line breaks or spaces a sender wrapped it with are ignored. Invalid → ValueError."""
    cleaned = "".join(value.split())
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not valid Base64") from exc


# ---------------------------------------------------------------------------------------------------------------
# Messages


def _codec_for(charset: str) -> str | None:
    """The codec for an HL7 character set name; None for a blank or unknown one (read as unlabelled). Only the
    table above: Python's own codec names include ones that are not text encodings at all."""
    return CHARSETS.get(charset.strip().upper())


def _declared_charset(raw: bytes) -> str:
    """MSH-18, read from the bytes before decoding (it is always ASCII)."""
    for line in _LINE_END.split(raw.lstrip(b"\x0b\xef\xbb\xbf \t\r\n")):
        line = line.strip()
        if line.startswith(b"MSH") and len(line) > 8:
            text = line.decode("latin-1")
            fields = text.split(text[3])
            if len(fields) > 17:
                repetition = fields[1][1:2] or "~"
                component = fields[1][:1] or "^"
                return fields[17].split(repetition)[0].split(component)[0].strip()
            return ""
    return ""


def decode(raw: bytes) -> tuple[str, str, str]:
    """The message as text: (text, codec, declared charset). Raises MalformedMessage when the bytes are not text in
    the declared character set."""
    declared = _declared_charset(raw)
    codec = _codec_for(declared)
    if codec is not None and codec != "ascii":
        try:
            return raw.decode(codec), codec, declared
        except UnicodeDecodeError as exc:
            raise MalformedMessage(
                f"The message is not valid {declared} text (MSH-18)", code=ERR_DATA_TYPE, codec="latin-1"
            ) from exc
    # Unlabelled (or labelled ASCII, a label older systems write whatever they send): UTF-8, then Latin-1.
    try:
        return raw.decode("utf-8"), "utf-8", declared
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1", declared


def _split_segments(text: str) -> list[str]:
    text = text.lstrip("\ufeff\x0b").rstrip("\x1c")
    lines = text.replace("\r\n", "\r").replace("\n", "\r").split("\r")
    return [line.strip(" \t\x0b\x1c") for line in lines if line.strip(" \t\x0b\x1c")]


def _field_tree(node: object) -> RawField:
    """python-hl7 stops splitting at the first level a piece has no separator for, leaving a plain string there;
    make every field the same shape."""
    if isinstance(node, str):
        return [[[node]]]
    items = list(node)  # type: ignore[call-overload]
    if len(items) == 1 and isinstance(items[0], str):
        return [[[items[0]]]]
    repetitions: RawField = []
    for rep in items:
        if isinstance(rep, str):
            repetitions.append([[rep]])
            continue
        components: list[list[str]] = []
        for comp in rep:
            if isinstance(comp, str):
                components.append([comp])
            else:
                components.append([str(sub) for sub in comp])
        repetitions.append(components)
    return repetitions


def _split_field(text: str, repetition: str, component: str, subcomponent: str) -> RawField:
    if repetition not in text and component not in text and subcomponent not in text:
        return [[[text]]]
    return [[part.split(subcomponent) for part in rep.split(component)] for rep in text.split(repetition)]


def _split_message(segments: list[str], encoding: Encoding) -> list[list[RawField]] | None:
    """The field trees python-hl7's `hl7.parse` and `_field_tree` give for these segments (checked, segment by
    segment and on generated text, in tests/hl7/test_parsing.py), by plain `str.split`: four times as fast, and
    parsing was half of what applying a batch of results cost (docs/hl7.md, "Backfill speed and batching").
    None for an MSH without a field after its encoding characters, which python-hl7 reads its own way."""
    field_sep, rep, comp, sub = encoding.field, encoding.repetition, encoding.component, encoding.subcomponent
    # python-hl7 strips the message it is given (str.strip: any Unicode white space at its end).
    segments = [*segments[:-1], segments[-1].rstrip()]
    trees: list[list[RawField]] = []
    for line in segments:
        if line[:3] == "MSH":
            end = line.find(field_sep, 4)
            if end < 0:
                return None
            head: list[RawField] = [[[["MSH"]]], [[[field_sep]]], [[[line[4:end]]]]]
            rest = line[end + 1 :]
            trees.append(head + ([_split_field(f, rep, comp, sub) for f in rest.split(field_sep)] if rest else []))
        else:
            trees.append([_split_field(f, rep, comp, sub) for f in line.split(field_sep)])
    return trees


def _header_from_fields(fields: list[str], encoding: Encoding) -> MessageHeader:
    """MSH read from its raw text split by the field separator: used for broken messages too, so it never fails."""

    def get(n: int, component: int = 1) -> str:
        index = n - 1  # fields[0] is "MSH", fields[1] is MSH-2
        if n < 2 or index >= len(fields):
            return ""
        first = fields[index].split(encoding.repetition)[0]
        parts = first.split(encoding.component)
        if component > len(parts):
            return ""
        return unescape(parts[component - 1].split(encoding.subcomponent)[0], encoding).strip()

    return MessageHeader(
        sending_application=get(3),
        sending_facility=get(4),
        receiving_application=get(5),
        receiving_facility=get(6),
        timestamp=get(7),
        message_code=get(9).upper(),
        trigger_event=get(9, 2).upper(),
        control_id=get(10),
        processing_id=get(11),
        version=get(12),
        accept_ack_type=get(15).upper(),
        charset=get(18),
    )


def _msh_encoding(segment: str, codec: str) -> Encoding | None:
    if len(segment) < 8 or not segment.startswith("MSH"):
        return None
    separator = segment[3]
    if separator.isalnum() or separator.isspace():
        return None
    end = segment.find(separator, 4)
    chars = segment[4:] if end < 0 else segment[4:end]
    if len(chars) not in (4, 5) or len(set(chars[:4] + separator)) != 5 or any(c.isalnum() for c in chars):
        return None
    return Encoding(
        field=separator,
        component=chars[0],
        repetition=chars[1],
        escape=chars[2],
        subcomponent=chars[3],
        codec=codec,
    )


def read_header(raw: bytes) -> MessageHeader | None:
    """Whatever MSH fields can be read from bytes that may be broken: for the stored row and the ACK of a message
    that is then rejected. None when there is no readable MSH at all."""
    try:
        text, codec, _ = decode(raw)
    except MalformedMessage:
        text, codec = raw.decode("latin-1"), "latin-1"
    segments = _split_segments(text)
    if not segments:
        return None
    encoding = _msh_encoding(segments[0], codec)
    if encoding is None:
        return None
    return _header_from_fields(segments[0].split(encoding.field), encoding)


_FIRST_LINE_END = re.compile(rb"[\r\n]")


def read_first_header(raw: bytes) -> tuple[MessageHeader, str] | None:
    """(MSH fields, codec) read from the message's first segment only, when it is an MSH in its declared
    character set (UTF-8 when it declares none, or ASCII); None otherwise, and for anything unusual, which the
    callers leave to `parse_message`. For the after-store path, which reads nothing else before the ACK."""
    start = 0
    while start < len(raw) and raw[start] in b"\x0b \t\r\n":
        start += 1
    if raw[start : start + 3] != b"MSH":
        return None
    match = _FIRST_LINE_END.search(raw, start)
    line = raw[start : match.start() if match else len(raw)]
    if len(line) > 17 and line.count(line[3:4]) >= 17:
        separator = line[3:4].decode("latin-1")
        fields = line.decode("latin-1").split(separator)
        declared = fields[17].split(fields[1][1:2] or "~")[0].split(fields[1][:1] or "^")[0].strip()
    else:
        declared = ""
    codec = _codec_for(declared) if declared else "utf-8"
    if codec is None or codec == "ascii":
        codec = "utf-8" if not declared or codec == "ascii" else None
    if codec is None:
        return None
    try:
        text = line.decode(codec).strip(" \t")
    except UnicodeDecodeError:
        return None
    encoding = _msh_encoding(text, codec)
    if encoding is None:
        return None
    return _header_from_fields(text.split(encoding.field), encoding), codec


def _check_header(header: MessageHeader, codec: str) -> None:
    missing = [
        label
        for label, value in (
            ("MSH-9 message type", header.message_code),
            ("MSH-10 message control id", header.control_id),
            ("MSH-11 processing id", header.processing_id),
            ("MSH-12 version", header.version),
        )
        if not value
    ]
    if missing:
        raise MalformedMessage(
            "The message header is incomplete: " + ", ".join(missing) + " missing",
            code=ERR_REQUIRED_FIELD_MISSING,
            header=header,
            codec=codec,
            location=("MSH", 1, 9 if "MSH-9 message type" in missing else 10),
        )
    if not re.fullmatch(r"[A-Z0-9]{3}", header.message_code):
        raise MalformedMessage(
            "MSH-9 is not an HL7 message type", code=ERR_DATA_TYPE, header=header, codec=codec, location=("MSH", 1, 9)
        )
    if not re.fullmatch(r"2\.\d+(\.\d+)?", header.version):
        raise MalformedMessage(
            "MSH-12: only HL7 version 2 messages are accepted",
            code=ERR_UNSUPPORTED_VERSION,
            header=header,
            codec=codec,
            location=("MSH", 1, 12),
            unsupported=True,
        )


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse one message (no MLLP framing). Raises MalformedMessage for anything we cannot identify."""
    stripped = raw.strip(b"\x0b\x1c\r\n \t\x00")
    if not stripped:
        raise MalformedMessage("The message is empty")
    text, codec, declared = decode(raw)
    if "\x00" in text:
        raise MalformedMessage(
            "The message contains NUL bytes: it is not HL7 text", header=read_header(raw), codec=codec
        )
    segments = [line for line in _split_segments(text) if line[:3] not in _BATCH_SEGMENTS]
    if not segments or not segments[0].startswith("MSH"):
        raise MalformedMessage(
            "The message does not start with an MSH segment",
            header=read_header(raw),
            codec=codec,
            location=("MSH", 1, 0),
        )
    encoding = _msh_encoding(segments[0], codec)
    if encoding is None:
        raise MalformedMessage(
            "MSH-1 and MSH-2 (field separator and encoding characters) are not valid",
            code=ERR_DATA_TYPE,
            codec=codec,
            location=("MSH", 1, 2),
        )
    header = _header_from_fields(segments[0].split(encoding.field), encoding)
    _check_header(header, codec)
    for position, line in enumerate(segments, start=1):
        if not SEGMENT_ID.fullmatch(line[:3]) or (len(line) > 3 and line[3] != encoding.field):
            raise MalformedMessage(
                f"Segment {position} is not an HL7 segment",
                header=header,
                codec=codec,
                location=(line[:3] if SEGMENT_ID.fullmatch(line[:3]) else "", position, 0),
            )
        if position > 1 and line.startswith("MSH"):
            raise MalformedMessage(
                "More than one message in one frame: send each message on its own",
                header=header,
                codec=codec,
                location=("MSH", position, 0),
            )
    first = segments[0]
    separator_end = first.find(encoding.field, 4)
    if separator_end > 0 and separator_end - 4 == 5:
        # Version 2.7's fifth encoding character (truncation) would be taken for the subcomponent separator by
        # python-hl7: drop it, we never truncate.
        segments[0] = first[:8] + first[9:]
    trees = _split_message(segments, encoding)
    if trees is None:
        try:
            parsed = hl7.parse("\r".join(segments))
        except (hl7.ParseException, ValueError, IndexError) as exc:
            raise MalformedMessage("The message could not be split into segments", header=header, codec=codec) from exc
        trees = [[_field_tree(item) for item in segment] for segment in parsed]
    result: list[Segment] = []
    seen: dict[str, int] = {}
    for position, fields in enumerate(trees, start=1):
        name = fields[0][0][0][0] if fields and fields[0] else ""
        seen[name] = seen.get(name, 0) + 1
        result.append(Segment(name, fields, encoding, position, seen[name]))
    return ParsedMessage(header=header, segments=result, encoding=encoding, charset=declared)


# ---------------------------------------------------------------------------------------------------------------
# Content fingerprint


_FINGERPRINT_STRIP = b" \t\x0b\x1c\x00"
_BATCH_SEGMENT_NAMES = frozenset(name.encode() for name in _BATCH_SEGMENTS)
MSH_DATE_TIME_INDEX = 6  # MSH-7 (the field separator is MSH-1, so MSH-n is at index n - 1 of the split line)


def content_hash(raw: bytes) -> str:
    """A fingerprint (SHA-256, hex) of what a message says, the same for every copy of one message a sender may
    send again: it ignores MLLP framing bytes, a byte-order mark, line endings (CR, LF, CRLF), blank lines, spaces
    and tabs around segments, FHS/BHS/BTS/FTS batch wrappers, and MSH-7 (the time the message was sent, which an
    interface engine may stamp afresh when it sends a message again). Everything else counts, byte for byte.

    Works on any bytes (a message that will be rejected gets one too); never fails."""
    digest = hashlib.sha256()
    body = bytes(raw).lstrip(_FINGERPRINT_STRIP + b"\r\n")
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    for line in _LINE_END.split(body):
        line = line.strip(_FINGERPRINT_STRIP)
        if not line or line[:3] in _BATCH_SEGMENT_NAMES:
            continue
        if line.startswith(b"MSH") and len(line) > 3:
            separator = line[3:4]
            fields = line.split(separator)
            if len(fields) > MSH_DATE_TIME_INDEX:
                fields[MSH_DATE_TIME_INDEX] = b""
                line = separator.join(fields)
        digest.update(line)
        digest.update(b"\r")
    return digest.hexdigest()
