from django.contrib import admin
from django.http import HttpRequest

from careportal.proxy.forms_admin import ProxyPolicyAdminForm
from careportal.proxy.models import ProxyInvitation, ProxyPolicy, ProxyRelationship, ProxyRelationshipEvent


class ProxyRelationshipEventInline(admin.TabularInline):
    model = ProxyRelationshipEvent
    extra = 0
    can_delete = False
    fields = ("occurred_at", "kind", "actor_name", "scopes_before", "scopes_after", "note")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ProxyRelationship)
class ProxyRelationshipAdmin(admin.ModelAdmin):
    list_display = ("relationship", "basis", "origin", "status", "valid_from", "valid_until")
    list_filter = ("status", "basis", "origin")
    raw_id_fields = ("proxy", "patient", "verified_by")
    readonly_fields = ("public_id", "created_at")
    inlines = [ProxyRelationshipEventInline]


@admin.register(ProxyInvitation)
class ProxyInvitationAdmin(admin.ModelAdmin):
    list_display = ("relationship", "status", "created_at", "expires_at")
    list_filter = ("status",)
    raw_id_fields = ("patient", "invited_by", "accepted_by", "result")
    readonly_fields = ("public_id", "token_digest", "created_at")


@admin.register(ProxyPolicy)
class ProxyPolicyAdmin(admin.ModelAdmin):
    """The trust's proxy policy table: one row, changed here by an admin (docs/proxy-access-helpdesk.md)."""

    form = ProxyPolicyAdminForm
    list_display = ("__str__", "parental_full_access_until_age", "parental_access_ends_at_age", "notice_days_before")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not ProxyPolicy.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
