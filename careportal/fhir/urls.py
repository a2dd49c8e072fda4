"""The FHIR R4 API and the SMART on FHIR authorisation server, under /fhir/r4/ (docs/fhir-api.md)."""

from django.urls import URLPattern

app_name = "fhir"
urlpatterns: list[URLPattern] = []

# SMART on FHIR: how apps discover the authorisation server (careportal/fhir/smart.py; docs/smart-on-fhir.md).
from django.urls import path  # noqa: E402

from careportal.fhir import smart  # noqa: E402

urlpatterns.append(path(".well-known/smart-configuration", smart.smart_configuration, name="smart-configuration"))
