"""What the home page shows: one card per part of the record the viewer may see, each with its empty state."""

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse

from careportal.access.layer import PatientChoice, Viewer
from careportal.access.scopes import Scope
from careportal.appointments.selectors import upcoming_count
from careportal.audit.models import ActorRole
from careportal.core.addresses import fixed_url
from careportal.letters.selectors import letters_count
from careportal.messaging.selectors import thread_counts
from careportal.patients.presenters import details_title
from careportal.patients.voice import Voice, voice_for
from careportal.results.selectors import results_ready_count


@dataclass(frozen=True)
class HomeCard:
    heading: str
    description: str
    href: str | None = None


# The empty states say what will appear and when, so a new patient is not left wondering. They speak to the
# patient, or about them by first name to someone acting for them (careportal/patients/voice.py).
def _empty_results(v: Voice) -> str:
    return (
        f"{v.has} no test results to show yet. Results appear here once they are ready: most blood test results "
        "after 1 working day, scans after about 3 weeks, and some only after a clinician has looked at them."
    )


def _empty_messages(v: Voice) -> str:
    return (
        f"{v.has} no messages. Replies from {v.possessive} care teams will appear here. Messages are not for "
        "urgent problems: in an emergency call 999, or for urgent advice call 111."
    )


def _empty_appointments(v: Voice) -> str:
    return (
        f"{v.has} no upcoming appointments. When the hospital books an appointment for {v.subject}, it will "
        "appear here with the date, time and place, or how to join a video appointment."
    )


def _empty_letters(v: Voice) -> str:
    return f"{v.has} no letters. Letters from {v.possessive} clinics will appear here as soon as they are sent."


CARDS: list[tuple[Scope, str, Callable[[Voice], str]]] = [
    (Scope.RESULTS, "Test results", _empty_results),
    (Scope.MESSAGES, "Messages", _empty_messages),
    (Scope.APPOINTMENTS, "Appointments", _empty_appointments),
    (Scope.LETTERS, "Letters", _empty_letters),
]


def _results_card(viewer: Viewer, empty_description: str) -> HomeCard:
    # A count only: what the results are, or whether they are normal, is never on the home page.
    ready = results_ready_count(viewer=viewer)
    description = empty_description
    if ready:
        description = f"{ready} test result{'s are' if ready != 1 else ' is'} ready to view."
    return HomeCard(heading="Test results", description=description, href=reverse("results:list"))


def _messages_card(viewer: Viewer, empty_description: str) -> HomeCard:
    # Counts only: who wrote, about what, and what they said are never on the home page.
    v = voice_for(viewer)
    threads, unread = thread_counts(viewer=viewer)
    description = empty_description
    if unread:
        description = f"{v.has} {unread} unread message{'s' if unread != 1 else ''}."
    elif threads:
        description = (
            f"{v.has} no unread messages. Read the conversations with {v.possessive} care teams or write a new one."
        )
    return HomeCard(heading="Messages", description=description, href=reverse("messaging:list"))


def _appointments_card(viewer: Viewer, empty_description: str) -> HomeCard:
    # A count only: when, where and what for are never on the home page.
    v = voice_for(viewer)
    count = upcoming_count(viewer=viewer)
    description = empty_description
    if count:
        description = f"{v.has} {count} upcoming appointment{'s' if count != 1 else ''}."
    return HomeCard(heading="Appointments", description=description, href=reverse("appointments:list"))


def _letters_card(viewer: Viewer, empty_description: str) -> HomeCard:
    # A count only: which teams wrote, and about what, is never on the home page.
    v = voice_for(viewer)
    count = letters_count(viewer=viewer)
    description = empty_description
    if count:
        description = f"{v.has} {count} letter{'s' if count != 1 else ''} from {v.possessive} clinics."
    return HomeCard(heading="Letters", description=description, href=reverse("letters:list"))


def _card(viewer: Viewer, scope: Scope, heading: str, description: str) -> HomeCard:
    if scope == Scope.RESULTS:
        return _results_card(viewer, description)
    if scope == Scope.MESSAGES:
        return _messages_card(viewer, description)
    if scope == Scope.APPOINTMENTS:
        return _appointments_card(viewer, description)
    if scope == Scope.LETTERS:
        return _letters_card(viewer, description)
    return HomeCard(heading=heading, description=description)


def home_cards(viewer: Viewer) -> list[HomeCard]:
    v = voice_for(viewer)
    cards = [_card(viewer, scope, heading, empty(v)) for scope, heading, empty in CARDS if viewer.can(scope)]
    if viewer.can(Scope.DETAILS):
        cards.append(
            HomeCard(
                heading=details_title(v),
                description="Check the address, phone numbers and email address the hospital has on record.",
                href=reverse("patients:your-details"),
            )
        )
    if viewer.can(Scope.ACCESS_LOG):
        cards.append(
            HomeCard(
                heading="Who has viewed your record",
                description="See who has looked at or changed your information in CarePortal, and when.",
                href=reverse("audit:access-log"),
            )
        )
    # "Download my record" (careportal/fhir/export_*.py): a copy of what this person can see of the record.
    cards.append(
        HomeCard(
            heading="Download a copy of your record" if v.own else f"Download a copy of {v.possessive} record",
            description="Get a copy to keep or to give to a health app: a summary you can read and a file in the "
            "standard format for health records.",
            href=reverse("export:start"),
        )
    )
    if viewer.role == ActorRole.PATIENT:
        # Who can act for the patient is theirs alone to see (careportal/proxy/access.py): never on a proxy's home.
        cards.append(
            HomeCard(
                heading="Access for others",
                description="Let a family member, friend or carer help with your record, see who can, or take "
                "their access away.",
                href=reverse("proxy:hub"),
            )
        )
    # The signed-in person's own account, whoever's record they are looking at: someone acting for another person
    # is told it is theirs, and that the other person's own sign-in is not theirs to change.
    own_account = "Two-step verification, your password, trusted devices and where you are signed in."
    if not v.own:
        own_account = (
            f"Your own account, not {v.possessive}: two-step verification, your password, trusted devices and "
            f"where you are signed in. Only {v.name} can change how {v.pronoun} sign in."
        )
    cards.append(HomeCard(heading="Sign-in and security", description=own_account, href=reverse("accounts:security")))
    return cards


def patient_navigation(viewer: Viewer | None) -> list[dict[str, str]]:
    if viewer is None:
        return []
    items = [{"href": fixed_url("home:home"), "text": "Home"}]
    if viewer.can(Scope.RESULTS):
        items.append({"href": fixed_url("results:list"), "text": "Test results"})
    if viewer.can(Scope.MESSAGES):
        items.append({"href": fixed_url("messaging:list"), "text": "Messages"})
    if viewer.can(Scope.APPOINTMENTS):
        items.append({"href": fixed_url("appointments:list"), "text": "Appointments"})
    if viewer.can(Scope.LETTERS):
        items.append({"href": fixed_url("letters:list"), "text": "Letters"})
    if viewer.can(Scope.DETAILS):
        items.append({"href": fixed_url("patients:your-details"), "text": "Details"})
    if viewer.can(Scope.ACCESS_LOG):
        items.append({"href": fixed_url("audit:access-log"), "text": "Who has viewed your record"})
    return items


# How the proxy is related to the patient, as the patient would say it ("mother"), means the patient is their child.
PARENT_WORDS = frozenset(
    {
        "mother",
        "father",
        "mum",
        "dad",
        "parent",
        "guardian",
        "legal guardian",
        "special guardian",
        "step-parent",
        "stepmother",
        "stepfather",
        "step-mother",
        "step-father",
        "adoptive parent",
        "adoptive mother",
        "adoptive father",
    }
)


def relationship_to_proxy(relationship: str) -> str:
    """How the patient is related to the proxy, from `ProxyRelationship.relationship`, which says how the proxy is
    related to the patient ("mother"): "your child" for a parent, else "you are their carer"."""
    words = " ".join(relationship.split()).lower()
    if not words:
        return "you act for them"
    if words in PARENT_WORDS:
        return "your child"
    return f"you are their {words}"


@dataclass(frozen=True)
class RecordChoice:
    """One record on the "Whose record do you want to see?" page."""

    public_id: str
    label: str  # "You", "Arjun Patel (your child)"
    access: str  # what it gives access to, in words


SCOPE_WORDS: list[tuple[Scope, str]] = [
    (Scope.RESULTS, "test results"),
    (Scope.MESSAGES, "messages"),
    (Scope.APPOINTMENTS, "appointments"),
    (Scope.LETTERS, "letters"),
    (Scope.DETAILS, "contact details"),
]


def _listed(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def choice_label(choice: PatientChoice) -> str:
    if choice.role == ActorRole.PATIENT:
        return "You"
    relationship = choice.relationship.relationship if choice.relationship else ""
    return f"{choice.patient.full_name} ({relationship_to_proxy(relationship)})"


def choice_access(choice: PatientChoice) -> str:
    if choice.role == ActorRole.PATIENT:
        return "Your own record: everything in it, and who has viewed it."
    words = [word for scope, word in SCOPE_WORDS if scope in choice.scopes]
    return f"You can see {_listed(words)}." if words else "You cannot see anything in this record at the moment."


def record_choices(choices: list[PatientChoice]) -> list[RecordChoice]:
    return [
        RecordChoice(public_id=str(c.patient.public_id), label=choice_label(c), access=choice_access(c))
        for c in choices
    ]
