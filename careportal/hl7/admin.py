from django.contrib import admin
from django.http import HttpRequest

from careportal.hl7.models import InboundMessage

# Enough of a message for a superuser to see what arrived; the staff queue (/staff/hl7/unmatched/) is where
# messages are worked on.
RAW_PREVIEW_BYTES = 20_000


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    """Read-only: the message journal is the proof of what each sender sent and what CarePortal answered."""

    list_display = (
        "received_at",
        "message_type",
        "control_id",
        "sending_application",
        "sending_facility",
        "status",
        "ack_code",
        "error_kind",
        "source",
    )
    list_filter = ("status", "ack_code", "error_kind", "source", "message_type")
    # Control ids only: they identify messages, not patients.
    search_fields = ("control_id",)
    date_hierarchy = "received_at"
    raw_id_fields = ("patient", "replay_of", "resolved_by")

    def get_readonly_fields(self, request: HttpRequest, obj: InboundMessage | None = None) -> list[str]:
        return [f.name for f in self.model._meta.fields if f.name != "raw"] + ["raw_text", "raw_size"]

    def get_exclude(self, request: HttpRequest, obj: InboundMessage | None = None) -> list[str]:
        return ["raw"]

    @admin.display(description="message as received")
    def raw_text(self, obj: InboundMessage) -> str:
        data = bytes(obj.raw)[:RAW_PREVIEW_BYTES]
        # Segments on their own lines; bytes that are not UTF-8 shown as replacement characters.
        return data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")

    @admin.display(description="size (bytes)")
    def raw_size(self, obj: InboundMessage) -> int:
        return len(bytes(obj.raw))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: InboundMessage | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: InboundMessage | None = None) -> bool:
        return False
