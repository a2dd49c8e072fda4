"""Background tasks for letters."""

from django_tasks import task

from careportal.letters.services import (
    print_export_build,
    print_exports_expire,
    print_exports_fail_stalled,
    print_list_freeze,
)
from careportal.letters.storage import letters_sweep_incoming


@task()
def build_print_export(*, export_id: int) -> str:
    """Make a large print-room export (its page shows the progress)."""
    return print_export_build(export_id=export_id)


@task()
def freeze_print_list() -> int:
    """Make today's list of letters to post."""
    return print_list_freeze()


@task()
def letters_housekeeping() -> dict[str, int]:
    """Place or delete letter files that transactions left staged, give up on exports whose worker stopped, and
    delete old print-room exports."""
    counts = letters_sweep_incoming()
    counts["exports_failed"] = print_exports_fail_stalled()
    counts["exports_deleted"] = print_exports_expire()
    return counts
