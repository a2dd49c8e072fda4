from django.db import models


class ScheduledJobRun(models.Model):
    """When the scheduler last enqueued each periodic job (careportal.core.schedule).

    Kept in the database so that a restarted scheduler neither repeats a daily job it already enqueued nor forgets
    one it missed while it was down. One row per job name; the scheduler creates it the first time it sees the job.
    """

    name = models.CharField(max_length=100, unique=True)
    last_enqueued_at = models.DateTimeField(null=True, blank=True)
    last_task_result_id = models.CharField(
        max_length=64, blank=True, help_text="The id of the task result last enqueued, to follow it up."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BankHoliday(models.Model):
    """A day that is not a working day although it is a weekday. Administered at /staff/results/bank-holidays/;
    the England and Wales holidays for 2026 and 2027 are loaded by the migration that creates the table."""

    date = models.DateField(unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.name} ({self.date:%d %B %Y})"
