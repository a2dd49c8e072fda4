"""Background tasks for "download my record"."""

from django_tasks import task

from careportal.fhir.export_services import record_export_build, record_exports_expire, record_exports_fail_stalled


@task()
def build_record_export(*, export_id: int) -> str:
    """Make a copy of a record (its page shows the progress)."""
    return record_export_build(export_id=export_id)


@task()
def record_exports_housekeeping() -> dict[str, int]:
    """Delete the files of copies past their 7 days, and fail copies whose worker stopped."""
    return {"expired": record_exports_expire(), "failed": record_exports_fail_stalled()}
