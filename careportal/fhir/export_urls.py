"""'Download a copy of your record' (docs/download-your-record.md), mounted at the site root."""

from django.urls import path

from careportal.fhir import export_views

app_name = "export"
urlpatterns = [
    path("download-your-record/", export_views.export_start, name="start"),
    path("download-your-record/request/", export_views.export_request, name="request"),
    path("download-your-record/<uuid:public_id>/", export_views.export_detail, name="detail"),
    path("download-your-record/<uuid:public_id>/record.json", export_views.export_download_json, name="download-json"),
    path("download-your-record/<uuid:public_id>/summary.pdf", export_views.export_download_pdf, name="download-pdf"),
]
