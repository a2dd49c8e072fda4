"""Splitting a file of HL7 v2 messages into messages, for `manage.py hl7_import`. Pure functions, no database.

A file may hold one message; several, one after another (each starts with MSH) or separated by blank lines; an
MLLP-framed stream (0x0B … 0x1C 0x0D, as captured off the wire); or an HL7 batch file: FHS, BHS, messages, BTS,
FTS, where the wrappers are stripped and the counts in BTS-1 (messages in the batch) and FTS-1 (batches in the
file) are checked. Segments may end in CR, LF or CRLF.

Each message is returned as the exact bytes of the file, so that what is stored as "received" is what was received.
Lines before the first MSH that look like segments are kept as a message of their own (it will be rejected and
kept for staff, like any other unreadable message); chunks that do not look like HL7 at all, and trailing NULs,
Ctrl-Z (a DOS end-of-file) or blanks, are skipped and reported.

python-hl7's `parse_batch` (and `parse_file`, hl7/parser.py; checked in hl7 0.4.5) is not used: it stops at the first
problem, so one bad message loses the whole file. It decodes the whole input with one codec (a UTF-8 file holding
one Latin-1 message raises UnicodeDecodeError), raises ParseException for a second BHS and for any segment before
the first MSH (with that segment's text, patient data, in the exception message), and parses every message and the
BHS with `hl7.parse`, which needs a readable header: it reads the delimiters from MSH-1 and MSH-2 and fails
(ParseException, or a bare AssertionError for a header as short as "MSH|") when it cannot, so one unreadable
message ends the import instead of being stored and rejected on its own. It also strips each line
and rejoins segments with CR, so the messages it returns are not the bytes received, and it does not check the
counts in BTS-1 or FTS-1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

START_BLOCK = 0x0B
END_BLOCK = 0x1C

# A line and its ending: CRLF, CR or LF (the last line may have none).
_LINE = re.compile(rb"([^\r\n]*)(\r\n|\r|\n|$)")
# A segment: three upper-case letters or digits, the first a letter, then a field separator (or nothing, for an
# empty segment). The separator is any printable, non-alphanumeric character ("|" nearly always).
_SEGMENT = re.compile(rb"^[A-Z][A-Z0-9]{2}(?:[!-/:-@\[-`{-~]|$)")
_WRAPPERS = (b"FHS", b"BHS", b"BTS", b"FTS")
_TRAILING_JUNK = b" \t\r\n\x00\x1a"


@dataclass
class SplitResult:
    messages: list[bytes] = field(default_factory=list)
    # Things worth telling the operator: count mismatches, skipped bytes. Each one makes the import fail.
    problems: list[str] = field(default_factory=list)


def _segment_name(line: bytes) -> bytes | None:
    return line[:3] if _SEGMENT.match(line) else None


def _count(line: bytes) -> int | None:
    """Field 1 of a BTS or FTS line as a number, or None when empty or not a number."""
    fields = line.split(line[3:4]) if len(line) > 3 else []
    value = fields[1].strip() if len(fields) > 1 else b""
    return int(value) if value.isdigit() else None


def split_messages(data: bytes) -> SplitResult:
    """Split a file's bytes into HL7 messages (see the module docstring)."""
    if START_BLOCK in data[:1024] and END_BLOCK in data:
        return _split_mllp(data)
    return _split_text(data)


def _split_mllp(data: bytes) -> SplitResult:
    result = SplitResult()
    outside = 0
    position = 0
    while True:
        start = data.find(bytes([START_BLOCK]), position)
        if start < 0:
            outside += len(data[position:].strip(_TRAILING_JUNK))
            break
        outside += len(data[position:start].strip(_TRAILING_JUNK))
        end = data.find(bytes([END_BLOCK]), start + 1)
        restart = data.find(bytes([START_BLOCK]), start + 1, end if end >= 0 else len(data))
        if restart >= 0:
            # 0x0B never occurs inside a message: the sender abandoned this frame and began another.
            result.problems.append(f"an unfinished frame ({restart - start - 1} bytes) skipped")
            position = restart
            continue
        if end < 0:
            # Cut off at the end of the capture: kept, so that staff see it (it is likely to be rejected).
            result.problems.append(f"the last frame has no end block ({len(data) - start - 1} bytes)")
            end = len(data)
        inner = _split_text(data[start + 1 : end])
        result.messages += inner.messages
        result.problems += inner.problems
        position = end + 1
        if data[position : position + 1] == b"\r":
            position += 1
    if outside:
        result.problems.append(f"{outside} bytes outside MLLP frames skipped")
    return result


def _split_text(data: bytes) -> SplitResult:
    result = SplitResult()
    body = _without_padding(data)
    current_start: int | None = None  # offset where the message being collected starts
    current_end = 0
    current_is_hl7 = False
    batch_starts: list[int] = []  # message counts when each BHS was seen
    in_batch = False
    file_header = False

    def finish() -> None:
        nonlocal current_start, current_is_hl7
        if current_start is not None:
            chunk = body[current_start:current_end]
            if current_is_hl7:
                result.messages.append(chunk)
            else:
                result.problems.append(f"{len(chunk)} bytes that are not HL7 skipped")
        current_start, current_is_hl7 = None, False

    for match in _LINE.finditer(body):
        line = match.group(1)
        if not match.group(0):
            break  # the empty match at the very end
        name = _segment_name(line)
        if not line.strip(_TRAILING_JUNK):
            finish()
        elif name == b"MSH" or name in _WRAPPERS:
            finish()
            if name == b"MSH":
                current_start, current_end, current_is_hl7 = match.start(), match.end(), True
            elif name == b"FHS":
                file_header = True
            elif name == b"BHS":
                if in_batch:
                    result.problems.append("a batch (BHS) started before the previous one ended (BTS)")
                batch_starts.append(len(result.messages))
                in_batch = True
            elif name == b"BTS":
                if not in_batch:
                    result.problems.append("a batch trailer (BTS) without a batch header (BHS)")
                    continue
                found = len(result.messages) - batch_starts[-1]
                declared = _count(line)
                if declared is not None and declared != found:
                    result.problems.append(
                        f"batch {len(batch_starts)}: its trailer (BTS) counts {declared} messages, "
                        f"the file holds {found}"
                    )
                in_batch = False
            else:  # FTS
                declared = _count(line)
                if declared is not None and declared != len(batch_starts):
                    result.problems.append(
                        f"the file trailer (FTS) counts {declared} batches, the file holds {len(batch_starts)}"
                    )
                file_header = False
        else:
            if current_start is None:
                current_start = match.start()
            current_end = match.end()
            current_is_hl7 = current_is_hl7 or name is not None
    finish()
    if in_batch:
        result.problems.append(f"batch {len(batch_starts)} has no trailer (BTS): the file may be cut short")
    elif file_header:
        result.problems.append("the file header (FHS) has no trailer (FTS): the file may be cut short")
    padding = data[len(body) :]
    if padding.strip(b" \t\r\n"):
        result.problems.append(f"{len(padding)} bytes of padding (NUL, Ctrl-Z) at the end skipped")
    return result


def _without_padding(data: bytes) -> bytes:
    """`data` without trailing blanks, NULs and Ctrl-Z, keeping the line ending of its last line."""
    end = len(data.rstrip(_TRAILING_JUNK))
    if data[end : end + 2] == b"\r\n":
        end += 2
    elif data[end : end + 1] in (b"\r", b"\n"):
        end += 1
    return data[:end]
