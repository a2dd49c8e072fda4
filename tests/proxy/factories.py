import datetime

import factory

from careportal.proxy.models import ProxyRelationship
from tests.accounts.factories import UserFactory
from tests.patients.factories import PatientFactory


class ProxyRelationshipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProxyRelationship

    proxy = factory.SubFactory(UserFactory)
    patient = factory.SubFactory(PatientFactory, birth_date=datetime.date(2018, 4, 2))
    relationship = "mother"
    basis = "parental"
    scopes = factory.LazyFunction(lambda: ["appointments", "results", "messages", "letters", "details"])
    status = "active"
    valid_from = datetime.date(2018, 4, 2)
