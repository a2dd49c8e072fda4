"""The access layer for messages: a care team's threads and their attachments, for the clinicians of that team.

Built on the shared primitives in `careportal/access/layer.py`; every refusal is the one audited `Http404`.
"""

from dataclasses import replace
from uuid import UUID

from django.db.models import QuerySet

from careportal.access.layer import Viewer, access_team_row_as_staff, deny, team_rows_for_staff
from careportal.access.scopes import Scope
from careportal.audit.models import AccessAction
from careportal.audit.services import access_event_record
from careportal.messaging.models import Attachment, Thread


def threads_for_staff(viewer: Viewer) -> QuerySet[Thread]:
    """Message threads with the clinician's active care teams (only `viewer.care_team` when it is set), internal
    notes and all. Not audited: a list page records the patients it shows with `team_inbox_rows_listed`."""
    return team_rows_for_staff(viewer=viewer, queryset=Thread.objects.all(), scope=Scope.MESSAGES)


def access_thread_as_staff(
    *,
    viewer: Viewer,
    public_id: UUID | str,
    object_label: str,
    action: AccessAction | None = AccessAction.VIEW,
) -> tuple[Viewer, Thread]:
    """A thread in one of the clinician's teams' inboxes, with the viewer naming its patient and team; Http404
    (audited) otherwise, the same for an unknown id and another team's thread.

    With `action=None` nothing is recorded on success: the messaging service that then changes the thread records
    the change in its own transaction, as for `access_report_as_staff`.
    """
    return access_team_row_as_staff(
        viewer=viewer, queryset=threads_for_staff(viewer), public_id=public_id, object_label=object_label, action=action
    )


def access_thread_attachment_as_staff(
    *, viewer: Viewer, thread_id: UUID | str, attachment_id: UUID | str, object_label: str
) -> tuple[Viewer, Attachment]:
    """A file attached to a message in one of the clinician's teams' threads, for download (audited as a
    download); Http404 (audited) for an unknown file, another team's thread, or a file that belongs to a
    different thread than the address names. One query either way."""
    attachment = (
        Attachment.objects.filter(
            public_id=attachment_id,
            message__thread__public_id=thread_id,
            message__thread__in=threads_for_staff(viewer),
        )
        .select_related("message__thread__patient", "message__thread__care_team")
        .first()
    )
    if attachment is None:
        deny(viewer, object_label=object_label, object_type="messaging.attachment", object_id=str(attachment_id))
    thread = attachment.message.thread
    viewer = replace(viewer, patient=thread.patient, care_team=thread.care_team)
    access_event_record(
        viewer=viewer, patient=thread.patient, action=AccessAction.DOWNLOAD, object_label=object_label, obj=attachment
    )
    return viewer, attachment
