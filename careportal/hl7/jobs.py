"""The HL7 interface's periodic jobs: every minute, send outbound messages whose retry is due, and apply messages
stored and acknowledged but not applied yet."""

import datetime

from careportal.core.schedule import schedule
from careportal.hl7.tasks import apply_stored_messages, send_outbound_messages

schedule.register("hl7.send_outbound", send_outbound_messages, every=datetime.timedelta(minutes=1))
# The receiving path wakes the workers itself; this catches a wake-up lost (a task queue down for a moment).
schedule.register("hl7.apply_stored", apply_stored_messages, every=datetime.timedelta(minutes=1))
