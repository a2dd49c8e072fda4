"""`manage.py letters_import`: add letters from PDF files, for a trust without an MDM feed or to load a backlog.

    manage.py letters_import --hospital-number 40012345 --team Haematology --type "Clinic letter" \\
        --date 2026-11-06 [--author "Dr C Okafor"] [--document-id EDM-123] letter.pdf [more.pdf ...]

Each file goes through the same checks and service as a letter sent over HL7 (careportal/letters/ingest.py), in a
transaction of its own: a file that is refused leaves nothing behind, and the others are still imported. A file is
identified by --document-id (one file only) or else by its content, so importing the same file twice adds it once.

Exit codes: 0 when every file was imported or was there already; 1 when at least one file was refused; 2 when the
arguments are wrong (no such patient or team, a bad date), in which case nothing is imported.
"""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from careportal.core.schedule import LONDON
from careportal.letters.ingest import LetterConflict, LetterData, letter_apply
from careportal.letters.models import LetterSource
from careportal.letters.pdf import DocumentRejected
from careportal.patients.models import CareTeam, Patient
from careportal.patients.services import patient_surviving

IMPORT_SYSTEM = "IMPORT"


class Command(BaseCommand):
    help = "Import letters (PDF files) for one patient, checked and stored as letters sent over HL7 are."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE.pdf", help="The letters, as PDF files.")
        parser.add_argument("--hospital-number", required=True, help="The patient's hospital number (MRN).")
        parser.add_argument("--team", required=True, help="The care team that wrote the letters, by name.")
        parser.add_argument("--type", default="Clinic letter", help='What the letters are (default "Clinic letter").')
        parser.add_argument("--date", required=True, help="The date the letters were written, as YYYY-MM-DD.")
        parser.add_argument("--author", default="", help='Who wrote them, as shown to the patient ("Dr C Okafor").')
        parser.add_argument(
            "--document-id", default="", help="The document system's id for the letter (one file only)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        files = [Path(name) for name in options["files"]]
        patient = self._patient(options["hospital_number"])
        team = self._team(options["team"])
        letter_date = self._date(options["date"])
        document_type = options["type"].strip()
        if not document_type:
            raise CommandError("--type must not be empty", returncode=2)
        if options["document_id"] and len(files) != 1:
            raise CommandError("--document-id names one letter: give exactly one file with it", returncode=2)

        counts = {"imported": 0, "replaced": 0, "already there": 0, "refused": 0}
        for path in files:
            outcome, problem = self._import_one(
                path,
                patient=patient,
                team=team,
                document_type=document_type,
                letter_date=letter_date,
                author=options["author"].strip(),
                document_id=options["document_id"].strip(),
            )
            if problem:
                counts["refused"] += 1
                self.stderr.write(f"{path.name}: not imported: {problem}")
            elif outcome == "arrived":
                counts["imported"] += 1
                self.stdout.write(f"{path.name}: imported")
            elif outcome == "replaced":
                counts["replaced"] += 1
                self.stdout.write(f"{path.name}: imported as a new version of the letter with this document id")
            else:
                counts["already there"] += 1
                self.stdout.write(f"{path.name}: already imported; nothing changed")
        summary = ", ".join(f"{count} {label}" for label, count in counts.items() if count)
        if counts["refused"]:
            self.stderr.write(f"Letters: {summary}.")
            raise CommandError("Some letters were not imported (see above)", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"Letters: {summary}."))

    def _import_one(self, path: Path, **fields: Any) -> tuple[str, str]:
        try:
            if not path.is_file():
                return "", "no such file"
            if path.stat().st_size > settings.LETTER_MAX_BYTES:
                return "", f"the document is larger than {settings.LETTER_MAX_BYTES // 1024} KB"
            content = path.read_bytes()
        except OSError as exc:
            return "", f"the file cannot be read ({exc.strerror or 'error'})"
        now = timezone.now()
        data = LetterData(
            source=LetterSource.IMPORT,
            source_system=IMPORT_SYSTEM,
            document_id=fields["document_id"] or f"sha256:{hashlib.sha256(content).hexdigest()[:64]}",
            document_type=fields["document_type"],
            letter_date=fields["letter_date"],
            version_at=now,
            content=content,
            author=fields["author"],
            care_team_id=fields["team"].pk,
        )
        try:
            with transaction.atomic():
                outcome = letter_apply(patient=fields["patient"], data=data, received_at=now)
        except DocumentRejected as exc:
            return "", exc.reason
        except LetterConflict as exc:
            return "", str(exc)
        return outcome.outcome, ""

    def _patient(self, hospital_number: str) -> Patient:
        patient = Patient.objects.filter(hospital_number=hospital_number.strip()).first()
        if patient is None:
            raise CommandError("No patient has this hospital number", returncode=2)
        return patient_surviving(patient)

    def _team(self, name: str) -> CareTeam:
        team = CareTeam.objects.filter(name__iexact=name.strip(), is_active=True).first()
        if team is None:
            names = ", ".join(CareTeam.objects.filter(is_active=True).values_list("name", flat=True)) or "none"
            raise CommandError(f"No active care team has this name. Care teams: {names}", returncode=2)
        return team

    def _date(self, text: str) -> datetime.datetime:
        try:
            day = datetime.date.fromisoformat(text.strip())
        except ValueError:
            raise CommandError("--date must be a date written as YYYY-MM-DD, like 2026-11-06", returncode=2) from None
        if day > timezone.now().astimezone(LONDON).date():
            raise CommandError("--date must not be in the future", returncode=2)
        # Midday London time: the date reads the same in every time zone the portal may show it in.
        return datetime.datetime.combine(day, datetime.time(12, 0), tzinfo=LONDON)
