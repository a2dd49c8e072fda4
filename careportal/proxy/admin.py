from django.contrib import admin

from careportal.proxy.models import ProxyRelationship


@admin.register(ProxyRelationship)
class ProxyRelationshipAdmin(admin.ModelAdmin):
    list_display = ("relationship", "basis", "status", "valid_from", "valid_until")
    list_filter = ("status", "basis")
    raw_id_fields = ("proxy", "patient", "verified_by")
    readonly_fields = ("public_id", "created_at")
