from typing import Any


def is_staff_member(user: Any) -> bool:
    """Helpdesk staff, superusers (who administer the trust's settings), or a member of an active care team."""
    if not user.is_authenticated:
        return False
    if user.is_helpdesk or user.is_superuser:
        return True
    return user.care_team_memberships.filter(is_active=True, care_team__is_active=True).exists()
