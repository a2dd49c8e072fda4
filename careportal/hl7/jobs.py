"""The HL7 interface's periodic job: every minute, send outbound messages whose retry is due."""

import datetime

from careportal.core.schedule import schedule
from careportal.hl7.tasks import send_outbound_messages

schedule.register("hl7.send_outbound", send_outbound_messages, every=datetime.timedelta(minutes=1))
