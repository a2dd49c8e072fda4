"""Periodic jobs for the audit log (registered with careportal.core.schedule)."""

import datetime

from careportal.audit.tasks import seal_access_events
from careportal.core.schedule import schedule

# Every minute: a run with nothing to seal costs two small queries, and the chain then trails the log by about the
# sealing margin (AUDIT_SEAL_MARGIN_SECONDS) plus a minute.
schedule.register("audit.seal", seal_access_events, every=datetime.timedelta(minutes=1))
