"""Letters in the admin site: read-only, for support. The PDF itself is served only through the patient's pages."""

from django.contrib import admin

from careportal.letters.models import Letter, PrintExport


@admin.register(Letter)
class LetterAdmin(admin.ModelAdmin):
    list_display = ("document_type", "letter_date", "care_team", "status", "delivery", "printed_at")
    list_filter = ("status", "delivery", "source", "sensitive_category")
    search_fields = ("document_id", "patient__hospital_number")
    readonly_fields = [field.name for field in Letter._meta.fields]
    raw_id_fields = ("patient",)

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(PrintExport)
class PrintExportAdmin(admin.ModelAdmin):
    list_display = ("requested_at", "requested_by", "status", "total", "done")
    readonly_fields = ("requested_by", "requested_at", "status", "total", "done", "stored_name", "finished_at")
    exclude = ("letters",)

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
