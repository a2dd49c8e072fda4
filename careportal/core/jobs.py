"""The platform's periodic jobs (registered with careportal.core.schedule)."""

import datetime

import structlog
from django.conf import settings
from django.utils import timezone
from django_tasks import task
from django_tasks_db.models import DBTaskResult

from careportal.core.schedule import schedule

logger = structlog.get_logger(__name__)


@task()
def prune_finished_task_results(min_age_days: int | None = None) -> int:
    """Delete task results that finished (successfully or not) more than `min_age_days` days ago.

    The same query as django_tasks_db's `prune_db_task_results` command, which cannot be called from a task while
    another backend (the tests' immediate one) is the default. Queued and running tasks are never touched.
    """
    if min_age_days is None:
        min_age_days = settings.CAREPORTAL_TASK_RESULT_RETENTION_DAYS
    cutoff = timezone.now() - datetime.timedelta(days=min_age_days)
    deleted, _ = DBTaskResult.objects.finished().filter(finished_at__lte=cutoff).delete()
    logger.info("task_results_pruned", deleted=deleted, min_age_days=min_age_days)
    return deleted


# At 03:15, clear of the midnight jobs and of the 01:00-02:00 hour that the clock changes skip or repeat.
schedule.register("core.prune_task_results", prune_finished_task_results, daily_at=datetime.time(3, 15))
