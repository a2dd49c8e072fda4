from typing import Any

from django.db import models


class QueueIdField(models.BigAutoField):
    """The primary key of a queue table, whose rows are deleted once taken (careportal.hl7.models.InboundArrival).

    On SQLite a plain rowid ("integer PRIMARY KEY", without Django's AUTOINCREMENT), which spares every INSERT an
    update of the sqlite_sequence table: about a tenth of a small row's INSERT, measured in bench/bench_mllp.py's
    setting. SQLite may then give a deleted row's id again, but only once no row with a higher id remains, so the
    ids of the rows present still rise in the order they were inserted, which is all a queue needs. PostgreSQL's
    identity column is unchanged."""

    def db_type_suffix(self, connection: Any) -> str | None:
        if connection.vendor == "sqlite":
            return None
        return super().db_type_suffix(connection)


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


class CalendarChange(models.TextChoices):
    CLOSED = "closed", "Closed: not a working day"
    OPEN = "open", "Open: a working day, although it is a bank holiday"


class BankHoliday(models.Model):
    """The trust's own change to the national calendar on one day (careportal.core.working_days), administered at
    /staff/results/bank-holidays/: a local closure (a weekday that is not a working day, such as an extra bank
    holiday announced for an event) or an opening (a national bank holiday the trust counts as a working day). The
    national bank holidays themselves are computed for any year, never stored."""

    date = models.DateField(unique=True)
    name = models.CharField(max_length=100)
    change = models.CharField(max_length=10, choices=CalendarChange.choices, default=CalendarChange.CLOSED)

    class Meta:
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.name} ({self.date:%d %B %Y})"
