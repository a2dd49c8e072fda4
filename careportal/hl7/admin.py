from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from careportal.hl7.models import InboundInterface, InboundInterfaceChange, InboundMessage, OutboundMessage

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


class InboundInterfaceAdminForm(forms.ModelForm):
    """The staff form's rules (careportal/hl7/interface_forms.py) apply in the admin too."""

    class Meta:
        model = InboundInterface
        fields = [
            "name",
            "sending_application",
            "sending_facility",
            "message_types",
            "source_networks",
            "hospital_number_authority",
            "ack_mode",
            "is_active",
        ]

    def clean(self) -> dict[str, Any]:
        from careportal.hl7.interface_forms import InterfaceForm

        cleaned = super().clean() or {}
        if self.errors:
            return cleaned

        def lines(value: object) -> str:
            return "\n".join(str(v) for v in value) if isinstance(value, list) else str(value or "")

        check = InterfaceForm(
            data={
                "name": cleaned.get("name", ""),
                "sending_application": cleaned.get("sending_application", ""),
                "sending_facility": cleaned.get("sending_facility", ""),
                "message_types": lines(cleaned.get("message_types")),
                "source_networks": lines(cleaned.get("source_networks")),
                "hospital_number_authority": cleaned.get("hospital_number_authority", ""),
                "ack_mode": cleaned.get("ack_mode", ""),
            },
            interface=self.instance if self.instance.pk else None,
        )
        if not check.is_valid():
            for field, errors in check.errors.items():
                for error in errors:
                    self.add_error(field if field in self.fields else None, error)
            return cleaned
        cleaned.update(check.cleaned_data)
        return cleaned


class InboundInterfaceChangeInline(admin.TabularInline):
    model = InboundInterfaceChange
    fields = ("changed_at", "changed_by_name", "action", "changes")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(InboundInterface)
class InboundInterfaceAdmin(admin.ModelAdmin):
    """Also at /staff/hl7/interfaces/. Changes made here are recorded in the interface's history too."""

    form = InboundInterfaceAdminForm
    list_display = ("name", "sending_application", "sending_facility", "ack_mode", "is_active", "updated_at")
    list_filter = ("is_active", "ack_mode")
    search_fields = ("name", "sending_application", "sending_facility")
    inlines = [InboundInterfaceChangeInline]

    def save_model(self, request: HttpRequest, obj: InboundInterface, form: Any, change: bool) -> None:
        from careportal.hl7.interface_admin import interface_record_admin_save

        interface_record_admin_save(interface=obj, by=request.user, created=not change)  # type: ignore[arg-type]

    def has_delete_permission(self, request: HttpRequest, obj: InboundInterface | None = None) -> bool:
        # Deactivate instead: the history of who could send what stays readable.
        return False


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    """Read-only: what CarePortal sent to hospital systems and what they answered. Staff retry failed messages at
    /staff/hl7/outbound/, which keeps newer details from being overwritten by older ones."""

    list_display = ("created_at", "message_type", "control_id", "destination", "status", "attempts", "ack_code")
    list_filter = ("status", "ack_code", "message_type", "destination")
    search_fields = ("control_id",)
    date_hierarchy = "created_at"
    raw_id_fields = ("patient",)

    def get_readonly_fields(self, request: HttpRequest, obj: OutboundMessage | None = None) -> list[str]:
        return [f.name for f in self.model._meta.fields if f.name != "raw"] + ["raw_text"]

    def get_exclude(self, request: HttpRequest, obj: OutboundMessage | None = None) -> list[str]:
        return ["raw"]

    @admin.display(description="message as sent")
    def raw_text(self, obj: OutboundMessage) -> str:
        return bytes(obj.raw)[:RAW_PREVIEW_BYTES].decode("utf-8", errors="replace").replace("\r", "\n")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: OutboundMessage | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: OutboundMessage | None = None) -> bool:
        return False
