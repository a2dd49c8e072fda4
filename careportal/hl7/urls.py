"""The HL7 message pages. Messages are addressed by their public ids; hospital numbers are only ever POSTed."""

from django.urls import path

from careportal.hl7 import interface_views, outbound_views, views

app_name = "hl7"
urlpatterns = [
    path("staff/hl7/unmatched/", views.unmatched, name="unmatched"),
    path("staff/hl7/messages/", views.recent, name="recent"),
    path("staff/hl7/message/<uuid:message_id>/", views.message_detail, name="message"),
    path("staff/hl7/message/<uuid:message_id>/match/", views.message_match, name="message-match"),
    path(
        "staff/hl7/message/<uuid:message_id>/match/confirm/",
        views.message_match_confirm,
        name="message-match-confirm",
    ),
    path("staff/hl7/message/<uuid:message_id>/dismiss/", views.message_dismiss, name="message-dismiss"),
    path("staff/hl7/outbound/", outbound_views.outbound_list, name="outbound"),
    path("staff/hl7/outbound/<uuid:message_id>/retry/", outbound_views.outbound_retry, name="outbound-retry"),
    path("staff/hl7/interfaces/", interface_views.interfaces, name="interfaces"),
    path("staff/hl7/interfaces/add/", interface_views.interface_add, name="interface-add"),
    path("staff/hl7/interfaces/<int:pk>/", interface_views.interface_edit, name="interface-edit"),
    path(
        "staff/hl7/interfaces/<int:pk>/deactivate/", interface_views.interface_deactivate, name="interface-deactivate"
    ),
    path(
        "staff/hl7/interfaces/<int:pk>/reactivate/", interface_views.interface_reactivate, name="interface-reactivate"
    ),
]
