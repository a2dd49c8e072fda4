from django.contrib import admin

from careportal.audit.models import AccessEvent
from careportal.audit.presenters import staff_actor_text


@admin.register(AccessEvent)
class AccessEventAdmin(admin.ModelAdmin):
    """Read-only: audit events are append-only, for the admin as for everyone else."""

    list_display = ("occurred_at", "who", "actor_role", "action", "object_label", "succeeded")
    list_filter = ("action", "actor_role", "succeeded")
    list_select_related = ("on_behalf_of", "care_team")
    date_hierarchy = "occurred_at"

    @admin.display(description="Who", ordering="actor_name")
    def who(self, obj: AccessEvent) -> str:
        """ "Priya Patel on behalf of Arjun Patel" for everything a proxy did (DESIGN.md, Proxy)."""
        return staff_actor_text(obj)

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
