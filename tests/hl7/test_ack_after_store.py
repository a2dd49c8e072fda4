"""Acknowledging after store (InboundInterface.ack_mode "after_store"): the listener stores the raw message, commits
and acknowledges it (AA, or CA in enhanced mode); workers then claim waiting messages in batches and apply them.

Over the real listener (as tests/hl7/test_listener.py), and through the worker's functions; the claim by several
workers at once (SELECT ... FOR UPDATE SKIP LOCKED, one patient's messages in order) on PostgreSQL only.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from careportal.hl7 import bulk_apply, stored_services
from careportal.hl7.interfaces import interfaces_cache_clear
from careportal.hl7.models import (
    AckMode,
    ErrorKind,
    InboundArrival,
    InboundInterface,
    InboundMessage,
    MessageSource,
    MessageStatus,
)
from careportal.hl7.parsing import MessageHeader, content_hash
from careportal.hl7.selectors import messages_needing_attention
from careportal.hl7.services import (
    PATIENT_KEY_LENGTH,
    MessageNotReplayed,
    is_replayable,
    message_receive,
    message_replay,
    patient_key,
)
from careportal.hl7.stored_services import (
    stored_apply_batch,
    stored_apply_pending,
    stored_apply_wake_reset,
    stored_batch_apply,
    stored_claim,
    stored_move,
    stored_waiting_count,
    stored_waiting_summary,
)
from careportal.results.models import DiagnosticReport
from tests.accounts.factories import UserFactory
from tests.hl7.interfaces import LOCAL_PEER
from tests.hl7.mllp_client import ListenerThread, ack_code, control_id
from tests.patients.factories import PatientFactory

SAMPLES = Path(__file__).parent / "samples"
FBC = (SAMPLES / "oru_r01_fbc_final.hl7").read_bytes()  # MSH-15 is AL: enhanced mode
UNKNOWN_PATIENT = (SAMPLES / "bad" / "unknown_patient.hl7").read_bytes()
PATIENTS = (("40012345", "9990000018"), ("40077801", "9990000026"), ("40055512", "9990000034"))


def msh_field(message: bytes, position: int, value: bytes) -> bytes:
    first, rest = message.split(b"\r", 1)
    fields = first.split(b"|")
    fields[position - 1] = value
    return b"|".join(fields) + b"\r" + rest


def original_mode(message: bytes) -> bytes:
    """The message without MSH-15 and MSH-16: a sender in HL7's original acknowledgement mode."""
    return msh_field(msh_field(message, 15, b""), 16, b"")


def fbc(n: int, *, hospital_number: str = "40012345", nhs_number: str = "9990000018") -> bytes:
    """The FBC sample as a new report for a patient: its own control id and order numbers."""
    lines = []
    for segment in FBC.rstrip(b"\r").split(b"\r"):
        fields = segment.split(b"|")
        if fields[0] == b"MSH":
            fields[9] = b"STORE%05d" % n
        elif fields[0] == b"PID":
            fields[3] = f"{hospital_number}^^^RRV^MR~{nhs_number}^^^NHS^NH".encode()
        elif fields[0] in (b"ORC", b"OBR"):
            fields[2], fields[3] = b"OE-S%05d" % n, b"S%05d" % n
        lines.append(b"|".join(fields))
    return b"\r".join(lines) + b"\r"


@pytest.fixture
def after_store(settings: Any, test_interfaces: list[InboundInterface]) -> InboundInterface:
    """The laboratory acknowledges after store; no worker is woken (each test applies when it chooses)."""
    settings.HL7_STORED_WAKE_SECONDS = 0
    lab = InboundInterface.objects.get(sending_application="WINPATH", sending_facility="RRV_LAB")
    lab.ack_mode = AckMode.AFTER_STORE
    lab.save()
    interfaces_cache_clear()
    return lab


@pytest.fixture
def patients(db: None) -> None:
    for hospital_number, nhs_number in PATIENTS:
        PatientFactory(hospital_number=hospital_number, nhs_number=nhs_number)


@pytest.fixture
def start_listener() -> Iterator[Callable[[], ListenerThread]]:
    started: list[ListenerThread] = []

    def start() -> ListenerThread:
        running = ListenerThread(handler=None).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


# --- Over the real listener -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("after_store", "patients")
def test_after_store_acknowledges_ca_once_stored_and_the_worker_applies_it(
    start_listener: Callable[[], ListenerThread],
) -> None:
    running = start_listener()
    with running.client() as client:
        assert ack_code(client.request(FBC)) == ("CA", "WP20261102093015001")
        assert ack_code(client.request(original_mode(fbc(1)))) == ("AA", "STORE00001")
    # Committed before its ACK among the arrivals: the journal has not been touched yet.
    arrived = list(InboundArrival.objects.order_by("pk"))
    assert [bytes(m.raw) for m in arrived] == [FBC, original_mode(fbc(1))]
    assert [m.ack_code for m in arrived] == ["CA", "AA"]
    assert arrived[0].source == MessageSource.MLLP
    assert not InboundMessage.objects.exists()
    assert not DiagnosticReport.objects.exists()  # acknowledged, not applied yet

    # A worker moves them into the journal, waiting to be applied, with every field as it arrived.
    assert stored_move(limit=10) == 2
    assert not InboundArrival.objects.exists()
    stored = list(InboundMessage.objects.order_by("pk"))
    assert [(m.status, m.ack_code) for m in stored] == [(MessageStatus.STORED, "CA"), (MessageStatus.STORED, "AA")]
    assert bytes(stored[0].raw) == FBC and stored[0].source == MessageSource.MLLP
    assert stored[0].peer == arrived[0].peer != ""
    # Read again from the bytes by the worker, as the listener read them before the ACK.
    assert [m.control_id for m in stored] == ["WP20261102093015001", "STORE00001"]
    assert stored[0].patient_key == "WINPATH^RRV_LAB|40012345^RRV"
    assert (stored[0].message_type, stored[0].sending_application, stored[0].sending_facility) == (
        "ORU^R01",
        "WINPATH",
        "RRV_LAB",
    )
    assert stored[0].hl7_version == "2.4"
    assert stored[0].content_hash == content_hash(FBC)
    assert stored[0].received_at == arrived[0].received_at
    assert stored[0].public_id != stored[1].public_id

    result = stored_apply_batch()

    assert (result.applied, result.waiting) == (2, 0)
    assert set(InboundMessage.objects.values_list("status", flat=True)) == {MessageStatus.APPLIED}
    assert DiagnosticReport.objects.get(filler_order_number="26H0456781").observations.count() == 4
    assert InboundMessage.objects.get(control_id="STORE00001").patient is not None


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("test_interfaces", "patients")
def test_after_apply_stays_the_default_and_applies_before_the_ack(
    start_listener: Callable[[], ListenerThread],
) -> None:
    assert InboundInterface.objects.get(sending_application="WINPATH", sending_facility="RRV_LAB").ack_mode == (
        AckMode.AFTER_APPLY
    )
    running = start_listener()
    with running.client() as client:
        assert ack_code(client.request(FBC)) == ("AA", "WP20261102093015001")
        assert ack_code(client.request(UNKNOWN_PATIENT))[0] == "AE"
    assert InboundMessage.objects.get(control_id="WP20261102093015001").status == MessageStatus.APPLIED
    assert DiagnosticReport.objects.filter(filler_order_number="26H0456781").exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("after_store", "patients")
def test_a_message_resent_in_after_store_mode_is_acknowledged_each_time_and_applied_once(
    start_listener: Callable[[], ListenerThread],
) -> None:
    running = start_listener()
    with running.client() as client:
        assert ack_code(client.request(FBC))[0] == "CA"
        assert ack_code(client.request(FBC))[0] == "CA"
    stored_apply_batch()
    with running.client() as client:
        assert ack_code(client.request(FBC))[0] == "CA"  # sent again after it was applied
    stored_apply_batch()

    statuses = list(InboundMessage.objects.order_by("pk").values_list("status", flat=True))
    assert statuses == [MessageStatus.APPLIED, MessageStatus.DUPLICATE, MessageStatus.DUPLICATE]
    assert DiagnosticReport.objects.filter(filler_order_number="26H0456781").count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("after_store", "patients")
def test_a_message_that_cannot_be_applied_after_store_waits_in_the_unmatched_queue(
    start_listener: Callable[[], ListenerThread],
) -> None:
    running = start_listener()
    with running.client() as client:
        assert ack_code(client.request(UNKNOWN_PATIENT)) == ("CA", control_id(UNKNOWN_PATIENT))

    result = stored_apply_batch()

    assert result.waiting == 1
    waiting = InboundMessage.objects.get()
    assert waiting.status == MessageStatus.ERROR and waiting.error_kind == ErrorKind.UNKNOWN_PATIENT
    assert waiting.error_text and waiting.ack_code == "CA"
    assert list(messages_needing_attention()) == [waiting]
    assert is_replayable(waiting)
    # Staff match it to the right patient, as for any message answered AE.
    replay = message_replay(message=waiting, patient=PatientFactory(), by=UserFactory())
    assert replay.status == MessageStatus.APPLIED


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("after_store")
def test_refusals_stay_ar_in_after_store_mode_and_nothing_waits() -> None:
    lab_adt = msh_field(FBC, 9, b"ADT^A04")
    unknown_sender = msh_field(FBC, 4, b"ELSEWHERE")
    no_control_id = msh_field(FBC, 10, b"")
    version_3 = msh_field(FBC, 12, b"3.0")
    cases = [
        (lab_adt, LOCAL_PEER, ErrorKind.TYPE_NOT_ALLOWED),
        (unknown_sender, LOCAL_PEER, ErrorKind.SENDER_UNKNOWN),
        (FBC, "192.168.1.5:4000", ErrorKind.ADDRESS_NOT_ALLOWED),
        (no_control_id, LOCAL_PEER, ErrorKind.MALFORMED),
        (version_3, LOCAL_PEER, ErrorKind.UNSUPPORTED),
        (FBC.replace(b"Haemoglobin", b"Haem\x00globin"), LOCAL_PEER, ErrorKind.MALFORMED),
    ]
    for raw, peer, kind in cases:
        ack = message_receive(raw, peer=peer)
        assert b"MSA|AR|" in ack, kind
        assert InboundMessage.objects.order_by("-pk").first().error_kind == kind  # type: ignore[union-attr]
    assert stored_waiting_count() == 0
    assert InboundMessage.objects.filter(status=MessageStatus.REJECTED).count() == len(cases)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("after_store")
def test_a_type_the_interface_allows_but_carePortal_does_not_apply_is_kept_as_before(
    test_interfaces: list[InboundInterface],
) -> None:
    pas = InboundInterface.objects.get(sending_application="PAS")
    pas.ack_mode = AckMode.AFTER_STORE
    pas.save()
    interfaces_cache_clear()
    a01 = (
        b"MSH|^~\\&|PAS|RRV|CAREPORTAL|RRV|20261102093015||ADT^A01|PAS0001|P|2.4\r"
        b"PID|1||40012345^^^RRV^MR||HARGREAVES^ELEANOR||19580314|F\r"
    )
    assert b"MSA|AA|PAS0001" in message_receive(a01, peer=LOCAL_PEER)
    assert InboundMessage.objects.get().status == MessageStatus.IGNORED


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("after_store", "patients")
def test_a_message_unreadable_past_its_header_is_stored_then_rejected_into_the_queue() -> None:
    broken = FBC.rstrip(b"\r") + b"\r!!|not a segment\r"
    assert b"MSA|CA|" in message_receive(broken, peer=LOCAL_PEER)

    result = stored_apply_batch()

    rejected = InboundMessage.objects.get()
    assert result.waiting == 1
    assert rejected.status == MessageStatus.REJECTED and rejected.error_kind == ErrorKind.MALFORMED
    assert "segment" in rejected.error_text
    assert list(messages_needing_attention()) == [rejected]
    assert not DiagnosticReport.objects.exists()


# --- Workers ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("after_store", "patients")
def test_a_worker_that_crashes_mid_batch_leaves_every_message_claimable(monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(3):
        message_receive(fbc(n), peer=LOCAL_PEER)
    real_flush = bulk_apply._Batch.flush
    calls: list[int] = []

    def write_then_crash(batch: bulk_apply._Batch) -> list:
        # The batch's reports are written, then the worker dies before its transaction commits.
        real_flush(batch)
        calls.append(DiagnosticReport.objects.count())
        raise ConnectionError("worker lost its database connection")

    monkeypatch.setattr(bulk_apply._Batch, "flush", write_then_crash)
    with pytest.raises(ConnectionError):
        stored_apply_batch()
    assert calls == [3]  # written inside the claim's transaction...
    # ...and rolled back with it: all three are waiting again, nothing applied.
    assert stored_waiting_count() == 3
    assert not DiagnosticReport.objects.exists()

    monkeypatch.setattr(bulk_apply._Batch, "flush", real_flush)
    assert stored_apply_batch().applied == 3
    assert DiagnosticReport.objects.filter(filler_order_number__startswith="S").count() == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("after_store", "patients")
def test_batches_apply_in_arrival_order_and_drain_the_queue() -> None:
    for n in range(7):
        message_receive(fbc(n), peer=LOCAL_PEER)

    report = stored_apply_pending(max_seconds=60, limit=3)

    assert report.result.applied == 7 and report.batches == 3 and not report.more
    applied = list(InboundMessage.objects.order_by("applied_at", "pk").values_list("control_id", flat=True))
    assert applied == [f"STORE{n:05d}" for n in range(7)]


@pytest.mark.django_db(transaction=True)
def test_the_claim_refuses_to_run_outside_a_transaction() -> None:
    with pytest.raises(RuntimeError, match="inside a transaction"):
        stored_claim(limit=10)


@pytest.mark.django_db
def test_an_empty_batch_does_nothing() -> None:
    assert stored_batch_apply([]).done == 0
    assert stored_apply_batch().claimed == 0


def _claim_in_thread(limit: int, claimed: list[list[int]], holding: threading.Event, release: threading.Event) -> None:
    try:
        with transaction.atomic():
            rows, _ = stored_claim(limit=limit)
            claimed.append([row.pk for row in rows])
            holding.set()
            release.wait(10)
    finally:
        connection.close()


@pytest.mark.skipif(not connection.features.has_select_for_update_skip_locked, reason="SKIP LOCKED needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("after_store", "patients")
def test_a_second_worker_never_takes_a_patients_message_while_an_older_one_is_held() -> None:
    (a, a_nhs), (b, b_nhs), (c, c_nhs) = PATIENTS
    order = [(a, a_nhs), (b, b_nhs), (a, a_nhs), (c, c_nhs), (b, b_nhs)]
    for n, (hospital_number, nhs_number) in enumerate(order):
        message_receive(fbc(n, hospital_number=hospital_number, nhs_number=nhs_number), peer=LOCAL_PEER)
    assert stored_move(limit=10) == 5
    pks = list(InboundMessage.objects.order_by("pk").values_list("pk", flat=True))
    first: list[list[int]] = []
    holding, release = threading.Event(), threading.Event()
    worker = threading.Thread(target=_claim_in_thread, args=(2, first, holding, release))
    worker.start()
    try:
        assert holding.wait(10)
        assert first == [pks[:2]]  # patient A's first message and patient B's first
        with transaction.atomic():
            second, taken = stored_claim(limit=10)
        # It skipped the two held, took the other three, and kept only patient C's: A and B have older messages
        # the first worker must apply first.
        assert taken == 3
        assert [row.pk for row in second] == [pks[3]]
    finally:
        release.set()
        worker.join(10)
    with transaction.atomic():
        third, _ = stored_claim(limit=10)
    assert [row.pk for row in third] == pks  # nothing applied: every message is claimable again, in order


@pytest.mark.skipif(not connection.features.has_select_for_update_skip_locked, reason="SKIP LOCKED needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("after_store", "patients")
def test_two_workers_draining_together_apply_each_patients_messages_in_arrival_order() -> None:
    for n in range(60):
        hospital_number, nhs_number = PATIENTS[(n * 7 // 3) % 3]
        message_receive(fbc(n, hospital_number=hospital_number, nhs_number=nhs_number), peer=LOCAL_PEER)
    failures: list[BaseException] = []

    def work() -> None:
        try:
            stored_apply_pending(max_seconds=120, limit=4)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=work) for _ in range(2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(120)
    assert failures == []
    while stored_waiting_count():  # a worker may stop while the other still held a patient's older messages
        stored_apply_pending(max_seconds=60, limit=4)
    assert InboundMessage.objects.filter(status=MessageStatus.APPLIED).count() == 60
    for key in InboundMessage.objects.values_list("patient_key", flat=True).distinct():
        by_time = list(
            InboundMessage.objects.filter(patient_key=key).order_by("applied_at", "pk").values_list("pk", flat=True)
        )
        assert by_time == sorted(by_time), key


# --- The arrivals: stored before the ACK, moved into the journal by the workers ------------------------------------


def _journal() -> list[tuple[str, str]]:
    return list(InboundMessage.objects.order_by("pk").values_list("control_id", "status"))


@pytest.mark.usefixtures("after_store", "patients")
def test_arrivals_move_into_the_journal_oldest_first_each_once() -> None:
    for n in range(1, 6):
        message_receive(fbc(n), peer=LOCAL_PEER)
    assert InboundArrival.objects.count() == 5
    assert not InboundMessage.objects.exists()

    assert stored_move(limit=3) == 3
    assert _journal() == [(f"STORE0000{n}", MessageStatus.STORED) for n in (1, 2, 3)]
    assert InboundArrival.objects.count() == 2
    assert stored_move(limit=3) == 2
    assert stored_move(limit=3) == 0

    assert _journal() == [(f"STORE0000{n}", MessageStatus.STORED) for n in range(1, 6)]
    assert len(set(InboundMessage.objects.values_list("public_id", flat=True))) == 5
    assert not InboundArrival.objects.exists()


@pytest.mark.usefixtures("after_store", "patients")
def test_a_move_that_fails_leaves_every_arrival_where_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    message_receive(fbc(1), peer=LOCAL_PEER)
    message_receive(fbc(2), peer=LOCAL_PEER)
    real = InboundMessage.objects.bulk_create

    def written_then_fails(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise OperationalError("the connection dropped")  # after the journal's rows, before the arrivals' delete

    monkeypatch.setattr(InboundMessage.objects, "bulk_create", written_then_fails)
    with pytest.raises(OperationalError):
        stored_move(limit=10)
    assert InboundArrival.objects.count() == 2
    assert not InboundMessage.objects.exists()  # rolled back with the rest: in one place, never both

    monkeypatch.undo()
    assert stored_move(limit=10) == 2
    assert _journal() == [("STORE00001", MessageStatus.STORED), ("STORE00002", MessageStatus.STORED)]


@pytest.mark.usefixtures("after_store", "patients")
def test_with_nothing_arrived_a_move_is_one_read_and_no_transaction() -> None:
    # On SQLite a transaction would take the one write lock, which the listener's INSERTs need.
    with CaptureQueriesContext(connection) as queries:
        assert stored_move(limit=10) == 0
    assert len(queries) == 1
    assert queries[0]["sql"].startswith("SELECT")


@pytest.mark.usefixtures("after_store", "patients")
def test_a_move_takes_as_many_queries_for_thirty_arrivals_as_for_one() -> None:
    def queries_to_move(count: int, first: int) -> int:
        for n in range(first, first + count):
            message_receive(fbc(n), peer=LOCAL_PEER)
        with CaptureQueriesContext(connection) as queries:
            assert stored_move(limit=100) == count
        return len(queries)

    assert queries_to_move(1, first=1) == queries_to_move(30, first=2)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite's write transaction is its lock")
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("after_store", "patients")
def test_on_postgresql_a_worker_leaves_the_move_to_the_one_already_moving() -> None:
    message_receive(fbc(1), peer=LOCAL_PEER)
    message_receive(fbc(2), peer=LOCAL_PEER)
    params = connection.get_connection_params()
    for key in ("cursor_factory", "context"):
        params.pop(key, None)
    with psycopg.connect(**params) as other:  # another worker, in the middle of its move
        other.execute("SELECT pg_advisory_xact_lock(%s, %s)", stored_services._MOVER_LOCK)
        assert stored_move(limit=10) == 0
        assert InboundArrival.objects.count() == 2
        other.rollback()
    assert stored_move(limit=10) == 2


@pytest.mark.usefixtures("after_store", "patients")
def test_what_waits_counts_the_arrivals_and_the_journal_and_dates_from_the_oldest_of_either(
    capsys: pytest.CaptureFixture[str],
) -> None:
    message_receive(fbc(1), peer=LOCAL_PEER)
    stored_move(limit=10)
    message_receive(fbc(2), peer=LOCAL_PEER)
    message_receive(fbc(3), peer=LOCAL_PEER)
    first = InboundMessage.objects.get()
    InboundArrival.objects.filter(pk=InboundArrival.objects.order_by("pk")[0].pk).update(
        received_at=first.received_at - datetime.timedelta(minutes=1)  # another listener's clock, a little behind
    )

    summary = stored_waiting_summary()
    assert (summary.count, summary.arrivals) == (3, 2)
    assert summary.oldest_received_at == first.received_at - datetime.timedelta(minutes=1)
    assert stored_waiting_count() == 3
    call_command("hl7_apply_worker", "--status")
    assert "3 messages waiting to be applied (2 not in the journal yet), the oldest received" in capsys.readouterr().out


# --- Waking the workers -----------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("after_store", "patients")
def test_storing_wakes_a_worker_at_most_once_a_wake_interval(settings: Any) -> None:
    # The test settings run tasks at once (ImmediateBackend): the wake-up applies what is stored.
    settings.HL7_STORED_WAKE_SECONDS = 3600
    stored_apply_wake_reset()
    try:
        message_receive(fbc(1), peer=LOCAL_PEER)
        assert InboundMessage.objects.get(control_id="STORE00001").status == MessageStatus.APPLIED
        message_receive(fbc(2), peer=LOCAL_PEER)  # within the interval: no second task
        # The second waits among the arrivals, not moved into the journal yet.
        assert InboundArrival.objects.count() == 1
        assert not InboundMessage.objects.filter(control_id="STORE00002").exists()
    finally:
        stored_apply_wake_reset()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("after_store", "patients")
def test_the_task_applies_what_waits() -> None:
    from careportal.hl7.tasks import apply_stored_messages

    message_receive(fbc(1), peer=LOCAL_PEER)
    message_receive(UNKNOWN_PATIENT, peer=LOCAL_PEER)

    result = apply_stored_messages.call()

    assert result == {"applied": 1, "duplicates": 0, "waiting": 1, "batches": 1}


# --- The worker command -----------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("after_store", "patients")
def test_the_worker_command_reports_the_queue_and_drains_it(capsys: pytest.CaptureFixture[str]) -> None:
    message_receive(fbc(1), peer=LOCAL_PEER)
    message_receive(UNKNOWN_PATIENT, peer=LOCAL_PEER)

    call_command("hl7_apply_worker", "--status")
    assert "2 messages waiting to be applied (2 not in the journal yet), the oldest received" in capsys.readouterr().out

    call_command("hl7_apply_worker", "--until-empty", "--batch-size", "1", "--poll", "0.01")
    assert "Applied 1; in the unmatched queue 1." in capsys.readouterr().out
    assert stored_waiting_count() == 0


@pytest.mark.parametrize("args", [["--batch-size", "0"], ["--batch-size", "many"], ["--poll", "-1"], ["--poll", "0"]])
def test_the_worker_command_refuses_bad_options(args: list[str]) -> None:
    with pytest.raises(CommandError, match="invalid"):
        call_command("hl7_apply_worker", *args)


# --- The patient key --------------------------------------------------------------------------------------------


def _header(application: str = "WINPATH", facility: str = "RRV_LAB") -> MessageHeader:
    return MessageHeader(sending_application=application, sending_facility=facility)


def test_the_patient_key_is_the_sender_and_the_first_pid_3_identifier() -> None:
    assert patient_key(FBC, _header()) == "WINPATH^RRV_LAB|40012345^RRV"
    # Other delimiters, as MSH-1 and MSH-2 declare them; LF line ends.
    odd = b"MSH#*~\\&#WINPATH#RRV_LAB#X#Y#2026##ORU*R01#1#P#2.4\nPID#1##123*x*y*AUTH~999#\n"
    assert patient_key(odd, _header()) == "WINPATH^RRV_LAB|123^AUTH"


def test_without_a_pid_the_key_is_the_sender_and_a_long_key_is_hashed() -> None:
    assert patient_key(b"MSH|^~\\&|EDM|RRV|||2026||MDM^T02|1|P|2.4\r", _header("EDM", "RRV")) == "EDM^RRV|"
    long_id = b"9" * 200
    key = patient_key(b"MSH|^~\\&|A|B\rPID|1||" + long_id + b"^^^RRV\r", _header("A", "B"))
    assert key.startswith("sha256:") and len(key) <= PATIENT_KEY_LENGTH


def test_replaying_a_message_still_waiting_to_be_applied_is_refused(db: None) -> None:
    waiting = InboundMessage.objects.create(
        received_at="2026-12-06T10:00:00Z", raw=FBC, status=MessageStatus.STORED, ack_code="CA"
    )
    assert not is_replayable(waiting)
    with pytest.raises(MessageNotReplayed):
        message_replay(message=waiting, patient=PatientFactory(), by=UserFactory())


# --- The header read before the ACK -------------------------------------------------------------------------------


def test_the_first_segment_header_matches_the_full_read_for_every_sample() -> None:
    from careportal.hl7.parsing import read_first_header, read_header

    for path in sorted(SAMPLES.glob("*.hl7")):
        raw = path.read_bytes()
        quick = read_first_header(raw)
        assert quick is not None, path.name
        assert quick[0] == read_header(raw), path.name


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"PID|1||123\r",
        b"MSH",
        b"MSH|^~\\&|A|B|C|D|2026||ORU^R01|1|P|2.4|||AL|NE||UNKNOWN-CHARSET\rPID|1\r",
        b"MSH|^~\\&|A|B|C|D|2026||ORU^R01|1|P|2.4|||AL|NE||UNICODE UTF-8\xff\xfe\r",
        b"MSHA^~\\&|A|B\r",
    ],
)
def test_an_unusual_first_segment_is_left_to_the_full_parser(raw: bytes) -> None:
    from careportal.hl7.parsing import read_first_header

    assert read_first_header(raw) is None


def test_a_declared_latin_1_header_is_read_in_latin_1() -> None:
    from careportal.hl7.parsing import read_first_header

    raw = "MSH|^~\\&|LABÖ|B|C|D|2026||ORU^R01|1|P|2.4|||||GBR|8859/1\rPID|1\r".encode("latin-1")
    quick = read_first_header(raw)
    assert quick is not None and quick[0].sending_application == "LABÖ" and quick[1] == "latin-1"
