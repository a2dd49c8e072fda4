"""The audit hash chain (careportal/audit/chain.py) and the database's refusal to change the audit tables
(careportal/audit/db_protection.py). Tampering is done in raw SQL, with the triggers dropped first, as someone who
owns the tables could."""

import datetime
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test import override_settings
from django.utils import timezone

from careportal.audit import chain
from careportal.audit.db_protection import uninstall_sql
from careportal.audit.models import AccessEvent, AuditSeal

pytestmark = pytest.mark.django_db

KEY = "k" * 40
LATER = datetime.timedelta(seconds=1)


def _event(patient, label="your test results", **fields):  # type: ignore[no-untyped-def]
    # bulk_create: the model's save() refuses an event that already has an id, as the one with a chosen id has.
    (event,) = AccessEvent.objects.bulk_create(
        [
            AccessEvent(
                actor=patient.user,
                actor_name="Tamsin Jones",
                actor_role="patient",
                patient=patient,
                action="view",
                object_label=label,
                ip_address="203.0.113.7",
                **fields,
            )
        ]
    )
    return event


def _seal(**options):  # type: ignore[no-untyped-def]
    """Seal everything there is: every event is old enough a second from now with no margin."""
    return chain.audit_seal(now=timezone.now() + LATER, margin=datetime.timedelta(0), **options)


def _sql(statement: str, params: list | None = None) -> None:  # type: ignore[type-arg]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _drop_triggers() -> None:
    # Inside the test's transaction, so they come back when it rolls back (DDL is transactional on both databases).
    for statement in uninstall_sql(connection.vendor):
        _sql(statement)


@pytest.fixture
def sealed(patient):  # type: ignore[no-untyped-def]
    """Six events in two seals of three; the last event's id is one more than it would be, so that the sealed range
    has a free id in it (as a rolled-back insert leaves)."""
    events = [_event(patient) for _ in range(5)]
    events.append(_event(patient, id=events[-1].pk + 2))
    seals = _seal(max_events=3)
    assert len(seals) == 2
    return {"events": events, "seals": seals, "patient": patient}


def _verify_output() -> tuple[str, bool]:
    out = io.StringIO()
    try:
        call_command("audit_verify", stdout=out)
    except CommandError:
        return out.getvalue(), False
    return out.getvalue(), True


def test_an_untouched_log_verifies_clean(sealed):
    result = chain.audit_verify()

    assert result.intact, result.problems
    assert (result.events_checked, result.seals_checked) == (6, 2)
    assert result.head_hash == sealed["seals"][-1].hash
    output, ok = _verify_output()
    assert ok
    assert "The audit log is intact" in output


TAMPERING = {
    "change a field": (
        lambda s: _sql("UPDATE audit_accessevent SET object_label = 'your letters' WHERE id = %s", [s["events"][1].pk]),
        lambda s: [("changed", s["events"][1].pk)],
    ),
    "change the time": (
        lambda s: _sql(
            "UPDATE audit_accessevent SET occurred_at = %s WHERE id = %s",
            [s["events"][4].occurred_at - datetime.timedelta(days=3), s["events"][4].pk],
        ),
        lambda s: [("changed", s["events"][4].pk)],
    ),
    "delete a row": (
        lambda s: _sql("DELETE FROM audit_accessevent WHERE id = %s", [s["events"][3].pk]),
        lambda s: [("removed", s["events"][3].pk)],
    ),
    "insert a row into a sealed range": (
        lambda s: _sql(
            "INSERT INTO audit_accessevent (id, occurred_at, actor_name, actor_role, action, object_label, "
            "object_type, object_id, succeeded, request_id, app_name) "
            "VALUES (%s, %s, '', 'system', 'view', 'x', '', '', %s, '', '')",
            [s["events"][4].pk + 1, s["events"][4].occurred_at, True],
        ),
        lambda s: [("added", s["events"][4].pk + 1)],
    ),
    "alter a seal's range": (
        lambda s: _sql(
            "UPDATE audit_auditseal SET last_event_id = last_event_id - 1 WHERE id = %s", [s["seals"][0].pk]
        ),
        lambda s: [("seal_altered", None), ("seal_missing", s["events"][2].pk)],
    ),
    "alter a seal's hash": (
        lambda s: _sql("UPDATE audit_auditseal SET hash = %s WHERE id = %s", ["f" * 64, s["seals"][0].pk]),
        lambda s: [("seal_altered", None), ("seal_link", None)],
    ),
    "remove a seal": (
        lambda s: _sql("DELETE FROM audit_auditseal WHERE id = %s", [s["seals"][0].pk]),
        lambda s: [("seal_link", None), ("seal_missing", s["seals"][0].after_event_id + 1)],
    ),
}


@pytest.mark.parametrize("tampering", TAMPERING)
def test_tampering_is_detected_and_named_by_id_without_patient_data(sealed, tampering):
    tamper, expected = TAMPERING[tampering]
    _drop_triggers()
    tamper(sealed)

    result = chain.audit_verify()

    assert sorted((p.kind, p.event_id) for p in result.problems) == sorted(expected(sealed))
    output, ok = _verify_output()
    assert not ok, "audit_verify must exit non-zero"
    assert "PROBLEM" in output
    patient = sealed["patient"]
    for detail in (patient.given_name, patient.family_name, patient.nhs_number, "Tamsin", "203.0.113.7"):
        assert detail not in output


def test_sealing_is_incremental_and_idempotent(patient):
    first = [_event(patient) for _ in range(3)]
    (seal,) = _seal()
    assert _seal() == []
    later = [_event(patient) for _ in range(2)]

    (next_seal,) = _seal()

    assert (seal.after_event_id, seal.last_event_id, seal.event_count) == (0, first[-1].pk, 3)
    assert (next_seal.after_event_id, next_seal.last_event_id, next_seal.event_count) == (
        first[-1].pk,
        later[-1].pk,
        2,
    )
    assert next_seal.previous_hash == seal.hash
    assert seal.previous_hash == chain.GENESIS_HASH
    assert chain.audit_verify().intact


def test_events_younger_than_the_margin_wait_for_a_later_seal(patient):
    _event(patient)

    assert chain.audit_seal(margin=datetime.timedelta(minutes=1)) == []
    assert len(chain.audit_seal(now=timezone.now() + datetime.timedelta(minutes=2))) == 1


def test_a_sealer_that_read_a_stale_head_cannot_fork_the_chain(patient):
    _event(patient)
    (seal,) = _seal()
    _event(patient)
    _seal()

    with pytest.raises(IntegrityError), transaction.atomic():
        chain.seal_after(seal, up_to=10**12, max_events=100, keyring=chain.Keyring())
    assert AuditSeal.objects.count() == 2


def test_with_a_key_an_owner_who_recomputes_the_seals_is_still_caught(patient):
    events = [_event(patient) for _ in range(2)]
    with override_settings(AUDIT_CHAIN_KEY=KEY):
        (seal,) = _seal()
    assert seal.key_id and KEY not in seal.key_id
    # The forger changes an event and remakes the seal as this code would, without the key.
    _drop_triggers()
    _sql("UPDATE audit_accessevent SET object_label = 'nothing' WHERE id = %s", [events[0].pk])
    _sql("DELETE FROM audit_auditseal")
    _seal()

    with override_settings(AUDIT_CHAIN_KEY=KEY):
        result = chain.audit_verify()
    assert [p.kind for p in result.problems] == ["seal_key"], "the newest seal was made without the key"
    assert chain.audit_verify().intact, "without a key, a recomputed chain cannot be told from the real one"


def test_a_seal_made_with_a_key_that_is_not_configured_cannot_be_checked(patient):
    _event(patient)
    with override_settings(AUDIT_CHAIN_KEY=KEY):
        _seal()
        assert chain.audit_verify().intact

    assert [p.kind for p in chain.audit_verify().problems] == ["seal_key"]
    with override_settings(AUDIT_CHAIN_KEY="n" * 40, AUDIT_CHAIN_OLD_KEYS=[KEY]):
        assert chain.audit_verify().intact, "an old key keeps its seals checkable"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_accessevent SET object_label = 'x'",
        "DELETE FROM audit_accessevent",
        "UPDATE audit_auditseal SET hash = 'x'",
        "DELETE FROM audit_auditseal",
    ],
)
def test_the_database_refuses_to_change_the_audit_tables(sealed, statement):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _sql(statement)


def test_the_database_refuses_to_truncate_the_audit_tables():
    # On empty tables: the statement trigger fires all the same (and rows inserted in this transaction would leave
    # pending foreign-key checks, which PostgreSQL refuses to truncate under for its own reason).
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _sql("TRUNCATE audit_accessevent, audit_auditseal")


def test_the_seal_format_covers_every_field_of_an_event():
    fields = {f.attname for f in AccessEvent._meta.concrete_fields}
    assert set(chain.EVENT_FIELDS[chain.SEAL_FORMAT]) == fields, (
        "AccessEvent's fields changed: add a new seal format in careportal/audit/chain.py (keep the old one)"
    )


def test_the_sealing_job_is_scheduled():
    from careportal.core.schedule import schedule

    schedule.autodiscover()
    assert "audit.seal" in {job.name for job in schedule.jobs()}
