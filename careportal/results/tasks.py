"""Background tasks for test results."""

from django_tasks import task

from careportal.results.release_job import results_release_due


@task()
def release_due_results() -> int:
    """Release every report now due (see careportal/results/release_job.py). Safe on several workers at once."""
    return results_release_due()
