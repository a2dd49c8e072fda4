"""Activation: checking a code with the patient's date of birth and postcode, creating the account, and issuing codes
for the letter-printing job. (Codes themselves are made and hashed in careportal/accounts/activation.py.)

Nothing here logs or stores a code in clear: a code is only ever compared through its keyed hash.
"""

import datetime
import enum
import hmac
import re
import unicodedata
from dataclasses import dataclass

import structlog
from allauth.account.models import EmailAddress
from axes.helpers import get_client_ip_address
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from careportal.access.activation import activation_code_issue_record, activation_complete_record
from careportal.accounts.activation import code_digest
from careportal.accounts.models import AccountEventKind, ActivationCode, SecurityAnswer, User
from careportal.accounts.services import account_event_record, activation_code_issue
from careportal.core.throttle import attempt_count, attempt_record
from careportal.patients.models import ContactPreference, Patient

logger = structlog.get_logger(__name__)

IP_WINDOW_SECONDS = 60 * 60
# Compared when no code matches, so that a wrong code costs the same work as wrong details.
_NO_BIRTH_DATE = datetime.date(1, 1, 1)
_NO_POSTCODE = "-"


class Outcome(enum.Enum):
    MATCHED = "matched"
    # Wrong code, wrong date of birth or postcode, expired, used, revoked or locked: one answer for all of them.
    REFUSED = "refused"
    # All three were right, but the patient already has an account.
    ALREADY_ACTIVE = "already_active"
    # Too many failed tries from this IP address in the last hour; nothing was checked.
    THROTTLED = "throttled"


@dataclass(frozen=True)
class CodeCheck:
    outcome: Outcome
    code_id: int | None = None


@dataclass(frozen=True)
class NewAccount:
    """What the patient chose during the journey. The password and answers arrive already hashed."""

    username: str
    password_hash: str
    email: str
    security_answers: tuple[tuple[str, str], ...]  # (question, answer hash)


class ActivationFailed(Exception):
    pass


class CodeNoLongerUsable(ActivationFailed):
    """The code was used, revoked, locked or expired while the patient was part-way through."""


class AlreadyActivated(ActivationFailed):
    pass


class UsernameTaken(ActivationFailed):
    pass


def client_ip(request: HttpRequest) -> str | None:
    """The caller's IP address, worked out as django-axes does for sign-in lockouts (so both obey the same proxy
    settings)."""
    return get_client_ip_address(request)


def normalise_postcode(postcode: str) -> str:
    """ "n8 7qe", "N87QE" and " N8  7QE " are the same postcode."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", postcode)).upper()


def _ip_key(ip_address: str | None) -> str:
    return f"careportal:activation:ip:{ip_address or 'unknown'}"


def activation_ip_is_throttled(*, ip_address: str | None) -> bool:
    return attempt_count(_ip_key(ip_address)) >= settings.CAREPORTAL_ACTIVATION_IP_ATTEMPTS_PER_HOUR


def activation_ip_failure_record(*, ip_address: str | None) -> None:
    attempt_record(_ip_key(ip_address), window_seconds=IP_WINDOW_SECONDS)


def activation_code_is_usable(code: ActivationCode, *, now: datetime.datetime) -> bool:
    return (
        code.used_at is None
        and code.revoked_at is None
        and code.expires_at > now
        and code.failed_attempts < settings.CAREPORTAL_ACTIVATION_CODE_MAX_ATTEMPTS
    )


def _details_match(*, expected_birth_date: datetime.date, expected_postcode: str, birth_date, postcode) -> bool:  # type: ignore[no-untyped-def]
    # Both comparisons always run, in constant time, so the response time does not say which part was wrong.
    same_birth_date = hmac.compare_digest(expected_birth_date.isoformat().encode(), birth_date.isoformat().encode())
    same_postcode = hmac.compare_digest(
        normalise_postcode(expected_postcode).encode(), normalise_postcode(postcode).encode()
    )
    return same_birth_date & same_postcode


@transaction.atomic
def activation_code_check(*, code: str, birth_date: datetime.date, postcode: str, ip_address: str | None) -> CodeCheck:
    """Check what the patient typed from their letter. A wrong try counts against the code (which locks after
    CAREPORTAL_ACTIVATION_CODE_MAX_ATTEMPTS) and against the IP address (CAREPORTAL_ACTIVATION_IP_ATTEMPTS_PER_HOUR).
    """
    if activation_ip_is_throttled(ip_address=ip_address):
        logger.warning("activation_throttled")
        return CodeCheck(Outcome.THROTTLED)
    now = timezone.now()
    row = (
        ActivationCode.objects.select_for_update()
        .select_related("patient")
        .filter(code_digest=code_digest(code))
        .first()
    )
    if row is None:
        _details_match(
            expected_birth_date=_NO_BIRTH_DATE, expected_postcode=_NO_POSTCODE, birth_date=birth_date, postcode=postcode
        )
        activation_ip_failure_record(ip_address=ip_address)
        return CodeCheck(Outcome.REFUSED)
    matched = _details_match(
        expected_birth_date=row.patient.birth_date,
        expected_postcode=row.patient.postcode,
        birth_date=birth_date,
        postcode=postcode,
    )
    usable = activation_code_is_usable(row, now=now)
    if not matched:
        if usable:
            ActivationCode.objects.filter(pk=row.pk).update(failed_attempts=F("failed_attempts") + 1)
            if row.failed_attempts + 1 >= settings.CAREPORTAL_ACTIVATION_CODE_MAX_ATTEMPTS:
                logger.warning("activation_code_locked", activation_code_id=row.pk)
        activation_ip_failure_record(ip_address=ip_address)
        return CodeCheck(Outcome.REFUSED)
    if not usable:
        activation_ip_failure_record(ip_address=ip_address)
        return CodeCheck(Outcome.REFUSED)
    if row.patient.user_id is not None:
        return CodeCheck(Outcome.ALREADY_ACTIVE, code_id=row.pk)
    return CodeCheck(Outcome.MATCHED, code_id=row.pk)


def username_is_taken(username: str) -> bool:
    return User.objects.filter(username__iexact=username).exists()


def email_is_taken(email: str) -> bool:
    """Another account already uses this address (allauth lets one address confirm only one account)."""
    return (
        EmailAddress.objects.filter(email__iexact=email).exists() or User.objects.filter(email__iexact=email).exists()
    )


def activation_password_user(*, code_id: int, username: str, email: str) -> User:
    """An unsaved user with what is known so far, so that the password validators can refuse a password like the
    patient's name, username or email address."""
    names = ActivationCode.objects.filter(pk=code_id).values_list("patient__given_name", "patient__family_name").first()
    given_name, family_name = names or ("", "")
    return User(username=username, email=email, first_name=given_name, last_name=family_name)


@transaction.atomic
def activation_complete(*, request: HttpRequest, code_id: int, account: NewAccount) -> User:
    """Create the patient's account from a checked code, all at once or not at all: the user, their security
    answers, their (unconfirmed) email address, the link to their patient record, paperless letters, the code marked
    used, the account event and the audit events, and the email with the confirmation link (sent after commit).
    """
    now = timezone.now()
    code = ActivationCode.objects.select_for_update().filter(pk=code_id).first()
    if code is None or not activation_code_is_usable(code, now=now):
        raise CodeNoLongerUsable
    patient = Patient.objects.select_for_update().get(pk=code.patient_id)
    if patient.user_id is not None:
        raise AlreadyActivated
    if username_is_taken(account.username):
        raise UsernameTaken
    try:
        with transaction.atomic():
            user = User.objects.create(
                username=account.username,
                password=account.password_hash,
                email=account.email,
                first_name=patient.given_name,
                last_name=patient.family_name,
            )
    except IntegrityError as error:
        # Someone took the same username (in any case) a moment ago.
        raise UsernameTaken from error
    SecurityAnswer.objects.bulk_create(
        [
            SecurityAnswer(user=user, question=question, answer_hash=answer_hash)
            for question, answer_hash in account.security_answers
        ]
    )
    address = EmailAddress.objects.create(user=user, email=account.email, primary=True, verified=False)

    patient.user = user
    patient.contact_preference = ContactPreference.PORTAL
    patient.save(update_fields=["user", "contact_preference", "updated_at"])
    code.used_at = now
    code.save(update_fields=["used_at"])
    ActivationCode.objects.filter(patient=patient, used_at__isnull=True, revoked_at__isnull=True).update(revoked_at=now)

    account_event_record(
        user=user,
        kind=AccountEventKind.ACTIVATED,
        ip_address=client_ip(request),
        detail="Account created with an activation code; letters now come through CarePortal",
    )
    activation_complete_record(patient=patient, user=user, request=request)
    # allauth's confirmation email, through our adapter and the notifications service: queued in this transaction,
    # sent after it commits.
    address.send_confirmation(request, signup=True)
    logger.info("account_activated", user_id=user.pk)
    return user


@dataclass(frozen=True)
class IssuedCode:
    patient: Patient
    code: str
    expires_at: datetime.datetime


@transaction.atomic
def activation_code_issue_for_letter(*, patient: Patient) -> IssuedCode:
    """A new code for the letter-printing job (any earlier unused code stops working), audited as issued by
    CarePortal itself."""
    code = activation_code_issue(patient=patient, issued_by=None)
    row = ActivationCode.objects.get(code_digest=code_digest(code))
    activation_code_issue_record(patient=patient, issued_by=None)
    return IssuedCode(patient=patient, code=code, expires_at=row.expires_at)
