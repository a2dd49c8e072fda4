"""The clinicians' results inbox. Reports are addressed by their public ids; a team filter uses the team's public
id (not patient data) in the query string."""

from django.urls import path

from careportal.results import inbox_views

urlpatterns = [
    path("staff/results/", inbox_views.inbox, name="inbox"),
    path("staff/results/report/<uuid:report_id>/", inbox_views.report_detail, name="inbox-report"),
    path("staff/results/report/<uuid:report_id>/review/", inbox_views.report_mark_reviewed, name="inbox-report-review"),
    path("staff/results/report/<uuid:report_id>/comment/", inbox_views.report_comment, name="inbox-report-comment"),
    path("staff/results/report/<uuid:report_id>/release/", inbox_views.report_release, name="inbox-report-release"),
    path("staff/results/report/<uuid:report_id>/hold/", inbox_views.report_hold, name="inbox-report-hold"),
    path("staff/results/report/<uuid:report_id>/unhold/", inbox_views.report_unhold, name="inbox-report-unhold"),
    path("staff/results/report/<uuid:report_id>/retract/", inbox_views.report_retract, name="inbox-report-retract"),
]
