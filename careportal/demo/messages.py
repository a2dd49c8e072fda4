"""A demo conversation: demo.patient (Eleanor Hargreaves) asks Haematology about her iron tablets and Dr C Okafor
replies, so that someone trying CarePortal after `make run` finds a thread with an unread reply in her messages,
and one waiting on the patient in the team's inbox.

Written through the messaging services, as the pages write it (the same checks, audit events and notification).
Loading twice changes nothing: the thread is looked for by its patient, team and subject first.
"""

from django.db import transaction

from careportal.access.layer import Viewer, patient_choices
from careportal.access.scopes import CLINICIAN_SCOPES
from careportal.accounts.models import User
from careportal.audit.models import ActorRole
from careportal.messaging.models import Thread, Topic
from careportal.messaging.services import thread_reply_by_staff, thread_start_by_patient
from careportal.patients.models import CareTeam, Patient

DEMO_SUBJECT = "Feeling tired on the iron tablets"
DEMO_QUESTION = (
    "Hello,\n\n"
    "I started the iron tablets two weeks ago. I feel more tired than before, and my poo has turned very dark.\n"
    "Is this normal, and should I keep taking them?\n\n"
    "Eleanor"
)
DEMO_REPLY = (
    "Dear Mrs Hargreaves,\n\n"
    "Thank you for your message. Dark poo is common with iron tablets and is nothing to worry about. It can take a "
    "few weeks for the tiredness to get better while your blood count comes back up.\n\n"
    "Please keep taking the tablets. We will check your blood count again at your next appointment.\n\n"
    "If you feel very breathless or dizzy, call 111, or 999 in an emergency.\n\n"
    "Dr Okafor"
)


@transaction.atomic
def demo_messages_load() -> dict[str, int]:
    """Eleanor's question and Haematology's reply; nothing when the thread is already there."""
    eleanor = Patient.objects.get(user__username="demo.patient")
    haematology = CareTeam.objects.get(name="Haematology")
    if Thread.objects.filter(patient=eleanor, care_team=haematology, subject=DEMO_SUBJECT).exists():
        return {"threads": 0, "messages": 0}

    account = User.objects.get(username="demo.patient")
    own = next(choice for choice in patient_choices(account) if choice.patient.pk == eleanor.pk)
    as_eleanor = Viewer(user=account, role=own.role, patient=eleanor, scopes=own.scopes)
    thread = thread_start_by_patient(
        viewer=as_eleanor, care_team=haematology, topic=Topic.CARE, subject=DEMO_SUBJECT, body=DEMO_QUESTION, files=[]
    )
    # The viewer the staff pages build for a clinician (access.layer.staff_viewer), without a request.
    clinician = User.objects.get(username="demo.clinician")
    as_okafor = Viewer(user=clinician, role=ActorRole.CLINICIAN, scopes=CLINICIAN_SCOPES)
    thread_reply_by_staff(viewer=as_okafor, thread=thread, body=DEMO_REPLY, files=[])
    return {"threads": 1, "messages": 2}
