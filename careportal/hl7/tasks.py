"""Background work for the HL7 interface: sending queued messages to the PAS (careportal/hl7/outbound.py)."""

from django_tasks import task

from careportal.hl7.outbound import outbound_send_due


@task(queue_name="hl7")
def send_outbound_messages() -> dict[str, int]:
    """Send every outbound message that is due. Enqueued after each change is committed, and every minute by the
    scheduler (careportal/hl7/jobs.py) for retries and for messages whose task was lost."""
    report = outbound_send_due()
    return {"sent": report.sent, "retrying": report.retrying, "failed": report.failed}
