"""Changes to proxy access from the patient's and the proxy's side: invitations, accepting one, changing what a
proxy sees, taking access away, and a proxy stopping. (The helpdesk's side lives in its own module.)

Each change is one transaction: the relationship, its history (careportal/proxy/history.py), the audit event and
the emails (queued, sent after commit) are written together or not at all. Emails never name the patient.

The invitation link carries a random token (`secrets.token_urlsafe(32)`); only its keyed hash is stored, as for
activation codes (careportal/accounts/activation.py).
"""

import datetime
import enum
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import structlog
from allauth.account.models import EmailAddress
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from careportal.access.layer import Viewer
from careportal.accounts.activation_services import NewAccount, UsernameTaken, email_is_taken, username_is_taken
from careportal.accounts.models import AccountEventKind, SecurityAnswer, User
from careportal.accounts.services import account_event_record
from careportal.audit.models import AccessAction, ActorRole
from careportal.audit.services import access_event_record
from careportal.core.formatting import format_date
from careportal.notifications.kinds import Kind
from careportal.notifications.services import notification_send
from careportal.patients.models import Patient
from careportal.proxy.access import INVITATION_LABEL, PEOPLE_LABEL
from careportal.proxy.history import relationship_event_record
from careportal.proxy.models import (
    LIVE_PROXY_STATUSES,
    InvitationStatus,
    ProxyBasis,
    ProxyEventKind,
    ProxyInvitation,
    ProxyOrigin,
    ProxyPolicy,
    ProxyRelationship,
    ProxyStatus,
)
from careportal.proxy.selectors import invitation_problem

logger = structlog.get_logger(__name__)

TOKEN_MAX_LENGTH = 100

# The `change` words of Kind.PROXY_ACCESS_CHANGED: never a name, never a clinical word.
CHANGE_TAKEN_AWAY_PATIENT = "someone's access to your record was taken away"
CHANGE_TAKEN_AWAY_PROXY = "your access to someone's record was taken away"
CHANGE_ACCEPTED_PATIENT = "someone you invited accepted and can now act for you"
CHANGE_PARTS_PROXY = "what you can see in someone's record was changed"
CHANGE_STOPPED_PATIENT = "someone stopped acting for you"


class ProxyChangeRefused(Exception):
    """The change cannot be made (with the words to show the person)."""


# The link's token ---------------------------------------------------------------------------------------------


def invitation_token_digest(token: str) -> str:
    """The keyed hash stored for an invitation link's token (the pattern of `accounts.activation.code_digest`)."""
    key = f"careportal-proxy-invitation:{settings.SECRET_KEY}".encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def _proxy_viewer(
    viewer_user: User, *, patient: Patient, relationship: ProxyRelationship, base: Viewer | None
) -> Viewer:
    return Viewer(
        user=viewer_user,
        role=ActorRole.PROXY,
        patient=patient,
        proxy_relationship=relationship,
        ip_address=base.ip_address if base is not None else None,
        request_id=base.request_id if base is not None else "",
    )


# Inviting -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewInvitation:
    email: str
    relationship: str
    scopes: tuple[str, ...]
    valid_until: datetime.date | None


@transaction.atomic
def invitation_create(*, viewer: Viewer, invitation: NewInvitation, link_for: Callable[[str], str]) -> ProxyInvitation:
    """The patient (`viewer`, their own record) invites someone by email. Refused, writing nothing, for the
    patient's own address, an address already invited and waiting, or an account that already acts for them. An
    earlier invitation to the same address that has expired is cancelled first, so it can be sent again."""
    patient: Patient = Patient.objects.select_for_update().get(pk=viewer.patient.pk)  # type: ignore[union-attr]
    email = invitation.email.strip().lower()
    now = timezone.now()
    ProxyInvitation.objects.filter(
        patient=patient, email=email, status=InvitationStatus.PENDING, expires_at__lte=now
    ).update(status=InvitationStatus.CANCELLED)
    problem = invitation_problem(patient=patient, user=viewer.user, email=email, now=now)
    if problem:
        raise ProxyChangeRefused(problem)
    token = secrets.token_urlsafe(32)
    policy = ProxyPolicy.current()
    row = ProxyInvitation.objects.create(
        patient=patient,
        invited_by=viewer.user,
        email=email,
        relationship=invitation.relationship,
        scopes=sorted(invitation.scopes),
        valid_until=invitation.valid_until,
        token_digest=invitation_token_digest(token),
        expires_at=now + datetime.timedelta(days=policy.invitation_valid_days),
    )
    access_event_record(
        viewer=viewer, patient=patient, action=AccessAction.CREATE, object_label=INVITATION_LABEL, obj=row
    )
    notification_send(
        kind=Kind.PROXY_INVITATION,
        to_address=email,
        personalisation={
            "inviter_first_name": viewer.user.first_name or patient.given_name,
            "link": link_for(token),
            "expires": format_date(row.expires_at),
        },
    )
    logger.info("proxy_invitation_sent", invitation_id=row.pk)
    return row


@transaction.atomic
def invitation_cancel(*, viewer: Viewer, invitation: ProxyInvitation) -> bool:
    """Cancel a pending invitation (its link stops working at once). False when it was no longer pending."""
    cancelled = ProxyInvitation.objects.filter(pk=invitation.pk, status=InvitationStatus.PENDING).update(
        status=InvitationStatus.CANCELLED
    )
    if cancelled:
        access_event_record(
            viewer=viewer,
            patient=viewer.patient,
            action=AccessAction.DELETE,
            object_label=INVITATION_LABEL,
            obj=invitation,
        )
    return bool(cancelled)


# Opening and accepting the link --------------------------------------------------------------------------------


class LinkOutcome(enum.Enum):
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"
    USED = "used"
    EXPIRED = "expired"
    SIGN_IN = "sign_in"  # a good link, opened by someone not signed in
    OTHER_EMAIL = "other_email"
    OWN = "own"
    ALREADY_ACTS = "already_acts"
    READY = "ready"
    ACCEPTED = "accepted"


def invitation_for_digest(digest: str | None, *, for_update: bool = False) -> ProxyInvitation | None:
    if not digest:
        return None
    queryset = ProxyInvitation.objects.select_related("patient", "invited_by")
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    return queryset.filter(token_digest=digest).first()


def _account_emails(user: User) -> set[str]:
    emails = {user.email.lower()} if user.email else set()
    emails |= {e.lower() for e in EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True)}
    return emails


def invitation_link_check(
    invitation: ProxyInvitation | None, *, user: User | None, now: datetime.datetime | None = None
) -> LinkOutcome:
    """What opening the link means now, for this person (None when not signed in). The link works once, until it
    expires, and only for an account with the invited address that is not the patient's own and does not already
    act for the patient."""
    now = now or timezone.now()
    if invitation is None:
        return LinkOutcome.UNKNOWN
    if invitation.status == InvitationStatus.ACCEPTED:
        return LinkOutcome.USED
    if invitation.status == InvitationStatus.CANCELLED:
        return LinkOutcome.CANCELLED
    if invitation.expires_at <= now:
        return LinkOutcome.EXPIRED
    if user is None or not user.is_authenticated:
        return LinkOutcome.SIGN_IN
    if invitation.patient.user_id == user.pk:
        return LinkOutcome.OWN
    if invitation.email.lower() not in _account_emails(user):
        return LinkOutcome.OTHER_EMAIL
    if ProxyRelationship.objects.filter(
        patient=invitation.patient, proxy=user, status__in=LIVE_PROXY_STATUSES
    ).exists():
        return LinkOutcome.ALREADY_ACTS
    return LinkOutcome.READY


@dataclass(frozen=True)
class Acceptance:
    outcome: LinkOutcome
    relationship: ProxyRelationship | None = None


@transaction.atomic
def invitation_accept(*, digest: str | None, user: User, base: Viewer | None = None) -> Acceptance:
    """Accept the invitation: the relationship starts at once (the patient gave their consent by inviting), the
    invitation is used up, and the patient is told. The invitation row is locked, so two accepts cannot both
    succeed; any refusal writes nothing."""
    invitation = invitation_for_digest(digest, for_update=True)
    now = timezone.now()
    outcome = invitation_link_check(invitation, user=user, now=now)
    if outcome is not LinkOutcome.READY:
        return Acceptance(outcome)
    assert invitation is not None  # noqa: S101 - READY only for a real invitation
    patient = invitation.patient
    try:
        with transaction.atomic():
            relationship = ProxyRelationship.objects.create(
                proxy=user,
                patient=patient,
                relationship=invitation.relationship,
                basis=ProxyBasis.PATIENT_GRANTED,
                origin=ProxyOrigin.INVITATION,
                scopes=list(invitation.scopes),
                status=ProxyStatus.ACTIVE,
                valid_from=timezone.localdate(),
                valid_until=invitation.valid_until,
                # No member of staff verified this: the patient's own invitation is the consent.
                consent_note=f"The patient invited them by email from their own CarePortal account on "
                f"{format_date(invitation.created_at)}.",
            )
    except IntegrityError:
        # Another live relationship between the two was made a moment ago.
        return Acceptance(LinkOutcome.ALREADY_ACTS)
    invitation.status = InvitationStatus.ACCEPTED
    invitation.accepted_by = user
    invitation.accepted_at = now
    invitation.result = relationship
    invitation.save(update_fields=["status", "accepted_by", "accepted_at", "result"])
    relationship_event_record(
        relationship=relationship,
        kind=ProxyEventKind.INVITED,
        actor=invitation.invited_by,
        scopes_after=invitation.scopes,
        note=f"Invitation sent by email on {format_date(invitation.created_at)}.",
    )
    relationship_event_record(
        relationship=relationship, kind=ProxyEventKind.ACCEPTED, actor=user, scopes_after=relationship.scopes
    )
    viewer = _proxy_viewer(user, patient=patient, relationship=relationship, base=base)
    access_event_record(
        viewer=viewer, patient=patient, action=AccessAction.CREATE, object_label=PEOPLE_LABEL, obj=relationship
    )
    if patient.user is not None:
        notification_send(
            kind=Kind.PROXY_ACCESS_CHANGED, user=patient.user, personalisation={"change": CHANGE_ACCEPTED_PATIENT}
        )
    logger.info("proxy_invitation_accepted", invitation_id=invitation.pk, relationship_id=relationship.pk)
    return Acceptance(LinkOutcome.ACCEPTED, relationship)


# A proxy-only account, made from an invitation ------------------------------------------------------------------


class EmailAlreadyHasAccount(Exception):
    pass


class InvitationNoLongerUsable(Exception):
    pass


@transaction.atomic
def proxy_account_create(
    *, digest: str | None, account: NewAccount, first_name: str, last_name: str, ip_address: str | None
) -> User:
    """A CarePortal account with no hospital record, for someone invited to act for a patient. Its email address is
    the invited one, proven by the link, so it is confirmed at once. Security questions as for any account
    (forgotten password). Does not accept the invitation: the person does that themself on the next page."""
    invitation = invitation_for_digest(digest, for_update=True)
    if invitation_link_check(invitation, user=None) is not LinkOutcome.SIGN_IN:
        raise InvitationNoLongerUsable
    assert invitation is not None  # noqa: S101 - SIGN_IN only for a real invitation
    if email_is_taken(invitation.email):
        raise EmailAlreadyHasAccount
    if username_is_taken(account.username):
        raise UsernameTaken
    try:
        with transaction.atomic():
            user = User.objects.create(
                username=account.username,
                password=account.password_hash,
                email=invitation.email,
                first_name=first_name,
                last_name=last_name,
            )
    except IntegrityError as error:
        raise UsernameTaken from error
    SecurityAnswer.objects.bulk_create(
        [
            SecurityAnswer(user=user, question=question, answer_hash=answer_hash)
            for question, answer_hash in account.security_answers
        ]
    )
    EmailAddress.objects.create(user=user, email=invitation.email, primary=True, verified=True)
    account_event_record(
        user=user,
        kind=AccountEventKind.ACTIVATED,
        ip_address=ip_address,
        detail="Account created from an invitation to act for someone; no hospital record",
    )
    logger.info("proxy_account_created", user_id=user.pk)
    return user


# Changing what a proxy sees, and taking it away -----------------------------------------------------------------


def _locked(relationship: ProxyRelationship) -> ProxyRelationship:
    return (
        ProxyRelationship.objects.select_for_update(of=("self",))
        .select_related("proxy", "patient")
        .get(pk=relationship.pk)
    )


def _end_date_words(day: datetime.date | None) -> str:
    return f"Until {format_date(day)}." if day else "No end date."


@transaction.atomic
def relationship_change(
    *, viewer: Viewer, relationship: ProxyRelationship, scopes: Iterable[str], valid_until: datetime.date | None
) -> ProxyRelationship:
    """The patient changes what a proxy can see and until when. One history event per kind of change; the proxy is
    told (without the patient's name). Nothing is written when nothing changed."""
    row = _locked(relationship)
    if row.status != ProxyStatus.ACTIVE:
        raise ProxyChangeRefused("This access has already ended, so it cannot be changed.")
    new_scopes = sorted(set(scopes))
    changed = False
    if new_scopes != sorted(row.scopes):
        if row.basis == ProxyBasis.PARENTAL_RESPONSIBILITY:
            raise ProxyChangeRefused("What a parent can see is set by your age. You can take their access away.")
        relationship_event_record(
            relationship=row,
            kind=ProxyEventKind.SCOPES_CHANGED,
            actor=viewer.user,
            scopes_before=row.scopes,
            scopes_after=new_scopes,
        )
        row.scopes = new_scopes
        changed = True
    if valid_until != row.valid_until:
        relationship_event_record(
            relationship=row,
            kind=ProxyEventKind.END_DATE_CHANGED,
            actor=viewer.user,
            scopes_before=row.scopes,
            scopes_after=row.scopes,
            note=_end_date_words(valid_until),
        )
        row.valid_until = valid_until
        changed = True
    if changed:
        row.save(update_fields=["scopes", "valid_until"])
        access_event_record(
            viewer=viewer, patient=row.patient, action=AccessAction.UPDATE, object_label=PEOPLE_LABEL, obj=row
        )
        notification_send(
            kind=Kind.PROXY_ACCESS_CHANGED, user=row.proxy, personalisation={"change": CHANGE_PARTS_PROXY}
        )
    return row


@transaction.atomic
def relationship_revoke(*, viewer: Viewer, relationship: ProxyRelationship) -> ProxyRelationship:
    """The patient takes a proxy's access away, at once: the proxy's next request no longer finds it
    (`viewer_for_request` reads relationships afresh every time). Both sides are emailed."""
    row = _locked(relationship)
    if row.status != ProxyStatus.ACTIVE:
        raise ProxyChangeRefused("This access has already ended.")
    row.status = ProxyStatus.REVOKED
    row.ended_at = timezone.now()
    row.save(update_fields=["status", "ended_at"])
    relationship_event_record(
        relationship=row, kind=ProxyEventKind.REVOKED, actor=viewer.user, scopes_before=row.scopes
    )
    access_event_record(
        viewer=viewer, patient=row.patient, action=AccessAction.UPDATE, object_label=PEOPLE_LABEL, obj=row
    )
    notification_send(
        kind=Kind.PROXY_ACCESS_CHANGED, user=row.proxy, personalisation={"change": CHANGE_TAKEN_AWAY_PROXY}
    )
    notification_send(
        kind=Kind.PROXY_ACCESS_CHANGED, user=viewer.user, personalisation={"change": CHANGE_TAKEN_AWAY_PATIENT}
    )
    logger.info("proxy_access_revoked", relationship_id=row.pk)
    return row


@transaction.atomic
def relationship_stop_by_proxy(
    *, user: User, relationship: ProxyRelationship, base: Viewer | None = None
) -> ProxyRelationship:
    """The proxy stops acting for the patient (ENDED). The patient is told, without the proxy's name."""
    row = _locked(relationship)
    if row.proxy_id != user.pk or row.status != ProxyStatus.ACTIVE:
        raise ProxyChangeRefused("You no longer act for this person.")
    row.status = ProxyStatus.ENDED
    row.ended_at = timezone.now()
    row.save(update_fields=["status", "ended_at"])
    relationship_event_record(
        relationship=row, kind=ProxyEventKind.STOPPED_BY_PROXY, actor=user, scopes_before=row.scopes
    )
    viewer = _proxy_viewer(user, patient=row.patient, relationship=row, base=base)
    access_event_record(
        viewer=viewer, patient=row.patient, action=AccessAction.UPDATE, object_label=PEOPLE_LABEL, obj=row
    )
    if row.patient.user is not None:
        notification_send(
            kind=Kind.PROXY_ACCESS_CHANGED, user=row.patient.user, personalisation={"change": CHANGE_STOPPED_PATIENT}
        )
    logger.info("proxy_stopped_acting", relationship_id=row.pk)
    return row
