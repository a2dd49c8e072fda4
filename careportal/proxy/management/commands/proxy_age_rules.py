"""`manage.py proxy_age_rules [--date YYYY-MM-DD]`: apply the proxy age rules and end dates once, as the scheduler
does every night just after midnight (docs/proxy-age-rules.md).

Without --date it runs for today (London). With --date it runs as if that day were today: to catch up after the
scheduler was down (run it for today: the notices and changes that were missed are made, once), or in a test
environment. It is safe to run again: nothing is done or sent twice.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from careportal.proxy.age_rules import london_today, proxy_age_rules_apply


class Command(BaseCommand):
    help = "Apply the proxy age rules (parents' access at 16 and 18) and end dates once, for today or a given date."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", default="", help="The day to run for, as YYYY-MM-DD (default: today, London).")

    def handle(self, *args: Any, **options: Any) -> None:
        day = london_today()
        if options["date"]:
            try:
                day = datetime.date.fromisoformat(options["date"])
            except ValueError as exc:
                raise CommandError("--date must be a date written as YYYY-MM-DD, for example 2031-05-03") from exc
        outcome = proxy_age_rules_apply(today=day)
        self.stdout.write(
            f"Proxy age rules for {day.isoformat()}: {outcome.narrowed} narrowed, {outcome.ended} ended at the age "
            f"limit, {outcome.expired} past their end date, {outcome.notices} notices ({outcome.emails} emails)."
        )
        if outcome.skipped_batches:
            self.stderr.write(
                f"{outcome.skipped_batches} batch(es) were being handled by another run at the same time: run the "
                "command again to be sure they are done."
            )
