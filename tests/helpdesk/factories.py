import datetime

import factory
from django.utils import timezone

from careportal.helpdesk.models import SupportRequest
from careportal.notifications.models import Notification


class SupportRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SupportRequest

    reference = factory.Sequence(lambda n: f"HELP-T{n:03d}-TEST")
    name = factory.Faker("name")
    email = factory.Faker("email")
    topic = "signing_in"
    description = "I cannot sign in since I changed my phone."
    reply_due_on = factory.LazyFunction(lambda: timezone.localdate() + datetime.timedelta(days=2))


class FailedNotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    kind = "new_message"
    to_address = factory.Faker("email")
    personalisation = factory.LazyFunction(lambda: {"first_name": "Sam"})
    status = "failed"
    attempts = 6
    last_error = "email: ConnectionRefusedError"
