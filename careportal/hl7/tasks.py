"""Background work for the HL7 interface: sending queued messages to the PAS (careportal/hl7/outbound.py), and
applying messages acknowledged as soon as they were stored (careportal/hl7/stored_services.py)."""

from django.conf import settings
from django_tasks import task

from careportal.hl7.outbound import outbound_send_due


@task(queue_name="hl7")
def send_outbound_messages() -> dict[str, int]:
    """Send every outbound message that is due. Enqueued after each change is committed, and every minute by the
    scheduler (careportal/hl7/jobs.py) for retries and for messages whose task was lost."""
    report = outbound_send_due()
    return {"sent": report.sent, "retrying": report.retrying, "failed": report.failed}


@task(queue_name="hl7")
def apply_stored_messages() -> dict[str, int]:
    """Apply the messages stored and acknowledged by interfaces that acknowledge after store
    (careportal/hl7/stored_services.py), batch after batch, for at most HL7_STORED_TASK_SECONDS; enqueued again if
    some are still waiting then, so that one run never holds a worker for long. Enqueued by the receiving path (at
    most once every HL7_STORED_WAKE_SECONDS per process) and every minute by the scheduler."""
    from careportal.hl7.stored_services import stored_apply_pending

    report = stored_apply_pending(max_seconds=settings.HL7_STORED_TASK_SECONDS)
    if report.more:
        apply_stored_messages.enqueue()
    result = report.result
    return {
        "applied": result.applied,
        "duplicates": result.duplicates,
        "waiting": result.waiting,
        "batches": report.batches,
    }
