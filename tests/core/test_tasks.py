"""enqueue_on_commit: work is queued only for a transaction that commits, with the immediate and database backends."""

import pytest
from django.db import connection, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django_tasks_db.models import DBTaskResult

from careportal.core.tasks import enqueue_on_commit
from tests.core import sample_tasks
from tests.core.sample_tasks import CALLS

pytestmark = pytest.mark.django_db(transaction=True)


class Rollback(Exception):
    pass


def test_task_runs_only_once_the_transaction_commits():
    with transaction.atomic():
        enqueue_on_commit(sample_tasks.record, "after commit")
        assert CALLS == []
    assert CALLS == ["after commit"]


def test_rolled_back_transaction_enqueues_nothing():
    with pytest.raises(Rollback), transaction.atomic():
        enqueue_on_commit(sample_tasks.record, "rolled back")
        raise Rollback
    assert CALLS == []


def test_rolled_back_savepoint_drops_only_its_own_tasks():
    with transaction.atomic():
        enqueue_on_commit(sample_tasks.record, "outer")
        with pytest.raises(Rollback), transaction.atomic():
            enqueue_on_commit(sample_tasks.record, "inner, rolled back")
            raise Rollback
    assert CALLS == ["outer"]


def test_outside_a_transaction_the_task_is_enqueued_at_once():
    enqueue_on_commit(sample_tasks.record, "no transaction")
    assert CALLS == ["no transaction"]


def test_database_backend_stores_the_task_only_after_commit_and_the_worker_runs_it(
    database_task_backend, run_db_worker
):
    with transaction.atomic():
        enqueue_on_commit(sample_tasks.record, "stored after commit")
        assert not DBTaskResult.objects.exists()
    stored = DBTaskResult.objects.get()
    assert stored.status == "READY"
    assert stored.task_path == "tests.core.sample_tasks.record"
    assert CALLS == []

    run_db_worker()

    assert CALLS == ["stored after commit"]
    stored.refresh_from_db()
    assert stored.status == "SUCCESSFUL"
    assert stored.return_value == "stored after commit"


def test_database_backend_stores_nothing_for_a_rolled_back_transaction(database_task_backend, run_db_worker):
    with pytest.raises(Rollback), transaction.atomic():
        enqueue_on_commit(sample_tasks.record, "rolled back")
        raise Rollback
    assert not DBTaskResult.objects.exists()
    run_db_worker()
    assert CALLS == []


def test_task_queue_tables_are_migrated_in_the_test_database():
    label = DBTaskResult._meta.app_label  # "django_tasks_database", the label of the django_tasks_db app
    loader = MigrationLoader(connection)
    latest = {key for key in loader.graph.leaf_nodes() if key[0] == label}
    applied = set(MigrationRecorder(connection).applied_migrations())
    assert latest
    assert latest <= applied
    assert DBTaskResult.objects.count() == 0
