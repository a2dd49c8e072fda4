import datetime
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from careportal.accounts.models import User
from careportal.core.bulk_sql import insert_rows
from careportal.core.tasks import enqueue_on_commit
from careportal.notifications.kinds import SPECS, Kind
from careportal.notifications.models import Channel, Notification, NotificationStatus

MAX_ATTEMPTS = 6
# 1, 2, 4, 8, 16 minutes between tries: a provider outage of half an hour loses nothing.
FIRST_RETRY_DELAY = datetime.timedelta(minutes=1)


class UnknownPersonalisationError(ValueError):
    pass


def retry_delay(attempts: int) -> datetime.timedelta:
    return FIRST_RETRY_DELAY * (2 ** max(attempts - 1, 0))


@dataclass(frozen=True)
class Route:
    channel: Channel
    to_address: str


def _routes(*, kind: Kind, email: str, choice: dict[str, Any] | None) -> list[Route]:
    """Where one notification of `kind` goes for a person with account email `email` and, when they are a patient,
    their choices (`notify_by_email`, `notify_by_sms`, `mobile_phone`). The one place that honours them.

    Kinds that do not follow preferences (sign-in codes, links, account changes) go by email only. A patient's
    choice is followed as far as it can be: text messages need a mobile number and GOV.UK Notify, and someone who
    would otherwise get nothing (text only, but no mobile number or no Notify) gets an email, not silence."""
    if not SPECS[kind].follows_preferences or choice is None:
        return [Route(Channel.EMAIL, email)] if email else []
    routes = []
    if choice["notify_by_email"] and email:
        routes.append(Route(Channel.EMAIL, email))
    if choice["notify_by_sms"] and choice["mobile_phone"] and sms_available():
        routes.append(Route(Channel.SMS, choice["mobile_phone"]))
    if not routes and email:
        routes.append(Route(Channel.EMAIL, email))
    return routes


def sms_available() -> bool:
    """Text messages need GOV.UK Notify; with email through Django, a patient who chose texts gets emails."""
    return bool(settings.NOTIFICATIONS_BACKEND == "notify")


_CHOICE_FIELDS = ("user_id", "notify_by_email", "notify_by_sms", "mobile_phone")


def _choices_of(user_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The notification choices of those of these accounts that are a patient's own, in one query."""
    from careportal.patients.models import Patient

    if not user_ids:
        return {}
    # order_by(): no sort by the patients' names (Patient's default ordering), which this dict does not need.
    rows = Patient.objects.filter(user_id__in=user_ids).order_by().values(*_CHOICE_FIELDS)
    return {row["user_id"]: row for row in rows}


def notification_send(
    *,
    kind: Kind,
    user: User | None = None,
    to_address: str = "",
    channel: Channel = Channel.EMAIL,
    personalisation: dict[str, str] | None = None,
) -> Notification | None:
    """Queue an email (or text) to `user`, or to `to_address` when there is no account; it is sent after commit.

    For the kinds that follow the patient's choices (KindSpec.follows_preferences), a patient gets it by email,
    text message or both, as they chose on /your-details/contact-preferences/; the email one is returned when there
    is one. `to_address` (or `channel=Channel.SMS`) sends to that one address as given, choices aside.

    Returns None, sending nothing, when there is no address: callers need not check, and the caller's response
    must never differ for it (account enumeration).
    """
    personalisation = {key: str(value) for key, value in (personalisation or {}).items()}
    unknown = set(personalisation) - SPECS[kind].personalisation
    if unknown:
        raise UnknownPersonalisationError(f"{kind.value} does not accept {sorted(unknown)}")
    if "first_name" in SPECS[kind].personalisation:
        personalisation.setdefault("first_name", (user.first_name if user else "") or "there")
    if to_address or user is None or channel != Channel.EMAIL:
        routes = [Route(channel, to_address)] if to_address else []
    else:
        choice = _choices_of([user.pk]).get(user.pk) if SPECS[kind].follows_preferences else None
        routes = _routes(kind=kind, email=user.email, choice=choice)
    if not routes:
        return None
    from careportal.notifications.tasks import deliver_notification

    notifications = [
        Notification.objects.create(
            user=user,
            kind=kind.value,
            channel=route.channel,
            to_address=route.to_address,
            personalisation=personalisation,
        )
        for route in routes
    ]
    for notification in notifications:
        enqueue_on_commit(deliver_notification, notification.pk)
    return next((n for n in notifications if n.channel == Channel.EMAIL), notifications[0])


# One delivery task per this many notifications: a release of thousands of results queues a few tasks, not one each.
NOTIFICATIONS_PER_TASK = 500
# The columns notifications_send_many writes; the others keep their defaults (NULL).
_SEND_MANY_FIELDS = (
    "public_id",
    "user_id",
    "kind",
    "channel",
    "to_address",
    "personalisation",
    "status",
    "attempts",
    "last_error",
    "provider_reference",
    "created_at",
)


def notifications_send_many(*, kind: Kind, users: Iterable[User]) -> list[Notification]:
    """Queue the same email to many people at once (for example "you have a new test result"), in one insert.

    The guarantees of `notification_send`: only the kind's personalisation (here the first name, nothing else), the
    channels each patient chose (one query for all of them), no row for someone with no address, and delivery by
    the worker only after the caller's transaction commits. Each notification is still delivered, retried and
    expired on its own. Returns the queued notifications; `notifications_queue_many` does the same without them.
    """
    ids, rows = _queue_many(kind=kind, users=users)
    created = [
        Notification(
            pk=pk,
            public_id=public_id,
            user_id=user_id,
            kind=kind_value,
            channel=channel,
            to_address=to_address,
            personalisation=personalisation,
            status=status,
            attempts=attempts,
            last_error=last_error,
            provider_reference=provider_reference,
            created_at=created_at,
        )
        for pk, (
            public_id,
            user_id,
            kind_value,
            channel,
            to_address,
            personalisation,
            status,
            attempts,
            last_error,
            provider_reference,
            created_at,
        ) in zip(ids, rows, strict=True)
    ]
    for notification in created:
        notification._state.adding, notification._state.db = False, "default"
    return created


def notifications_queue_many(*, kind: Kind, users: Iterable[User]) -> int:
    """`notifications_send_many` for callers that do not need the notifications back (the release job): the same
    rows and guarantees, without a model instance per row. Returns how many were queued."""
    ids, _ = _queue_many(kind=kind, users=users)
    return len(ids)


def _queue_many(*, kind: Kind, users: Iterable[User]) -> tuple[list[int], list[tuple[Any, ...]]]:
    """Insert the rows of `notifications_send_many` and enqueue their delivery on commit; returns their ids and
    the rows (in `_SEND_MANY_FIELDS` order)."""
    if SPECS[kind].personalisation - {"first_name"}:
        raise UnknownPersonalisationError(f"{kind.value} needs more than a first name: use notification_send")
    wants_first_name = "first_name" in SPECS[kind].personalisation
    users = list(users)
    choices = _choices_of([user.pk for user in users]) if SPECS[kind].follows_preferences else {}
    now = timezone.now()
    rows = [
        (
            uuid.uuid4(),
            user.pk,
            kind.value,
            str(route.channel),
            route.to_address,
            {"first_name": user.first_name or "there"} if wants_first_name else {},
            str(NotificationStatus.QUEUED),
            0,
            "",
            "",
            now,
        )
        for user in users
        for route in _routes(kind=kind, email=user.email, choice=choices.get(user.pk))
    ]
    if not rows:
        return [], []
    # One multi-row INSERT without a model instance per row first (careportal/core/bulk_sql.py): the release job
    # sends hundreds of these per batch, and bulk_create spent longer preparing them than the database storing them.
    ids = insert_rows(Notification, _SEND_MANY_FIELDS, rows, returning_pk=True)
    from careportal.notifications.tasks import deliver_notifications

    for start in range(0, len(ids), NOTIFICATIONS_PER_TASK):
        enqueue_on_commit(deliver_notifications, ids[start : start + NOTIFICATIONS_PER_TASK])
    return ids, rows


@transaction.atomic
def notification_retry_now(*, notification: Notification) -> None:
    """Helpdesk: try a failed notification again (only while its address and content are still held)."""
    notification = Notification.objects.select_for_update().get(pk=notification.pk)
    if (
        notification.status not in {NotificationStatus.FAILED, NotificationStatus.RETRYING}
        or not notification.to_address
    ):
        return
    notification.status = NotificationStatus.QUEUED
    notification.next_attempt_at = None
    notification.save(update_fields=["status", "next_attempt_at"])
    from careportal.notifications.tasks import deliver_notification

    enqueue_on_commit(deliver_notification, notification.pk)


def is_too_old(notification: Notification, *, now: datetime.datetime) -> bool:
    max_age = SPECS[Kind(notification.kind)].max_age_minutes
    return max_age is not None and now - notification.created_at > datetime.timedelta(minutes=max_age)


def _enqueue_retry(notification: Notification) -> None:
    """Schedule the next try with the task backend when it can defer; the periodic sweep below catches it
    otherwise (and catches any task lost in a crash)."""
    from careportal.notifications.tasks import deliver_notification

    if deliver_notification.get_backend().supports_defer:
        enqueue_on_commit(deliver_notification.using(run_after=notification.next_attempt_at), notification.pk)


# A queued notification whose task has not run for this long is assumed lost and enqueued again.
LOST_AFTER = datetime.timedelta(minutes=10)


def notifications_enqueue_due(*, now: datetime.datetime | None = None) -> int:
    """Enqueue retries that are due, and queued notifications whose task was lost. Idempotent: delivery itself
    refuses to send a notification twice."""
    from careportal.notifications.tasks import deliver_notification

    now = now or timezone.now()
    due = Notification.objects.filter(
        models.Q(status=NotificationStatus.RETRYING, next_attempt_at__lte=now)
        | models.Q(status=NotificationStatus.QUEUED, created_at__lte=now - LOST_AFTER)
    ).values_list("pk", flat=True)
    count = 0
    for pk in due.iterator():
        enqueue_on_commit(deliver_notification, pk)
        count += 1
    return count


def _clear_content(notification: Notification) -> None:
    notification.to_address = ""
    notification.personalisation = {}


def notification_deliver(*, notification_id: int) -> NotificationStatus | None:
    """Send one notification once. Safe to call twice: a sent one is not sent again."""
    from careportal.notifications.backends import PermanentSendError, RetryableSendError, get_backend

    with transaction.atomic():
        notification = Notification.objects.select_for_update().filter(pk=notification_id).first()
        if notification is None or notification.status in {
            NotificationStatus.SENT,
            NotificationStatus.FAILED,
            NotificationStatus.EXPIRED,
        }:
            return None
        now = timezone.now()
        if is_too_old(notification, now=now):
            notification.status = NotificationStatus.EXPIRED
            _clear_content(notification)
            notification.save()
            return NotificationStatus.EXPIRED
        notification.attempts += 1
        kind = Kind(notification.kind)
        try:
            backend = get_backend()
            if notification.channel == Channel.SMS:
                reference = backend.send_sms(
                    kind=kind, to_number=notification.to_address, personalisation=notification.personalisation
                )
            else:
                reference = backend.send_email(
                    kind=kind, to_address=notification.to_address, personalisation=notification.personalisation
                )
        except RetryableSendError as error:
            notification.last_error = error.summary
            if notification.attempts >= MAX_ATTEMPTS:
                notification.status = NotificationStatus.FAILED
            else:
                notification.status = NotificationStatus.RETRYING
                notification.next_attempt_at = now + retry_delay(notification.attempts)
            notification.save()
            if notification.status == NotificationStatus.RETRYING:
                _enqueue_retry(notification)
            return NotificationStatus(notification.status)
        except PermanentSendError as error:
            notification.last_error = error.summary
            notification.status = NotificationStatus.FAILED
            notification.save()
            return NotificationStatus.FAILED
        notification.status = NotificationStatus.SENT
        notification.sent_at = now
        notification.provider_reference = reference[:100]
        notification.last_error = ""
        _clear_content(notification)
        notification.save()
        return NotificationStatus.SENT
