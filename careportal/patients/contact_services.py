"""Changes patients make to their own contact details in CarePortal (/your-details/), and their contact
preferences.

A change takes effect at once, through the same code path as a change from the PAS
(`careportal.patients.services.patient_details_apply`), and in the same transaction:
- an audit event for each part changed ("Jo Bloggs changed your address", "... on behalf of ..." for a proxy),
  naming what changed and never the new value;
- an ADT^A31 queued for the PAS (careportal/hl7/outbound.py), sent after commit;
- a notice to the patient (CONTACT_DETAILS_CHANGED, naming the part, never the value), and to the old email
  address too when the email address changed.

Who may change what (docs/your-details-for-patients.md):
- the patient: address, phone numbers, email address (confirmed through a link, see below), contact preferences;
- a proxy with the details scope: address and phone numbers, and how letters are sent; never the email address or
  how notifications are sent, which belong to the patient's own CarePortal account (the email address is where
  their sign-in codes go).

A new email address is used only once the link emailed to it has been followed (`email_change_request`,
`email_change_confirm`): until then nothing changes. Only a hash of the link's token is stored.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING

from allauth.account.models import EmailAddress
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from careportal.accounts.models import AccountEventKind, User
from careportal.accounts.services import account_event_record
from careportal.audit.models import AccessAction, ActorRole
from careportal.audit.services import access_event_record
from careportal.core.throttle import attempt_count, attempt_record
from careportal.notifications.kinds import Kind
from careportal.notifications.services import notification_send
from careportal.patients.models import ContactPreference, Patient, PendingEmailChange
from careportal.patients.services import PatientDetails, patient_details_apply

if TYPE_CHECKING:
    from careportal.access.layer import Viewer

ADDRESS_FIELDS = ("address_line_1", "address_line_2", "town", "postcode")
# What the patient's access log and the notice call each part, in the patient's own voice.
PART_LABELS = {
    "address": "your address",
    "mobile_phone": "your mobile phone number",
    "home_phone": "your home phone number",
    "email": "your email address",
}
PREFERENCES_LABEL = "how we contact you"
# Links to a new email address one account may ask for in an hour: enough for typing mistakes and "send it again",
# too few to use CarePortal to send a stranger a stream of emails.
EMAIL_LINKS_PER_HOUR = 5
TOO_MANY_LINKS = (
    "You have asked for several links in the last hour. Wait an hour, then try again, or call the helpdesk if you "
    "need help."
)
EMAIL_REQUEST_LABEL = "a request to change your email address"


class ContactChangeRefused(Exception):
    """A change this person may not make, or that cannot be made; the text is shown to them as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _parts(changed: list[str]) -> list[str]:
    parts: list[str] = []
    if any(name in ADDRESS_FIELDS for name in changed):
        parts.append("address")
    parts.extend(name for name in ("mobile_phone", "home_phone", "email") if name in changed)
    return parts


def change_words(parts: list[str]) -> str:
    """ "your address", "your address and your mobile phone number"."""
    labels = [PART_LABELS[part] for part in parts]
    if len(labels) <= 1:
        return "".join(labels)
    return f"{', '.join(labels[:-1])} and {labels[-1]}"


def _may_edit(viewer: Viewer, patient: Patient) -> None:
    from careportal.access.scopes import Scope

    if viewer.patient is None or viewer.patient.pk != patient.pk or not viewer.can(Scope.DETAILS):
        raise ContactChangeRefused("You cannot change these details.")
    if viewer.role not in (ActorRole.PATIENT, ActorRole.PROXY):
        raise ContactChangeRefused("You cannot change these details.")


def _apply(*, viewer: Viewer, patient: Patient, details: PatientDetails) -> list[str]:
    """Apply, audit, queue for the PAS and tell the patient. The caller holds the transaction and the row lock."""
    from careportal.hl7.outbound import adt_a31_queue

    old_email = patient.email
    changed = patient_details_apply(patient=patient, details=details)
    parts = _parts(changed)
    if not parts:
        return []
    for part in parts:
        access_event_record(
            viewer=viewer, patient=patient, action=AccessAction.UPDATE, object_label=PART_LABELS[part], obj=patient
        )
    adt_a31_queue(patient=patient)
    user = User.objects.filter(pk=patient.user_id).first() if patient.user_id else None
    words = change_words(parts)
    if user is not None:
        notification_send(kind=Kind.CONTACT_DETAILS_CHANGED, user=user, personalisation={"change": words})
    if "email" in parts and old_email and old_email.lower() != (user.email.lower() if user else ""):
        # The old address hears of it too: if someone else made the change, the patient finds out.
        notification_send(
            kind=Kind.CONTACT_DETAILS_CHANGED, user=user, to_address=old_email, personalisation={"change": words}
        )
    return parts


@transaction.atomic
def patient_contact_details_change(
    *,
    viewer: Viewer,
    patient: Patient,
    address_line_1: str | None = None,
    address_line_2: str | None = None,
    town: str | None = None,
    postcode: str | None = None,
    mobile_phone: str | None = None,
    home_phone: str | None = None,
) -> list[str]:
    """Change the patient's address or phone numbers (None: leave as it is; "": clear it), at once. Values must
    already be checked and normalised (careportal/patients/forms.py). Returns the parts that changed ("address",
    "mobile_phone", "home_phone"): none when the values were the same, and then nothing is audited or sent."""
    _may_edit(viewer, patient)
    locked = Patient.objects.select_for_update().get(pk=patient.pk)
    details = PatientDetails(
        address_line_1=address_line_1,
        address_line_2=address_line_2,
        town=town,
        postcode=postcode,
        mobile_phone=mobile_phone,
        home_phone=home_phone,
    )
    if mobile_phone == "" and locked.notify_by_sms:
        raise ContactChangeRefused(
            "You get notifications by text message, so we need a mobile number. Change how we contact you first."
            if viewer.role == ActorRole.PATIENT
            else "Notifications go to this mobile number by text message, so it cannot be removed here."
        )
    parts = _apply(viewer=viewer, patient=locked, details=details)
    patient.refresh_from_db()
    return parts


# Email address ---------------------------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def email_is_used_by_another_account(*, email: str, patient: Patient) -> bool:
    """Another CarePortal account signs in with this address (one address confirms one account)."""
    addresses = EmailAddress.objects.filter(email__iexact=email)
    accounts = User.objects.filter(email__iexact=email)
    if patient.user_id is not None:
        addresses = addresses.exclude(user_id=patient.user_id)
        accounts = accounts.exclude(pk=patient.user_id)
    return addresses.exists() or accounts.exists()


@dataclass(frozen=True)
class EmailChangeRequested:
    pending: PendingEmailChange
    token: str


@transaction.atomic
def email_change_request(*, viewer: Viewer, patient: Patient, new_email: str, link_for: object) -> PendingEmailChange:
    """Keep `new_email` as waiting, and email a single-use link to it; nothing else changes until the link is
    followed. `link_for(token)` gives the absolute URL of the link. An earlier waiting change is cancelled."""
    _may_edit(viewer, patient)
    if viewer.role != ActorRole.PATIENT or patient.user_id != viewer.user.pk:
        raise ContactChangeRefused(
            "Only the patient can change their email address, because they use it to sign in to CarePortal."
        )
    if new_email.lower() == patient.email.lower() and new_email.lower() == viewer.user.email.lower():
        raise ContactChangeRefused("This is already your email address.")
    if email_is_used_by_another_account(email=new_email, patient=patient):
        raise ContactChangeRefused(
            "You cannot use this email address for CarePortal. Use a different one, or call the helpdesk."
        )
    throttle_key = f"careportal:email-change-links:{viewer.user.pk}"
    if attempt_count(throttle_key) >= EMAIL_LINKS_PER_HOUR:
        raise ContactChangeRefused(TOO_MANY_LINKS)
    attempt_record(throttle_key, window_seconds=60 * 60)
    now = timezone.now()
    PendingEmailChange.objects.filter(patient=patient, confirmed_at__isnull=True, cancelled_at__isnull=True).update(
        cancelled_at=now
    )
    token = secrets.token_urlsafe(32)
    pending = PendingEmailChange.objects.create(
        patient=patient,
        requested_by=viewer.user,
        new_email=new_email,
        token_hash=token_hash(token),
        created_at=now,
        expires_at=now + datetime.timedelta(hours=settings.CAREPORTAL_EMAIL_CHANGE_LINK_HOURS),
    )
    access_event_record(
        viewer=viewer, patient=patient, action=AccessAction.CREATE, object_label=EMAIL_REQUEST_LABEL, obj=patient
    )
    notification_send(
        kind=Kind.EMAIL_VERIFICATION,
        user=viewer.user,
        to_address=new_email,
        personalisation={"link": link_for(token)},  # type: ignore[operator]
    )
    return pending


def email_change_waiting(*, patient: Patient) -> PendingEmailChange | None:
    """The email change waiting for the patient to follow its link, if any (an expired one is not waiting)."""
    return (
        PendingEmailChange.objects.filter(
            patient=patient, confirmed_at__isnull=True, cancelled_at__isnull=True, expires_at__gt=timezone.now()
        )
        .order_by("-created_at", "-pk")
        .first()
    )


@transaction.atomic
def email_change_resend(*, viewer: Viewer, patient: Patient, link_for: object) -> PendingEmailChange | None:
    """A new link for the waiting change (the old link stops working); None when nothing is waiting."""
    waiting = email_change_waiting(patient=patient)
    if waiting is None:
        return None
    return email_change_request(viewer=viewer, patient=patient, new_email=waiting.new_email, link_for=link_for)


@transaction.atomic
def email_change_cancel(*, viewer: Viewer, patient: Patient) -> bool:
    _may_edit(viewer, patient)
    cancelled = PendingEmailChange.objects.filter(
        patient=patient, confirmed_at__isnull=True, cancelled_at__isnull=True
    ).update(cancelled_at=timezone.now())
    return cancelled > 0


class LinkOutcome(StrEnum):
    READY = "ready"  # can be confirmed (only when looked at, not yet confirmed)
    CONFIRMED = "confirmed"
    UNKNOWN = "unknown"
    USED = "used"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    OTHER_ACCOUNT = "other_account"
    TAKEN = "taken"


def _check_link(pending: PendingEmailChange | None, *, user: object, now: datetime.datetime) -> LinkOutcome:
    if pending is None:
        return LinkOutcome.UNKNOWN
    if getattr(user, "is_authenticated", False) and getattr(user, "pk", None) != pending.requested_by_id:
        return LinkOutcome.OTHER_ACCOUNT
    if pending.confirmed_at is not None:
        return LinkOutcome.USED
    if pending.cancelled_at is not None:
        return LinkOutcome.CANCELLED
    if pending.expires_at <= now:
        return LinkOutcome.EXPIRED
    return LinkOutcome.READY


def email_change_link_check(*, token: str, user: object) -> LinkOutcome:
    """What following this link would do, without doing it (the page shows a button to confirm)."""
    pending = PendingEmailChange.objects.filter(token_hash=token_hash(token)).first()
    return _check_link(pending, user=user, now=timezone.now())


@transaction.atomic
def email_change_confirm(*, token: str, user: object, ip_address: str | None = None) -> LinkOutcome:
    """Follow the link: the new address becomes the patient's email address, on their record, in the PAS (A31) and
    for their CarePortal account (the address sign-in codes go to, confirmed). Refused, changing nothing, when the
    link is unknown, used, cancelled, expired, or opened while signed in to another account."""
    from careportal.access.layer import Viewer
    from careportal.access.scopes import ALL_SCOPES

    now = timezone.now()
    pending = PendingEmailChange.objects.select_for_update().filter(token_hash=token_hash(token)).first()
    outcome = _check_link(pending, user=user, now=now)
    if outcome != LinkOutcome.READY or pending is None:
        return outcome
    patient = Patient.objects.select_for_update().get(pk=pending.patient_id)
    account = User.objects.select_for_update().get(pk=pending.requested_by_id)
    if patient.user_id != account.pk or email_is_used_by_another_account(email=pending.new_email, patient=patient):
        pending.cancelled_at = now
        pending.save(update_fields=["cancelled_at"])
        return LinkOutcome.TAKEN
    viewer = Viewer(user=account, role=ActorRole.PATIENT, patient=patient, scopes=ALL_SCOPES, ip_address=ip_address)
    old_account_email = account.email
    # The account first, so that the notice of the change goes to the new address and the old one.
    account.email = pending.new_email
    account.save(update_fields=["email"])
    EmailAddress.objects.filter(user=account).exclude(email__iexact=pending.new_email).delete()
    address, _ = EmailAddress.objects.get_or_create(
        user=account, email__iexact=pending.new_email, defaults={"email": pending.new_email}
    )
    address.email = pending.new_email
    address.verified = True
    address.primary = True
    address.save()
    # The helpdesk sees it in the account's history, as when an address is confirmed after activation.
    account_event_record(
        user=account,
        kind=AccountEventKind.EMAIL_VERIFIED,
        ip_address=ip_address,
        detail="new email address confirmed through the link sent to it",
    )
    patient_old_email = patient.email
    _apply(viewer=viewer, patient=patient, details=PatientDetails(email=pending.new_email))
    if old_account_email and old_account_email.lower() not in {patient_old_email.lower(), pending.new_email.lower()}:
        # The account's old address differed from the record's (the PAS had another one): it hears of it too.
        notification_send(
            kind=Kind.CONTACT_DETAILS_CHANGED,
            user=account,
            to_address=old_account_email,
            personalisation={"change": PART_LABELS["email"]},
        )
    pending.confirmed_at = now
    pending.save(update_fields=["confirmed_at"])
    PendingEmailChange.objects.filter(patient=patient, confirmed_at__isnull=True, cancelled_at__isnull=True).update(
        cancelled_at=now
    )
    return LinkOutcome.CONFIRMED


# Contact preferences ---------------------------------------------------------------------------------------------


@transaction.atomic
def contact_preferences_change(*, viewer: Viewer, patient: Patient, letters: str, by_email: bool, by_sms: bool) -> bool:
    """How letters come (paperless or post) and how notifications come (email, text message, or both). A proxy
    may change how letters come only. Returns whether anything changed (then audited)."""
    _may_edit(viewer, patient)
    if letters not in ContactPreference.values:
        raise ContactChangeRefused("Choose how we send letters.")
    locked = Patient.objects.select_for_update().get(pk=patient.pk)
    fields = []
    if locked.contact_preference != letters:
        locked.contact_preference = letters
        fields.append("contact_preference")
    if viewer.role == ActorRole.PATIENT:
        if not (by_email or by_sms):
            raise ContactChangeRefused("Choose email, text message or both.")
        if by_sms and not locked.mobile_phone:
            raise ContactChangeRefused(
                "To get text messages, add your mobile phone number first. We send texts only to a mobile number."
            )
        if by_email and not (locked.user and locked.user.email):
            raise ContactChangeRefused("To get emails, you need an email address. Add one first.")
        if locked.notify_by_email != by_email:
            locked.notify_by_email = by_email
            fields.append("notify_by_email")
        if locked.notify_by_sms != by_sms:
            locked.notify_by_sms = by_sms
            fields.append("notify_by_sms")
    if not fields:
        return False
    locked.save(update_fields=[*fields, "updated_at"])
    access_event_record(
        viewer=replace(viewer, patient=locked),
        patient=locked,
        action=AccessAction.UPDATE,
        object_label=PREFERENCES_LABEL,
        obj=locked,
    )
    patient.refresh_from_db()
    return True
