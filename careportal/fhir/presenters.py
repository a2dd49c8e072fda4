"""What the consent and connected-apps pages say, in plain words."""

from dataclasses import dataclass

from careportal.access.layer import PatientChoice
from careportal.audit.models import ActorRole
from careportal.fhir import smart
from careportal.fhir.models import AppConnection
from careportal.home.presenters import choice_label


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
    whose: str
    sees: str
    connected: str
    last_used: str


def _date(value) -> str:  # type: ignore[no-untyped-def]
    from django.utils import timezone

    return timezone.localtime(value).strftime("%-d %B %Y at %-I:%M%p").replace("AM", "am").replace("PM", "pm")


def connection_rows(connections: list[AppConnection], *, user_id: int) -> list[ConnectionRow]:
    rows = []
    for connection in connections:
        own = connection.patient.user_id == user_id
        sees = listed(smart.words_for(connection.scopes.split()))
        rows.append(
            ConnectionRow(
                public_id=str(connection.public_id),
                app_name=connection.application.name or "An app",
                whose="Your record" if own else f"{connection.patient.full_name}'s record",
                sees=(sees[0].upper() + sees[1:]) if sees else "Who you are only, nothing from the record",
                connected=_date(connection.created_at),
                last_used=_date(connection.last_used_at) if connection.last_used_at else "Not used yet",
            )
        )
    return rows
