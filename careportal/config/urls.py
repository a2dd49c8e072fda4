from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from careportal.accounts import urls as accounts_urls

admin.site.site_header = "CarePortal administration"
admin.site.site_title = "CarePortal administration"
# The admin's own password form would skip two-step verification: its sign-in goes through ours instead.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

urlpatterns = [
    # First: its /appointments/test-camera-and-microphone/ must win over any /appointments/<...>/ pattern.
    path("", include("careportal.video.urls")),
    path("", include("careportal.home.urls")),
    path("", include((accounts_urls.accounts_patterns, "accounts"))),
    path("", include(accounts_urls.allauth_patterns)),
    path("", include("careportal.helpdesk.urls")),
    path("", include("careportal.patients.urls")),
    path("", include("careportal.audit.urls")),
    path("", include("careportal.staff.urls")),
    path("", include("careportal.results.urls")),
    path("", include("careportal.hl7.urls")),
    path("", include("careportal.messaging.urls")),
    path("", include("careportal.appointments.urls")),
    path("", include("careportal.letters.urls")),
    path("", include("careportal.proxy.urls")),
    # The SMART authorisation server under django-oauth-toolkit's URL names (it reverses them), then the "fhir"
    # namespace: the FHIR API at /fhir/r4/ (careportal/fhir/urls.py) and the connected-apps pages at /your-apps/.
    path("fhir/r4/auth/", include("careportal.fhir.auth_urls")),
    path("", include("careportal.fhir.site_urls")),
    path("", include("careportal.fhir.export_urls")),
    path("", include("careportal.core.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "careportal.core.views.bad_request"
handler403 = "careportal.core.views.permission_denied"
handler404 = "careportal.core.views.page_not_found"
handler500 = "careportal.core.views.server_error"
