from django.contrib import admin

from careportal.helpdesk.models import HelpdeskAction, SupportRequest


@admin.register(SupportRequest)
class SupportRequestAdmin(admin.ModelAdmin):
    """For superusers. The helpdesk works requests in the console (/staff/helpdesk/requests/)."""

    list_display = ("reference", "topic", "status", "created_at", "reply_due_on", "assigned_to")
    list_filter = ("status", "topic")
    readonly_fields = ("public_id", "reference", "user", "created_at", "answered_at", "closed_at")


@admin.register(HelpdeskAction)
class HelpdeskActionAdmin(admin.ModelAdmin):
    list_display = ("occurred_at", "actor", "kind", "account")
    list_filter = ("kind",)

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
