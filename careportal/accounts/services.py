"""Account changes that are not allauth's own: activation codes, account events, two-step settings."""

import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from careportal.accounts.activation import code_digest, generate_code
from careportal.accounts.models import AccountEvent, AccountEventKind, ActivationCode, User
from careportal.patients.models import Patient


def account_event_record(
    *,
    user: User,
    kind: AccountEventKind,
    actor: User | None = None,
    reason: str = "",
    ip_address: str | None = None,
    detail: str = "",
) -> AccountEvent:
    return AccountEvent.objects.create(
        user=user, kind=kind, actor=actor, reason=reason[:300], ip_address=ip_address, detail=detail[:200]
    )


@transaction.atomic
def activation_code_issue(*, patient: Patient, issued_by: User | None) -> str:
    """Issue a new activation code for `patient` and return it, in clear, this once (for the letter or the call).

    Earlier unused codes for the patient stop working, so only the newest letter is valid.
    """
    now = timezone.now()
    ActivationCode.objects.filter(patient=patient, used_at__isnull=True, revoked_at__isnull=True).update(revoked_at=now)
    code = generate_code()
    ActivationCode.objects.create(
        patient=patient,
        code_digest=code_digest(code),
        issued_by=issued_by,
        expires_at=now + datetime.timedelta(days=settings.CAREPORTAL_ACTIVATION_CODE_DAYS),
    )
    if patient.user is not None:
        account_event_record(user=patient.user, kind=AccountEventKind.ACTIVATION_CODE_ISSUED, actor=issued_by)
    return code
