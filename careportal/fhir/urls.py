"""The FHIR R4 API and the SMART on FHIR authorisation server, under /fhir/r4/ (docs/fhir-api.md)."""

from django.urls import URLPattern

app_name = "fhir"
urlpatterns: list[URLPattern] = []
