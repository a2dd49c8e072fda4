from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from careportal.appointments.services import appointments_sensitive_category_refresh
from careportal.letters.services import letters_sensitive_category_refresh
from careportal.patients.models import CareRelationship, CareTeam, CareTeamMembership, Patient


class CareTeamMembershipInline(admin.TabularInline):
    model = CareTeamMembership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(CareTeam)
class CareTeamAdmin(admin.ModelAdmin):
    list_display = ("name", "response_target_working_days", "sensitive_category", "is_active")
    list_filter = ("sensitive_category", "is_active")
    search_fields = ("name",)
    inlines = [CareTeamMembershipInline]

    def save_model(self, request: HttpRequest, obj: CareTeam, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and "sensitive_category" in form.changed_data:
            # What the team already sent follows its new category at once: a proxy must not keep seeing it.
            # (The admin saves in one transaction: the team and its rows change together.)
            letters_sensitive_category_refresh(care_team_ids=[obj.pk])
            appointments_sensitive_category_refresh(care_team_ids=[obj.pk])


class CareRelationshipInline(admin.TabularInline):
    model = CareRelationship
    extra = 0


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    # For superusers setting up a trust; staff and helpdesk use the consoles, which go through the access layer.
    list_display = ("hospital_number", "family_name", "given_name", "birth_date")
    search_fields = ("hospital_number", "nhs_number", "family_name")
    readonly_fields = ("public_id", "created_at", "updated_at")
    raw_id_fields = ("user",)
    inlines = [CareRelationshipInline]
