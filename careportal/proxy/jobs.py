"""Periodic jobs for proxy access (registered with careportal.core.schedule)."""

import datetime

from careportal.core.schedule import schedule
from careportal.proxy.tasks import apply_proxy_age_rules

# Just after midnight London time, so that a parent's access narrows or ends in the record (and both sides are told)
# on the birthday itself; the access layer already applies the change from midnight on every request. Clear of the
# 01:00-02:00 hour that the clock changes skip or repeat.
AGE_RULES_AT = datetime.time(0, 5)

schedule.register("proxy.age_rules", apply_proxy_age_rules, daily_at=AGE_RULES_AT)
