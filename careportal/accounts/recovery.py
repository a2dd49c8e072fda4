"""Account recovery: a forgotten password (security questions, then an emailed single-use link) and a forgotten
username (sent to the email address on the account). Pages: careportal/accounts/views/recovery.py.

No response, and no response time, may reveal whether an account exists (DESIGN.md, Policies). So:

- Every identifier gets three questions. A real account's are the ones its owner chose; anything else (no such
  account, an inactive one, one with fewer than three answers on file such as staff, or an email address shared by
  several accounts) gets three taken from a keyed hash of what was typed, the same three every time it is typed.
- Which 2 of the 3 are asked follows one rule for real and made-up sets alike: a keyed hash of what was typed
  (normalised) and the account's `recovery_questions_round` ranks the three, and the first two are asked, in that
  order. So typing the same thing again always gets the same 2 questions, for an account or not; an account's pair
  only changes after its owner has reset the password this way (the round goes up by one), and a name with no
  account is always at round 0. Nothing anyone can do without the emailed link changes what a name is asked, so
  asking again and again tells nothing (asking 2 at random each time would show a real account's three chosen
  questions, and a made-up set that never changed would give it away).
- Checking answers hashes exactly as many answers whatever the case: a made-up question is checked against a
  stand-in hash made with the same hasher, and a wrong first answer does not stop the second being checked.
- Whatever the outcome, the request does the same database work and hands the same one job to the task worker; the
  job alone finds out whether there is anything to send (a link, a username) and sends it. The page that follows is
  the same for everyone: "if the details you gave match an account, we have sent an email".
- Attempts are counted per account (or per typed identifier or address) and per IP address, before any hashing.
  Over a limit the answer is still the same page; nothing is checked and nothing is sent.
"""

import datetime
import functools
import hashlib
import hmac
import secrets
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import structlog
from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.hashers import get_hasher, make_password
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import get_random_string, salted_hmac

from careportal.accounts.models import (
    AccountEventKind,
    PasswordResetLink,
    SecurityAnswer,
    SecurityQuestion,
    User,
)
from careportal.accounts.security import answer_matches
from careportal.accounts.security_services import user_sessions_end
from careportal.accounts.services import account_event_record
from careportal.accounts.trust import trusted_devices_revoke_all
from careportal.accounts.two_step_limit import two_step_code_tries_clear
from careportal.core.tasks import enqueue_on_commit
from careportal.core.throttle import attempt_record
from careportal.notifications.kinds import Kind
from careportal.notifications.services import notification_send

logger = structlog.get_logger(__name__)

QUESTIONS_HELD = 3
QUESTIONS_ASKED = 2
# The emailed link works once, for this long. The email's wording ("for 1 hour") and the notification's own maximum
# age (careportal/notifications/kinds.py) say the same.
LINK_LIFETIME = datetime.timedelta(hours=1)
# An attempt left half-way (questions shown, never answered) is started again after this long.
ATTEMPT_LIFETIME_SECONDS = 30 * 60
# Queries made "for no account" look up this id, which no row has: the same query, by the same index, as for a real
# account (`user_id IS NULL` on a NOT NULL column could be answered without reading anything).
NO_ACCOUNT_ID = 0


class PasswordResetLinkInvalidError(Exception):
    """The link has expired, has been used, or was replaced by a newer one."""


# Keyed hashes -----------------------------------------------------------------------------------------------------


def _keyed(purpose: str, value: str) -> str:
    return salted_hmac(f"careportal.accounts.recovery.{purpose}", value, algorithm="sha256").hexdigest()


def normalise_identifier(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().casefold()


def link_key_digest(key: str) -> str:
    secret = f"careportal-password-reset-link:{settings.SECRET_KEY}".encode()
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


class _LinkTokenGenerator(PasswordResetTokenGenerator):
    # Its own salt: a token made here is worth nothing to any other password-reset view.
    key_salt = "careportal.accounts.recovery.PasswordResetLink"


_link_tokens = _LinkTokenGenerator()


@functools.cache
def _stand_in_hash(algorithm: str) -> str:
    """A hash nobody's answer matches, made by the current hasher: checking against it costs what a real check does."""
    return make_password(get_random_string(32), hasher=algorithm)


# Throttling -------------------------------------------------------------------------------------------------------


def _count(key: str, window_seconds: int) -> int:
    return attempt_record(key, window_seconds=window_seconds)


def _within_limits(*counters: tuple[str, str, int]) -> bool:
    """Count one attempt against every (scope, subject, limit) given; True while all are within their limits.

    Every counter is incremented, whatever the others say, so the counting itself is the same for everyone. Cache
    keys hold keyed hashes, never an identifier as typed.
    """
    window = settings.CAREPORTAL_RECOVERY_WINDOW_MINUTES * 60
    allowed = True
    for scope, subject, limit in counters:
        count = _count(f"careportal:recovery:{scope}:{_keyed('throttle', subject)}", window)
        allowed = allowed and count <= limit
    if not allowed:
        logger.info("recovery_throttled", scopes=[scope for scope, _, _ in counters])
    return allowed


# Forgotten password: the attempt ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecoveryAttempt:
    """Someone part-way through the forgotten-password journey: kept in their session between the two steps.

    `user_id` is None whenever there is no account that could be recovered this way; nothing outside this module
    may act on the difference.
    """

    user_id: int | None
    throttle_subject: str
    questions: tuple[str, ...]
    started_at: float

    @property
    def question_texts(self) -> list[str]:
        return [str(SecurityQuestion(question).label) for question in self.questions]

    def to_session(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "subject": self.throttle_subject,
            "questions": list(self.questions),
            "started_at": self.started_at,
        }

    @classmethod
    def from_session(cls, data: object) -> "RecoveryAttempt | None":
        """The attempt in the session, or None when there is none, it is malformed or it is too old."""
        if not isinstance(data, dict):
            return None
        try:
            attempt = cls(
                user_id=data["user_id"],
                throttle_subject=str(data["subject"]),
                questions=tuple(SecurityQuestion(q).value for q in data["questions"]),
                started_at=float(data["started_at"]),
            )
        except (KeyError, TypeError, ValueError):
            return None
        if (
            not (attempt.user_id is None or type(attempt.user_id) is int)
            or len(attempt.questions) != QUESTIONS_ASKED
            or time.time() - attempt.started_at > ATTEMPT_LIFETIME_SECONDS
        ):
            return None
        return attempt


def _account_for(identifier: str) -> User | None:
    """The one active account whose username, or email address, is `identifier` (case-insensitively)."""
    value = identifier.strip()
    matches = list(
        User.objects.filter(is_active=True)
        .filter(
            Q(username__iexact=value)
            | Q(email__iexact=value)
            | Q(emailaddress__email__iexact=value, emailaddress__verified=True)
        )
        .distinct()
        .order_by("pk")[:5]
    )
    if len(matches) == 1:
        return matches[0]
    # An email address shared by several accounts (a family's address) cannot say whose password to reset; a
    # username can.
    exact = [user for user in matches if user.get_username() == value]
    return exact[0] if len(exact) == 1 else None


def _made_up_questions(identifier: str) -> list[str]:
    """Three questions for an identifier with no recoverable account: a keyed hash of it picks them, so typing it
    again gives the same three, as it would for a real account."""
    normalised = normalise_identifier(identifier)
    ranked = sorted(SecurityQuestion.values, key=lambda question: _keyed("questions", f"{normalised}\n{question}"))
    return ranked[:QUESTIONS_HELD]


def questions_to_ask(*, identifier: str, held: Sequence[str], round_number: int) -> list[str]:
    """The 2 of the `held` questions to ask someone who typed `identifier`: the same 2, in the same order, every time,
    until `round_number` changes (see the module docstring)."""
    normalised = normalise_identifier(identifier)
    ranked = sorted(held, key=lambda question: _keyed("questions-asked", f"{normalised}\n{round_number}\n{question}"))
    return ranked[:QUESTIONS_ASKED]


def recovery_start(*, identifier: str) -> RecoveryAttempt:
    """Start a forgotten-password attempt for whatever was typed: pick the 2 questions to ask."""
    user = _account_for(identifier)
    # The same query whether or not there is an account.
    held = list(
        SecurityAnswer.objects.filter(user_id=user.pk if user is not None else NO_ACCOUNT_ID)
        .order_by("pk")
        .values_list("question", flat=True)
    )
    if user is None or len(held) < QUESTIONS_HELD:
        # No account, or one that cannot be recovered with questions (staff, an account set up without them): from
        # outside it looks like any other. Staff and such patients reset their password through the helpdesk.
        user, held = None, _made_up_questions(identifier)
    subject = f"user:{user.pk}" if user is not None else f"typed:{normalise_identifier(identifier)}"
    asked = questions_to_ask(
        identifier=identifier, held=held, round_number=user.recovery_questions_round if user is not None else 0
    )
    return RecoveryAttempt(
        user_id=user.pk if user is not None else None,
        throttle_subject=subject,
        questions=tuple(asked),
        started_at=time.time(),
    )


def recovery_answers_check(*, attempt: RecoveryAttempt, answers: Sequence[str], ip_address: str, link_url: str) -> None:
    """Check the answers; when they are all right for a real account, the worker emails it a reset link.

    Returns nothing on purpose: the caller's response must be the same whatever happened.
    """
    if len(answers) != len(attempt.questions):
        raise ValueError("one answer per question asked")
    if not _within_limits(
        ("password-account", attempt.throttle_subject, settings.CAREPORTAL_RECOVERY_ATTEMPTS_PER_ACCOUNT),
        ("password-ip", ip_address, settings.CAREPORTAL_RECOVERY_ATTEMPTS_PER_IP),
    ):
        return
    # The same query whether or not there is an account.
    stored = dict(
        SecurityAnswer.objects.filter(
            user_id=attempt.user_id if attempt.user_id is not None else NO_ACCOUNT_ID
        ).values_list("question", "answer_hash")
    )
    stand_in = _stand_in_hash(get_hasher().algorithm)
    # Every answer is checked, right or wrong, real question or made-up: the same hashing work every time.
    results = [
        answer_matches(answer, stored.get(question, stand_in))
        for question, answer in zip(attempt.questions, answers, strict=True)
    ]
    right = attempt.user_id is not None and all(question in stored for question in attempt.questions) and all(results)
    from careportal.accounts.tasks import send_password_reset_link

    enqueue_on_commit(send_password_reset_link, attempt.user_id if right else None, link_url)


# Forgotten password: the link -------------------------------------------------------------------------------------


@transaction.atomic
def password_reset_link_send(*, user_id: int | None, link_url: str) -> PasswordResetLink | None:
    """Make a reset link for the account and email it; earlier links of the account stop working. Runs in the task
    worker, so the request that asked for it took the same time whether or not there was anything to send."""
    if user_id is None:
        return None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return None
    PasswordResetLink.objects.filter(user=user).delete()
    key = secrets.token_urlsafe(32)
    link = PasswordResetLink.objects.create(
        user=user,
        key_digest=link_key_digest(key),
        token=_link_tokens.make_token(user),
        expires_at=timezone.now() + LINK_LIFETIME,
    )
    notification_send(
        kind=Kind.PASSWORD_RESET, user=user, personalisation={"link": f"{link_url}?{urlencode({'key': key})}"}
    )
    return link


def _is_usable(link: PasswordResetLink) -> bool:
    return (
        link.used_at is None
        and link.expires_at > timezone.now()
        and link.user.is_active
        and _link_tokens.check_token(link.user, link.token)
    )


def password_reset_link_find(*, digest: str | None) -> PasswordResetLink | None:
    """The usable link whose key has this digest (see `link_key_digest`), or None."""
    if not digest:
        return None
    link = PasswordResetLink.objects.select_related("user").filter(key_digest=digest).first()
    return link if link is not None and _is_usable(link) else None


@transaction.atomic
def password_reset_complete(*, link: PasswordResetLink, password: str, ip_address: str | None) -> User:
    """Set the new password (already validated) through a usable link; the link is then used up.

    Every session of the account ends, trusted browsers must do the second step again (allauth's trust depends on
    the password), the next attempt's questions are picked afresh (`recovery_questions_round`), the account event is
    recorded and a security notice is emailed. A pause of the account's two-step codes ends. A sign-in lock on the
    account from this IP address is lifted; locks from elsewhere stay.
    """
    locked = PasswordResetLink.objects.select_for_update().select_related("user").filter(pk=link.pk).first()
    if locked is None or not _is_usable(locked):
        raise PasswordResetLinkInvalidError
    user = locked.user
    user.set_password(password)
    # The next forgotten-password attempt for this account may ask a different 2 of its 3 questions.
    user.recovery_questions_round += 1
    user.save(update_fields=["password", "recovery_questions_round"])
    locked.used_at = timezone.now()
    locked.save(update_fields=["used_at"])
    account_event_record(user=user, kind=AccountEventKind.PASSWORD_RESET, ip_address=ip_address)
    notification_send(kind=Kind.SECURITY_CHANGE, user=user, personalisation={"change": "your password was reset"})
    user_sessions_end(user=user)
    trusted_devices_revoke_all(user=user)
    # Whoever was trying codes with the old password can no longer get that far: the codes' pause ends.
    transaction.on_commit(lambda: two_step_code_tries_clear(user=user))
    if ip_address:
        from axes.utils import reset as axes_reset

        username = user.get_username()
        transaction.on_commit(lambda: axes_reset(ip=ip_address, username=username))
    return user


# Forgotten username -----------------------------------------------------------------------------------------------


def username_reminder_request(*, email: str, ip_address: str) -> None:
    """Have the worker email the username of every account on this address. Returns nothing on purpose."""
    value = email.strip()
    if not _within_limits(
        ("username-address", normalise_identifier(value), settings.CAREPORTAL_RECOVERY_ATTEMPTS_PER_ACCOUNT),
        ("username-ip", ip_address, settings.CAREPORTAL_RECOVERY_ATTEMPTS_PER_IP),
    ):
        return
    # The same two queries and the same one job whether or not anything matches.
    on_user = User.objects.filter(is_active=True, email__iexact=value).values_list("pk", flat=True)
    confirmed = EmailAddress.objects.filter(email__iexact=value, verified=True, user__is_active=True).values_list(
        "pk", "user_id"
    )
    recipients: dict[int, int | None] = dict.fromkeys(on_user)
    for address_id, user_id in confirmed:
        recipients.setdefault(user_id, address_id)
    from careportal.accounts.tasks import send_username_reminders

    enqueue_on_commit(
        send_username_reminders, [[user_id, recipients[user_id]] for user_id in sorted(recipients)], ip_address
    )


@transaction.atomic
def username_reminders_send(*, recipients: Sequence[Sequence[int | None]], ip_address: str | None) -> int:
    """Email each account its username: to the address it was found by (a confirmed address of the account, or the
    account's own). Runs in the task worker. Returns how many were sent."""
    sent = 0
    for user_id, address_id in recipients:
        user = User.objects.filter(pk=int(user_id or NO_ACCOUNT_ID), is_active=True).first()
        if user is None:
            continue
        to_address = user.email
        if address_id is not None:
            address = EmailAddress.objects.filter(pk=address_id, user=user, verified=True).first()
            if address is None:
                continue
            to_address = address.email
        notification = notification_send(
            kind=Kind.USERNAME_REMINDER,
            user=user,
            to_address=to_address,
            personalisation={"username": user.get_username()},
        )
        if notification is not None:
            account_event_record(user=user, kind=AccountEventKind.USERNAME_REMINDER_SENT, ip_address=ip_address)
            sent += 1
    return sent
