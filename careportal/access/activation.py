"""Audit events for account activation: a code issued for a patient, and the patient creating their account.

These happen before the patient has an account (or while they create it), so no `Viewer` comes from a signed-in
request: the events are written here with the actor the activation journey knows. They read, in the patient's own
access log, "CarePortal added your account activation code on ..." and "You added your CarePortal account on ...".
"""

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest

from careportal.access.layer import PatientRecord, Viewer, request_facts
from careportal.accounts.models import User
from careportal.audit.models import AccessAction, ActorRole
from careportal.audit.services import access_event_record

ACTIVATION_CODE_LABEL = "account activation code"
ACCOUNT_LABEL = "CarePortal account"
LETTER_PREFERENCE_LABEL = "letter preference"


def activation_code_issue_record(
    *, patient: PatientRecord, issued_by: User | None, request: HttpRequest | None = None
) -> None:
    """A code was issued for `patient`: by a member of the helpdesk, or by the letter-printing job (`issued_by`
    None). The code itself is never recorded."""
    if issued_by is None:
        viewer = Viewer(user=AnonymousUser(), role=ActorRole.SYSTEM, **request_facts(request))  # type: ignore[arg-type]
    else:
        viewer = Viewer(user=issued_by, role=ActorRole.HELPDESK, **request_facts(request))
    access_event_record(viewer=viewer, patient=patient, action=AccessAction.CREATE, object_label=ACTIVATION_CODE_LABEL)


def activation_complete_record(*, patient: PatientRecord, user: User, request: HttpRequest | None) -> None:
    """The patient created their account with a code, which also made their letters paperless."""
    viewer = Viewer(user=user, role=ActorRole.PATIENT, patient=patient, **request_facts(request))
    access_event_record(
        viewer=viewer, patient=patient, action=AccessAction.CREATE, object_label=ACCOUNT_LABEL, obj=user
    )
    access_event_record(
        viewer=viewer, patient=patient, action=AccessAction.UPDATE, object_label=LETTER_PREFERENCE_LABEL
    )
