"""The links at the top of a care team's inbox (results, messages): one per filter and one per team, each keeping
the other choice. Only team public ids and filter names go into the address, never anything about a patient."""

from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from careportal.patients.models import CareTeam


def query_string(**params: str) -> str:
    return "?" + urlencode({key: value for key, value in params.items() if value})


def inbox_navigation(
    *,
    url_name: str,
    teams: Iterable[CareTeam],
    team: CareTeam | None,
    show: Enum,
    default_show: Enum,
    filter_labels: Mapping[Any, str],
) -> dict[str, Any]:
    base = reverse(url_name)
    team_param = str(team.public_id) if team else ""
    show_param = str(show.value) if show != default_show else ""
    return {
        "filters": [
            {
                "text": label,
                "href": base + query_string(team=team_param, show=str(value.value)),
                "current": value == show,
            }
            for value, label in filter_labels.items()
        ],
        "team_links": [
            {
                "text": each.name,
                "href": base + query_string(team=str(each.public_id), show=show_param),
                "current": team is not None and each.pk == team.pk,
            }
            for each in teams
        ],
        "all_teams_href": base + query_string(show=show_param),
        "page_query": query_string(team=team_param, show=show_param),
    }
