"""Background tasks for appointments."""

from django_tasks import task

from careportal.appointments.services import (
    appointment_meeting_sync,
    appointment_reminders_send_due,
    meetings_due_sync,
)


@task()
def sync_meeting(appointment_id: int) -> str:
    """Create, move or cancel one appointment's video meeting with the provider (enqueued after commit)."""
    return appointment_meeting_sync(appointment_id=appointment_id)


@task()
def send_due_reminders() -> int:
    """Send every appointment reminder now due, once. Safe on several workers at once."""
    return appointment_reminders_send_due()


@task()
def retry_due_meetings() -> int:
    """Try again the video meetings that failed, or whose task was lost."""
    return meetings_due_sync()
