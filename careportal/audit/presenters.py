"""The patient's access log in plain English: "Dr A Okafor, Haematology, viewed your blood test results on ..."."""

from dataclasses import dataclass

from careportal.audit.models import AccessEvent, ActorRole
from careportal.core.formatting import format_datetime
from careportal.patients.models import Patient


@dataclass(frozen=True)
class AccessLogEntry:
    when: str
    sentence: str


def _who(event: AccessEvent, *, patient: Patient) -> str:
    if event.actor_role == ActorRole.PATIENT and event.actor_id == patient.user_id:
        return "You"
    if event.actor_role == ActorRole.PROXY:
        return f"{event.actor_name} (acting for you)"
    if event.actor_role == ActorRole.HELPDESK:
        return f"{event.actor_name}, CarePortal helpdesk"
    if event.actor_role == ActorRole.SYSTEM:
        return "CarePortal"
    if event.care_team_id:
        return f"{event.actor_name}, {event.care_team.name},"  # type: ignore[union-attr]
    return event.actor_name or "Someone"


def access_log_entry(event: AccessEvent, *, patient: Patient) -> AccessLogEntry:
    when = format_datetime(event.occurred_at)
    sentence = f"{_who(event, patient=patient)} {event.get_action_display()} your {event.object_label} on {when}"
    return AccessLogEntry(when=when, sentence=sentence)
