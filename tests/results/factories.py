import datetime
from decimal import Decimal

import factory
from django.utils import timezone

from careportal.results.models import (
    DiagnosticReport,
    Observation,
    ReleaseMode,
    ReportStatus,
    ResultPreference,
)
from tests.patients.factories import PatientFactory


class DiagnosticReportFactory(factory.django.DjangoModelFactory):
    """A final full blood count, arrived now, due for release in a day, not yet released."""

    class Meta:
        model = DiagnosticReport

    patient = factory.SubFactory(PatientFactory)
    care_team = None
    source_system = "WINPATH"
    placer_order_number = factory.Sequence(lambda n: f"OE-{n:06d}")
    filler_order_number = factory.Sequence(lambda n: f"26H{n:07d}")
    test_code = "FBC"
    test_name = "Full blood count"
    test_coding_system = "WINPATH"
    category = "HM"
    specimen = "Venous blood"
    collected_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(hours=2))
    reported_at = factory.LazyFunction(timezone.now)
    status = ReportStatus.FINAL
    arrived_at = factory.LazyFunction(timezone.now)
    release_mode = ReleaseMode.AFTER_WORKING_DAYS
    release_rule_description = "Blood and other lab results"
    release_due_at = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(days=1))

    class Params:
        released = factory.Trait(
            released_at=factory.LazyFunction(timezone.now),
            release_notified_at=factory.LazyFunction(timezone.now),
        )


class ObservationFactory(factory.django.DjangoModelFactory):
    """A haemoglobin value within its reference range."""

    class Meta:
        model = Observation

    report = factory.SubFactory(DiagnosticReportFactory)
    sequence = factory.Sequence(lambda n: n + 1)
    code = "HB"
    name = "Haemoglobin"
    coding_system = "WINPATH"
    value_type = "NM"
    value_text = "135"
    value_numeric = Decimal("135")
    unit = "g/L"
    reference_range = "115-165"
    reference_low = Decimal("115")
    reference_high = Decimal("165")
    interpretation = "N"
    status = "F"


class ResultPreferenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ResultPreference

    patient = factory.SubFactory(PatientFactory)
    result_kind = "histology"
    wait_for_clinician = True
