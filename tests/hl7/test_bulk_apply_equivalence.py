"""Applying in batches (careportal/hl7/bulk_apply.py) leaves the same rows as message_receive one message at a time.

Each comparison applies one sequence of messages both ways, at the same frozen moment, each inside a savepoint that
is then undone, and compares every row the two left (journal, reports, values, versions, history, care
relationships, unmatched queue) field by field, ids and the random public ids aside.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careportal.hl7.bulk_apply import messages_apply_in_batch
from careportal.hl7.models import InboundMessage, MessageSource, MessageStatus
from careportal.hl7.services import message_receive
from careportal.patients.models import CareRelationship, Patient
from careportal.results.models import (
    DiagnosticReport,
    DiagnosticReportVersion,
    Observation,
    ReleaseMode,
    ReleaseRule,
    ReportAction,
    ResultRouting,
    ResultRoutingMatch,
)
from tests.accounts.factories import UserFactory
from tests.hl7.interfaces import LOCAL_PEER
from tests.patients.factories import CareTeamFactory, PatientFactory

SHARED = Path("/work/shared/hl7")
SAMPLES = SHARED if SHARED.is_dir() else Path(__file__).parent / "samples"
NOW = datetime.datetime(2026, 11, 3, 9, 0, tzinfo=datetime.UTC)
PEER = "backfill.hl7"

# Patients the generated messages name: two known (one also by NHS number), and numbers nobody has.
KNOWN = {"40012345": "9990000018", "40077801": "9990000026"}
UNKNOWN = "49999999"


class _Undo(Exception):
    pass


def _natural(model: Any, row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((k, repr(v)) for k, v in row.items() if k not in ("id", "public_id")))


def _state() -> dict[str, Any]:
    """Every row the two paths may write, with foreign keys as what they name, not as ids."""
    reports = {r.pk: (r.source_system, r.filler_order_number) for r in DiagnosticReport.objects.all()}
    patients = dict(Patient.objects.values_list("pk", "hospital_number"))

    def rows(model: Any, **names: dict[int, Any]) -> list[dict[str, Any]]:
        out = []
        for row in model.objects.values():
            for column, mapping in names.items():
                row[column] = mapping.get(row[column])
            out.append(row)
        return out

    journal = [
        {k: v for k, v in row.items() if k not in ("id", "public_id", "replay_of_id")}
        for row in rows(InboundMessage, patient_id=patients)
    ]
    journal.sort(key=lambda row: (row["received_at"], row["control_id"], row["content_hash"], row["status"]))
    return {
        # The journal keeps the order messages arrived in.
        "journal": [sorted(row.items(), key=lambda item: item[0]) for row in journal],
        **{
            model.__name__: sorted(_natural(model, row) for row in rows(model, **mapping))
            for model, mapping in (
                (DiagnosticReport, {"patient_id": patients}),
                (Observation, {"report_id": reports}),
                (DiagnosticReportVersion, {"report_id": reports}),
                (ReportAction, {"report_id": reports}),
                (CareRelationship, {"patient_id": patients}),
            )
        },
    }


def _one_by_one(raws: list[bytes]) -> dict[str, Any]:
    return _undone(lambda: [message_receive(raw, peer=PEER, source=MessageSource.IMPORT) for raw in raws])


def _batched(raws: list[bytes], sizes: list[int] | None = None, *, stored: bool = False) -> dict[str, Any]:
    def run() -> None:
        position = 0
        chunks = sizes or [len(raws)]
        for size in [*chunks, len(raws)]:
            chunk = raws[position : position + size]
            position += len(chunk)
            if not chunk:
                continue
            messages = [
                InboundMessage(raw=raw, peer=PEER, source=MessageSource.IMPORT, received_at=NOW) for raw in chunk
            ]
            if stored:
                # Stored before they are applied (the "ACK after store" mode): updated in place.
                for message in messages:
                    message.status = MessageStatus.IGNORED
                    message.save()
            messages_apply_in_batch(messages)

    return _undone(run)


def _undone(run: Any) -> dict[str, Any]:
    """Run at the frozen moment, read the state, then undo everything (a savepoint rolled back)."""
    state: dict[str, Any] = {}
    try:
        with time_machine.travel(NOW, tick=False), transaction.atomic():
            run()
            state = _state()
            raise _Undo
    except _Undo:
        pass
    return state


def _assert_same(raws: list[bytes], sizes: list[int] | None = None, *, stored: bool = False) -> dict[str, Any]:
    expected = _one_by_one(raws)
    got = _batched(raws, sizes, stored=stored)
    assert got.keys() == expected.keys()
    for name in expected:
        assert got[name] == expected[name], name
    return expected


@pytest.fixture
def world(db):
    """The patients the samples and generated messages name, a routing to a care team, and a rule per status."""
    for hospital_number, nhs_number in KNOWN.items():
        PatientFactory(hospital_number=hospital_number, nhs_number=nhs_number)
    PatientFactory(hospital_number="40055512", nhs_number="9990000034")
    team = CareTeamFactory()
    ResultRouting.objects.create(match=ResultRoutingMatch.CATEGORY, code="HM", care_team=team)
    ReleaseRule.objects.get_or_create(
        test_code="UE",
        category="",
        defaults={"mode": ReleaseMode.AFTER_WORKING_DAYS, "working_days": 2, "description": "U&E"},
    )


def _sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


ORDER = [
    "oru_r01_micro_prelim.hl7",
    "oru_r01_micro_final.hl7",
    "oru_r01_fbc_final.hl7",
    "oru_r01_ue_final.hl7",
    "oru_r01_ue_corrected.hl7",
    "oru_r01_histology.hl7",
    "adt_a31_address.hl7",
    "siu_s12_video.hl7",
    "mdm_t02_letter.hl7",
    "siu_s15_cancel.hl7",
]


def test_the_sample_messages_leave_the_same_rows(world) -> None:
    raws = [_sample(name) for name in ORDER]
    state = _assert_same(raws)
    assert len(state["journal"]) == len(raws)
    assert state["DiagnosticReport"]


def test_the_sample_messages_out_of_order_and_twice_leave_the_same_rows(world) -> None:
    raws = [_sample(name) for name in reversed(ORDER)] + [_sample(name) for name in ORDER]
    _assert_same(raws, [3, 5])


def test_stored_rows_are_applied_in_place_with_the_same_outcome(world) -> None:
    raws = [_sample(name) for name in ORDER]
    expected = _one_by_one(raws)
    got = _batched(raws, stored=True)
    for name in expected:
        assert got[name] == expected[name], name


def test_bad_messages_wait_in_the_queue_with_their_reason_and_spoil_nothing(world) -> None:
    bad = sorted((SAMPLES / "bad").glob("*.hl7")) if (SAMPLES / "bad").is_dir() else []
    raws = [_sample("oru_r01_fbc_final.hl7"), *(path.read_bytes() for path in bad), _sample("oru_r01_ue_final.hl7")]
    raws.append(oru("C-unknown", UNKNOWN, "", "ORD-X", "F", "202611021000", "5"))
    state = _assert_same(raws)
    statuses = [dict(row)["status"] for row in state["journal"]]
    assert statuses.count(MessageStatus.APPLIED) == 2
    assert MessageStatus.ERROR in statuses


# --- Generated sequences -----------------------------------------------------------------------------------------


def oru(
    control_id: str,
    hospital_number: str,
    nhs_number: str,
    filler: str,
    status: str,
    reported: str,
    value: str,
    *,
    comment: str = "",
    observed: str = "",
    test: str = "FBC^Full blood count^WINPATH",
) -> bytes:
    ids = f"{hospital_number}^^^RRV^MR" + (f"~{nhs_number}^^^NHS^NH" if nhs_number else "")
    segments = [
        f"MSH|^~\\&|WINPATH|RRV_LAB|CAREPORTAL|RRV|{reported}00||ORU^R01|{control_id}|P|2.4",
        f"PID|1||{ids}||TEST^PATIENT||19600101|F",
        f"OBR|1||{filler}|{test}|||202611020800|||||||202611020830|BLD^Blood||||||{reported}||HM|{status}",
        *([f"NTE|1|L|{comment}"] if comment else []),
        f"OBX|1|NM|HB^Haemoglobin^WINPATH||{value}|g/L|115-165|{'H' if value == '199' else 'N'}|||{status}|||"
        f"{observed}",
        f"OBX|2|NM|WBC^White cells^WINPATH||6.{value[-1]}|10*9/L|4.0-11.0|N|||{status}",
    ]
    return ("\r".join(segments) + "\r").encode()


_patients = st.sampled_from([*KNOWN.items(), ("40012345", ""), (UNKNOWN, ""), ("40012345", "9990000026")])
_message = st.builds(
    lambda n, patient, filler, status, hour, value: oru(
        f"C{n}", patient[0], patient[1], f"ORD-{filler}", status, f"2026110{2 + hour // 24}{hour % 24:02d}00", value
    ),
    st.integers(0, 12),  # few control ids: duplicates and reused ids
    _patients,
    st.integers(0, 4),  # few orders: preliminary, final and corrected versions of one report
    st.sampled_from(["P", "F", "C", "F"]),
    st.integers(0, 47),  # report times in any order: out-of-order arrivals
    st.sampled_from(["120", "131", "99"]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raws=st.lists(_message, min_size=1, max_size=14), sizes=st.lists(st.integers(1, 6), max_size=4))
def test_generated_sequences_leave_the_same_rows(world, raws: list[bytes], sizes: list[int]) -> None:
    # Every message also sent again as is, sometimes: a copy of an applied message is a duplicate.
    _assert_same(raws + raws[:2], sizes)


# Report histories: later versions of one report, mostly in order of report time, in the same batch as the first
# version and in later ones. The orders and patients the `history` fixture made beforehand: a released report, a
# held one, a preliminary one, and a final one a clinician has reviewed.
HISTORY_ORDERS = {
    "ORD-0": "40012345",
    "ORD-1": "40012345",
    "ORD-2": "40077801",
    "ORD-REL": "40012345",
    "ORD-HELD": "40077801",
    "ORD-PRE": "40055512",
    "ORD-REV": "40055512",
}


@pytest.fixture
def history(world):
    """Reports stored before the batch: released, held, preliminary (no release time yet) and reviewed."""
    for n, (filler, status) in enumerate([("ORD-REL", "F"), ("ORD-HELD", "F"), ("ORD-PRE", "P"), ("ORD-REV", "F")]):
        raw = oru(f"H{n}", HISTORY_ORDERS[filler], "", filler, status, "202611011000", "131", test="UE^U and E^WINPATH")
        assert b"MSA|AA" in message_receive(raw, peer=PEER, source=MessageSource.IMPORT)
    DiagnosticReport.objects.filter(filler_order_number="ORD-REL").update(released_at=NOW)
    DiagnosticReport.objects.filter(filler_order_number="ORD-HELD").update(held_at=NOW, hold_reason="Call first")
    DiagnosticReport.objects.filter(filler_order_number="ORD-REV").update(reviewed_at=NOW, reviewed_by=UserFactory())


def _histories(steps: list[tuple[str, str, str, str, str, int]]) -> list[bytes]:
    """One message per step (order, status, value, comment, observed time, how many hours late), report times one
    hour apart in the order sent, but for a late step; each order sent for its own patient, but for a few."""
    raws = []
    for n, (filler, status, value, comment, observed, late) in enumerate(steps):
        hour = 10 + n - late
        patient = HISTORY_ORDERS.get(filler, UNKNOWN)
        raws.append(
            oru(
                f"V{n}",
                patient,
                "",
                filler,
                status,
                f"202611{3 + hour // 24:02d}{hour % 24:02d}00",
                value,
                comment=comment,
                observed=observed,
                test="UE^U and E^WINPATH" if filler in ("ORD-REL", "ORD-HELD", "ORD-PRE", "ORD-REV") else "FBC^FBC",
            )
        )
    return raws


_step = st.tuples(
    # Mostly orders of the right patient; "ORD-X" is nobody's known patient (unknown patient, one by one).
    st.sampled_from([*HISTORY_ORDERS, *HISTORY_ORDERS, "ORD-X"]),
    # Final, corrected and preliminary mostly; registered, cancelled and a status CarePortal does not know seldom.
    st.sampled_from(["F", "F", "C", "C", "P", "P", "F", "C", "I", "X", "Z"]),
    st.sampled_from(["120", "131", "199"]),  # 199 is flagged high: is_abnormal changes with it
    st.sampled_from(["", "", "Haemolysed", "Repeat sample"]),
    st.sampled_from(["", "", "202611021000", "202606151000"]),  # summer time: stored in UTC
    st.sampled_from([0, 0, 0, 0, 0, 0, 3, 30]),  # now and then an older version arriving after a newer one
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_step, min_size=2, max_size=12), sizes=st.lists(st.integers(1, 8), max_size=3))
def test_report_histories_leave_the_same_rows(history, steps, sizes: list[int]) -> None:
    raws = _histories(steps)
    _assert_same(raws, sizes)


def test_every_kind_of_later_version_is_applied_in_the_batch_with_the_same_rows(history) -> None:
    """Each kind the batch applies itself, each in the same batch as its first version and across batches; the
    proof that they were batched is that nothing went one by one (bulk on every outcome)."""
    steps = [
        ("ORD-0", "P", "120", "", "", 0),  # new preliminary
        ("ORD-0", "P", "131", "", "", 0),  # preliminary replaced by a preliminary
        ("ORD-0", "F", "131", "", "202606151000", 0),  # preliminary to final: due for release from now
        ("ORD-0", "F", "131", "", "202606151000", 0),  # the same final again: nothing changes
        ("ORD-0", "F", "199", "", "", 0),  # another final with other values: corrected, amended
        ("ORD-0", "C", "199", "Repeat sample", "", 0),  # a correction
        ("ORD-REL", "C", "120", "", "", 0),  # released: stays released, amended
        ("ORD-HELD", "C", "120", "", "", 0),  # held: stays held
        ("ORD-PRE", "F", "131", "", "", 0),  # stored preliminary to final: release time worked out
        ("ORD-REV", "C", "131", "Repeat sample", "", 0),  # reviewed: to be reviewed again
        ("ORD-REL", "F", "120", "", "", 0),  # a final after a correction is still the correction
        ("ORD-1", "F", "120", "", "", 0),
        ("ORD-1", "C", "131", "", "", 0),
    ]
    raws = _histories(steps)
    state = _assert_same(raws, [4, 3])
    got = _batched_outcomes(raws, [4, 3])
    assert all(outcome.bulk for outcome in got), [o.text for o in got]
    # The rules the batch followed, as the one-by-one path does (tests/results/test_ingest.py says why).
    assert len(state["DiagnosticReportVersion"]) == 9  # the same final twice, and a final after its correction: none
    reports = {row["filler_order_number"]: row for row in (dict(fields) for fields in state["DiagnosticReport"])}
    assert reports["'ORD-REL'"]["released_at"] != "None" and reports["'ORD-REL'"]["is_amended"] == "True"
    assert reports["'ORD-HELD'"]["held_at"] != "None" and reports["'ORD-HELD'"]["status"] == "'corrected'"
    assert reports["'ORD-PRE'"]["release_due_at"] != "None"
    assert reports["'ORD-REV'"]["reviewed_at"] == "None"
    assert reports["'ORD-0'"]["version"] == "5"


def _batched_outcomes(raws: list[bytes], sizes: list[int]) -> list[Any]:
    outcomes: list[Any] = []

    def run() -> None:
        position = 0
        for size in [*sizes, len(raws)]:
            chunk = raws[position : position + size]
            position += len(chunk)
            if chunk:
                messages = [
                    InboundMessage(raw=raw, peer=PEER, source=MessageSource.IMPORT, received_at=NOW) for raw in chunk
                ]
                outcomes.extend(messages_apply_in_batch(messages).outcomes)

    _undone(run)
    return outcomes


# --- Queries ------------------------------------------------------------------------------------------------------


def _new_reports(count: int, start: int = 0) -> list[bytes]:
    numbers = list(KNOWN)
    return [
        oru(f"Q{start + n}", numbers[n % 2], "", f"NEW-{start + n}", "F", "202611021000", "120") for n in range(count)
    ]


def _statements(raws: list[bytes]) -> tuple[int, int]:
    """(INSERT statements, other statements) of one batch."""
    messages = [InboundMessage(raw=raw, peer=PEER, source=MessageSource.IMPORT, received_at=NOW) for raw in raws]
    with CaptureQueriesContext(connection) as queries:
        result = messages_apply_in_batch(messages)
    assert result.bulk_applied == len(raws)
    inserts = sum(1 for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("INSERT"))
    return inserts, len(queries.captured_queries) - inserts


def test_a_batch_of_new_reports_costs_the_same_reads_whatever_its_size(world) -> None:
    _, reads_small = _statements(_new_reports(5))
    inserts, reads_large = _statements(_new_reports(60, start=100))
    assert reads_large == reads_small
    # One INSERT per table (journal, reports, values, history, care relationships), which Django splits only where
    # the database takes fewer values in one statement (SQLite: 999): bounded by the rows, not one per message.
    limit = connection.features.max_query_params or 10**9
    bound = 0
    for model, rows in ((InboundMessage, 60), (DiagnosticReport, 60), (Observation, 120), (ReportAction, 60)):
        per_statement = max(1, limit // len(model._meta.concrete_fields))
        bound += -(-rows // per_statement)
    assert inserts <= bound + 1
    assert reads_small <= 12


def _corrections(count: int, start: int) -> tuple[list[bytes], list[bytes]]:
    """Final reports for `count` new orders, and their corrections (other values, a later report time)."""
    numbers = list(KNOWN)
    finals = [
        oru(f"K{start + n}", numbers[n % 2], "", f"COR-{start + n}", "F", "202611021000", "120") for n in range(count)
    ]
    corrections = [
        oru(f"KC{start + n}", numbers[n % 2], "", f"COR-{start + n}", "C", "202611021100", "131") for n in range(count)
    ]
    return finals, corrections


@pytest.mark.parametrize("mixed", [False, True], ids=["corrections", "corrections-after-their-finals"])
def test_a_batch_of_corrections_costs_the_same_statements_whatever_their_number(world, mixed: bool) -> None:
    """K corrections of stored reports (or of reports in the same batch) cost a constant number of statements:
    one read of the reports and one of their values for the whole batch, one UPDATE, one DELETE and one INSERT
    per table, not one set per correction."""
    counts = []
    for count, start in ((2, 0), (12, 100)):
        finals, corrections = _corrections(count, start)
        if mixed:
            inserts, reads = _statements(finals + corrections)
        else:
            _statements(finals)
            inserts, reads = _statements(corrections)
        counts.append((inserts, reads))
    assert counts[0] == counts[1]
    assert DiagnosticReportVersion.objects.count() == 14
    assert DiagnosticReport.objects.filter(is_amended=True).count() == 14


def test_one_by_one_costs_far_more_statements_than_a_batch(world) -> None:
    raws = _new_reports(30, start=500)
    with CaptureQueriesContext(connection) as queries:
        for raw in raws:
            message_receive(raw, peer=LOCAL_PEER, source=MessageSource.IMPORT)
    one_by_one = len(queries.captured_queries)
    inserts, reads = _statements(_new_reports(30, start=900))
    assert (inserts + reads) * 5 < one_by_one
