"""The "fhir" namespace at the site root: the FHIR API under /fhir/r4/ (careportal/fhir/urls.py, whose patterns
join this namespace) and the patient's connected-apps pages under /your-apps/."""

from django.urls import include, path

from careportal.fhir import urls as api_urls
from careportal.fhir import views_apps

app_name = "fhir"
urlpatterns = [
    path("fhir/r4/", include(api_urls.urlpatterns)),
    path("your-apps/", views_apps.connected_apps, name="connected-apps"),
    path("your-apps/<uuid:connection_id>/disconnect/", views_apps.disconnect, name="disconnect"),
]
