"""Django admin: the clinics (care team, patient-facing text) and the appointments, for staff who look after the
integration. The video join link is never shown here: it is a credential for the patient's meeting."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from careportal.appointments.models import Appointment, AppointmentReminder, Clinic
from careportal.appointments.services import appointment_meeting_retry_now, appointments_sensitive_category_refresh
from careportal.results.admin import AdminForm


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    """A row appears the first time the PAS names a clinic: fill in its team and what patients should read."""

    form = AdminForm
    list_display = ("code", "name", "patient_name", "care_team", "sensitive_category", "site_name")
    list_filter = ("care_team", "sensitive_category")
    search_fields = ("code", "name", "patient_name")
    raw_id_fields = ("care_team",)

    def save_model(self, request: HttpRequest, obj: Clinic, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if {"care_team", "sensitive_category"} & set(form.changed_data):
            # The clinic's appointments follow its (new) category at once: a proxy must not keep seeing them.
            appointments_sensitive_category_refresh(clinic_ids=[obj.pk])


class ReminderInline(admin.TabularInline):
    model = AppointmentReminder
    extra = 0
    can_delete = False
    readonly_fields = ("days_before", "start", "sent_at")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Appointment)
class AppointmentAdmin(admin.ModelAdmin):
    form = AdminForm
    list_display = (
        "external_id",
        "source_system",
        "start",
        "kind",
        "status",
        "clinic",
        "care_team",
        "booked_at",
        "last_event",
        "video_meeting_status",
    )
    # "Booked at: No date" lists the appointments whose cancellation arrived before their booking.
    list_filter = ("status", "kind", "video_meeting_status", "last_event", "booked_at", "care_team")
    search_fields = ("external_id",)
    ordering = ("-start",)
    inlines = [ReminderInline]
    actions = ["retry_video_meeting"]
    # Everything comes from the PAS: the admin shows it and changes nothing but a failed meeting's next try.
    fields = (
        "public_id",
        "patient",
        "source_system",
        "external_id",
        "status",
        "kind",
        "start",
        "end",
        "clinic",
        "care_team",
        "sensitive_category",
        "service_name",
        "location_name",
        "site_code",
        "clinician_name",
        "cancellation_reason",
        "booked_at",
        "last_message_at",
        "last_event",
        "sequence",
        "video_provider",
        "video_meeting_status",
        "video_meeting_error",
        "video_meeting_attempts",
        "video_meeting_next_attempt_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Try the video meeting again now")
    def retry_video_meeting(self, request: HttpRequest, queryset: QuerySet[Appointment]) -> None:
        for appointment in queryset:
            appointment_meeting_retry_now(appointment=appointment)
        messages.success(request, "The video meetings that had failed will be tried again now.")
