"""Backup and restore (docs/operations.md): a backup restored into a fresh database holds the same rows in every
table (`manage.py db_checksums`), and its audit chain still verifies (`manage.py audit_verify`)."""

import datetime
import io
import os
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone

from careportal.audit.chain import audit_seal
from careportal.audit.models import AccessEvent
from tests.appointments.factories import AppointmentFactory
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.patients.factories import PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory

RESTORED = "restored"
# Chosen before any fixture runs, so that the other database's test costs nothing (not even a flush).
ON_POSTGRESQL = os.environ.get("DATABASE_URL", "").startswith("postgres")


def _populate() -> None:
    """A little of everything, with its access events sealed."""
    for _ in range(2):
        patient = PatientWithAccountFactory()
        report = DiagnosticReportFactory(patient=patient, released=True)
        ObservationFactory(report=report)
        MessageFactory(thread=ThreadFactory(patient=patient))
        AppointmentFactory(patient=patient)
        ProxyRelationshipFactory(patient=patient)
        for label in ("your test results", "your messages", "your appointments"):
            AccessEvent.objects.create(
                actor=patient.user, actor_role="patient", patient=patient, action="view", object_label=label
            )
    assert audit_seal(now=timezone.now() + datetime.timedelta(seconds=1), margin=datetime.timedelta(0))


@contextmanager
def _database(name: str) -> Iterator[str]:
    """The database `name`, with the test database's other settings, under the alias RESTORED. Its connection
    calls itself "default", the one alias the test case lets connect (the commands take the alias to use)."""
    default = connections[DEFAULT_DB_ALIAS]
    restored = default.__class__({**default.settings_dict, "NAME": name}, alias=DEFAULT_DB_ALIAS)
    connections[RESTORED] = restored
    try:
        yield RESTORED
    finally:
        restored.close()
        del connections[RESTORED]


def _checksums(alias: str) -> str:
    out = io.StringIO()
    call_command("db_checksums", database=alias, stdout=out)
    return out.getvalue()


def _verify(alias: str) -> str:
    out = io.StringIO()
    call_command("audit_verify", database=alias, stdout=out)  # raises CommandError if anything is wrong
    return out.getvalue()


@pytest.mark.skipif(ON_POSTGRESQL, reason="the SQLite procedure")
@pytest.mark.django_db(transaction=True)
def test_a_sqlite_backup_restores_every_table_and_a_chain_that_verifies(tmp_path: Path) -> None:
    _populate()
    backup_file = tmp_path / "careportal-backup.sqlite3"

    # The online backup API (sqlite3 `.backup`): a consistent copy while the database is in use. (Committed data:
    # a connection cannot back up its own open write transaction, hence a transactional test.)
    connection.ensure_connection()
    with sqlite3.connect(backup_file) as target:
        connection.connection.backup(target)
    target.close()

    source = _checksums("default")
    with _database(str(backup_file)) as restored:
        copy = _checksums(restored)
        verified = _verify(restored)
    assert copy == source
    assert "audit_accessevent" in source and " 6 " in source.split("audit_accessevent")[1].splitlines()[0]
    assert "The audit log is intact" in verified


@pytest.mark.skipif(not ON_POSTGRESQL, reason="the PostgreSQL procedure")
@pytest.mark.django_db(transaction=True)
def test_a_postgresql_dump_restores_every_table_and_a_chain_that_verifies(tmp_path: Path) -> None:
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump and pg_restore are not installed")
    _populate()
    settings = connection.settings_dict
    server = ["--host", settings["HOST"] or "127.0.0.1", "--port", str(settings["PORT"] or 5432)]
    server += ["--username", settings["USER"]]
    dump = tmp_path / "careportal.dump"
    restored_name = f"{settings['NAME']}_restored_{uuid.uuid4().hex[:6]}"

    subprocess.run(["pg_dump", *server, "--format=custom", f"--file={dump}", settings["NAME"]], check=True)
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{restored_name}"')
    try:
        subprocess.run(
            ["pg_restore", *server, "--no-owner", "--exit-on-error", f"--dbname={restored_name}", str(dump)],
            check=True,
        )
        source = _checksums("default")
        with _database(restored_name) as restored:
            copy = _checksums(restored)
            verified = _verify(restored)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{restored_name}" WITH (FORCE)')
    assert copy == source
    assert " 6 " in source.split("audit_accessevent")[1].splitlines()[0]
    assert "The audit log is intact" in verified
