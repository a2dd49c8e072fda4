"""The one mechanism behind every care team's inbox (careportal/staff/inbox.py): the team picker, the filters, the
audit of the patients listed. The behaviour every inbox shares is tested here once per inbox: a new inbox (the
appointment requests) adds its entry to INBOXES."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pytest
from django.urls import reverse

from careportal.audit.models import AccessAction, AccessEvent
from careportal.staff.inbox import inbox_filter, inbox_navigation, inbox_team, query_string
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.patients.factories import CareTeamFactory, CareTeamMembershipFactory
from tests.results.factories import DiagnosticReportFactory


@dataclass(frozen=True)
class Inbox:
    url_name: str
    # One item in `team`'s inbox, shown under `name`.
    make: Callable[..., Any]
    names: tuple[str, str]
    list_audit_label: str

    @property
    def url(self) -> str:
        return reverse(self.url_name)


def _report(team, *, name: str = "Full blood count", **kwargs):  # type: ignore[no-untyped-def]
    return DiagnosticReportFactory(care_team=team, test_name=name, **kwargs)


def _thread(team, *, name: str = "A question", **kwargs):  # type: ignore[no-untyped-def]
    thread = ThreadFactory(care_team=team, subject=name, **kwargs)
    MessageFactory(thread=thread, body="Should I keep taking my iron tablets?", created_at=thread.created_at)
    return thread


INBOXES = [
    pytest.param(
        Inbox("results:inbox", _report, ("Full blood count", "Troponin"), "test results in a results inbox"),
        id="results",
    ),
    pytest.param(
        Inbox("messaging:inbox", _thread, ("Iron tablets", "Chest monitor"), "messages in a care team's inbox"),
        id="messages",
    ),
]


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture
def team(clinician_membership):
    return clinician_membership.care_team


# Every inbox ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("inbox", INBOXES)
def test_a_clinician_in_two_teams_can_pick_one(inbox, clinician_client, team, clinician_membership):
    cardiology = CareTeamMembershipFactory(user=clinician_membership.user, care_team__name="Cardiology").care_team
    ours, theirs = inbox.names
    inbox.make(team, name=ours)
    inbox.make(cardiology, name=theirs)

    both = _text(clinician_client.get(inbox.url))
    only_cardiology = _text(clinician_client.get(inbox.url, {"team": str(cardiology.public_id)}))

    assert ours in both and theirs in both
    assert theirs in only_cardiology and ours not in only_cardiology
    assert f"team={cardiology.public_id}" in both, "the team picker links to each team"


@pytest.mark.django_db
@pytest.mark.parametrize("inbox", INBOXES)
@pytest.mark.parametrize("team_id", ["not-a-uuid", "8e83aa24-a792-41be-b55d-a4320a283cc9"])
def test_a_team_that_is_not_yours_gets_404(inbox, clinician_client, team, team_id):
    assert clinician_client.get(inbox.url, {"team": team_id}).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("inbox", INBOXES)
def test_another_teams_id_in_the_picker_gets_404(inbox, clinician_client, team):
    other = CareTeamFactory(name="Cardiology")
    inbox.make(other, name=inbox.names[1])
    response = clinician_client.get(inbox.url, {"team": str(other.public_id)})
    assert response.status_code == 404
    assert inbox.names[1] not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("inbox", INBOXES)
def test_listing_is_recorded_once_per_patient_under_the_team(inbox, clinician_client, team, patient):
    inbox.make(team, patient=patient)
    inbox.make(team, patient=patient)
    inbox.make(team)

    clinician_client.get(inbox.url)

    events = AccessEvent.objects.filter(action=AccessAction.VIEW, object_label=inbox.list_audit_label)
    assert events.count() == 2
    assert events.filter(patient=patient, care_team=team).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("inbox", INBOXES)
def test_picking_a_team_narrows_the_audit_to_it(inbox, clinician_client, team, clinician_membership, patient):
    # Choosing a team narrows the audit as well as the rows: a patient of another of the clinician's teams, not on
    # the page, is not recorded as seen.
    cardiology = CareTeamMembershipFactory(user=clinician_membership.user, care_team__name="Cardiology").care_team
    inbox.make(team, patient=patient)
    inbox.make(cardiology)

    clinician_client.get(inbox.url, {"team": str(cardiology.public_id)})

    events = AccessEvent.objects.filter(action=AccessAction.VIEW, object_label=inbox.list_audit_label)
    assert events.count() == 1
    assert not events.filter(patient=patient).exists()
    assert events.get().care_team == cardiology


# The pieces ----------------------------------------------------------------------------------------------------


class Show(StrEnum):
    ALL = "all"
    HELD = "held"


@pytest.mark.parametrize(
    ("value", "expected"), [("held", Show.HELD), ("all", Show.ALL), (None, Show.ALL), ("", Show.ALL), ("x", Show.ALL)]
)
def test_an_unknown_or_missing_filter_falls_back_to_the_default(value, expected) -> None:
    assert inbox_filter(value, filters=Show, default=Show.ALL) is expected


@pytest.mark.django_db
def test_a_team_is_only_found_among_the_given_teams() -> None:
    mine, other = CareTeamFactory(), CareTeamFactory()
    assert inbox_team(teams=[mine], public_id=str(mine.public_id)) == mine
    assert inbox_team(teams=[mine], public_id=mine.public_id) == mine
    assert inbox_team(teams=[mine], public_id=other.public_id) is None
    assert inbox_team(teams=[mine], public_id="not-a-uuid") is None


def test_the_query_string_leaves_out_empty_choices() -> None:
    assert query_string(team="", show="") == "?"
    assert query_string(team="abc", show="") == "?team=abc"
    assert query_string(team="abc", show="held") == "?team=abc&show=held"


@pytest.mark.django_db
def test_each_link_keeps_the_other_choice() -> None:
    haematology, cardiology = CareTeamFactory(name="Haematology"), CareTeamFactory(name="Cardiology")
    navigation = inbox_navigation(
        url_name="results:inbox",
        teams=[cardiology, haematology],
        team=haematology,
        show=Show.HELD,
        default_show=Show.ALL,
        filter_labels={Show.ALL: "All results", Show.HELD: "Held"},
    )
    base = reverse("results:inbox")
    assert navigation["filters"] == [
        {"text": "All results", "href": f"{base}?team={haematology.public_id}&show=all", "current": False},
        {"text": "Held", "href": f"{base}?team={haematology.public_id}&show=held", "current": True},
    ]
    assert navigation["team_links"] == [
        {"text": "Cardiology", "href": f"{base}?team={cardiology.public_id}&show=held", "current": False},
        {"text": "Haematology", "href": f"{base}?team={haematology.public_id}&show=held", "current": True},
    ]
    assert navigation["all_teams_href"] == f"{base}?show=held"
    assert navigation["page_query"] == f"?team={haematology.public_id}&show=held"


@pytest.mark.django_db
def test_the_default_filter_stays_out_of_the_address() -> None:
    team = CareTeamFactory()
    navigation = inbox_navigation(
        url_name="messaging:inbox",
        teams=[team],
        team=None,
        show=Show.ALL,
        default_show=Show.ALL,
        filter_labels={Show.ALL: "All", Show.HELD: "Held"},
    )
    assert navigation["team_links"][0]["href"] == f"{reverse('messaging:inbox')}?team={team.public_id}"
    assert navigation["all_teams_href"] == f"{reverse('messaging:inbox')}?"
    assert navigation["page_query"] == "?"
