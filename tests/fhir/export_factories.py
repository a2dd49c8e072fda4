"""Factories for "download my record" (kept apart from tests/fhir/factories.py, which the FHIR API shares)."""

import datetime

import factory
from django.utils import timezone

from careportal.fhir.export_storage import BUNDLE, PDF, export_file_save, new_export_file_name
from careportal.fhir.models import RecordExport
from tests.accounts.factories import UserFactory
from tests.patients.factories import PatientFactory

SAMPLE_BUNDLE = b'{"resourceType": "Bundle", "type": "collection"}'
SAMPLE_PDF = b"%PDF-1.4 sample copy"


class RecordExportFactory(factory.django.DjangoModelFactory):
    """A copy asked for now. `ready=True` gives one made, with two small files in the storage."""

    class Meta:
        model = RecordExport
        skip_postgeneration_save = True

    patient = factory.SubFactory(PatientFactory)
    requested_by = factory.SubFactory(UserFactory)
    requested_as = "patient"
    scopes = factory.LazyFunction(lambda: ["appointments", "details", "letters", "messages", "results"])
    created_at = factory.LazyFunction(timezone.now)

    class Params:
        ready = factory.Trait(
            status="ready",
            progress=100,
            step="Ready",
            ready_at=factory.LazyFunction(timezone.now),
            expires_at=factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(days=7)),
            bundle_name=factory.LazyFunction(new_export_file_name),
            pdf_name=factory.LazyFunction(new_export_file_name),
            bundle_size=len(SAMPLE_BUNDLE),
            pdf_size=len(SAMPLE_PDF),
        )

    @factory.post_generation
    def files(obj: RecordExport, create: bool, extracted: object, **kwargs: object) -> None:
        if create and obj.bundle_name:
            export_file_save(stored_name=obj.bundle_name, kind=BUNDLE, data=SAMPLE_BUNDLE)
            export_file_save(stored_name=obj.pdf_name, kind=PDF, data=SAMPLE_PDF)
