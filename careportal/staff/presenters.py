"""What the staff console shows: the rows of its tables, built here so that the template only lays them out."""

from careportal.core.table_rows import Cell
from careportal.patients.models import CareTeamMembership


def membership_table_rows(memberships: list[CareTeamMembership]) -> list[list[Cell]]:
    """The signed-in person's care teams: the team, their role in it, and the team's message response target."""
    return [
        [
            {"text": m.care_team.name},
            {"text": m.get_role_display()},
            {"text": m.care_team.response_target_text},
        ]
        for m in memberships
    ]
