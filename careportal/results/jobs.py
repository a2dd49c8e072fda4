"""Periodic jobs for test results (registered with careportal.core.schedule)."""

import datetime

from careportal.core.schedule import schedule
from careportal.results.tasks import release_due_results

# Reports fall due at 07:00 (or at once, for "release at once" rules): every 5 minutes means a patient hears within
# minutes, and a run that finds nothing due costs one index lookup.
RELEASE_EVERY = datetime.timedelta(minutes=5)

schedule.register("results.release_due", release_due_results, every=RELEASE_EVERY)
