"""Storing a letter that arrived: from the document system over HL7 (careportal/hl7/handlers/mdm.py) or from an
operator's import (management/commands/letters_import.py). Both read their input into the plain LetterData below;
everything here is about letters, not HL7. The rules, in one place:

- a letter is identified by its sending system and the document system's id (TXA-12), unique per sender;
- its content must be a PDF, checked and cleaned by careportal/letters/pdf.py before anything is written;
- a new letter goes to the care team that wrote it (named by the import, or routed like results: PV1-10 service,
  PV1-3 location, the author's code), with a "letter" care relationship, and is delivered in the portal when the
  patient is paperless (contact preference "portal" and an active account), else also by post (print room);
- the same document sent again with the same content changes nothing; a newer version (by TXA-8, else MSH-7)
  replaces the file in place (the page address stays) and, if it was to be posted, is posted again; an older
  version never overwrites a newer one;
- a cancelled document (MDM^T11) is marked entered-in-error: gone from the patient's list and the print room's;
- a letter takes its team's sensitive category (CareTeam.sensitive_category): proxies without that grant neither
  see it (careportal/letters/access.py) nor are told of it;
- the patient (and proxies with the letters scope) are told of a new letter with no clinical detail.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from careportal.access.scopes import Scope
from careportal.accounts.models import User
from careportal.letters.models import Delivery, Letter, LetterStatus
from careportal.letters.pdf import CheckedPdf, pdf_check
from careportal.letters.storage import letter_file_delete_after_commit, letter_file_stage, new_stored_name
from careportal.notifications.kinds import Kind
from careportal.notifications.services import notifications_send_many
from careportal.patients.models import CareRelationship, CareRelationshipReason, CareTeam, ContactPreference, Patient
from careportal.proxy.selectors import people_to_tell
from careportal.results.ingest import care_team_routed


class LetterConflict(ValueError):
    """The document id already belongs to another patient's letter."""


class LetterUnknown(ValueError):
    """A cancellation for a document CarePortal never received."""


@dataclass
class LetterData:
    source: str  # LetterSource
    source_system: str
    document_id: str
    document_type: str
    letter_date: datetime.datetime
    version_at: datetime.datetime
    content: bytes  # as received (decoded from Base64), not yet checked
    document_type_code: str = ""
    author: str = ""
    care_team_id: int | None = None  # when the sender names the team (the import command)
    # Routing keys when it does not: PV1-10 hospital service, PV1-3 location, the author's code (TXA-5/TXA-9).
    service: str = ""
    location: str = ""
    author_code: str = ""


@dataclass
class LetterOutcome:
    letter: Letter
    # "arrived", "replaced", "unchanged", "older version ignored", "cancelled", "already cancelled"
    outcome: str


def _fit(name: str, value: str) -> str:
    max_length: int | None = getattr(Letter._meta.get_field(name), "max_length", None)
    return value[:max_length] if max_length else value


def delivery_for(patient: Patient) -> str:
    """Paperless only for a patient who chose it and can read letters here (an active account)."""
    paperless = (
        patient.contact_preference == ContactPreference.PORTAL
        and patient.user_id is not None
        and User.objects.filter(pk=patient.user_id, is_active=True).exists()
    )
    return Delivery.PORTAL if paperless else Delivery.POST


def letter_apply(*, patient: Patient, data: LetterData, received_at: datetime.datetime) -> LetterOutcome:
    """Create or update the letter `data` describes. Call inside a transaction (the HL7 service's savepoint, or
    the import's own). Raises DocumentRejected (careportal/letters/pdf.py) before anything is written, or
    LetterConflict."""
    checked = pdf_check(data.content, max_bytes=settings.LETTER_MAX_BYTES)
    received_sha256 = hashlib.sha256(data.content).hexdigest()
    existing = (
        Letter.objects.select_for_update()
        .filter(
            source_system=_fit("source_system", data.source_system), document_id=_fit("document_id", data.document_id)
        )
        .order_by()
        .first()
    )
    if existing is None:
        return LetterOutcome(
            letter=_create(
                patient=patient, data=data, checked=checked, received_sha256=received_sha256, at=received_at
            ),
            outcome="arrived",
        )
    if existing.patient_id != patient.pk:
        raise LetterConflict("this document id already belongs to a letter for another patient")
    if existing.received_sha256 == received_sha256 and existing.status == LetterStatus.CURRENT:
        return LetterOutcome(letter=existing, outcome="unchanged")
    if data.version_at < existing.version_at or (
        data.version_at == existing.version_at and existing.status == LetterStatus.ENTERED_IN_ERROR
    ):
        return LetterOutcome(letter=existing, outcome="older version ignored")
    _replace(letter=existing, data=data, checked=checked, received_sha256=received_sha256)
    return LetterOutcome(letter=existing, outcome="replaced")


def _create(
    *, patient: Patient, data: LetterData, checked: CheckedPdf, received_sha256: str, at: datetime.datetime
) -> Letter:
    care_team_id = data.care_team_id
    if care_team_id is None:
        care_team_id = care_team_routed(service=data.service, location=data.location, clinician_code=data.author_code)
    sensitive_category = ""
    if care_team_id is not None:
        sensitive_category = (
            CareTeam.objects.filter(pk=care_team_id).values_list("sensitive_category", flat=True).first() or ""
        )
    stored_name = new_stored_name()
    # Staged before the row, placed on commit: a rollback leaves only an unreachable staged copy for the sweep.
    letter_file_stage(stored_name=stored_name, data=checked.data)
    letter = Letter.objects.create(
        patient=patient,
        care_team_id=care_team_id,
        sensitive_category=sensitive_category,
        source=data.source,
        source_system=_fit("source_system", data.source_system),
        document_id=_fit("document_id", data.document_id),
        document_type=_fit("document_type", data.document_type) or "Letter",
        document_type_code=_fit("document_type_code", data.document_type_code),
        author=_fit("author", data.author),
        letter_date=data.letter_date,
        version_at=data.version_at,
        stored_name=stored_name,
        size=len(checked.data),
        sha256=hashlib.sha256(checked.data).hexdigest(),
        received_sha256=received_sha256,
        page_count=checked.page_count,
        active_content_removed=bool(checked.removed),
        delivery=delivery_for(patient),
        arrived_at=at,
    )
    if care_team_id is not None:
        _care_relationship_ensure(patient=patient, care_team_id=care_team_id)
    recipients = letter_recipients(patient, sensitive_category=sensitive_category)
    if recipients:
        notifications_send_many(kind=Kind.NEW_LETTER, users=recipients)
        letter.patient_notified_at = timezone.now()
        letter.save(update_fields=["patient_notified_at"])
    return letter


def _care_relationship_ensure(*, patient: Patient, care_team_id: int) -> None:
    """The writing team's "letter" care relationship, created when missing (an ended one is left ended), with ON
    CONFLICT DO NOTHING: another letter for the same patient and team may insert it at the same moment."""
    relationships = CareRelationship.objects.filter(
        patient=patient, care_team_id=care_team_id, reason=CareRelationshipReason.LETTER
    )
    if not relationships.exists():
        CareRelationship.objects.bulk_create(
            [CareRelationship(patient=patient, care_team_id=care_team_id, reason=CareRelationshipReason.LETTER)],
            ignore_conflicts=True,
        )


def _replace(*, letter: Letter, data: LetterData, checked: CheckedPdf, received_sha256: str) -> None:
    old_name = letter.stored_name
    letter.stored_name = new_stored_name()
    letter_file_stage(stored_name=letter.stored_name, data=checked.data)
    letter_file_delete_after_commit(old_name)
    letter.version += 1
    letter.status = LetterStatus.CURRENT
    letter.document_type = _fit("document_type", data.document_type) or letter.document_type
    letter.document_type_code = _fit("document_type_code", data.document_type_code)
    letter.author = _fit("author", data.author) or letter.author
    letter.letter_date = data.letter_date
    letter.version_at = data.version_at
    letter.size = len(checked.data)
    letter.sha256 = hashlib.sha256(checked.data).hexdigest()
    letter.received_sha256 = received_sha256
    letter.page_count = checked.page_count
    letter.active_content_removed = bool(checked.removed)
    if letter.delivery == Delivery.POST:
        # The new version is what the patient must receive: back on the next list, printed again.
        letter.print_listed_on = None
        letter.printed_at = None
        letter.printed_by = None
    letter.save()


def letter_cancel(
    *, patient: Patient, source_system: str, document_id: str, version_at: datetime.datetime
) -> LetterOutcome:
    """The document system withdrew a document sent in error (MDM^T11): it leaves the patient's list and the
    print room's. Its file is kept for the record."""
    letter = (
        Letter.objects.select_for_update()
        .filter(source_system=_fit("source_system", source_system), document_id=_fit("document_id", document_id))
        .order_by()
        .first()
    )
    if letter is None:
        raise LetterUnknown("no letter with this document id")
    if letter.patient_id != patient.pk:
        raise LetterConflict("this document id belongs to a letter for another patient")
    if letter.status == LetterStatus.ENTERED_IN_ERROR:
        return LetterOutcome(letter=letter, outcome="already cancelled")
    letter.status = LetterStatus.ENTERED_IN_ERROR
    letter.version_at = max(letter.version_at, version_at)
    letter.save(update_fields=["status", "version_at", "updated_at"])
    return LetterOutcome(letter=letter, outcome="cancelled")


def letter_recipients(
    patient: Patient, *, sensitive_category: str = "", today: datetime.date | None = None
) -> list[User]:
    """Who to tell about a new letter: the patient's own active account, and every active proxy whose relationship
    gives the letters scope today (the age rules apply) and, for a letter in a sensitive category (its team's),
    whom staff granted that category: a proxy who cannot see the letter is not told of it. Users carry only what a
    notification may use."""
    people = people_to_tell([patient.pk], scope=Scope.LETTERS, today=today)[patient.pk]
    return [person.user for person in people if person.may_see(sensitive_category)]
