"""careportal/core/migration_operations.py: DropForeignKeyIndex drops a foreign key's own index and keeps the key."""

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from careportal.core.migration_operations import DropForeignKeyIndex

BEFORE = ("results", "0004_inbox_order_indexes")
AFTER = ("results", "0005_partial_user_indexes")


def _report_constraints() -> dict:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, "results_diagnosticreport")


def _single_column_indexes(column: str) -> list[str]:
    return [
        name
        for name, info in _report_constraints().items()
        if info["index"] and info["columns"] == [column] and not info["unique"] and not info["primary_key"]
    ]


def _has_foreign_key(column: str) -> bool:
    return any(info["foreign_key"] and info["columns"] == [column] for info in _report_constraints().values())


@pytest.mark.django_db(transaction=True)
def test_the_reports_foreign_keys_keep_their_constraint_and_lose_their_own_index_and_back_again():
    migration = MigrationLoader(connection).get_migration(*AFTER)
    drops = [op for op in migration.operations if isinstance(op, DropForeignKeyIndex)]
    assert {op.name for op in drops} >= {"patient", "care_team", "released_by"}
    loader = MigrationLoader(connection)
    before, after = loader.project_state(BEFORE), loader.project_state(AFTER)

    # As migrated: no index of the column's own; the patient's column is still the first of report_patient_idx, and
    # the people's columns have only their partial index.
    assert _single_column_indexes("patient_id") == []
    assert _single_column_indexes("released_by_id") == ["report_released_by_idx"]
    assert all(_has_foreign_key(column) for column in ("patient_id", "care_team_id", "released_by_id"))

    patient_drop = next(op for op in drops if op.name == "patient")
    with connection.schema_editor() as editor:
        patient_drop.database_backwards("results", editor, after, before)
    assert len(_single_column_indexes("patient_id")) == 1  # the index Django made with the column, by its name
    with connection.schema_editor() as editor:
        patient_drop.database_forwards("results", editor, before, after)
    assert _single_column_indexes("patient_id") == []
    assert _has_foreign_key("patient_id")
