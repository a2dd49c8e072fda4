"""How much database work one message costs: bounds on the queries per message, so that a change that adds an N+1,
a needless re-read, savepoint or lookup shows up here rather than in the benchmark (bench/bench_mllp.py).

The counts include the statements that open and close the message's transaction (a savepoint here, since each test
runs inside a transaction). Work per message is the same whatever the number of values (OBX) in it, and grows by a
fixed amount per report (OBR) in it.
"""

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from careportal.hl7.bulk_apply import messages_apply_in_batch
from careportal.hl7.models import InboundMessage, MessageSource, MessageStatus
from careportal.hl7.services import message_receive
from careportal.patients.models import CareRelationship
from careportal.results.models import DiagnosticReport, ResultRouting
from tests.core.test_gc_tuning import PYTHON_DEFAULT_THRESHOLD
from tests.hl7.interfaces import LOCAL_PEER
from tests.patients.factories import CareTeamFactory, PatientFactory

SAMPLE = (Path(__file__).parent / "samples" / "oru_r01_fbc_final.hl7").read_bytes()

# Per new report: the duplicate check, the transaction (two statements), the patient, the report (locked), the
# routing, the release rule, bank holidays, and four INSERTs (report, values, history, journal).
NEW_REPORT_QUERIES = 12
# With a routing: the care relationship is read (and created once, without a savepoint).
ROUTED_REPORT_QUERIES = NEW_REPORT_QUERIES + 1


def fbc(control_id: str, filler: str, *, obx_extra: int = 0, reported: str = "202611020930") -> bytes:
    segments = SAMPLE.rstrip(b"\r").split(b"\r")
    out = []
    for segment in segments:
        fields = segment.split(b"|")
        if fields[0] == b"MSH":
            fields[9] = control_id.encode()
        elif fields[0] in (b"ORC", b"OBR"):
            fields[3] = filler.encode()
            if fields[0] == b"OBR":
                fields[22] = reported.encode()
        out.append(b"|".join(fields))
    obx = next(s for s in out if s.startswith(b"OBX|1|"))
    nte = out.pop()
    for n in range(obx_extra):
        out.append(obx.replace(b"OBX|1|", f"OBX|{5 + n}|".encode()).replace(b"HB^", f"X{n}^".encode()))
    out.append(nte)
    return b"\r".join(out) + b"\r"


@pytest.fixture
def eleanor(db):
    return PatientFactory(hospital_number="40012345", nhs_number="9990000018")


def _queries(raw: bytes) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        ack = message_receive(raw, peer=LOCAL_PEER)
    assert b"MSA|AA|" in ack, ack
    sqls = [q["sql"] for q in ctx.captured_queries]
    if os.environ.get("HL7_PRINT_QUERIES"):
        print(f"\n{len(sqls)} queries:", *(sql[:100] for sql in sqls), sep="\n  ")
    return sqls


def _assert_lean(sqls: list[str]) -> None:
    """No ContentType, permission or user lookups, no audit rows, and no re-read of the journal, on the way in."""
    joined = "\n".join(sqls).lower()
    for table in ("django_content_type", "auth_permission", "accounts_user", "audit_"):
        assert table not in joined, f"{table} touched while applying a message"


def test_a_new_report_costs_a_fixed_number_of_queries(eleanor):
    message_receive(
        fbc("WARM1", "F1"), peer=LOCAL_PEER
    )  # the first message warms per-process caches (none are per message)

    sqls = _queries(fbc("C1", "F2"))

    assert len(sqls) <= NEW_REPORT_QUERIES, "\n".join(sqls)
    _assert_lean(sqls)
    # Only the transaction's own savepoint: no nested savepoints (get_or_create, atomic blocks) per report.
    assert sum(sql.startswith("SAVEPOINT") for sql in sqls) <= 1


def test_more_values_in_a_report_cost_no_more_queries(eleanor):
    message_receive(fbc("WARM1", "F1"), peer=LOCAL_PEER)
    few = _queries(fbc("C1", "F2"))
    many = _queries(fbc("C2", "F3", obx_extra=30))

    assert len(many) == len(few)
    assert DiagnosticReport.objects.get(filler_order_number="F3").observations.count() == 34


def test_a_routed_report_reads_the_care_relationship_once_and_creates_it_once(eleanor):
    team = CareTeamFactory(name="Haematology")
    ResultRouting.objects.create(match="service", code="HAEM", care_team=team)
    first = _queries(fbc("C1", "F1"))
    second = _queries(fbc("C2", "F2"))

    assert len(first) <= ROUTED_REPORT_QUERIES + 1, "\n".join(first)  # + the INSERT of the relationship
    assert len(second) <= ROUTED_REPORT_QUERIES, "\n".join(second)
    assert sum(sql.startswith("SAVEPOINT") for sql in first) <= 1
    assert CareRelationship.objects.filter(patient=eleanor, care_team=team, reason="result").count() == 1


def test_an_update_of_a_report_costs_a_fixed_number_of_queries(eleanor):
    message_receive(fbc("C1", "F1", reported="202611020930"), peer=LOCAL_PEER)
    # A correction (a later report time, different values): a version is kept and the values replaced.
    corrected = fbc("C2", "F1", reported="202611021030").replace(b"||98|g/L|", b"||99|g/L|")

    sqls = _queries(corrected)

    assert len(sqls) <= NEW_REPORT_QUERIES, "\n".join(sqls)
    _assert_lean(sqls)
    report = DiagnosticReport.objects.get(filler_order_number="F1")
    assert report.version == 2 and report.is_amended


def test_the_same_message_again_costs_two_queries(eleanor):
    raw = fbc("C1", "F1")
    message_receive(raw, peer=LOCAL_PEER)

    sqls = _queries(raw)

    # The duplicate check, and the journal row: nothing is applied again.
    assert len(sqls) <= 2, "\n".join(sqls)
    assert InboundMessage.objects.filter(status=MessageStatus.DUPLICATE).count() == 1


def test_work_grows_by_a_fixed_amount_per_report_in_a_message(eleanor):
    message_receive(fbc("WARM1", "F0"), peer=LOCAL_PEER)
    one = _queries(fbc("C1", "F1"))
    obr = next(s for s in fbc("X", "F2").split(b"\r") if s.startswith(b"OBR"))
    tail = [s for s in fbc("X", "F2").split(b"\r") if s.startswith((b"OBX", b"NTE"))]
    two_reports = fbc("C2", "F3").rstrip(b"\r") + b"\r" + b"\r".join([obr, *tail]) + b"\r"

    two = _queries(two_reports)

    # The patient is matched once per PID; each further report costs its own reads and writes, no more.
    per_report = len(two) - len(one)
    assert 0 < per_report <= 7, "\n".join(two)
    assert DiagnosticReport.objects.filter(filler_order_number__in=["F2", "F3"]).count() == 2


def test_a_patient_registered_a_moment_ago_matches_the_next_message(eleanor):
    """No cache stands between the database and the match (docs/hl7.md): a new patient matches at once."""
    message_receive(fbc("C1", "F1"), peer=LOCAL_PEER)
    newcomer = PatientFactory(hospital_number="40099999", nhs_number="")
    raw = fbc("C2", "F2").replace(b"40012345^^^RRV^MR~9990000018^^^NHS^NH", b"40099999^^^RRV^MR")

    assert b"MSA|AA|" in message_receive(raw, peer=LOCAL_PEER)
    assert DiagnosticReport.objects.get(filler_order_number="F2").patient == newcomer


# --- The garbage collector (careportal/core/gc_tuning.py) ----------------------------------------------------------


@contextmanager
def full_collections_counted() -> Iterator[list[int]]:
    """Counts the collector's passes, by generation (0, 1, 2): a pass of generation 2 walks every object the
    process holds."""
    counted = [0, 0, 0]

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            counted[info["generation"]] += 1

    gc.callbacks.append(count)
    try:
        yield counted
    finally:
        gc.callbacks.remove(count)


def _batch_collections(count: int, prefix: str) -> list[int]:
    messages = [
        InboundMessage(
            raw=fbc(f"{prefix}{n}", f"{prefix}-ORDER-{n}"),
            peer=LOCAL_PEER,
            source=MessageSource.IMPORT,
            received_at=timezone.now(),
        )
        for n in range(count)
    ]
    # From empty generations: the counts an earlier test left would otherwise set off an older pass early.
    gc.collect()
    with full_collections_counted() as counted:
        result = messages_apply_in_batch(messages)
    assert result.bulk_applied == count
    return counted


def test_the_collector_passes_over_a_batch_of_messages_a_fraction_as_often(eleanor):
    """Parsing and applying a batch builds many small lists and model instances. With Python's default threshold
    the collector passed over them about every 700 allocations, and over the older generations (everything the
    batch had built so far, and at times everything the process holds) every tenth time: a third of the
    backfill's CPU. With the threshold every CarePortal process runs with, a fraction as often."""
    threshold = gc.get_threshold()
    try:
        gc.set_threshold(PYTHON_DEFAULT_THRESHOLD, threshold[1], threshold[2])
        untuned = _batch_collections(200, "UNTUNED")
        gc.set_threshold(settings.GC_GENERATION0_THRESHOLD, threshold[1], threshold[2])
        tuned = _batch_collections(200, "TUNED")
    finally:
        gc.set_threshold(*threshold)

    assert InboundMessage.objects.filter(status=MessageStatus.APPLIED).count() == 400
    assert sum(tuned) * 5 <= sum(untuned), (tuned, untuned)
    assert tuned[1] + tuned[2] <= 1, tuned
    # The control: under Python's default the same batch sets off older-generation passes again and again, so the
    # bound above means something.
    assert untuned[1] + untuned[2] >= 5, untuned
