"""HL7 v2 acknowledgements (original mode): AA applied, AE could not be applied (waits for staff), AR rejected.

The ACK goes back in the character set of the message it answers, with the standard delimiters, segments ending
in a carriage return and no MLLP framing (the listener adds it). An ACK for a message whose header could not be read
is still a valid ACK: the fields we could not read are left blank.

python-hl7's `Message.create_ack` is not used (checked in hl7 0.4.5, containers.py). It works only on a message that
`hl7.parse` has already read, and `hl7.parse` raises ParseException unless the first segment is MSH, FHS or BHS;
`create_ack` then needs `segment("MSH")` (KeyError without one) and copies MSH-1/2, -3 to -6, -9.2, -10, -11 and
-12 from it. So it has nothing to answer with exactly when we most need to answer: a message whose header we could
not read gets no ACK at all, where we send an AR with the unreadable fields left blank. It also writes only MSA-1
and MSA-2 (no MSA-3 text, no ERR segment for the reason), stamps MSH-7 from the naive `datetime.utcnow()` (no UTC
offset), and sets no MSH-18 character set. `ack_build` below writes those (MSH-18 when the message answered
named a character set), escaping what it copies. Reading an ACK back (`ack_read`) decodes MSA-2 and MSA-3 with our
own `unescape` (careportal.hl7.parsing), not python-hl7's, which logs the field's text (see parsing.py).
"""

from __future__ import annotations

import datetime
import functools
import os
import time
from dataclasses import dataclass

import hl7
from django.utils import timezone

from careportal.hl7.parsing import STANDARD_ENCODING, Encoding, MessageHeader, escape, unescape

SENDING_APPLICATION = "CAREPORTAL"
DEFAULT_VERSION = "2.5"
# MSA-3 is 80 characters in 2.3 and 2.4; ERR-8 (user message) is 250.
MSA_TEXT_LENGTH = 80
ERR_TEXT_LENGTH = 250

# HL7 table 0357 names for the codes CarePortal sends.
ERROR_CODE_NAMES = {
    100: "Segment sequence error",
    101: "Required field missing",
    102: "Data type error",
    103: "Table value not found",
    200: "Unsupported message type",
    203: "Unsupported version id",
    204: "Unknown key identifier",
    205: "Duplicate key identifier",
    207: "Application internal error",
}


@dataclass(frozen=True)
class AckError:
    """What goes in the ERR segment: an HL7 table 0357 code, where in the message, and a readable reason."""

    code: int
    text: str
    segment: str = ""
    sequence: int | None = None
    field: int | None = None


def _control_id() -> str:
    # 20 random hexadecimal characters: the ST length of MSH-10 in 2.3 and 2.4.
    return os.urandom(10).hex().upper()


@functools.lru_cache(maxsize=1)
def _message_time_at(second: int, zone: datetime.tzinfo) -> str:
    return datetime.datetime.fromtimestamp(second, tz=zone).strftime("%Y%m%d%H%M%S%z")


def _message_time() -> str:
    """MSH-7, the trust's local time to the second. Formatted once a second rather than for every ACK: on the
    listener's event loop, at a few thousand ACKs a second, the formatting was a third of building an ACK."""
    return _message_time_at(int(time.time()), timezone.get_default_timezone())


def ack_build(
    *,
    header: MessageHeader | None,
    code: str,
    text: str = "",
    error: AckError | None = None,
    codec: str = "utf-8",
    charset: str = "",
) -> bytes:
    """The ACK message as bytes. `header` is the MSH of the message answered (None when unreadable)."""
    h = header or MessageHeader()
    enc = STANDARD_ENCODING

    def e(value: str) -> str:
        return escape(value, enc)

    version = h.version if h.version.startswith("2.") else DEFAULT_VERSION
    trigger = h.trigger_event
    msh = [
        "MSH",
        "^~\\&",
        e(h.receiving_application) or SENDING_APPLICATION,
        e(h.receiving_facility),
        e(h.sending_application),
        e(h.sending_facility),
        _message_time(),
        "",
        f"ACK^{e(trigger)}^ACK" if trigger else "ACK",
        _control_id(),
        e(h.processing_id) or "P",
        e(version),
        "",
        "",
        "",
        "",
        "",
        e(charset),
    ]
    while msh and not msh[-1]:
        msh.pop()
    segments = ["|".join(msh)]
    msa_text = e(text[:MSA_TEXT_LENGTH].strip())
    segments.append("|".join(["MSA", code, e(h.control_id), msa_text]).rstrip("|"))
    if error is not None:
        name = ERROR_CODE_NAMES.get(error.code, "")
        sequence = str(error.sequence) if error.sequence is not None else ""
        field_position = str(error.field) if error.field is not None else ""
        # ERR-1 (error code and location, the 2.3/2.4 form, kept by 2.5 for backward compatibility) and the
        # 2.5 fields: ERR-2 location, ERR-3 code, ERR-4 severity, ERR-8 user message.
        location = "^".join([error.segment, sequence, field_position]).rstrip("^")
        err1 = "^".join([error.segment, sequence, field_position, f"{error.code}&{name}&HL70357"])
        segments.append(
            "|".join(
                [
                    "ERR",
                    err1,
                    location,
                    f"{error.code}^{name}^HL70357",
                    "E",
                    "",
                    "",
                    "",
                    e(error.text[:ERR_TEXT_LENGTH].strip()),
                ]
            )
        )
    message = "\r".join(segments) + "\r"
    try:
        return message.encode(codec, errors="replace")
    except LookupError:
        return message.encode("utf-8")


@dataclass(frozen=True)
class AckSummary:
    code: str
    control_id: str
    text: str
    error_code: str


def ack_read(ack: bytes) -> AckSummary:
    """Read an ACK back (MSA-1, MSA-2, MSA-3, ERR-3): for tests, the batch import and the benchmark."""
    text = ack.decode("utf-8", errors="replace")
    message = hl7.parse(text.replace("\n", "\r"))
    msa = message.segment("MSA")
    try:
        err = message.segment("ERR")
        error_code = str(err(3)(1)(1)) if len(err) > 3 else ""
    except KeyError:
        error_code = ""
    # python-hl7 keeps the separators as "\r", field, repetition, component, subcomponent.
    separators = message.separators
    encoding = Encoding(
        field=separators[1],
        repetition=separators[2],
        component=separators[3],
        subcomponent=separators[4],
        escape=message.esc,
        codec="utf-8",
    )
    return AckSummary(
        code=str(msa(1)),
        control_id=unescape(str(msa(2)), encoding) if len(msa) > 2 else "",
        text=unescape(str(msa(3)), encoding) if len(msa) > 3 else "",
        error_code=error_code,
    )
