"""The platform's periodic jobs (careportal.core.jobs)."""

import datetime

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from careportal.core.jobs import prune_finished_task_results

pytestmark = pytest.mark.django_db


def task_result(*, status: str, finished_days_ago: float | None) -> DBTaskResult:
    now = timezone.now()
    finished_at = None if finished_days_ago is None else now - datetime.timedelta(days=finished_days_ago)
    return DBTaskResult.objects.create(
        args_kwargs={"args": [], "kwargs": {}},
        task_path="tests.core.sample_tasks.record",
        backend_name="default",
        run_after=now,
        status=status,
        finished_at=finished_at,
    )


def test_prune_deletes_finished_results_older_than_the_retention_only(settings):
    settings.CAREPORTAL_TASK_RESULT_RETENTION_DAYS = 14
    old_success = task_result(status="SUCCESSFUL", finished_days_ago=15)
    old_failure = task_result(status="FAILED", finished_days_ago=30)
    recent = task_result(status="SUCCESSFUL", finished_days_ago=13)
    waiting = task_result(status="READY", finished_days_ago=None)
    running = task_result(status="RUNNING", finished_days_ago=None)

    deleted = prune_finished_task_results.call()

    assert deleted == 2
    remaining = set(DBTaskResult.objects.values_list("pk", flat=True))
    assert remaining == {recent.pk, waiting.pk, running.pk}
    assert old_success.pk not in remaining
    assert old_failure.pk not in remaining


def test_prune_takes_an_explicit_age():
    task_result(status="SUCCESSFUL", finished_days_ago=2)
    assert prune_finished_task_results.call(min_age_days=3) == 0
    assert prune_finished_task_results.call(min_age_days=1) == 1
