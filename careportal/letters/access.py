"""The access layer for letters: the patient's (and proxy's) letters, and the print room's console.

Built on the shared primitives in `careportal/access/layer.py`; every refusal is the one audited `Http404`.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet
from django.http import HttpRequest

from careportal.access.layer import (
    Viewer,
    access_object,
    deny,
    patients_found_by_staff,
    refuse_console,
    request_facts,
    scoped_to_patient,
    without_ungranted_sensitive,
)
from careportal.access.scopes import Scope
from careportal.accounts.models import User
from careportal.audit.models import AccessAction, ActorRole
from careportal.audit.services import access_event_record
from careportal.letters.models import PRINT_ROOM_PERMISSION, Letter, LetterStatus, PrintExport


def visible_letters(*, viewer: Viewer) -> QuerySet[Letter]:
    """The letters of the patient in view the viewer may read (Scope.LETTERS): current ones only, since a
    document the hospital withdrew as sent in error is not the patient's letter, and for a proxy none in a
    sensitive category (the writing team's) that staff have not granted them. Not audited: read them through
    `access_patient_record` or `access_letter`."""
    letters = scoped_to_patient(
        viewer=viewer, queryset=Letter.objects.filter(status=LetterStatus.CURRENT), scope=Scope.LETTERS
    )
    return without_ungranted_sensitive(viewer=viewer, queryset=letters)


def access_letter(
    *, viewer: Viewer, public_id: UUID | str, object_label: str = "a letter", action: AccessAction = AccessAction.VIEW
) -> Letter:
    """One current letter of the patient in view, or the audited Http404 (another patient's, a proxy without the
    letters scope or without the grant of its sensitive category, a withdrawn one, or an unknown id all look the
    same)."""
    return access_object(
        viewer=viewer,
        queryset=visible_letters(viewer=viewer).select_related("care_team"),
        public_id=public_id,
        scope=Scope.LETTERS,
        object_label=object_label,
        action=action,
    )


# The print room ------------------------------------------------------------------------------------------------


def may_work_print_room(user: User | AnonymousUser) -> bool:
    return bool(
        user.is_authenticated and user.is_active and (user.is_superuser or user.has_perm(PRINT_ROOM_PERMISSION))
    )


def print_room_viewer(request: HttpRequest) -> Viewer:
    """The viewer for the print room: superusers and holders of `letters.work_print_room` (the "Print room"
    group). They see names, addresses and what kind of letter to post, and nothing of a letter's content. Anyone
    else gets an audited Http404."""
    user = request.user
    if may_work_print_room(user):
        role = ActorRole.HELPDESK if user.is_helpdesk else ActorRole.CLINICIAN  # type: ignore[union-attr]
        return Viewer(user=user, role=role, **request_facts(request))  # type: ignore[arg-type]
    refuse_console(request, object_label="the print room")


def print_room_viewer_for(user: User) -> Viewer:
    """The same viewer for work done in the background on someone's behalf (an export they asked for)."""
    return Viewer(user=user, role=ActorRole.HELPDESK if user.is_helpdesk else ActorRole.CLINICIAN)


def to_post_listed(*, viewer: Viewer, letters: list[Letter]) -> None:
    """Record that the print room saw these patients' names and addresses listed (one query per page)."""
    patients = list({letter.patient_id: letter.patient for letter in letters}.values())
    patients_found_by_staff(
        viewer=viewer, patients=patients, object_label="name and address, on the list of letters to post"
    )


def access_letter_to_post(*, viewer: Viewer, public_id: UUID | str) -> Letter:
    """A letter on the print room's list (to post, not yet printed), for marking it printed; Http404 (audited)
    otherwise. Nothing is recorded on success: the service records the change in its own transaction."""
    letter = None
    if may_work_print_room(viewer.user):
        letter = (
            Letter.objects.select_related("patient")
            .filter(public_id=public_id, delivery="post", status=LetterStatus.CURRENT)
            .first()
        )
    if letter is None:
        deny(viewer, object_label="a letter to post", object_type="letters.letter", object_id=str(public_id))
    return letter


def access_export(*, viewer: Viewer, public_id: UUID | str, action: AccessAction | None = None) -> PrintExport:
    """A print-room export, for anyone working the print room; Http404 (audited) otherwise. The export's rows
    name patients: downloading it is recorded per patient by the view's service (`print_export_downloaded`)."""
    export = None
    if may_work_print_room(viewer.user):
        export = PrintExport.objects.filter(public_id=public_id).first()
    if export is None:
        deny(
            viewer,
            object_label="a list of letters to post",
            object_type="letters.printexport",
            object_id=str(public_id),
        )
    if action is not None:
        access_event_record(
            viewer=viewer, patient=None, action=action, object_label="a list of letters to post", obj=export
        )
    return export
