import datetime
import secrets

import factory
from django.utils import timezone

from careportal.letters.models import Delivery, Letter, LetterSource
from tests.letters.helpers import make_pdf, store_letter_file
from tests.letters.helpers import sha256 as sha256_of
from tests.patients.factories import PatientFactory

_PDF = make_pdf()
_PDF_SHA256 = sha256_of(_PDF)


class LetterFactory(factory.django.DjangoModelFactory):
    """A current clinic letter, stored (its file is in the letter storage), delivered by post."""

    class Meta:
        model = Letter
        skip_postgeneration_save = True

    patient = factory.SubFactory(PatientFactory)
    care_team = None
    source = LetterSource.HL7
    source_system = "EDM"
    document_id = factory.Sequence(lambda n: f"DOC-{n:06d}")
    document_type = "Clinic letter"
    document_type_code = "CL"
    author = "Dr Chidi Okafor"
    letter_date = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=1))
    version_at = factory.LazyFunction(timezone.now)
    stored_name = factory.LazyFunction(lambda: secrets.token_hex(16))
    size = len(_PDF)
    sha256 = _PDF_SHA256
    received_sha256 = _PDF_SHA256
    page_count = 1
    delivery = Delivery.POST
    arrived_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def stored(obj, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create and extracted is not False:
            store_letter_file(obj, _PDF)
