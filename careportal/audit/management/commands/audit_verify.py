from django.core.management.base import BaseCommand, CommandError, CommandParser

from careportal.audit.chain import audit_verify


class Command(BaseCommand):
    help = "Check the audit hash chain: report every access event changed, removed or added into a sealed range, and "
    "every seal altered or missing. Exits with status 1 if anything is wrong. Prints ids only, never patient data."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default="default")

    def handle(self, *args: object, **options: object) -> None:
        result = audit_verify(using=str(options["database"]))
        self.stdout.write(
            f"Checked {result.events_checked} access events and {result.seals_checked} seals. "
            f"Sealed: events up to {result.sealed_up_to}; not sealed yet: {result.unsealed_events} newer events."
        )
        self.stdout.write(f"Head of the chain: {result.head_hash}")
        for problem in result.problems:
            self.stdout.write(f"PROBLEM {problem.text}")
        if not result.intact:
            raise CommandError(
                f"The audit log is NOT intact: {len(result.problems)} problems (listed above).", returncode=1
            )
        self.stdout.write("The audit log is intact: every sealed event is exactly as it was sealed.")
