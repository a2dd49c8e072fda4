from django.contrib import admin

from careportal.audit.models import AccessEvent


@admin.register(AccessEvent)
class AccessEventAdmin(admin.ModelAdmin):
    """Read-only: audit events are append-only, for the admin as for everyone else."""

    list_display = ("occurred_at", "actor_name", "actor_role", "action", "object_label", "succeeded")
    list_filter = ("action", "actor_role", "succeeded")
    date_hierarchy = "occurred_at"

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
