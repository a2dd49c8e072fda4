"""Periodic jobs for the fhir app (registered with careportal.core.schedule)."""

import datetime

from careportal.core.schedule import schedule
from careportal.fhir.export_tasks import record_exports_housekeeping

# Copies of records are deleted within the hour after their 7 days end.
schedule.register("fhir.record_exports", record_exports_housekeeping, every=datetime.timedelta(hours=1))
