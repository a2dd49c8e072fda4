"""What the consent and connected-apps pages say, in plain words."""

from dataclasses import dataclass

from careportal.access.layer import PatientChoice
from careportal.audit.models import ActorRole
from careportal.fhir import smart
from careportal.fhir.models import AppConnection
from careportal.fhir.selectors import ConnectionState
from careportal.home.presenters import choice_label
from careportal.proxy.presenters import person_name


def listed(words: list[str]) -> str:
    if not words:
        return ""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


@dataclass(frozen=True)
class ConsentOption:
    public_id: str
    label: str  # "You", "Arjun Patel (your child)"
    whose: str  # "your record", "Arjun Patel's record"
    sees: list[str]
    withheld: list[str]
    nothing: bool  # the app asked for information and would get none of it from this record


def consent_options(choices: list[PatientChoice], requested: list[str]) -> list[ConsentOption]:
    options = []
    for choice in choices:
        granted = smart.granted_scopes(requested, record_scopes=choice.scopes)
        sees = smart.words_for(granted)
        own = choice.role == ActorRole.PATIENT
        options.append(
            ConsentOption(
                public_id=str(choice.patient.public_id),
                label=choice_label(choice),
                whose="your record" if own else f"{choice.patient.full_name}'s record",
                sees=sees,
                withheld=smart.withheld_words(requested, granted),
                nothing=smart.asks_for_data(requested) and not sees,
            )
        )
    return options


def consent_radio_items(options: list[ConsentOption], selected: str | None) -> list[dict]:
    items = []
    for option in options:
        hint = f"It would see {listed(option.sees)}." if option.sees else "It would see nothing from this record."
        if option.withheld:
            hint += f" Not {listed(option.withheld)}: you cannot see them."
        items.append(
            {
                "value": option.public_id,
                "text": option.label,
                "hint": {"text": hint},
                "checked": selected == option.public_id,
            }
        )
    return items


@dataclass(frozen=True)
class ConnectionRow:
    public_id: str
    app_name: str
    whose: str  # "Your record", "Arjun Patel's record"
    whose_in_sentence: str  # "your record", "Arjun Patel's record"
    connected_by: str  # "You", "Priya Patel, on your behalf"
    sees: str
    connected: str
    last_used: str
    stopped: str  # why the app can no longer read the record, or "" while it works


def _date(value) -> str:  # type: ignore[no-untyped-def]
    from django.utils import timezone

    return timezone.localtime(value).strftime("%-d %B %Y at %-I:%M%p").replace("AM", "am").replace("PM", "pm")


def _stopped(connection: AppConnection, *, by_me: bool) -> str:
    if by_me:
        return (
            "Stopped: you can no longer see everything this app was allowed to read. "
            "Connect it again to share what you can see now."
        )
    return f"Stopped: {person_name(connection.user)} can no longer see everything this app was allowed to read."


def connection_rows(states: list[ConnectionState], *, user_id: int) -> list[ConnectionRow]:
    """Rows for /your-apps/: the person's own record's apps first, then each record they act for."""
    rows = []
    ordered = sorted(states, key=lambda s: s.connection.patient.user_id != user_id)  # stable: newest first within
    for state in ordered:
        connection = state.connection
        own = connection.patient.user_id == user_id
        by_me = connection.user_id == user_id
        sees = listed(smart.words_for(connection.scopes.split()))
        rows.append(
            ConnectionRow(
                public_id=str(connection.public_id),
                app_name=connection.application.name or "An app",
                whose="Your record" if own else f"{connection.patient.full_name}'s record",
                whose_in_sentence="your record" if own else f"{connection.patient.full_name}'s record",
                connected_by="You" if by_me else f"{person_name(connection.user)}, on your behalf",
                sees=(sees[0].upper() + sees[1:]) if sees else "Who you are only, nothing from the record",
                connected=_date(connection.created_at),
                last_used=_date(connection.last_used_at) if connection.last_used_at else "Not used yet",
                stopped="" if state.working else _stopped(connection, by_me=by_me),
            )
        )
    return rows
