import factory
from django.utils import timezone

from careportal.messaging.models import AuthorRole, Message, Thread, ThreadStatus
from tests.patients.factories import CareTeamFactory, PatientFactory


class ThreadFactory(factory.django.DjangoModelFactory):
    """A new thread a patient started with a care team, with no messages yet (add them with MessageFactory)."""

    class Meta:
        model = Thread

    patient = factory.SubFactory(PatientFactory)
    care_team = factory.SubFactory(CareTeamFactory)
    topic = "care"
    subject = "A question about my medication"
    status = ThreadStatus.NEW
    created_at = factory.LazyFunction(timezone.now)
    last_patient_message_at = factory.LazyFunction(timezone.now)


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    thread = factory.SubFactory(ThreadFactory)
    author = None
    author_role = AuthorRole.PATIENT
    author_display = "The patient"
    body = "Should I keep taking my iron tablets before the next blood test?"
    created_at = factory.LazyFunction(timezone.now)
