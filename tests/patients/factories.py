import datetime

import factory

from careportal.patients.models import CareRelationship, CareTeam, CareTeamMembership, Patient
from tests.accounts.factories import UserFactory


def nhs_number_for(n: int) -> str:
    """A valid (modulus 11) NHS number from the 999 test range, different for each n below 100,000."""
    for ninth in range(10):
        stem = f"999{n % 100_000:05d}{ninth}"
        total = sum(int(d) * w for d, w in zip(stem, range(10, 1, -1), strict=True))
        check = (11 - total % 11) % 11
        if check != 10:
            return f"{stem}{check}"
    raise AssertionError("unreachable: some ninth digit always gives a valid check digit")


def distinctive_family_name() -> str:
    """A Faker surname of at least six letters. Tests assert that a patient's family name is *not* on a page, in an
    email or in a log; a short one ("Love", "Day", "Hall") can be part of another word or of another patient's name
    there, which made those assertions fail at random."""
    faker = factory.Faker._get_faker()
    while True:
        name: str = faker.last_name()
        if len(name) >= 6:
            return name


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    hospital_number = factory.Sequence(lambda n: f"9{n:07d}")
    nhs_number = factory.Sequence(lambda n: nhs_number_for(n + 100))
    given_name = factory.Faker("first_name")
    family_name = factory.LazyFunction(distinctive_family_name)
    birth_date = datetime.date(1970, 5, 17)
    address_line_1 = factory.Faker("street_address")
    town = "London"
    postcode = "N1 9GU"
    email = factory.Faker("email")
    mobile_phone = "07700 900456"


class PatientWithAccountFactory(PatientFactory):
    user = factory.SubFactory(UserFactory)


class CareTeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CareTeam
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Care team {n}")
    response_target_working_days = 3


class CareTeamMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CareTeamMembership

    care_team = factory.SubFactory(CareTeamFactory)
    user = factory.SubFactory(UserFactory)
    role = "clinician"


class CareRelationshipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CareRelationship

    patient = factory.SubFactory(PatientFactory)
    care_team = factory.SubFactory(CareTeamFactory)
    reason = "referral"
