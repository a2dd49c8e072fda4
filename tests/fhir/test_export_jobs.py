"""The hourly job of "download my record": expired copies lose their files, stalled ones fail."""

import datetime

import pytest
from django.utils import timezone

from careportal.core.schedule import schedule
from careportal.fhir.export_storage import BUNDLE, PDF, export_file_exists
from careportal.fhir.export_tasks import record_exports_housekeeping
from careportal.fhir.models import RecordExport, RecordExportStatus
from tests.fhir.export_factories import RecordExportFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _private_files(settings, tmp_path) -> None:
    settings.LETTER_ROOT = tmp_path / "letters"


def test_the_job_is_registered_every_hour():
    schedule.autodiscover()
    job = next(job for job in schedule.jobs() if job.name == "fhir.record_exports")
    assert job.every == datetime.timedelta(hours=1)
    assert job.task is record_exports_housekeeping


def test_the_job_deletes_expired_files_and_fails_stalled_copies():
    expired = RecordExportFactory(ready=True)
    RecordExport.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    current = RecordExportFactory(ready=True)
    stalled = RecordExportFactory(status="building", created_at=timezone.now() - datetime.timedelta(hours=2))
    waiting = RecordExportFactory(status="queued")

    result = record_exports_housekeeping.call()

    assert result == {"expired": 1, "failed": 1}
    assert not export_file_exists(stored_name=expired.bundle_name, kind=BUNDLE)
    assert not export_file_exists(stored_name=expired.pdf_name, kind=PDF)
    expired.refresh_from_db()
    assert expired.status == RecordExportStatus.EXPIRED and expired.bundle_name == expired.pdf_name == ""
    for stored_name, kind in ((current.bundle_name, BUNDLE), (current.pdf_name, PDF)):
        assert export_file_exists(stored_name=stored_name, kind=kind)
    stalled.refresh_from_db()
    assert stalled.status == RecordExportStatus.FAILED and stalled.error == "Making the copy took too long."
    assert RecordExport.objects.get(pk=waiting.pk).status == RecordExportStatus.QUEUED


def test_the_job_twice_changes_nothing_more():
    RecordExportFactory(ready=True, expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert record_exports_housekeeping.call()["expired"] == 1
    assert record_exports_housekeeping.call() == {"expired": 0, "failed": 0}
