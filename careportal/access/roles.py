from typing import Any


def is_staff_member(user: Any) -> bool:
    """Helpdesk staff, superusers (who administer the trust's settings), a member of an active care team, or an
    integration administrator (who works the HL7 queue and configures the inbound interfaces: the Django
    permission hl7.change_inboundmessage, given by the "Integration administrators" group), or print room staff
    (letters.work_print_room, given by the "Print room" group)."""
    if not user.is_authenticated:
        return False
    if user.is_helpdesk or user.is_superuser:
        return True
    if user.care_team_memberships.filter(is_active=True, care_team__is_active=True).exists():
        return True
    return bool(user.has_perm("hl7.change_inboundmessage") or user.has_perm("letters.work_print_room"))
