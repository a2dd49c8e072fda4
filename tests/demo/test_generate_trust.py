"""`manage.py generate_trust`: a synthetic trust written in bulk (careportal/demo/synthetic.py)."""

import datetime
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import Count
from django.test import Client
from nhs_number import is_valid

from careportal.appointments.models import Appointment
from careportal.audit.models import AccessEvent
from careportal.demo.services import demo_trust_load
from careportal.demo.synthetic import (
    SYNTHETIC_PASSWORD,
    GenerateRefused,
    _DeferredIndexes,
    _tables_to_defer,
    _write_plan,
    generate_check,
    nhs_check_digit,
    nhs_numbers_from_test_range,
    trust_generate,
)
from careportal.letters.models import Letter
from careportal.messaging.models import Message, Thread
from careportal.patients.models import CareRelationship, Patient
from careportal.proxy.models import ProxyRelationship
from careportal.results.models import DiagnosticReport, Observation
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)


def _snapshot() -> list[tuple]:
    """What a run made, without the ids and random public ids the database or the run gave."""
    patients = list(
        Patient.objects.order_by("hospital_number").values_list(
            "hospital_number", "nhs_number", "given_name", "family_name", "birth_date", "postcode"
        )
    )
    values = list(
        Observation.objects.order_by("report__filler_order_number", "sequence").values_list(
            "report__patient__hospital_number", "code", "value_text", "interpretation", "observed_at"
        )
    )
    return [*patients, *values, (Appointment.objects.count(), Letter.objects.count(), Message.objects.count())]


def test_a_small_trust_has_every_kind_of_record():
    result = trust_generate(patients=300, seed=7, now=NOW)
    assert Patient.objects.count() == 300 == result.patients
    assert result.rows["patients_patient"] == 300
    assert result.rows["results_observation"] == Observation.objects.count()
    # About the average asked for (20 values a patient), spread unevenly as in a real trust.
    assert 12 <= Observation.objects.count() / 300 <= 30
    per_patient = DiagnosticReport.objects.values("patient").annotate(n=Count("pk")).values_list("n", flat=True)
    assert max(per_patient) >= 4 * min(per_patient)
    for model in (Appointment, Letter, Thread, Message, ProxyRelationship, AccessEvent, CareRelationship):
        assert model.objects.exists(), model.__name__
    with_account = Patient.objects.filter(user__isnull=False).count()
    assert 0.4 * 300 <= with_account <= 0.7 * 300
    # Five years of history, none of it in the future.
    oldest = DiagnosticReport.objects.order_by("collected_at").first()
    assert oldest is not None and oldest.collected_at is not None
    assert oldest.collected_at < NOW - datetime.timedelta(days=3 * 365)
    assert not DiagnosticReport.objects.filter(reported_at__gt=NOW).exists()


def test_nhs_numbers_are_valid_unique_and_from_the_test_range_and_hospital_numbers_are_marked():
    trust_generate(patients=250, seed=3, now=NOW)
    numbers = list(Patient.objects.values_list("nhs_number", flat=True))
    assert len(set(numbers)) == 250
    assert all(number.startswith("999") and is_valid(number) for number in numbers)
    for patient in Patient.objects.all()[:50]:
        patient.full_clean()  # the model's own validators: NHS number, lengths, choices
    assert all(n.startswith("SYN") for n in Patient.objects.values_list("hospital_number", flat=True))


def test_the_nhs_number_sequence_skips_numbers_taken_and_ends_when_the_range_is_used_up():
    first = nhs_numbers_from_test_range(seed=5)
    taken = [first(), first()]
    again = nhs_numbers_from_test_range(seed=5, taken=taken[:1])
    assert again() == taken[1]
    numbers = nhs_numbers_from_test_range(seed=5)
    valid = 0
    while numbers() is not None:
        valid += 1
    # Every prefix of the range once; about one in eleven has no check digit.
    assert 900_000 < valid < 920_000
    assert nhs_check_digit("943476591") == 9
    assert nhs_check_digit("999000001") == 8
    assert nhs_check_digit("999000002") is None or is_valid(f"999000002{nhs_check_digit('999000002')}")


def test_values_sit_around_their_reference_ranges_and_are_flagged_as_a_lab_would():
    trust_generate(patients=200, seed=11, now=NOW)
    numeric = Observation.objects.filter(value_type="NM")
    flags = {"N": 0, "L": 0, "H": 0}
    for value, low, high, flag in numeric.values_list(
        "value_numeric", "reference_low", "reference_high", "interpretation"
    ):
        assert value is not None
        if flag in {"LL", "HH"}:
            continue
        expected = "L" if low is not None and value < low else "H" if high is not None and value > high else "N"
        assert flag == expected
        flags[flag] += 1
    total = sum(flags.values())
    assert flags["N"] / total > 0.75  # most values are normal
    assert flags["L"] and flags["H"]
    assert Observation.objects.filter(code="718-7", unit="g/L", coding_system="LN").exists()  # haemoglobin, LOINC
    abnormal = DiagnosticReport.objects.filter(observations__interpretation__in=["L", "H", "LL", "HH"]).distinct()
    assert set(abnormal.values_list("pk", flat=True)) == set(
        DiagnosticReport.objects.filter(is_abnormal=True).values_list("pk", flat=True)
    )
    assert not Observation.objects.filter(value_type="NM", value_numeric__lt=Decimal(0)).exists()


def test_reports_are_released_as_the_trust_rules_say():
    trust_generate(patients=300, seed=13, now=NOW)
    reports = DiagnosticReport.objects.all()
    # Automatic release: released exactly when due, and only once due.
    auto = reports.filter(release_mode="after_working_days")
    assert not auto.filter(release_due_at__isnull=True).exists()
    assert not auto.filter(released_at__gt=NOW).exists()
    for due, released in auto.filter(released_at__isnull=False).values_list("release_due_at", "released_at")[:200]:
        assert due == released
    assert auto.filter(release_due_at__gt=NOW, released_at__isnull=True).exists()  # recent ones still waiting
    assert not auto.filter(release_due_at__lte=NOW, released_at__isnull=True, held_at__isnull=True).exists()
    # Held reports are never released; review-only reports are released only after a review.
    assert not reports.filter(held_at__isnull=False, released_at__isnull=False).exists()
    review = reports.filter(release_mode="after_review")
    assert review.exists()
    assert not review.filter(release_due_at__isnull=False).exists()
    assert not review.filter(released_at__isnull=False, reviewed_at__isnull=True).exists()
    histology = reports.filter(category="SP").first()
    assert histology is not None and histology.result_kind == "histology"
    imaging = reports.filter(category="RAD").first()
    assert imaging is not None and imaging.result_kind == "imaging"


def test_the_same_seed_makes_the_same_trust_and_another_seed_another():
    with transaction.atomic():
        trust_generate(patients=80, seed=21, now=NOW)
        first = _snapshot()
        transaction.set_rollback(True)
    with transaction.atomic():
        trust_generate(patients=80, seed=21, now=NOW, batch_size=7)  # batches do not change what is made
        second = _snapshot()
        transaction.set_rollback(True)
    trust_generate(patients=80, seed=22, now=NOW)
    third = _snapshot()
    assert first == second
    assert first[:80] != third[:80]


def test_a_synthetic_patient_can_sign_in_and_read_each_page():
    trust_generate(patients=60, seed=2, now=NOW)
    patient = (
        Patient.objects.filter(user__isnull=False, diagnostic_reports__released_at__isnull=False)
        .filter(appointments__isnull=False)
        .distinct()
        .first()
    )
    assert patient is not None and patient.user is not None
    client = Client()
    response = client.post("/sign-in/", {"login": patient.user.username, "password": SYNTHETIC_PASSWORD})
    assert response.status_code == 302  # on to the second step: the password was right
    client.force_login(patient.user)
    report = patient.diagnostic_reports.filter(released_at__isnull=False).first()
    assert report is not None
    for url in ("/home/", "/test-results/", f"/test-results/{report.public_id}/", "/appointments/", "/letters/"):
        assert client.get(url).status_code == 200, url
    assert client.get("/messages/").status_code == 200
    assert client.get("/who-has-viewed-your-record/").status_code == 200


def test_refuses_when_synthetic_patients_are_already_there_even_with_force():
    trust_generate(patients=5, seed=1, now=NOW)
    with pytest.raises(GenerateRefused, match="already holds 5 synthetic patients"):
        generate_check(not_production=True, force=True)


def test_refuses_a_database_with_real_patients_unless_forced():
    PatientFactory()
    with pytest.raises(GenerateRefused, match="1 patients that are not synthetic"):
        generate_check(not_production=True, force=False)
    generate_check(not_production=True, force=True)


def test_demo_patients_do_not_count_as_real_and_their_nhs_numbers_are_not_reused():
    demo_trust_load()
    generate_check(not_production=True, force=False)
    demo_numbers = set(Patient.objects.values_list("nhs_number", flat=True))
    trust_generate(patients=50, seed=1, now=NOW)
    assert Patient.objects.count() == 50 + len(demo_numbers)
    assert Patient.objects.values("nhs_number").distinct().count() == Patient.objects.count()


def test_refuses_when_debug_is_off_unless_told_this_is_not_production(settings):
    settings.DEBUG = False
    with pytest.raises(GenerateRefused, match="--i-know-this-is-not-production"):
        generate_check(not_production=False, force=False)
    generate_check(not_production=True, force=False)
    settings.DEBUG = True
    generate_check(not_production=False, force=False)


def test_refuses_production_whatever_the_flags(settings):
    settings.IS_PRODUCTION = True
    with pytest.raises(GenerateRefused, match="production"):
        generate_check(not_production=True, force=True)


def test_the_command_writes_the_trust_and_says_what_it_made():
    out = io.StringIO()
    call_command(
        "generate_trust",
        "--patients=40",
        "--seed=4",
        "--batch-size=15",
        "--observations-per-patient=10",
        "--i-know-this-is-not-production",
        stdout=out,
        stderr=io.StringIO(),
    )
    assert Patient.objects.count() == 40
    text = out.getvalue()
    assert "Added 40 synthetic patients" in text and "results_observation:" in text
    assert SYNTHETIC_PASSWORD in text
    assert 3 <= Observation.objects.count() / 40 <= 20


def test_the_command_refuses_a_second_run_and_changes_nothing():
    call_command("generate_trust", "--patients=10", "--i-know-this-is-not-production", verbosity=0)
    with pytest.raises(CommandError, match="already holds 10 synthetic patients"):
        call_command("generate_trust", "--patients=10", "--i-know-this-is-not-production", verbosity=0)
    assert Patient.objects.count() == 10


def test_the_command_needs_the_flag_when_debug_is_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--i-know-this-is-not-production"):
        call_command("generate_trust", "--patients=10", verbosity=0)
    assert not Patient.objects.exists()


@pytest.mark.parametrize(
    "arguments",
    [
        [],
        ["--patients=0"],
        ["--patients=-3"],
        ["--patients=lots"],
        ["--patients=10", "--batch-size=0"],
        ["--patients=10", "--observations-per-patient=-1"],
        ["--patients=10", "--observations-per-patient=nan"],
        ["--patients=10", "--seed=abc"],
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(arguments):
    with pytest.raises(CommandError):
        call_command("generate_trust", *arguments, "--i-know-this-is-not-production", verbosity=0)
    assert not Patient.objects.exists()


def test_the_service_refuses_bad_sizes():
    for kwargs in ({"patients": 0}, {"patients": 5, "batch_size": 0}, {"patients": 5, "observations_per_patient": -1}):
        with pytest.raises(ValueError):
            trust_generate(**kwargs)  # type: ignore[arg-type]
    assert not Patient.objects.exists()


def test_with_letter_files_a_synthetic_letter_opens(settings, tmp_path, django_capture_on_commit_callbacks):
    settings.LETTER_ROOT = tmp_path
    with django_capture_on_commit_callbacks(execute=True):  # the files are placed when the rows commit
        trust_generate(patients=40, seed=6, now=NOW, letter_files=True)
    letter = Letter.objects.filter(patient__user__isnull=False).select_related("patient__user").first()
    assert letter is not None
    client = Client()
    client.force_login(letter.patient.user)
    response = client.get(f"/letters/{letter.public_id}/download/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"%PDF-1.4")


# Indexes built after the load (PostgreSQL) -------------------------------------------------------------------------

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="index deferral is PostgreSQL's")


def _same_up_to_casts(definition: str) -> str:
    """An index definition without the casts and brackets PostgreSQL prints differently for a predicate it has
    read back: `ANY ((ARRAY['a'::character varying])::text[])` and `ANY (ARRAY[('a'::character varying)::text])`
    are the same condition."""
    for noise in ("::character varying", "::text[]", "::text", "(", ")", " "):
        definition = definition.replace(noise, "")
    return definition


def _schema() -> tuple[list[tuple], list[tuple]]:
    """Every index and constraint of the tables the command writes, as PostgreSQL prints their definitions."""
    tables = [model._meta.db_table for model, _, _ in _write_plan()]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = ANY(%s::regclass[]) ORDER BY 1",
            [tables],
        )
        indexes = [(name, _same_up_to_casts(definition)) for name, definition in cursor.fetchall()]
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid), convalidated "
            "FROM pg_constraint WHERE conrelid = ANY(%s::regclass[]) ORDER BY 1, 2",
            [tables],
        )
        return indexes, cursor.fetchall()


@postgresql_only
def test_a_large_load_builds_the_indexes_afterwards_and_leaves_the_same_schema(monkeypatch):
    before = _schema()
    dropped = []
    drop = _DeferredIndexes.drop

    def spying_drop(self):
        drop(self)
        dropped.append((len(self.indexes), len(self.constraints)))
        assert _schema() != before  # really gone during the load

    monkeypatch.setattr(_DeferredIndexes, "drop", spying_drop)
    trust_generate(patients=30, seed=6, batch_size=10, now=NOW)
    indexes, constraints = dropped[0]
    assert indexes >= 10 and constraints >= 10  # the results tables' indexes and every table's foreign keys
    assert _schema() == before
    assert Observation.objects.filter(report__patient__hospital_number__startswith="SYN").exists()


@postgresql_only
def test_a_failed_load_leaves_the_indexes_and_constraints_as_they_were():
    before = _schema()

    def fail(_patients: int) -> None:
        raise RuntimeError("stopped after the first batch")

    with pytest.raises(RuntimeError, match="stopped"):
        trust_generate(patients=20, seed=7, batch_size=10, now=NOW, progress=fail)
    assert _schema() == before
    assert not Patient.objects.exists()


def test_indexes_are_built_afterwards_only_when_the_load_is_larger_than_what_is_there():
    tables = _tables_to_defer([Patient, Observation], patients=5)
    assert tables == ([] if connection.vendor != "postgresql" else ["patients_patient", "results_observation"])
    PatientFactory.create_batch(5)
    assert _tables_to_defer([Patient, Observation], patients=5) == []
