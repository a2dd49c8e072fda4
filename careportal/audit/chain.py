"""The audit hash chain: makes any change to the access log visible (`manage.py audit_verify`).

Writing an access event stays a plain INSERT: the hot path (every page of patient data) takes no lock and reads
nothing. A sealing job (`audit.seal`, every minute, and `manage.py audit_seal`) later chains the events in id order
into `AuditSeal` rows. Each seal covers the ids above the previous seal's last id up to its own last id, and
stores every event present there as (id, digest of the event's fields); its hash covers that list, the range and
the previous seal's hash. Verification recomputes everything and names, by id only, each event changed, removed
or added into a sealed range, and each seal altered, unlinked or missing.

Hashes are SHA-256, or HMAC-SHA256 with AUDIT_CHAIN_KEY. Without a key anyone who can write to the database and
reads this file can rewrite an event and recompute every seal after it; with a key kept out of the database (in
the processes' environment) they cannot. The trade-off: a lost key leaves the seals made with it uncheckable, so
the key is kept like SECRET_KEY, and old keys stay in AUDIT_CHAIN_OLD_KEYS after a change. The head hash is logged
at every seal (`audit_sealed`), so logs shipped elsewhere also anchor the chain: compare them with what
`audit_verify` prints.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from django.conf import settings
from django.db import connections, transaction
from django.db.models import Max
from django.utils import timezone

from careportal.audit.models import AccessEvent, AuditSeal

logger = structlog.get_logger(__name__)

GENESIS_HASH = "0" * 64
# The serialisation of an event in the digests of new seals. The fields of each format never change: a field added
# to AccessEvent needs a new format (tests/audit/test_chain.py fails until the new field is in one).
SEAL_FORMAT = 1
EVENT_FIELDS: dict[int, tuple[str, ...]] = {
    1: (
        "id",
        "occurred_at",
        "actor_id",
        "actor_name",
        "actor_role",
        "care_team_id",
        "patient_id",
        "on_behalf_of_id",
        "action",
        "object_label",
        "object_type",
        "object_id",
        "succeeded",
        "ip_address",
        "request_id",
        "app_name",
    )
}
_ENTRY = struct.Struct(">Q16s")
# The scheduler holds (1130459749, 1); sealers take this one for the length of a seal's transaction.
_SEALER_LOCK = (1130459749, 2)


# Keys ----------------------------------------------------------------------------------------------------------


def key_id_of(key: bytes) -> str:
    """A short name for a key, stored on each seal made with it; derived through the HMAC, so it reveals nothing."""
    return hmac.new(key, b"careportal audit chain key id", hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class Keyring:
    current: bytes | None = None
    by_id: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def from_settings(cls) -> Keyring:
        keys = [k.encode() for k in [settings.AUDIT_CHAIN_KEY, *settings.AUDIT_CHAIN_OLD_KEYS] if k]
        current = settings.AUDIT_CHAIN_KEY.encode() if settings.AUDIT_CHAIN_KEY else None
        return cls(current=current, by_id={key_id_of(key): key for key in keys})

    @property
    def current_id(self) -> str:
        return key_id_of(self.current) if self.current else ""


def _mac(key: bytes | None, message: bytes) -> bytes:
    if key is None:
        return hashlib.sha256(message).digest()
    return hmac.new(key, message, hashlib.sha256).digest()


# Serialisation -------------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat(timespec="microseconds")
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)  # an IP address, whatever type the driver returns it as


def event_digest(values: Sequence[Any], *, key: bytes | None) -> bytes:
    """The digest of one event's fields (in its format's order): canonical JSON, SHA-256 or HMAC, first 16 bytes."""
    canonical = json.dumps([_plain(v) for v in values], separators=(",", ":"), ensure_ascii=False)
    return _mac(key, b"careportal audit event\n" + canonical.encode())[:16]


def seal_hash(
    *, previous_hash: str, after_event_id: int, last_event_id: int, digests: bytes, format: int, key: bytes | None
) -> str:
    header = f"careportal audit seal\n{format}\n{previous_hash}\n{after_event_id}\n{last_event_id}\n"
    return _mac(key, header.encode() + digests).hex()


def _events(*, using: str, after: int, last: int, format: int) -> list[tuple[Any, ...]]:
    return list(
        AccessEvent.objects.using(using)
        .filter(id__gt=after, id__lte=last)
        .order_by("id")
        .values_list(*EVENT_FIELDS[format])
    )


# Sealing -------------------------------------------------------------------------------------------------------


def settled_before(*, now: datetime.datetime, margin: datetime.timedelta, using: str = "default") -> datetime.datetime:
    """Events that occurred before this moment can be sealed: no transaction still running can commit an event
    with a lower id than theirs.

    Ids come from a sequence when an event is inserted, but become visible when its transaction commits, so a
    transaction still running may yet commit an id lower than one already visible; sealing past it would later
    report its event as "added into a sealed range". So only events older than `margin` are sealed: an event that
    took id N was inserted after every lower id was taken, so if every transaction commits within `margin` of its
    insert (and servers' clocks agree within it), all lower ids are settled. On PostgreSQL the bound also stays
    `margin` before the start of the oldest transaction in this database that has written anything (a long
    export, a bulk import), however long it runs. (Reading only; the hot path never waits for the sealer. Watching
    the database's xmin horizon instead would be exact, but xids are shared by every database of a cluster, so one
    busy neighbour would stall sealing; a lock on the table would make inserts wait.) On SQLite the sealer's write
    transaction excludes every other writer, so the margin only absorbs clock differences.
    """
    before = now - margin
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Other sessions of the same role show their transaction start; the application runs as one role.
            cursor.execute(
                "SELECT min(xact_start) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
            )
            oldest = cursor.fetchone()[0]
        if oldest is not None:
            before = min(before, oldest - margin)
    return before


def _sealer_lock(using: str) -> bool:
    """On PostgreSQL, one sealer at a time (others skip this run); on SQLite the write transaction is the lock."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", _SEALER_LOCK)
        return bool(cursor.fetchone()[0])


def seal_after(
    head: AuditSeal | None, *, up_to: int, max_events: int, keyring: Keyring, using: str = "default"
) -> AuditSeal | None:
    """Add the seal that follows `head` (None: the first seal), covering events up to `up_to` (at most `max_events`
    of them). None when there is nothing to seal. A sealer whose `head` is no longer the head fails on the unique
    constraints instead of forking the chain."""
    after = head.last_event_id if head else 0
    rows = list(
        AccessEvent.objects.using(using)
        .filter(id__gt=after, id__lte=up_to)
        .order_by("id")
        .values_list(*EVENT_FIELDS[SEAL_FORMAT])[:max_events]
    )
    if not rows:
        return None
    key = keyring.current
    digests = b"".join(_ENTRY.pack(row[0], event_digest(row, key=key)) for row in rows)
    previous_hash = head.hash if head else GENESIS_HASH
    last = rows[-1][0]
    seal = AuditSeal(
        after_event_id=after,
        last_event_id=last,
        event_count=len(rows),
        event_digests=digests,
        previous_hash=previous_hash,
        hash=seal_hash(
            previous_hash=previous_hash,
            after_event_id=after,
            last_event_id=last,
            digests=digests,
            format=SEAL_FORMAT,
            key=key,
        ),
        format=SEAL_FORMAT,
        key_id=keyring.current_id,
    )
    seal.save(using=using)
    return seal


def audit_seal(
    *,
    now: datetime.datetime | None = None,
    margin: datetime.timedelta | None = None,
    max_events: int | None = None,
    max_seals: int = 1000,
    using: str = "default",
) -> list[AuditSeal]:
    """Seal every settled event not sealed yet, one transaction per seal. Idempotent; safe on several workers at
    once (one seals, the others find the lock taken and return)."""
    now = now or timezone.now()
    margin = margin if margin is not None else datetime.timedelta(seconds=settings.AUDIT_SEAL_MARGIN_SECONDS)
    max_events = max_events or settings.AUDIT_SEAL_MAX_EVENTS
    keyring = Keyring.from_settings()
    made: list[AuditSeal] = []
    for _ in range(max_seals):
        with transaction.atomic(using=using):
            if not _sealer_lock(using):
                break
            before = settled_before(now=now, margin=margin, using=using)
            head = AuditSeal.objects.using(using).order_by("-last_event_id").first()
            after = head.last_event_id if head else 0
            up_to = (
                AccessEvent.objects.using(using)
                .filter(id__gt=after, occurred_at__lt=before)
                .aggregate(last=Max("id"))["last"]
            )
            seal = (
                None
                if up_to is None
                else seal_after(head, up_to=up_to, max_events=max_events, keyring=keyring, using=using)
            )
        if seal is None:
            break
        made.append(seal)
        # Only ids and the hash: the hash logged here, kept in the trust's log store, anchors the chain.
        logger.info(
            "audit_sealed",
            seal_id=seal.pk,
            last_event_id=seal.last_event_id,
            events=seal.event_count,
            hash=seal.hash,
        )
    return made


# Verification --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    kind: str
    text: str
    event_id: int | None = None
    seal_id: int | None = None


@dataclass
class Verification:
    problems: list[Problem] = field(default_factory=list)
    events_checked: int = 0
    seals_checked: int = 0
    sealed_up_to: int = 0
    unsealed_events: int = 0
    head_hash: str = GENESIS_HASH

    @property
    def intact(self) -> bool:
        return not self.problems


def _ranges(ids: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive ids as (first, last) pairs, so that 10,000 removed events read as one line."""
    ranges: list[tuple[int, int]] = []
    for event_id in sorted(ids):
        if ranges and event_id == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], event_id)
        else:
            ranges.append((event_id, event_id))
    return ranges


def _events_text(first: int, last: int) -> str:
    return f"event {first}" if first == last else f"events {first} to {last}"


def _event_problems(kind: str, ids: Iterable[int], seal: AuditSeal, what: str) -> list[Problem]:
    return [
        Problem(
            kind=kind, event_id=first, seal_id=seal.pk, text=f"{_events_text(first, last)}: {what} (seal {seal.pk})"
        )
        for first, last in _ranges(ids)
    ]


def audit_verify(*, using: str = "default", keyring: Keyring | None = None) -> Verification:
    """Recompute the whole chain, seal by seal in the order they were made, and report every difference."""
    keyring = keyring or Keyring.from_settings()
    result = Verification()
    previous_hash, previous_last, keyed_seen = GENESIS_HASH, 0, False
    head: AuditSeal | None = None
    for seal in AuditSeal.objects.using(using).order_by("id").iterator(chunk_size=100):
        head = seal
        result.seals_checked += 1
        digests = bytes(seal.event_digests)
        problems = result.problems
        if seal.previous_hash != previous_hash:
            problems.append(
                Problem(
                    kind="seal_link",
                    seal_id=seal.pk,
                    text=f"seal {seal.pk}: does not follow the seal before it (a seal was altered or removed)",
                )
            )
        if seal.after_event_id > previous_last:
            problems.append(
                Problem(
                    kind="seal_missing",
                    seal_id=seal.pk,
                    event_id=previous_last + 1,
                    text=f"{_events_text(previous_last + 1, seal.after_event_id)}: not covered by any seal "
                    f"(the seal before seal {seal.pk} was removed)",
                )
            )
        elif seal.after_event_id < previous_last:
            problems.append(
                Problem(kind="seal_overlap", seal_id=seal.pk, text=f"seal {seal.pk}: overlaps the seal before it")
            )
        if seal.key_id:
            keyed_seen = True
        elif keyed_seen:
            problems.append(
                Problem(
                    kind="seal_key",
                    seal_id=seal.pk,
                    text=f"seal {seal.pk}: made without a key after seals made with one (the chain was rewritten)",
                )
            )
        if seal.key_id and seal.key_id not in keyring.by_id:
            problems.append(
                Problem(
                    kind="seal_key",
                    seal_id=seal.pk,
                    text=f"seal {seal.pk}: made with key {seal.key_id}, which is not configured (AUDIT_CHAIN_KEY, "
                    "AUDIT_CHAIN_OLD_KEYS): it cannot be checked",
                )
            )
            previous_hash, previous_last = seal.hash, max(previous_last, seal.last_event_id)
            continue
        key = keyring.by_id.get(seal.key_id) if seal.key_id else None
        expected = seal_hash(
            previous_hash=seal.previous_hash,
            after_event_id=seal.after_event_id,
            last_event_id=seal.last_event_id,
            digests=digests,
            format=seal.format,
            key=key,
        )
        if (
            seal.format not in EVENT_FIELDS
            or not hmac.compare_digest(expected, seal.hash)
            or len(digests) != seal.event_count * _ENTRY.size
        ):
            problems.append(
                Problem(
                    kind="seal_altered",
                    seal_id=seal.pk,
                    text=f"seal {seal.pk}: its contents do not match its hash (the seal was altered)",
                )
            )
            previous_hash, previous_last = seal.hash, max(previous_last, seal.last_event_id)
            continue
        sealed = dict(_ENTRY.iter_unpack(digests))
        present = {
            row[0]: row
            for row in _events(using=using, after=seal.after_event_id, last=seal.last_event_id, format=seal.format)
        }
        result.events_checked += len(present)
        removed = sealed.keys() - present.keys()
        added = present.keys() - sealed.keys()
        changed = [
            event_id
            for event_id in sealed.keys() & present.keys()
            if not hmac.compare_digest(event_digest(present[event_id], key=key), sealed[event_id])
        ]
        problems += _event_problems("changed", changed, seal, "changed after it was sealed")
        problems += _event_problems("removed", removed, seal, "removed after it was sealed")
        problems += _event_problems("added", added, seal, "added into a range that was already sealed")
        previous_hash, previous_last = seal.hash, max(previous_last, seal.last_event_id)
    if head is not None and keyring.current and not head.key_id:
        result.problems.append(
            Problem(
                kind="seal_key",
                seal_id=head.pk,
                text=f"seal {head.pk} (the newest): made without AUDIT_CHAIN_KEY. If the key was set only now, "
                "run `manage.py audit_seal` once new events exist; otherwise the chain may have been rewritten",
            )
        )
    result.sealed_up_to = previous_last
    result.head_hash = previous_hash
    result.unsealed_events = AccessEvent.objects.using(using).filter(id__gt=previous_last).count()
    result.events_checked += result.unsealed_events
    return result
