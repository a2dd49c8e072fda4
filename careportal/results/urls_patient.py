from django.urls import URLPattern, path

from careportal.results import patient_views

urlpatterns: list[URLPattern] = [
    path("test-results/", patient_views.result_list, name="list"),
    path("test-results/wait-for-my-clinician/", patient_views.preferences, name="preferences"),
    path("test-results/trend/<str:code>/", patient_views.trend, name="trend"),
    path("test-results/<uuid:public_id>/", patient_views.report_detail, name="report"),
    path("test-results/<uuid:public_id>/comments/", patient_views.report_comments, name="comments"),
    path(
        "test-results/<uuid:public_id>/attachment/<int:sequence>/",
        patient_views.report_attachment,
        name="attachment",
    ),
]
