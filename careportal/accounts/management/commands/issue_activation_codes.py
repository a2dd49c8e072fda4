"""Issue activation codes for the letter-printing job (docs/identity.md, "Activation").

    manage.py issue_activation_codes --hospital-number 40077801 [--hospital-number ...] [--output letters.csv]

Each code is shown once: printed, or written with the patient's name and address to a new CSV file (readable by its
owner only) for the letters. Only a keyed hash is stored, so a lost letter means a new code, never a reprint. Any
earlier unused code of the same patient stops working. Every code issued is recorded in the patient's access log
("CarePortal added your account activation code"); the code itself is never logged.

All or nothing: when a hospital number is unknown or belongs to a patient who already has an account, no code is
issued at all.
"""

import csv
import os
from typing import Any

import structlog
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from careportal.accounts.activation_services import IssuedCode, activation_code_issue_for_letter
from careportal.patients.models import Patient

logger = structlog.get_logger(__name__)

CSV_COLUMNS = [
    "hospital_number",
    "given_name",
    "family_name",
    "address_line_1",
    "address_line_2",
    "town",
    "postcode",
    "activation_code",
    "expires_on",
]


class Command(BaseCommand):
    help = "Issue single-use activation codes for patients' letters, and print them or write them to a CSV file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--hospital-number",
            action="append",
            required=True,
            dest="hospital_numbers",
            metavar="N",
            help="The patient's hospital number (MRN). Repeat it for several patients.",
        )
        parser.add_argument(
            "--output",
            metavar="FILE",
            help="Write a CSV for the letters to FILE (a new file: an existing one is never overwritten) "
            "instead of printing the codes.",
        )

    def handle(self, *args: Any, hospital_numbers: list[str], output: str | None = None, **options: Any) -> None:
        numbers = list(dict.fromkeys(number.strip() for number in hospital_numbers if number.strip()))
        if not numbers:
            raise CommandError("Give at least one hospital number")
        patients = {patient.hospital_number: patient for patient in Patient.objects.filter(hospital_number__in=numbers)}
        unknown = [number for number in numbers if number not in patients]
        if unknown:
            raise CommandError(f"No patient has hospital number {', '.join(unknown)}. No codes were issued.")
        active = [number for number in numbers if patients[number].user_id is not None]
        if active:
            raise CommandError(
                f"These patients already have an account: {', '.join(active)}. No codes were issued. "
                "A patient who cannot sign in needs the forgotten username or password pages, or the helpdesk."
            )

        if output:
            issued = self._issue_to_file([patients[number] for number in numbers], output)
            self.stderr.write(f"Issued {len(issued)} activation code(s); wrote them to {output}.")
        else:
            with transaction.atomic():
                issued = [activation_code_issue_for_letter(patient=patients[number]) for number in numbers]
            for item in issued:
                self.stdout.write(f"{item.patient.hospital_number}\t{item.code}\texpires {self._expiry(item)}")
        logger.info("activation_codes_issued", count=len(issued))

    def _issue_to_file(self, patients: list[Patient], output: str) -> list[IssuedCode]:
        try:
            descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(f"{output} already exists. No codes were issued.") from None
        try:
            with os.fdopen(descriptor, "w", newline="", encoding="utf-8") as file, transaction.atomic():
                writer = csv.writer(file)
                writer.writerow(CSV_COLUMNS)
                issued = []
                for patient in patients:
                    item = activation_code_issue_for_letter(patient=patient)
                    writer.writerow(
                        [
                            patient.hospital_number,
                            patient.given_name,
                            patient.family_name,
                            patient.address_line_1,
                            patient.address_line_2,
                            patient.town,
                            patient.postcode,
                            item.code,
                            self._expiry(item),
                        ]
                    )
                    issued.append(item)
                # On disk before the codes are committed: a file that cannot be written issues nothing.
                file.flush()
                os.fsync(file.fileno())
        except BaseException:
            os.unlink(output)
            raise
        return issued

    @staticmethod
    def _expiry(item: IssuedCode) -> str:
        return timezone.localtime(item.expires_at).date().isoformat()
