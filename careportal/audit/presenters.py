"""The patient's access log in plain English, one sentence a line: "Dr C Okafor from Haematology viewed your full
blood count result on 3 December 2026 at 14:05", "Priya Patel (your mother), on your behalf, viewed your test
results on …", "You viewed your letters on …". Staff read events as "Priya Patel on behalf of Arjun Patel"
(`staff_actor_text`, the admin's audit list)."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.urls import reverse

from careportal.audit.models import AccessEvent, ActorRole
from careportal.audit.selectors import WhoFilter
from careportal.core.formatting import format_datetime
from careportal.patients.models import Patient


@dataclass(frozen=True)
class AccessLogEntry:
    when: str
    sentence: str


@dataclass(frozen=True)
class EventNames:
    """What the page's events name, looked up once for the whole page (audit.selectors.event_names): the test of
    each result viewed, and how each person acting for the patient is related to them."""

    reports: Mapping[str, str] = field(default_factory=dict)  # report public id -> test name
    relationships: Mapping[int, str] = field(default_factory=dict)  # proxy user id -> "mother"


def _who(event: AccessEvent, *, patient: Patient, names: EventNames) -> str:
    if event.actor_role == ActorRole.PATIENT and event.actor_id == patient.user_id:
        return "You"
    if event.actor_role == ActorRole.PROXY:
        # "Priya Patel (your mother), on your behalf, viewed ...": everything a proxy does is done for the patient.
        relationship = names.relationships.get(event.actor_id or 0)
        return f"{event.actor_name}{f' (your {relationship})' if relationship else ''}, on your behalf,"
    if event.actor_role == ActorRole.HELPDESK:
        return f"{event.actor_name} from the CarePortal helpdesk"
    if event.care_team_id:
        return f"{event.actor_name} from {event.care_team.name}"  # type: ignore[union-attr]
    return event.actor_name or "Someone"


def _in_sentence(name: str) -> str:
    # "Full blood count" reads "full blood count" mid-sentence; "CT chest" and "HbA1c" keep their capitals.
    return name[0].lower() + name[1:] if name[1:2].islower() else name


def _what(event: AccessEvent, *, names: EventNames) -> str:
    label = event.object_label
    test_name = names.reports.get(event.object_id) if event.object_type == "results.diagnosticreport" else None
    if test_name and label == "test result":
        return f"your {_in_sentence(test_name)} result"
    if label.startswith(("your ", "a ", "an ", "the ")):
        return label
    return f"your {label}"


def access_log_entry(event: AccessEvent, *, patient: Patient, names: EventNames | None = None) -> AccessLogEntry:
    names = names or EventNames()
    when = format_datetime(event.occurred_at)
    if event.actor_role == ActorRole.SYSTEM:
        # Changes the hospital's own systems made (a merged record, details from the PAS): the label says it all.
        label = _what(event, names=names)
        return AccessLogEntry(when=when, sentence=f"{label[0].upper()}{label[1:]} on {when}")
    action = event.get_action_display()
    who = _who(event, patient=patient, names=names)
    if event.app_name:
        # Read through an app the person connected (careportal/fhir/): "You, through Health Diary, viewed ...".
        who = f"{who.rstrip(',')}, through {event.app_name},"
    sentence = f"{who} {action} {_what(event, names=names)} on {when}"
    return AccessLogEntry(when=when, sentence=sentence)


# The filter ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterLink:
    text: str
    href: str
    current: bool


FILTER_LABELS: dict[WhoFilter, str] = {
    WhoFilter.OTHERS: "Everyone but you",
    WhoFilter.HOSPITAL: "People at the hospital",
    WhoFilter.PROXIES: "People acting for you",
    WhoFilter.YOU: "You",
    WhoFilter.EVERYONE: "Everyone",
}

EMPTY_STATES: dict[WhoFilter, str] = {
    WhoFilter.OTHERS: "Nobody else has looked at or changed your record in CarePortal yet.",
    WhoFilter.HOSPITAL: "Nobody at the hospital has looked at or changed your record in CarePortal yet.",
    WhoFilter.PROXIES: "Nobody acting for you has looked at or changed your record in CarePortal.",
    WhoFilter.YOU: "You have not looked at your record in CarePortal yet.",
    WhoFilter.EVERYONE: "Nobody has looked at or changed your record in CarePortal yet.",
}

INTRODUCTIONS: dict[WhoFilter, str] = {
    WhoFilter.OTHERS: "Everyone who looked at or changed your record, apart from you, newest first.",
    WhoFilter.HOSPITAL: "Hospital staff, the CarePortal helpdesk and the hospital's own systems, newest first.",
    WhoFilter.PROXIES: "People you, or the hospital, have allowed to act for you, newest first.",
    WhoFilter.YOU: "What you looked at or changed yourself, newest first.",
    WhoFilter.EVERYONE: "Everyone, you included, newest first.",
}


def filter_links(current: WhoFilter) -> list[FilterLink]:
    base = reverse("audit:access-log")
    return [
        FilterLink(
            text=text, href=base if who == WhoFilter.OTHERS else f"{base}?who={who.value}", current=who == current
        )
        for who, text in FILTER_LABELS.items()
    ]


def page_query(who: WhoFilter) -> str:
    """What the paging links keep of the filter: a fixed word, never anything about the patient."""
    return "" if who == WhoFilter.OTHERS else f"&who={who.value}"


# Staff ---------------------------------------------------------------------------------------------------------


def staff_actor_text(event: AccessEvent) -> str:
    """Who did it, as staff read it in the audit list: "Priya Patel on behalf of Arjun Patel" for a proxy (needs
    `on_behalf_of` loaded), "Dr C Okafor, Haematology" for a clinician, the name alone otherwise."""
    name = event.actor_name or "Someone"
    if event.actor_role == ActorRole.PROXY and event.on_behalf_of_id:
        return f"{name} on behalf of {event.on_behalf_of.full_name}"  # type: ignore[union-attr]
    if event.care_team_id:
        return f"{name}, {event.care_team.name}"  # type: ignore[union-attr]
    return name
