"""The FHIR R4 API and the SMART on FHIR authorisation server, under /fhir/r4/ (docs/fhir-api.md)."""

from django.urls import URLPattern, URLResolver, path, re_path

from careportal.fhir import api, smart

app_name = "fhir"
urlpatterns: list[URLPattern | URLResolver] = [
    # SMART on FHIR: how apps discover the authorisation server (careportal/fhir/smart.py; docs/smart-on-fhir.md).
    path(".well-known/smart-configuration", smart.smart_configuration, name="smart-configuration"),
    # The base address itself: ninja's own pattern for it (which it reverses to place the OpenAPI document's paths)
    # would answer an HTML 404.
    path("", api.unknown),
    # The FHIR read/search API, one NinjaAPI (careportal/fhir/api.py), and its OpenAPI document at openapi.json.
    path("", api.api_urls()),
    # Anything else is an OperationOutcome 404, never an HTML page; except the SMART authorisation server's
    # addresses (auth/, .well-known/), whichever order their patterns are listed in.
    re_path(r"^(?!auth/|\.well-known/)(?P<path>.*)$", api.unknown, name="unknown"),
]
