from django.contrib import admin

from careportal.patients.models import CareRelationship, CareTeam, CareTeamMembership, Patient


class CareTeamMembershipInline(admin.TabularInline):
    model = CareTeamMembership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(CareTeam)
class CareTeamAdmin(admin.ModelAdmin):
    list_display = ("name", "response_target_working_days", "is_active")
    search_fields = ("name",)
    inlines = [CareTeamMembershipInline]


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
