"""The care teams' message inbox. Threads and their files are addressed by their public ids; a team filter uses the
team's public id (not patient data) in the query string; a patient is found by hospital number in a POST only."""

from django.urls import URLPattern, path

from careportal.messaging import inbox_views

THREAD = "staff/messages/<uuid:thread_id>/"

urlpatterns: list[URLPattern] = [
    path("staff/messages/", inbox_views.inbox, name="inbox"),
    path("staff/messages/new/", inbox_views.thread_start, name="inbox-start"),
    path("staff/messages/urgent-phrases/", inbox_views.urgent_phrases, name="urgent-phrases"),
    path(
        "staff/messages/urgent-phrases/history/",
        inbox_views.urgent_phrases_history,
        name="urgent-phrases-history",
    ),
    path(THREAD, inbox_views.thread_detail, name="inbox-thread"),
    path(f"{THREAD}reply/", inbox_views.thread_reply, name="inbox-thread-reply"),
    path(f"{THREAD}note/", inbox_views.thread_note, name="inbox-thread-note"),
    path(f"{THREAD}assign/", inbox_views.thread_assign, name="inbox-thread-assign"),
    path(f"{THREAD}close/", inbox_views.thread_close, name="inbox-thread-close"),
    path(f"{THREAD}reopen/", inbox_views.thread_reopen, name="inbox-thread-reopen"),
    path(f"{THREAD}correction/", inbox_views.thread_correction, name="inbox-thread-correction"),
    path(f"{THREAD}attachments/<uuid:attachment_id>/", inbox_views.attachment_download, name="inbox-attachment"),
]
