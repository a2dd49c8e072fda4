from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from careportal.accounts.models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "display_name", "is_helpdesk", "is_staff", "is_active", "last_login")
    list_filter = ("is_helpdesk", "is_staff", "is_superuser", "is_active")
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("CarePortal", {"fields": ("display_name", "is_helpdesk")}),
    )
