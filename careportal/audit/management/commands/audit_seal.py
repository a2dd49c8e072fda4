import datetime

from django.core.management.base import BaseCommand, CommandParser

from careportal.audit.chain import audit_seal


class Command(BaseCommand):
    help = "Seal the access events not sealed yet into the audit hash chain (the scheduler's job `audit.seal` does it "
    "every minute)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--margin-seconds",
            type=int,
            default=None,
            help="Seal only events at least this old (default AUDIT_SEAL_MARGIN_SECONDS).",
        )
        parser.add_argument("--database", default="default")

    def handle(self, *args: object, **options: object) -> None:
        margin = options["margin_seconds"]
        seals = audit_seal(
            margin=None if margin is None else datetime.timedelta(seconds=int(margin)),  # type: ignore[call-overload]
            using=str(options["database"]),
        )
        if not seals:
            self.stdout.write("Nothing to seal: every settled access event is already sealed.")
            return
        events = sum(seal.event_count for seal in seals)
        head = seals[-1]
        self.stdout.write(
            f"Sealed {events} access events in {len(seals)} seals, up to event {head.last_event_id}. "
            f"The chain's head is seal {head.pk}, hash {head.hash}."
        )
