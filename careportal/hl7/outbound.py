"""HL7 v2 that CarePortal sends: ADT^A31 ("update person information") to the PAS when a patient changes their
contact details, through a durable queue (hl7.OutboundMessage) and MLLP.

- `adt_a31_queue` builds the message from the patient's record as it is now and stores it, inside the caller's
  transaction: the change and its message are committed together or not at all. A worker is asked to send it once
  that transaction commits.
- `outbound_send_due` (the task careportal.hl7.tasks.send_outbound_messages, and every minute the periodic job)
  claims due messages one at a time (`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers never
  send the same message), connects to HL7_OUTBOUND_PAS_HOST:PORT, sends it in an MLLP frame and reads the ACK:
  AA (or CA) → sent; AE/AR → failed, for staff to look at; no connection, a time-out or no readable ACK → tried
  again after 1, 2, 4, ... minutes, then failed after HL7_OUTBOUND_MAX_ATTEMPTS tries.
- Messages for one patient go in the order they were queued: a newer A31 waits while an older one for the same
  patient is still waiting or being sent (each carries the whole record, so the last one sent must be the newest).
- With no host configured nothing is sent: messages wait, and the staff page says why.

Messages carry patient data, so nothing here logs their content; the log names the message's id and the kind of
failure only.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import uuid
from dataclasses import dataclass

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from careportal.hl7.ack import ack_read
from careportal.hl7.models import OutboundMessage, OutboundStatus
from careportal.hl7.parsing import STANDARD_ENCODING, escape
from careportal.patients.models import Patient

logger = structlog.get_logger(__name__)

ADT_A31 = "ADT^A31"
SENDING_APPLICATION = "CAREPORTAL"
HL7_VERSION = "2.5"
START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\r"
# An ACK is a few hundred bytes; anything this long without an end block is not one.
MAX_ACK_BYTES = 64 * 1024
# A message left "sending" this long was claimed by a worker that stopped: it is queued again.
STALE_CLAIM = datetime.timedelta(minutes=10)
# How many messages one run of the task sends at most, so that one run cannot hold a worker for ever.
BATCH_LIMIT = 200
ACCEPTED = frozenset({"AA", "CA"})
REFUSED = frozenset({"AE", "AR", "CE", "CR"})


# Building ------------------------------------------------------------------------------------------------------


def _e(value: str) -> str:
    return escape(value.strip(), STANDARD_ENCODING)


def _timestamp(moment: datetime.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y%m%d%H%M%S%z")


def new_control_id() -> str:
    """MSH-10: 20 characters, unique (the ST length in 2.3 and 2.4)."""
    return "CP" + uuid.uuid4().hex[:18].upper()


def adt_a31_build(*, patient: Patient, control_id: str, now: datetime.datetime) -> bytes:
    """The ADT^A31 for the patient's details as they are now: identifiers, name, date of birth, home address and
    telecoms (PID-13: mobile PRN^CP, home PRN^PH, email NET^Internet), every value escaped."""
    authority = _e(settings.HL7_OUTBOUND_HOSPITAL_NUMBER_AUTHORITY)
    identifiers = [f"{_e(patient.hospital_number)}^^^{authority}^MR"]
    if patient.nhs_number:
        identifiers.append(f"{_e(patient.nhs_number)}^^^NHS^NH")
    address = ""
    if any((patient.address_line_1, patient.address_line_2, patient.town, patient.postcode)):
        address = "^".join(
            [
                _e(patient.address_line_1),
                _e(patient.address_line_2),
                _e(patient.town),
                "",
                _e(patient.postcode),
                "GBR",
                "H",
            ]
        )
    telecoms = []
    if patient.mobile_phone:
        telecoms.append(f"{_e(patient.mobile_phone)}^PRN^CP")
    if patient.home_phone:
        telecoms.append(f"{_e(patient.home_phone)}^PRN^PH")
    if patient.email:
        telecoms.append(f"^NET^Internet^{_e(patient.email)}")
    msh = [
        "MSH",
        "^~\\&",
        SENDING_APPLICATION,
        _e(settings.HL7_OUTBOUND_SENDING_FACILITY),
        _e(settings.HL7_OUTBOUND_PAS_APPLICATION),
        _e(settings.HL7_OUTBOUND_PAS_FACILITY),
        _timestamp(now),
        "",
        "ADT^A31^ADT_A05",
        control_id,
        "P",
        HL7_VERSION,
        "",
        "",
        "",
        "",
        "GBR",
        "UNICODE UTF-8",
    ]
    pid = [
        "PID",
        "1",
        "",
        "~".join(identifiers),
        "",
        f"{_e(patient.family_name.upper())}^{_e(patient.given_name.upper())}",
        "",
        patient.birth_date.strftime("%Y%m%d") if patient.birth_date else "",
        "",
        "",
        "",
        # An empty address or no telecoms at all are sent as HL7 null (""): "clear what you hold".
        address or '""',
        "",
        "~".join(telecoms) or '""',
    ]
    segments = [
        "|".join(msh),
        f"EVN|A31|{_timestamp(now)}",
        "|".join(pid),
        # PV1 is required in ADT^A31; "N" (not applicable): this is about the person, not a visit.
        "PV1|1|N",
    ]
    return ("\r".join(segments) + "\r").encode("utf-8")


def adt_a31_queue(*, patient: Patient) -> OutboundMessage:
    """Queue an ADT^A31 with the patient's current details, in the caller's transaction; a worker sends it after
    commit. Called by careportal.patients.services for changes made in CarePortal, never for changes that came
    from the PAS (they would echo back)."""
    from careportal.core.tasks import enqueue_on_commit
    from careportal.hl7.tasks import send_outbound_messages

    now = timezone.now()
    control_id = new_control_id()
    message = OutboundMessage.objects.create(
        patient=patient,
        message_type=ADT_A31,
        control_id=control_id,
        destination="pas",
        raw=adt_a31_build(patient=patient, control_id=control_id, now=now),
        status=OutboundStatus.QUEUED,
        next_attempt_at=now,
        created_at=now,
    )
    if endpoint_configured():
        enqueue_on_commit(send_outbound_messages)
    return message


# Sending -------------------------------------------------------------------------------------------------------


def endpoint_configured() -> bool:
    return bool(settings.HL7_OUTBOUND_PAS_HOST)


def endpoint_description() -> str:
    """Where messages go, for the staff page: "pas.example.nhs.uk port 2575 (TLS)", or "" when not configured."""
    if not endpoint_configured():
        return ""
    tls = " (TLS)" if settings.HL7_OUTBOUND_PAS_TLS else ""
    return f"{settings.HL7_OUTBOUND_PAS_HOST} port {settings.HL7_OUTBOUND_PAS_PORT}{tls}"


class DeliveryError(Exception):
    """The message may not have arrived: try again later. `kind` says what went wrong, without any content."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind[:200]


def retry_delay(attempts: int) -> datetime.timedelta:
    """1, 2, 4, 8 ... minutes after the 1st, 2nd, 3rd ... failed try, at most HL7_OUTBOUND_MAX_RETRY_SECONDS."""
    seconds = settings.HL7_OUTBOUND_RETRY_SECONDS * (2 ** max(attempts - 1, 0))
    return datetime.timedelta(seconds=min(seconds, settings.HL7_OUTBOUND_MAX_RETRY_SECONDS))


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=settings.HL7_OUTBOUND_PAS_TLS_CA_FILE or None)
    if settings.HL7_OUTBOUND_PAS_TLS_CERT_FILE:
        context.load_cert_chain(settings.HL7_OUTBOUND_PAS_TLS_CERT_FILE, settings.HL7_OUTBOUND_PAS_TLS_KEY_FILE or None)
    return context


def mllp_exchange(raw: bytes, *, host: str, port: int, timeout: float) -> bytes:
    """Send one message in an MLLP frame and return the ACK (without framing). DeliveryError on any failure."""
    try:
        sock: socket.socket = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError as error:
        raise DeliveryError("no answer from the PAS (connection timed out)") from error
    except ConnectionRefusedError as error:
        raise DeliveryError("connection refused") from error
    except OSError as error:
        raise DeliveryError(f"could not connect ({type(error).__name__})") from error
    try:
        if settings.HL7_OUTBOUND_PAS_TLS:
            try:
                sock = _tls_context().wrap_socket(sock, server_hostname=host)
            except (ssl.SSLError, OSError) as error:
                raise DeliveryError(f"TLS handshake failed ({type(error).__name__})") from error
        sock.settimeout(timeout)
        try:
            sock.sendall(START_BLOCK + raw + END_BLOCK)
            received = b""
            while END_BLOCK not in received:
                chunk = sock.recv(4096)
                if not chunk:
                    raise DeliveryError("the PAS closed the connection without an ACK")
                received += chunk
                if len(received) > MAX_ACK_BYTES:
                    raise DeliveryError("the answer from the PAS is not an ACK (too long)")
        except TimeoutError as error:
            raise DeliveryError("no ACK from the PAS in time") from error
        except OSError as error:
            raise DeliveryError(f"connection lost ({type(error).__name__})") from error
    finally:
        sock.close()
    start = received.find(START_BLOCK)
    return received[start + 1 if start >= 0 else 0 : received.find(END_BLOCK)]


def _claim(*, now: datetime.datetime) -> OutboundMessage | None:
    """The oldest due message no other worker holds and no older message of the same patient is waiting before,
    marked as being sent; None when there is none."""
    older_waiting = OutboundMessage.objects.filter(
        patient=OuterRef("patient"),
        status__in=[OutboundStatus.QUEUED, OutboundStatus.SENDING],
    ).filter(Q(created_at__lt=OuterRef("created_at")) | Q(created_at=OuterRef("created_at"), pk__lt=OuterRef("pk")))
    with transaction.atomic():
        candidates = (
            OutboundMessage.objects.filter(status=OutboundStatus.QUEUED, next_attempt_at__lte=now)
            .exclude(Q(patient__isnull=False) & Exists(older_waiting))
            .order_by("created_at", "pk")
        )
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        message = candidates.first()
        if message is None:
            return None
        message.status = OutboundStatus.SENDING
        message.claimed_at = now
        message.attempts += 1
        message.save(update_fields=["status", "claimed_at", "attempts"])
        return message


def _record(message: OutboundMessage, *, status: OutboundStatus, error: str = "", ack_code: str = "") -> None:
    now = timezone.now()
    message.status = status
    message.last_error = error[:200]
    message.ack_code = ack_code[:2]
    message.claimed_at = None
    fields = ["status", "last_error", "ack_code", "claimed_at"]
    if status == OutboundStatus.SENT:
        message.sent_at = now
        fields.append("sent_at")
    if status == OutboundStatus.QUEUED:
        message.next_attempt_at = now + retry_delay(message.attempts)
        fields.append("next_attempt_at")
    message.save(update_fields=fields)


def outbound_deliver(message: OutboundMessage) -> OutboundStatus:
    """Send one claimed message and record what happened."""
    try:
        ack = mllp_exchange(
            bytes(message.raw),
            host=settings.HL7_OUTBOUND_PAS_HOST,
            port=settings.HL7_OUTBOUND_PAS_PORT,
            timeout=settings.HL7_OUTBOUND_TIMEOUT_SECONDS,
        )
        try:
            summary = ack_read(ack)
        except Exception as error:
            raise DeliveryError("the answer from the PAS is not a readable ACK") from error
        if summary.control_id != message.control_id:
            raise DeliveryError("the ACK is for another message (MSA-2 does not match)")
    except DeliveryError as error:
        if message.attempts >= settings.HL7_OUTBOUND_MAX_ATTEMPTS:
            _record(
                message,
                status=OutboundStatus.FAILED,
                error=f"{error.kind}; gave up after {message.attempts} {'try' if message.attempts == 1 else 'tries'}",
            )
        else:
            _record(message, status=OutboundStatus.QUEUED, error=error.kind)
        logger.warning("hl7_outbound_not_delivered", message_id=str(message.public_id), error=error.kind)
        return OutboundStatus(message.status)
    code = summary.code.upper()
    if code in ACCEPTED:
        _record(message, status=OutboundStatus.SENT, ack_code=code)
        logger.info("hl7_outbound_sent", message_id=str(message.public_id), ack_code=code)
        return OutboundStatus.SENT
    reason = f"refused by the PAS ({code}" + (
        f", HL7 error {summary.error_code}" if summary.error_code.isdigit() else ""
    )
    reason += ")" if code in REFUSED else ": not a known acknowledgement code)"
    _record(message, status=OutboundStatus.FAILED, error=reason, ack_code=code if code in REFUSED else "")
    logger.warning("hl7_outbound_refused", message_id=str(message.public_id), ack_code=code[:2])
    return OutboundStatus.FAILED


def outbound_release_stale_claims(*, now: datetime.datetime) -> int:
    """Queue again messages a worker claimed and never finished (it stopped mid-send). The PAS may then get the
    same A31 twice, which is harmless: it carries the whole record."""
    return OutboundMessage.objects.filter(status=OutboundStatus.SENDING, claimed_at__lt=now - STALE_CLAIM).update(
        status=OutboundStatus.QUEUED, claimed_at=None, next_attempt_at=now
    )


@dataclass
class SendReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def outbound_send_due(*, now: datetime.datetime | None = None, limit: int = BATCH_LIMIT) -> SendReport:
    """Send every message that is due, oldest first, one at a time; nothing when no endpoint is configured."""
    report = SendReport()
    if not endpoint_configured():
        return report
    outbound_release_stale_claims(now=now or timezone.now())
    for _ in range(limit):
        message = _claim(now=now or timezone.now())
        if message is None:
            break
        status = outbound_deliver(message)
        if status == OutboundStatus.SENT:
            report.sent += 1
        elif status == OutboundStatus.FAILED:
            report.failed += 1
        else:
            report.retrying += 1
    return report


class RetryRefused(ValueError):
    """Retrying this message would do harm or nothing; the text says why, for the staff page."""


@transaction.atomic
def outbound_retry_now(*, message: OutboundMessage) -> OutboundMessage:
    """Staff: try a failed (or waiting) message again at once. Refused when a newer message for the same patient
    was sent since: this one would overwrite the newer details in the PAS."""
    message = OutboundMessage.objects.select_for_update().get(pk=message.pk)
    if message.status not in (OutboundStatus.FAILED, OutboundStatus.QUEUED):
        raise RetryRefused("This message is not waiting or failed, so there is nothing to retry.")
    if (
        message.patient_id is not None
        and OutboundMessage.objects.filter(
            patient_id=message.patient_id, status=OutboundStatus.SENT, created_at__gt=message.created_at
        ).exists()
    ):
        raise RetryRefused(
            "A newer update for this patient has been sent since. Sending this one would replace the newer details "
            "in the PAS, so it cannot be retried."
        )
    message.status = OutboundStatus.QUEUED
    message.next_attempt_at = timezone.now()
    message.save(update_fields=["status", "next_attempt_at"])
    if endpoint_configured():
        from careportal.core.tasks import enqueue_on_commit
        from careportal.hl7.tasks import send_outbound_messages

        enqueue_on_commit(send_outbound_messages)
    return message
