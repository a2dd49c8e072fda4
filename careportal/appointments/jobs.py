"""Periodic jobs for appointments (registered with careportal.core.schedule)."""

import datetime

from careportal.appointments.tasks import retry_due_meetings, send_due_reminders
from careportal.core.schedule import schedule

# A reminder is due 7 (or 1) days before the start: every 15 minutes means it goes out within a quarter of an hour
# of that moment, and a run that finds nothing costs one index lookup per reminder offset.
REMINDERS_EVERY = datetime.timedelta(minutes=15)
MEETINGS_EVERY = datetime.timedelta(minutes=2)

schedule.register("appointments.send_reminders", send_due_reminders, every=REMINDERS_EVERY)
schedule.register("appointments.retry_meetings", retry_due_meetings, every=MEETINGS_EVERY)
