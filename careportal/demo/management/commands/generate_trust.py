import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from careportal.demo.synthetic import SYNTHETIC_PASSWORD, GenerateRefused, generate_check, trust_generate


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def _non_negative_float(value: str) -> float:
    number = float(value)
    if not number >= 0 or number == float("inf"):
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Fill a test database with a synthetic trust: patients (NHS numbers from the 999 test range), lab results "
        "over five years, appointments, letters, messages, proxies and access-log entries, written in bulk. "
        "Development and test databases only; see docs/data-at-scale.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--patients", type=_positive_int, required=True, help="How many patients to add.")
        parser.add_argument("--seed", type=int, default=1, help="The same seed makes the same trust (default 1).")
        parser.add_argument(
            "--observations-per-patient",
            type=_non_negative_float,
            default=20,
            help="The average number of result values per patient (default 20).",
        )
        parser.add_argument(
            "--batch-size", type=_positive_int, default=5000, help="Patients made and written at a time (default 5000)."
        )
        parser.add_argument(
            "--letter-files",
            action="store_true",
            help="Write each letter's PDF too (one small file per letter), so that letters can be opened.",
        )
        parser.add_argument(
            "--i-know-this-is-not-production",
            action="store_true",
            dest="not_production",
            help="Needed when DEBUG is off: this database is for testing only.",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Add to a database that already holds patients who are neither synthetic nor demo patients.",
        )

    def handle(self, *args: object, **options: object) -> None:
        patients = int(options["patients"])  # type: ignore[call-overload]
        try:
            generate_check(not_production=bool(options["not_production"]), force=bool(options["force"]))
        except GenerateRefused as refusal:
            raise CommandError(str(refusal)) from None
        started = time.perf_counter()
        show = int(options["verbosity"]) > 0  # type: ignore[call-overload]
        with tqdm(total=patients, unit=" patients", disable=not show, file=self.stderr, smoothing=0.1) as bar:
            result = trust_generate(
                patients=patients,
                seed=int(options["seed"]),  # type: ignore[call-overload]
                observations_per_patient=float(options["observations_per_patient"]),  # type: ignore[arg-type]
                batch_size=int(options["batch_size"]),  # type: ignore[call-overload]
                progress=bar.update,
                letter_files=bool(options["letter_files"]),
            )
        seconds = time.perf_counter() - started
        if not show:
            return
        for table, count in sorted(result.rows.items()):
            self.stdout.write(f"  {table}: {count:,}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Added {result.patients:,} synthetic patients ({result.total_rows:,} rows) in {seconds:,.1f} s, "
                f"{result.total_rows / seconds:,.0f} rows/s."
            )
        )
        if result.without_nhs_number:
            self.stdout.write(
                f"{result.without_nhs_number:,} patients have no NHS number: the 999 test range has about 909,000 "
                "valid numbers."
            )
        self.stdout.write(
            f"Synthetic accounts (usernames syn.<hospital number>) share the password {SYNTHETIC_PASSWORD}."
        )
