"""careportal/core/compiled_queries.py, and the three queries every patient page runs through it: the same rows the
ORM gives, for each id, from SQL the ORM writes once."""

import datetime
import hashlib
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.models.signals import post_init
from django.db.models.sql.compiler import SQLCompiler
from django.utils import timezone

from careportal.access import layer
from careportal.access.layer import Viewer
from careportal.access.scopes import ALL_SCOPES
from careportal.audit.models import ActorRole
from careportal.core.compiled_queries import CompiledQuery
from careportal.fhir import oauth
from careportal.fhir.oauth import AccessToken
from careportal.patients.models import Patient
from careportal.results import selectors
from careportal.results.models import ReleaseMode, ReportStatus, ResultPreference
from tests.accounts.factories import UserFactory
from tests.fhir.factories import AppConnectionFactory, bearer_token
from tests.patients.factories import PatientFactory, PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory
from tests.results.factories import DiagnosticReportFactory, ResultPreferenceFactory

pytestmark = pytest.mark.django_db


def _fields(patient: Any) -> dict[str, Any]:
    return {field.attname: getattr(patient, field.attname) for field in Patient._meta.concrete_fields}


def test_the_own_record_query_finds_what_the_orm_finds_for_each_account() -> None:
    alone = PatientWithAccountFactory()
    parent = PatientWithAccountFactory()
    ProxyRelationshipFactory(proxy=parent.user)
    stopped = PatientWithAccountFactory()
    ProxyRelationshipFactory(proxy=stopped.user, status="ended")
    no_record = UserFactory()
    for user in (alone.user, parent.user, stopped.user, no_record):
        orm = (
            Patient.objects.filter(user=user).annotate(acts_as_proxy=layer._acts_as_proxy(user)).order_by("pk").first()
        )
        compiled = layer._own_patient_record(user)
        if orm is None:
            assert compiled is None
            continue
        assert _fields(compiled) == _fields(orm)
        assert bool(compiled.acts_as_proxy) is orm.acts_as_proxy
    assert [bool(layer._own_patient_record(p.user).acts_as_proxy) for p in (alone, parent, stopped)] == [
        False,
        True,
        False,
    ]


def _viewer(patient: Patient) -> Viewer:
    return Viewer(user=patient.user, role=ActorRole.PATIENT, patient=patient, scopes=ALL_SCOPES)


def test_the_test_choice_rows_are_the_orms_for_each_patient() -> None:
    now = timezone.now()
    first, second = PatientWithAccountFactory(), PatientWithAccountFactory()
    for patient in (first, second):
        DiagnosticReportFactory(patient=patient, released=True)
        DiagnosticReportFactory(patient=patient, test_code="UE", test_name="Urea and electrolytes", released=True)
        DiagnosticReportFactory(patient=patient, release_mode=ReleaseMode.AFTER_REVIEW, release_due_at=None)
        DiagnosticReportFactory(patient=patient, held_at=now, result_kind="histology")
        DiagnosticReportFactory(patient=patient, status=ReportStatus.CANCELLED)  # never released: not shown
        DiagnosticReportFactory(patient=patient, collected_at=None, arrived_at=now - datetime.timedelta(days=3))
    DiagnosticReportFactory(patient=second, test_code="LFT", test_name="Liver function tests", sensitive_category="hiv")

    for patient in (first, second):
        orm = [
            (code, name, kind, bool(unreleased), bool(waits))
            for code, name, kind, unreleased, waits in selectors._test_choice_rows(_viewer(patient))
        ]
        compiled = [
            (code, name, kind, bool(unreleased), bool(waits))
            for code, name, kind, unreleased, waits in selectors._OWN_TEST_CHOICE_ROWS.rows(patient.pk)
        ]
        assert compiled == orm
    assert len(compiled) == 6  # the second patient's, their sensitive report included: it is their own record


def test_a_proxys_test_choices_are_built_by_the_orm_with_their_grants(monkeypatch: pytest.MonkeyPatch) -> None:
    child = PatientFactory(birth_date=datetime.date(2018, 4, 2))
    DiagnosticReportFactory(patient=child, released=True)
    DiagnosticReportFactory(patient=child, test_code="HIV", test_name="HIV test", sensitive_category="hiv")
    relationship = ProxyRelationshipFactory(patient=child)
    proxy = Viewer(
        user=relationship.proxy,
        role=ActorRole.PROXY,
        patient=child,
        scopes=ALL_SCOPES,
        proxy_relationship=relationship,
    )

    def never(*ids: int) -> list[tuple[Any, ...]]:
        raise AssertionError("a proxy's rows depend on their grants: never compiled")

    monkeypatch.setattr(selectors._OWN_TEST_CHOICE_ROWS, "rows", never)
    assert [code for code, _ in selectors.test_choices(viewer=proxy).choices] == ["FBC"]


def test_waiting_kinds_are_each_patients_own() -> None:
    first, second = PatientFactory(), PatientFactory()
    ResultPreferenceFactory(patient=first, result_kind="histology")
    ResultPreferenceFactory(patient=first, result_kind="imaging")
    ResultPreferenceFactory(patient=second, result_kind="genetics", wait_for_clinician=False)
    assert selectors.waiting_kinds(patient=first) == {"histology", "imaging"}
    assert selectors.waiting_kinds(patient=second) == frozenset()
    assert ResultPreference.objects.count() == 3


def test_the_sql_is_compiled_once_and_each_call_is_one_query(
    monkeypatch: pytest.MonkeyPatch, django_assert_num_queries: Any
) -> None:
    patients = [PatientFactory() for _ in range(3)]
    ResultPreferenceFactory(patient=patients[1], result_kind="imaging")
    compiles = []
    original = SQLCompiler.as_sql

    def counting(self: SQLCompiler, *args: Any, **kwargs: Any) -> Any:
        compiles.append(self.query.model)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", counting)
    query = CompiledQuery(selectors._waiting_kinds_query)
    for patient in patients:
        with django_assert_num_queries(1):
            answer = query.rows(patient.pk)
        assert answer == ([("imaging",)] if patient == patients[1] else [])
    assert compiles == [ResultPreference]


def test_a_build_whose_id_never_reaches_the_sql_is_refused() -> None:
    def ignores_its_id(patient_id: int) -> Any:
        return ResultPreference.objects.filter(wait_for_clinician=True)

    with pytest.raises(ImproperlyConfigured, match="every argument must reach the SQL as a parameter of its own"):
        CompiledQuery(ignores_its_id).rows(1)


@pytest.mark.parametrize("ids", [(), (1, 2), ("1",), (None,)])
def test_ids_must_be_as_many_integers_as_the_query_takes(ids: tuple[Any, ...]) -> None:
    with pytest.raises(TypeError, match=r"takes \(int\)"):
        CompiledQuery(selectors._waiting_kinds_query).rows(*ids)


def _token_fields(token: Any) -> dict[str, Any]:
    return {field.attname: getattr(token, field.attname) for field in type(token)._meta.concrete_fields}


def test_a_bearer_tokens_row_and_its_related_rows_are_the_orms(django_assert_num_queries: Any) -> None:
    connection = AppConnectionFactory()
    with_context = bearer_token(connection)
    without_context = AccessToken.objects.create(
        user=connection.user,
        application=connection.application,
        token="no-context",
        scope="patient/*.read",
        expires=timezone.now() + datetime.timedelta(hours=1),
    )
    for value, checksum in ((with_context, None), ("no-context", without_context.token_checksum)):
        checksum = checksum or hashlib.sha256(value.encode()).hexdigest()
        orm = oauth._bearer_token_query(checksum).first()
        with django_assert_num_queries(1):  # the token, its app, its person, its connection and patient
            (compiled,) = oauth._BEARER_TOKEN.instances(checksum)
            assert _token_fields(compiled) == _token_fields(orm)
            assert _token_fields(compiled.user) == _token_fields(orm.user)
            assert _token_fields(compiled.application) == _token_fields(orm.application)
            if value == "no-context":
                assert not hasattr(compiled, "careportal_context")
                continue
            context = compiled.careportal_context
            assert _token_fields(context) == _token_fields(orm.careportal_context)
            assert _token_fields(context.connection) == _token_fields(connection)
            assert _token_fields(context.connection.patient) == _token_fields(connection.patient)
        # Aware datetimes on both databases (SQLite's come through Django's converters).
        assert compiled.expires == orm.expires and compiled.expires.tzinfo is not None
    assert oauth._BEARER_TOKEN.instances(hashlib.sha256(b"unknown").hexdigest()) == []


def test_keys_are_strings_and_ids_integers() -> None:
    with pytest.raises(TypeError, match=r"takes \(str\)"):
        oauth._BEARER_TOKEN.instances(12)
    with pytest.raises(ImproperlyConfigured, match="ids \\(int\\) and keys \\(str\\)"):
        CompiledQuery(oauth._bearer_token_query, takes=(bytes,))  # type: ignore[arg-type]


def test_a_key_must_be_compared_as_it_is() -> None:
    def contains(checksum: str) -> Any:  # the ORM sends "%<key>%": a pattern, not the key
        return AccessToken.objects.filter(token_checksum__contains=checksum)

    refused = CompiledQuery(contains, takes=(str,))
    with pytest.raises(ImproperlyConfigured, match="every argument must reach the SQL"):
        refused.rows("abc")


def test_a_build_with_prefetching_is_refused() -> None:
    def prefetching(patient_id: int) -> Any:
        return Patient.objects.filter(pk=patient_id).prefetch_related("diagnostic_reports")

    with pytest.raises(ImproperlyConfigured, match="one statement"):
        CompiledQuery(prefetching).instances(1)


def _only_names(patient_id: int) -> Any:
    return Patient.objects.filter(pk=patient_id).only("given_name", "family_name")


def test_instances_made_without_init_behave_as_the_orms(django_assert_num_queries: Any) -> None:
    patient = PatientFactory(given_name="Ada", family_name="Lovelace", town="London")
    query = CompiledQuery(_only_names)
    with django_assert_num_queries(1):
        (found,) = query.instances(patient.pk)
    assert (found.pk, found.given_name, found.family_name) == (patient.pk, "Ada", "Lovelace")
    assert found._state.adding is False and found._state.db == "default"
    assert found.get_deferred_fields() == Patient.objects.only("given_name", "family_name").get().get_deferred_fields()
    with django_assert_num_queries(1):  # a column not loaded is read when first used, as with only()
        assert found.town == "London"
    found.given_name = "Augusta"
    found.save(update_fields=["given_name"])  # an update of the row, not a new one
    assert Patient.objects.get(pk=patient.pk).given_name == "Augusta"
    assert Patient.objects.count() == 1
    assert found == patient


def test_a_model_with_init_receivers_is_made_by_django() -> None:
    patient = PatientFactory()
    initialised: list[Any] = []

    def receiver(sender: Any, instance: Any, **kwargs: Any) -> None:
        initialised.append(instance)

    post_init.connect(receiver, sender=Patient)
    try:
        (found,) = CompiledQuery(_only_names).instances(patient.pk)
    finally:
        post_init.disconnect(receiver, sender=Patient)
    assert initialised == [found]


def test_a_patients_own_report_pages_are_the_orms_with_and_without_a_test() -> None:
    patient, other = PatientWithAccountFactory(), PatientWithAccountFactory()
    now = timezone.now()
    for n in range(7):
        code = "FBC" if n % 2 else "UE"
        DiagnosticReportFactory(
            patient=patient, released=True, test_code=code, collected_at=now - datetime.timedelta(n)
        )
    DiagnosticReportFactory(patient=patient, collected_at=None, arrived_at=now)  # not yet released: listed
    DiagnosticReportFactory(patient=patient, status=ReportStatus.CANCELLED)  # never released: not listed
    DiagnosticReportFactory(patient=other, released=True, test_code="FBC")
    viewer = _viewer(patient)
    own = selectors.reports_for_paging(viewer=viewer)
    assert isinstance(own, selectors._OwnReportList)
    for test_code in ("", "FBC", "UE", "LFT"):
        orm = list(selectors.reports_for_list(viewer=viewer, test_code=test_code))
        paged = selectors.reports_for_paging(viewer=viewer, test_code=test_code)
        for start, stop in ((0, 3), (3, 6), (6, 9), (0, 20), (0, 0)):
            compiled = paged[start:stop]
            assert [r.pk for r in compiled] == [r.pk for r in orm[start:stop]]
            assert [(r.test_name, r.status, r.released_at) for r in compiled] == [
                (r.test_name, r.status, r.released_at) for r in orm[start:stop]
            ]
    assert len(selectors.reports_for_paging(viewer=viewer)[0:20]) == 8


def test_a_proxys_report_pages_are_built_by_the_orm() -> None:
    relationship = ProxyRelationshipFactory()
    viewer = Viewer(
        user=relationship.proxy,
        role=ActorRole.PROXY,
        patient=relationship.patient,
        scopes=ALL_SCOPES,
        proxy_relationship=relationship,
    )
    assert not isinstance(selectors.reports_for_paging(viewer=viewer), selectors._OwnReportList)


def test_on_postgresql_a_compiled_query_is_prepared_after_its_fifth_use() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no prepared statements to see")
    patient = PatientFactory()
    ResultPreferenceFactory(patient=patient, result_kind="imaging")
    query = CompiledQuery(selectors._waiting_kinds_query)
    for _ in range(6):
        assert query.rows(patient.pk) == [("imaging",)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement for (statement,) in cursor.fetchall()]
    assert any("results_resultpreference" in statement for statement in prepared), prepared
