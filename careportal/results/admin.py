from typing import Any

from django import forms
from django.contrib import admin
from django.forms.renderers import DjangoTemplates
from django.http import HttpRequest

from careportal.results.models import (
    DiagnosticReport,
    DiagnosticReportVersion,
    Observation,
    ReleaseRule,
    ReportAction,
    ResultRouting,
)

# The project's form renderer (FORM_RENDERER) renders NHS.UK Jinja templates and has no Django widget templates;
# the admin's forms need Django's own.
ADMIN_RENDERER = DjangoTemplates()


class AdminForm(forms.ModelForm):
    default_renderer = ADMIN_RENDERER


@admin.register(ResultRouting)
class ResultRoutingAdmin(admin.ModelAdmin):
    """Which care team's inbox a report lands in: set up once per trust, with the codes its lab and PAS send."""

    form = AdminForm
    list_display = ("match", "code", "care_team")
    list_filter = ("match", "care_team")
    search_fields = ("code", "care_team__name")
    # Not a select: the admin's related-field wrapper renders its widget with FORM_RENDERER, ignoring the form's.
    raw_id_fields = ("care_team",)


@admin.register(ReleaseRule)
class ReleaseRuleAdmin(admin.ModelAdmin):
    # Staff normally change rules at /staff/results/rules/, which records who changed what.
    form = AdminForm
    list_display = ("description", "test_code", "category", "mode", "working_days", "result_kind", "sensitive_category")
    list_filter = ("mode", "result_kind", "sensitive_category")
    search_fields = ("description", "test_code", "category")
    readonly_fields = ("updated_at", "updated_by")


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_formset(self, request: HttpRequest, obj: object = None, **kwargs: Any) -> Any:
        return super().get_formset(request, obj, renderer=ADMIN_RENDERER, **kwargs)


class ObservationInline(_ReadOnlyInline):
    model = Observation
    fields = ("sequence", "code", "name", "value_text", "unit", "reference_range", "interpretation", "status")


class VersionInline(_ReadOnlyInline):
    model = DiagnosticReportVersion
    fields = ("version", "status", "reason", "reported_at", "replaced_at", "was_released")


class ActionInline(_ReadOnlyInline):
    model = ReportAction
    fields = ("at", "kind", "actor_name", "note")


@admin.register(DiagnosticReport)
class DiagnosticReportAdmin(admin.ModelAdmin):
    """Read-only: reports change through the lab's messages and the clinicians' inbox, both of which keep a
    history; an edit here would keep none."""

    list_display = ("filler_order_number", "source_system", "test_code", "status", "care_team", "arrived_at")
    list_filter = ("status", "category", "release_mode", "is_amended", "source_system")
    # Order numbers only: they identify reports, not patients.
    search_fields = ("filler_order_number", "placer_order_number")
    date_hierarchy = "arrived_at"
    inlines = [ObservationInline, VersionInline, ActionInline]

    def get_readonly_fields(self, request: HttpRequest, obj: DiagnosticReport | None = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DiagnosticReport | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: DiagnosticReport | None = None) -> bool:
        return False
