"""The access layer for the HL7 interface: who works the message queue, and one received message for them.

Built on the shared primitives in `careportal/access/layer.py`; every refusal is the one audited `Http404`.
"""

from uuid import UUID

from django.http import HttpRequest

from careportal.access.layer import Viewer, deny, refuse_console, request_facts
from careportal.audit.models import AccessAction, ActorRole
from careportal.audit.services import access_event_record
from careportal.hl7.models import InboundMessage, OutboundMessage

HL7_OPERATOR_PERMISSION = "hl7.change_inboundmessage"


def hl7_operator_viewer(request: HttpRequest) -> Viewer:
    """The viewer for the HL7 message queue: superusers and holders of `hl7.change_inboundmessage` only, because
    raw messages carry clinical data. Anyone else (the helpdesk and clinicians included) gets an audited Http404.

    The role is the person's usual staff role (helpdesk, or clinician without a team) so that a patient's log
    names them plainly; no patient scopes come with it.
    """
    user = request.user
    if user.is_authenticated and user.is_active and user.has_perm(HL7_OPERATOR_PERMISSION):
        role = ActorRole.HELPDESK if user.is_helpdesk else ActorRole.CLINICIAN
        return Viewer(user=user, role=role, **request_facts(request))
    refuse_console(request, object_label="the HL7 message queue")


def access_message_as_operator(
    *, viewer: Viewer, public_id: UUID | str, object_label: str, action: AccessAction = AccessAction.VIEW
) -> InboundMessage:
    """One received HL7 message, for an operator; Http404 (audited) otherwise. Reading a message that names a
    known patient is a read of that patient's record, so it goes into their access log."""
    message = None
    if viewer.user.has_perm(HL7_OPERATOR_PERMISSION):
        message = InboundMessage.objects.select_related("patient").filter(public_id=public_id).first()
    if message is None:
        deny(viewer, object_label=object_label, object_type="hl7.inboundmessage", object_id=str(public_id))
    access_event_record(viewer=viewer, patient=message.patient, action=action, object_label=object_label, obj=message)
    return message


def access_outbound_as_operator(
    *, viewer: Viewer, public_id: UUID | str, object_label: str, action: AccessAction = AccessAction.UPDATE
) -> OutboundMessage:
    """One message CarePortal sent (or is sending) to a hospital system, for an operator; Http404 (audited)
    otherwise. Acting on it concerns its patient's record, so it goes into their access log."""
    message = None
    if viewer.user.has_perm(HL7_OPERATOR_PERMISSION):
        message = OutboundMessage.objects.select_related("patient").defer("raw").filter(public_id=public_id).first()
    if message is None:
        deny(viewer, object_label=object_label, object_type="hl7.outboundmessage", object_id=str(public_id))
    access_event_record(viewer=viewer, patient=message.patient, action=action, object_label=object_label, obj=message)
    return message
