from django.urls import URLPattern, path

from careportal.messaging import patient_views

urlpatterns: list[URLPattern] = [
    path("messages/", patient_views.thread_list, name="list"),
    path("messages/new/", patient_views.compose, name="compose"),
    path("messages/new/write/", patient_views.compose_write, name="compose-write"),
    path("messages/<uuid:public_id>/", patient_views.thread, name="thread"),
    path("messages/<uuid:public_id>/sent/", patient_views.sent, name="sent"),
    path(
        "messages/<uuid:public_id>/attachments/<uuid:attachment_id>/",
        patient_views.attachment,
        name="attachment",
    ),
]
