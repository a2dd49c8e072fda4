"""Periodic jobs for letters (registered with careportal.core.schedule)."""

import datetime

from careportal.core.schedule import schedule
from careportal.letters.tasks import freeze_print_list, letters_housekeeping

# The print room starts its day at 08:00: the list of letters to post is made at 07:00 (London time), from every
# letter to post that arrived since yesterday's. Letters arriving later go on tomorrow's list.
PRINT_LIST_AT = datetime.time(7, 0)

schedule.register("letters.print_list", freeze_print_list, daily_at=PRINT_LIST_AT)
schedule.register("letters.housekeeping", letters_housekeeping, every=datetime.timedelta(hours=1))
