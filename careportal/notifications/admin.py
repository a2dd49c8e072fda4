from django.contrib import admin

from careportal.notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "channel", "status", "attempts", "last_error", "sent_at")
    list_filter = ("status", "kind", "channel")
    readonly_fields = [
        "public_id",
        "user",
        "kind",
        "channel",
        "status",
        "attempts",
        "last_error",
        "provider_reference",
        "created_at",
        "next_attempt_at",
        "sent_at",
    ]
    exclude = ("to_address", "personalisation")

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
