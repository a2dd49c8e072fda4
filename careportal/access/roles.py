from typing import Any


def is_staff_member(user: Any) -> bool:
    """Helpdesk staff, or a member of at least one active care team."""
    if not user.is_authenticated:
        return False
    if user.is_helpdesk:
        return True
    return user.care_team_memberships.filter(is_active=True, care_team__is_active=True).exists()
