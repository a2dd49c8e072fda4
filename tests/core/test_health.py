"""/health/: 200 when the database and the task queue answer, 500 otherwise, and never any detail or patient data.

Failures are simulated at the database boundary (the driver cursor, the connection), since the checks run in a
worker thread with its own connection.
"""

from unittest import mock

import pytest
from django.db import DatabaseError, OperationalError, connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult

from careportal.core.health import TaskBackend
from tests.patients.factories import PatientWithAccountFactory

pytestmark = pytest.mark.django_db

DATABASE = "Database(alias='default')"
TASKS = "TaskBackend(alias='default')"
# What a real driver error can say: none of it may reach the page.
DRIVER_ERROR = 'connection to server at "10.20.30.40", port 5432 failed: password authentication failed for "cp"'


@pytest.fixture
def patient():
    return PatientWithAccountFactory(given_name="Zebedee", family_name="Quarrington", nhs_number="9990001236")


def assert_shows_nothing_it_should_not(body: str, patient) -> None:
    for secret in (
        patient.given_name,
        patient.family_name,
        patient.nhs_number,
        patient.hospital_number,
        "10.20.30.40",
        "password",
        "Traceback",
        "OperationalError",
        "DatabaseError",
    ):
        assert secret not in body


def test_healthy_service_answers_200_with_json(client, patient):
    response = client.get("/health/?format=json")
    assert response.status_code == 200
    assert response.json() == {DATABASE: "OK", TASKS: "OK"}
    assert "no-cache" in response["Cache-Control"]
    assert_shows_nothing_it_should_not(response.content.decode(), patient)


def test_json_is_also_chosen_by_the_accept_header(client):
    response = client.get("/health/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {DATABASE: "OK", TASKS: "OK"}


def test_healthy_service_answers_200_with_the_database_task_backend(client, database_task_backend):
    response = client.get("/health/?format=json")
    assert response.status_code == 200
    assert response.json() == {DATABASE: "OK", TASKS: "OK"}


def test_task_check_reads_the_task_table_when_tasks_use_the_database(database_task_backend):
    with CaptureQueriesContext(connection) as queries:
        TaskBackend().run()
    assert len(queries) == 1
    assert DBTaskResult._meta.db_table in queries[0]["sql"]


def test_task_check_has_nothing_to_reach_with_the_immediate_backend():
    with CaptureQueriesContext(connection) as queries:
        TaskBackend().run()
    assert len(queries) == 0


def test_unreadable_task_table_answers_500_without_detail(client, database_task_backend, patient):
    real_execute = CursorWrapper.execute

    def execute(cursor, sql, params=None):
        if DBTaskResult._meta.db_table in sql:
            raise DatabaseError(f'relation "{DBTaskResult._meta.db_table}" does not exist; {DRIVER_ERROR}')
        return real_execute(cursor, sql, params)

    with mock.patch.object(CursorWrapper, "execute", execute):
        response = client.get("/health/?format=json")

    assert response.status_code == 500
    assert response.json() == {DATABASE: "OK", TASKS: "Unavailable: The task queue table cannot be read"}
    assert_shows_nothing_it_should_not(response.content.decode(), patient)


@pytest.mark.parametrize("accept", ["application/json", "text/html", "text/plain"])
def test_database_down_answers_500_without_detail(client, database_task_backend, patient, accept):
    with mock.patch.object(BaseDatabaseWrapper, "ensure_connection", side_effect=OperationalError(DRIVER_ERROR)):
        response = client.get("/health/", HTTP_ACCEPT=accept)

    assert response.status_code == 500
    body = response.content.decode()
    assert "The database cannot be reached" in body
    assert "The task queue table cannot be read" in body
    assert_shows_nothing_it_should_not(body, patient)
