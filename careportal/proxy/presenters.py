"""What the pages at /access-for-others/ show, in plain words, so that templates hold no logic."""

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.urls import reverse
from django.utils import timezone

from careportal.access.proxy_policy import age_on, effective_proxy_scopes
from careportal.core.formatting import format_date, format_datetime
from careportal.patients.models import SensitiveCategory
from careportal.proxy import rules
from careportal.proxy.models import (
    ProxyBasis,
    ProxyEventKind,
    ProxyInvitation,
    ProxyOrigin,
    ProxyPolicy,
    ProxyRelationship,
    ProxyRelationshipEvent,
    ProxyScope,
    ProxyStatus,
)

# Each part of a record as a patient would say it, in the order the portal's menu lists them.
SCOPE_WORDS = {
    ProxyScope.APPOINTMENTS: "appointments",
    ProxyScope.RESULTS: "test results",
    ProxyScope.MESSAGES: "messages with care teams",
    ProxyScope.LETTERS: "letters",
    ProxyScope.DETAILS: "contact details",
}
SCOPE_ORDER = list(SCOPE_WORDS)

SENSITIVE_NEVER = (
    "Sexual health, HIV, genetics, mental health and safeguarding information is never shown to anyone acting "
    "for you, unless hospital staff have given them access to it."
)

ORIGIN_WORDS = {
    ProxyOrigin.INVITATION: "You invited them by email",
    ProxyOrigin.APPLICATION: "They applied and the helpdesk checked their identity and relationship to you",
    ProxyOrigin.STAFF: "Set up by hospital staff with your agreement",
}

PAST_STATUS_WORDS = {
    ProxyStatus.REVOKED: "Access taken away",
    ProxyStatus.ENDED: "Ended",
    ProxyStatus.DECLINED: "Not approved",
}


def scopes_in_words(scopes: Iterable[str]) -> str:
    """ "appointments, test results and letters", in the menu's order; "nothing" for none."""
    chosen = set(scopes)
    words = [SCOPE_WORDS[scope] for scope in SCOPE_ORDER if scope.value in chosen]
    if not words:
        return "nothing"
    if len(words) == 1:
        return words[0]
    return f"{', '.join(words[:-1])} and {words[-1]}"


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def sensitive_words(relationship: ProxyRelationship) -> str:
    granted = [SensitiveCategory(c).label for c in relationship.sensitive_categories_granted or [] if c]
    if not granted:
        return "Not shown to them."
    return f"Hospital staff have given them access to: {', '.join(granted)}."


def person_name(user: object) -> str:
    name = user.get_full_name()  # type: ignore[attr-defined]
    return str(name or user.username)  # type: ignore[attr-defined]


def _until(day: datetime.date | None) -> str:
    return format_date(day) if day else "No end date"


# The patient's side --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActingForYou:
    public_id: str
    name: str
    relationship: str
    sees: str
    narrowed: str
    sensitive: str
    since: str
    until: str
    began: str
    href: str


@dataclass(frozen=True)
class PendingInvitation:
    public_id: str
    email: str
    relationship: str
    sees: str
    sent: str
    expires: str
    expired: bool
    cancel_href: str


@dataclass(frozen=True)
class PastRow:
    name: str
    relationship: str
    status: str
    ended: str
    reason: str = ""
    href: str = ""


def _narrowed_for_patient(relationship: ProxyRelationship, today: datetime.date, policy: ProxyPolicy) -> str:
    if relationship.basis != ProxyBasis.PARENTAL_RESPONSIBILITY:
        return ""
    if age_on(relationship.patient.birth_date, today) >= policy.parental_full_access_until_age:
        return (
            f"You are {policy.parental_full_access_until_age} or older, so a parent or guardian can see your "
            f"{scopes_in_words(policy.scopes_kept_after_narrowing)} only."
        )
    return ""


def acting_for_you(relationship: ProxyRelationship, *, today: datetime.date, policy: ProxyPolicy) -> ActingForYou:
    effective = effective_proxy_scopes(relationship, today=today, policy=policy)
    return ActingForYou(
        public_id=str(relationship.public_id),
        name=person_name(relationship.proxy),
        relationship=relationship.relationship,
        sees=sentence(scopes_in_words(effective)),
        narrowed=_narrowed_for_patient(relationship, today, policy),
        sensitive=sensitive_words(relationship),
        since=format_date(relationship.valid_from),
        until=_until(relationship.valid_until),
        began=ORIGIN_WORDS.get(ProxyOrigin(relationship.origin), ""),
        href=reverse("proxy:relationship", args=[relationship.public_id]),
    )


def pending_invitation(invitation: ProxyInvitation, *, now: datetime.datetime) -> PendingInvitation:
    return PendingInvitation(
        public_id=str(invitation.public_id),
        email=invitation.email,
        relationship=invitation.relationship,
        sees=sentence(scopes_in_words(invitation.scopes)),
        sent=format_date(invitation.created_at),
        expires=format_date(invitation.expires_at),
        expired=invitation.expires_at <= now,
        cancel_href=reverse("proxy:invitation-cancel", args=[invitation.public_id]),
    )


def _ended(relationship: ProxyRelationship) -> str:
    if relationship.ended_at:
        return format_date(relationship.ended_at)
    if relationship.valid_until:
        return format_date(relationship.valid_until)
    return ""


@dataclass
class PatientSide:
    active: list[ActingForYou] = field(default_factory=list)
    invitations: list[PendingInvitation] = field(default_factory=list)
    past: list[PastRow] = field(default_factory=list)
    may_invite: bool = False
    may_manage: bool = False


def patient_side(
    *, relationships: list[ProxyRelationship], invitations: list[ProxyInvitation], patient: object
) -> PatientSide:
    today = timezone.localdate()
    now = timezone.now()
    policy = ProxyPolicy.current()
    side = PatientSide(
        may_invite=rules.patient_may_invite(patient, today=today),  # type: ignore[arg-type]
        may_manage=rules.patient_is_of_age(patient, today=today, policy=policy),  # type: ignore[arg-type]
    )
    for relationship in relationships:
        if relationship.status == ProxyStatus.ACTIVE and effective_proxy_scopes(
            relationship, today=today, policy=policy
        ):
            side.active.append(acting_for_you(relationship, today=today, policy=policy))
        elif relationship.status != ProxyStatus.REQUESTED:
            side.past.append(
                PastRow(
                    name=person_name(relationship.proxy),
                    relationship=relationship.relationship,
                    status=PAST_STATUS_WORDS.get(ProxyStatus(relationship.status), "Ended"),
                    ended=_ended(relationship),
                    href=reverse("proxy:relationship", args=[relationship.public_id]),
                )
            )
    side.invitations = [pending_invitation(invitation, now=now) for invitation in invitations]
    return side


# The proxy's side ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class YouActFor:
    public_id: str
    name: str
    given_name: str
    relationship: str
    sees: str
    narrowed: str
    until: str
    stop_href: str


@dataclass(frozen=True)
class Application:
    name: str
    relationship: str
    applied: str
    href: str
    reason: str = ""


@dataclass
class ProxySide:
    active: list[YouActFor] = field(default_factory=list)
    requested: list[Application] = field(default_factory=list)
    declined: list[Application] = field(default_factory=list)
    past: list[PastRow] = field(default_factory=list)


def _narrowed_for_proxy(relationship: ProxyRelationship, today: datetime.date, policy: ProxyPolicy) -> str:
    if relationship.basis != ProxyBasis.PARENTAL_RESPONSIBILITY:
        return ""
    patient = relationship.patient
    if age_on(patient.birth_date, today) >= policy.parental_full_access_until_age:
        return (
            f"Because {patient.given_name} is {policy.parental_full_access_until_age} or older, you can see "
            f"{patient.given_name}'s {scopes_in_words(policy.scopes_kept_after_narrowing)} only."
        )
    return ""


def proxy_side(relationships: list[ProxyRelationship]) -> ProxySide:
    today = timezone.localdate()
    policy = ProxyPolicy.current()
    side = ProxySide()
    for relationship in relationships:
        patient = relationship.patient
        status = relationship.status
        effective = effective_proxy_scopes(relationship, today=today, policy=policy)
        if status == ProxyStatus.ACTIVE and effective:
            side.active.append(
                YouActFor(
                    public_id=str(relationship.public_id),
                    name=patient.full_name,
                    given_name=patient.given_name,
                    relationship=relationship.relationship,
                    sees=sentence(scopes_in_words(effective)),
                    narrowed=_narrowed_for_proxy(relationship, today, policy),
                    until=_until(relationship.valid_until),
                    stop_href=reverse("proxy:stop", args=[relationship.public_id]),
                )
            )
        elif status == ProxyStatus.REQUESTED:
            side.requested.append(
                Application(
                    patient.full_name,
                    relationship.relationship,
                    format_date(relationship.created_at),
                    reverse("proxy:application", args=[relationship.public_id]),
                )
            )
        elif status == ProxyStatus.DECLINED:
            side.declined.append(
                Application(
                    patient.full_name,
                    relationship.relationship,
                    format_date(relationship.created_at),
                    reverse("proxy:application", args=[relationship.public_id]),
                    relationship.decision_reason,
                )
            )
        else:
            side.past.append(
                PastRow(
                    name=patient.full_name,
                    relationship=relationship.relationship,
                    status=PAST_STATUS_WORDS.get(ProxyStatus(status), "Ended"),
                    ended=_ended(relationship),
                )
            )
    return side


# One relationship's page ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    when: str
    what: str
    who: str
    before: str
    after: str
    note: str


def _event_scopes(event: ProxyRelationshipEvent) -> tuple[str, str]:
    if event.kind in {ProxyEventKind.SCOPES_CHANGED, ProxyEventKind.NARROWED_BY_AGE}:
        return sentence(scopes_in_words(event.scopes_before)), sentence(scopes_in_words(event.scopes_after))
    if event.scopes_after:
        return "", sentence(scopes_in_words(event.scopes_after))
    if event.scopes_before:
        return sentence(scopes_in_words(event.scopes_before)), ""
    return "", ""


def history_rows(events: list[ProxyRelationshipEvent], *, viewer_user_id: int) -> list[HistoryRow]:
    rows = []
    for event in events:
        before, after = _event_scopes(event)
        who = "You" if event.actor_id == viewer_user_id else (event.actor_name or "CarePortal")
        rows.append(
            HistoryRow(
                when=format_datetime(event.occurred_at),
                what=event.get_kind_display(),
                who=who,
                before=before,
                after=after,
                note=event.note,
            )
        )
    return rows


def relationship_summary(relationship: ProxyRelationship) -> list[dict[str, object]]:
    """The NHS.UK summary list rows for one relationship."""
    today = timezone.localdate()
    policy = ProxyPolicy.current()
    effective = effective_proxy_scopes(relationship, today=today, policy=policy)
    rows: list[tuple[str, str]] = [
        ("Name", person_name(relationship.proxy)),
        ("Relationship to you", relationship.relationship),
        ("Status", relationship.get_status_display()),
    ]
    if relationship.status == ProxyStatus.ACTIVE:
        sees = sentence(scopes_in_words(effective))
        narrowed = _narrowed_for_patient(relationship, today, policy)
        rows.append(("What they can see today", f"{sees}. {narrowed}".strip()))
    else:
        rows.append(("What they could see", sentence(scopes_in_words(relationship.scopes))))
    rows += [
        ("Sensitive information", sensitive_words(relationship)),
        ("From", format_date(relationship.valid_from)),
        ("Until", format_date(relationship.ended_at) if relationship.ended_at else _until(relationship.valid_until)),
        ("How it began", ORIGIN_WORDS.get(ProxyOrigin(relationship.origin), "")),
    ]
    return [{"key": {"text": key}, "value": {"text": value}} for key, value in rows]


def invitation_summary(invitation: ProxyInvitation) -> list[dict[str, object]]:
    rows = [
        ("Their relationship to the person", invitation.relationship),
        ("What you will be able to see", sentence(scopes_in_words(invitation.scopes))),
        ("Until", _until(invitation.valid_until)),
    ]
    return [{"key": {"text": key}, "value": {"text": value}} for key, value in rows]


def management_note(relationship: ProxyRelationship) -> str:
    """Why the patient cannot change this access here, or "" when they can."""
    today = timezone.localdate()
    if relationship.status != ProxyStatus.ACTIVE:
        return ""
    if not rules.patient_may_take_away(relationship, today=today):
        return (
            "Access to a child's record is managed by the hospital's helpdesk. If you want this changed, talk to "
            "the helpdesk or to your care team."
        )
    if not rules.patient_may_change_parts(relationship, today=today):
        policy = ProxyPolicy.current()
        return (
            f"What a parent or guardian can see is set by your age: from {policy.parental_full_access_until_age}, "
            f"your {scopes_in_words(policy.scopes_kept_after_narrowing)} only. You can take their access away. To "
            "let them see more, take this access away and then invite them."
        )
    return ""
