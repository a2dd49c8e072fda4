"""Helpdesk changes: requests for help and the replies to them, and the account actions (unlock, reset two-step
verification, a new activation code). Each action is recorded with who did it and why (HelpdeskAction), in the
account's history (AccountEvent) when there is an account, and views write the patient's AccessEvent through the
access layer before calling these."""

import datetime
import hashlib
import secrets

import axes.utils
from allauth.mfa.models import Authenticator
from axes.models import AccessAttempt
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from careportal.accounts.activation import ALPHABET
from careportal.accounts.models import AccountEventKind, TwoStepMethod, User
from careportal.accounts.security_services import user_sessions_end
from careportal.accounts.services import account_event_record, activation_code_issue
from careportal.accounts.trust import trusted_devices_revoke_all
from careportal.core.throttle import attempt_count, attempt_record
from careportal.core.working_days import add_working_days
from careportal.helpdesk.models import (
    HelpdeskAction,
    HelpdeskActionKind,
    SupportReply,
    SupportRequest,
    SupportStatus,
)
from careportal.notifications.kinds import Kind
from careportal.notifications.models import Notification, NotificationStatus
from careportal.notifications.services import notification_retry_now, notification_send
from careportal.patients.models import Patient

REFERENCE_PREFIX = "HELP"
THROTTLE_WINDOW_SECONDS = 60 * 60


class HelpdeskActionRefused(Exception):
    """The action does not apply (an account that already exists, a member of staff acting on their own account)."""


def _action_record(
    *,
    actor: User,
    kind: HelpdeskActionKind,
    account: User | None = None,
    patient: Patient | None = None,
    support_request: SupportRequest | None = None,
    reason: str = "",
    detail: str = "",
) -> HelpdeskAction:
    return HelpdeskAction.objects.create(
        actor=actor,
        kind=kind,
        account=account,
        patient=patient,
        support_request=support_request,
        reason=reason[:300],
        detail=detail[:200],
    )


# Requests for help -------------------------------------------------------------------------------------------


def reply_due_date(*, received_on: datetime.date) -> datetime.date:
    return add_working_days(received_on, settings.CAREPORTAL_HELPDESK_RESPONSE_TARGET_DAYS)


def _new_reference() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"{REFERENCE_PREFIX}-{raw[:4]}-{raw[4:]}"


def support_request_create(*, user: User | None, name: str, email: str, topic: str, description: str) -> SupportRequest:
    """Store a request for help, with the reply date promised to the person."""
    now = timezone.now()
    for _ in range(5):
        try:
            with transaction.atomic():
                return SupportRequest.objects.create(
                    reference=_new_reference(),
                    user=user if user is not None and user.is_authenticated else None,
                    name=name,
                    email=email,
                    topic=topic,
                    description=description,
                    reply_due_on=reply_due_date(received_on=timezone.localdate(now)),
                )
        except IntegrityError:  # pragma: no cover - a reference collision: 27^8 possibilities
            continue
    raise RuntimeError("could not make a unique reference")  # pragma: no cover


def _throttle_key(ip_address: str) -> str:
    # Hashed so that the cache holds no address in clear.
    digest = hashlib.sha256(f"support:{ip_address}".encode()).hexdigest()[:32]
    return f"careportal:helpdesk:support-requests:{digest}"


def support_request_rate_limited(*, ip_address: str) -> bool:
    """True when this address has sent CAREPORTAL_SUPPORT_REQUESTS_PER_HOUR requests in the current hour."""
    return attempt_count(_throttle_key(ip_address)) >= settings.CAREPORTAL_SUPPORT_REQUESTS_PER_HOUR


def support_request_rate_count(*, ip_address: str) -> int:
    return attempt_record(_throttle_key(ip_address), window_seconds=THROTTLE_WINDOW_SECONDS)


@transaction.atomic
def support_request_assign(*, support_request: SupportRequest, actor: User) -> SupportRequest:
    """The member of staff takes the request: it is theirs, and in progress."""
    support_request = SupportRequest.objects.select_for_update().get(pk=support_request.pk)
    support_request.assigned_to = actor
    if support_request.status == SupportStatus.NEW:
        support_request.status = SupportStatus.IN_PROGRESS
    support_request.save(update_fields=["assigned_to", "status"])
    _action_record(
        actor=actor,
        kind=HelpdeskActionKind.SUPPORT_REQUEST_ASSIGNED,
        account=support_request.user,
        support_request=support_request,
    )
    return support_request


def _first_name(name: str) -> str:
    parts = name.split()
    return parts[0] if parts else "there"


@transaction.atomic
def support_request_reply(*, support_request: SupportRequest, actor: User, body: str) -> SupportReply:
    """Email the reply to the person (sent by the task worker once this commits) and mark the request answered."""
    support_request = SupportRequest.objects.select_for_update().get(pk=support_request.pk)
    notification = notification_send(
        kind=Kind.SUPPORT_REPLY,
        user=support_request.user,
        to_address=support_request.email,
        personalisation={"first_name": _first_name(support_request.name), "reply": body},
    )
    reply = SupportReply.objects.create(
        support_request=support_request, author=actor, body=body, notification=notification
    )
    support_request.status = SupportStatus.ANSWERED
    support_request.answered_at = timezone.now()
    support_request.assigned_to = support_request.assigned_to or actor
    support_request.save(update_fields=["status", "answered_at", "assigned_to"])
    _action_record(
        actor=actor,
        kind=HelpdeskActionKind.SUPPORT_REPLY_SENT,
        account=support_request.user,
        support_request=support_request,
    )
    return reply


@transaction.atomic
def support_request_close(*, support_request: SupportRequest, actor: User) -> SupportRequest:
    support_request = SupportRequest.objects.select_for_update().get(pk=support_request.pk)
    if support_request.status == SupportStatus.CLOSED:
        return support_request
    support_request.status = SupportStatus.CLOSED
    support_request.closed_at = timezone.now()
    support_request.save(update_fields=["status", "closed_at"])
    _action_record(
        actor=actor,
        kind=HelpdeskActionKind.SUPPORT_REQUEST_CLOSED,
        account=support_request.user,
        support_request=support_request,
    )
    return support_request


# Account actions ---------------------------------------------------------------------------------------------


def _refuse_own_account(*, account: User, actor: User) -> None:
    if account.pk == actor.pk:
        raise HelpdeskActionRefused("Ask another member of the helpdesk to change your own account.")


@transaction.atomic
def account_unlock(*, account: User, actor: User, reason: str, ip_address: str | None = None) -> int:
    """Lift django-axes's lock on the username (at every address), so the person can try their password again, and
    end any pause of the account's two-step codes after too many wrong ones (careportal/accounts/two_step_limit.py).

    Returns how many failure records were cleared. The password and two-step verification are unchanged.
    """
    _refuse_own_account(account=account, actor=actor)
    from careportal.accounts.two_step_limit import two_step_code_tries_clear

    transaction.on_commit(lambda: two_step_code_tries_clear(user=account))
    # axes stores the username as it was typed; clear every spelling of this one.
    typed = set(AccessAttempt.objects.filter(username__iexact=account.username).values_list("username", flat=True))
    cleared = sum(axes.utils.reset(username=username) for username in typed | {account.username})
    account_event_record(
        user=account, kind=AccountEventKind.UNLOCKED, actor=actor, reason=reason, ip_address=ip_address
    )
    _action_record(
        actor=actor,
        kind=HelpdeskActionKind.ACCOUNT_UNLOCKED,
        account=account,
        patient=Patient.objects.filter(user=account).first(),
        reason=reason,
        detail=f"{cleared} failed sign-in record(s) cleared",
    )
    return cleared


TYPE_NAMES = {
    Authenticator.Type.TOTP: "authenticator app",
    Authenticator.Type.WEBAUTHN: "passkey",
    Authenticator.Type.RECOVERY_CODES: "recovery codes",
}


@transaction.atomic
def account_two_step_reset(
    *, account: User, actor: User, reason: str, identity_check: str, ip_address: str | None = None
) -> list[str]:
    """After an identity check: remove every authenticator app, passkey and set of recovery codes, turn the emailed
    code off, stop trusting every device, sign the person out everywhere, and send them a security notice.
    Returns what was removed (for staff, the emailed code still applies: it is always required for them)."""
    _refuse_own_account(account=account, actor=actor)
    account = User.objects.select_for_update().get(pk=account.pk)
    authenticators = Authenticator.objects.filter(user=account)
    removed = sorted({TYPE_NAMES.get(t, t) for t in authenticators.values_list("type", flat=True)})
    authenticators.delete()
    if account.two_step_method != TwoStepMethod.NONE:
        removed.append("emailed sign-in code")
    account.two_step_method = TwoStepMethod.NONE
    # Every trusted device needs the second step again once one is set up (careportal/accounts/trust.py). Trust
    # given with an authenticator app or passkey has also ended with them: allauth binds it to a fingerprint of the
    # account's authenticators.
    account.trusted_devices_revoked_at = timezone.now()
    account.save(update_fields=["two_step_method", "trusted_devices_revoked_at"])
    trusted_devices_revoke_all(user=account)
    user_sessions_end(user=account)
    detail = f"removed: {', '.join(removed) or 'nothing was set up'}; identity checked: {identity_check}"
    account_event_record(
        user=account,
        kind=AccountEventKind.TWO_STEP_RESET,
        actor=actor,
        reason=reason,
        ip_address=ip_address,
        detail=detail,
    )
    _action_record(
        actor=actor,
        kind=HelpdeskActionKind.TWO_STEP_RESET,
        account=account,
        patient=Patient.objects.filter(user=account).first(),
        reason=reason,
        detail=detail,
    )
    notification_send(
        kind=Kind.SECURITY_CHANGE,
        user=account,
        personalisation={"change": "the helpdesk turned off two-step verification, as you asked"},
    )
    return removed


@transaction.atomic
def activation_code_reissue(*, patient: Patient, actor: User, reason: str, identity_check: str) -> str:
    """A new activation code for a patient who has no account yet; earlier codes stop working.

    Returns the code in clear, to be shown once and never stored or logged.
    """
    if patient.user_id is not None:
        raise HelpdeskActionRefused("This patient already has an account.")
    code = activation_code_issue(patient=patient, issued_by=actor)
    _action_record(
        actor=actor,
        kind=HelpdeskActionKind.ACTIVATION_CODE_ISSUED,
        patient=patient,
        reason=reason,
        detail=f"identity checked: {identity_check}",
    )
    return code


# Notifications -----------------------------------------------------------------------------------------------


def notification_can_retry(notification: Notification) -> bool:
    return notification.status in {NotificationStatus.FAILED, NotificationStatus.RETRYING} and bool(
        notification.to_address
    )


@transaction.atomic
def notification_retry(*, notification: Notification, actor: User) -> bool:
    """Try a failed or retrying notification again now. False when it cannot be (already sent, or its content is
    no longer held)."""
    if not notification_can_retry(notification):
        return False
    notification_retry_now(notification=notification)
    _action_record(
        actor=actor,
        kind=HelpdeskActionKind.NOTIFICATION_RETRIED,
        account=notification.user,
        detail=f"{notification.kind}, {notification.attempts} attempt(s) before",
    )
    return True
