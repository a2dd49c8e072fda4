import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """Someone who signs in. A user may be a patient, a proxy for others, a member of staff, or several at once.

    Being a patient is the link `Patient.user`; acting for someone is a `ProxyRelationship`; staff roles are
    `CareTeamMembership` rows and the `is_helpdesk` flag. The user row itself holds no clinical data.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Shown to staff and in the audit log ("Dr A Okafor"); patients' own names live on Patient.
    display_name = models.CharField(max_length=150, blank=True)
    is_helpdesk = models.BooleanField(
        default=False, help_text="Helpdesk staff see account data and never clinical data."
    )

    class Meta:
        db_table = "accounts_user"

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def audit_name(self) -> str:
        return self.display_name or self.get_full_name() or self.username
