"""The FHIR R4 API and the SMART on FHIR authorisation server, under /fhir/r4/ (docs/fhir-api.md)."""

from django.urls import URLPattern, path, re_path

from careportal.fhir import smart, views

app_name = "fhir"
urlpatterns: list[URLPattern] = [
    # SMART on FHIR: how apps discover the authorisation server (careportal/fhir/smart.py; docs/smart-on-fhir.md).
    path(".well-known/smart-configuration", smart.smart_configuration, name="smart-configuration"),
    # The FHIR read/search API (careportal/fhir/views.py).
    re_path(r"^metadata/?$", views.metadata, name="metadata"),
    re_path(r"^Binary/(?P<resource_id>[^/]+)/?$", views.binary_read, name="binary"),
    re_path(r"^Patient/(?P<resource_id>[^/]+)/\$everything/?$", views.patient_everything, name="everything"),
    re_path(r"^(?P<resource_type>[A-Z][A-Za-z]*)/?$", views.type_search, name="search"),
    re_path(r"^(?P<resource_type>[A-Z][A-Za-z]*)/(?P<resource_id>[^/]+)/?$", views.instance_read, name="read"),
    # Anything else is an OperationOutcome 404, never an HTML page; except the SMART authorisation server's
    # addresses (auth/, .well-known/), whichever order their patterns are listed in.
    re_path(r"^(?!auth/|\.well-known/)(?P<path>.*)$", views.unknown, name="unknown"),
]
