"""The optional virus check, against a clamd stand-in speaking the INSTREAM protocol (tests/messaging/conftest.py)."""

import datetime
import threading

import pytest
from django.utils import timezone

from careportal.core.schedule import schedule
from careportal.messaging.attachments import (
    AttachmentUnavailable,
    CleanFile,
    attachment_file_open,
    attachment_path,
    attachments_store,
)
from careportal.messaging.jobs import rescan_attachments
from careportal.messaging.models import Attachment, ScanStatus
from careportal.messaging.scanning import (
    RESCAN_AFTER,
    RESCAN_GIVE_UP_AFTER,
    attachment_scan,
    attachments_due_for_rescan,
    scanner_configured,
)
from tests.messaging import files
from tests.messaging.conftest import FakeClamdUnix
from tests.messaging.factories import MessageFactory

pytestmark = pytest.mark.django_db

LETTER = CleanFile(display_name="letter.pdf", content_type="application/pdf", data=files.pdf())
# Attachments are stored as cleaned; a file carrying the EICAR string stands for one clamd objects to.
INFECTED = CleanFile(
    display_name="infected.pdf", content_type="application/pdf", data=files.pdf() + b"\n%" + files.EICAR + b"\n"
)


def store(capture, clean: CleanFile, *, run_callbacks: bool = True) -> Attachment:
    with capture(execute=run_callbacks):
        [attachment] = attachments_store(message=MessageFactory(), files=[clean])
    attachment.refresh_from_db()
    return attachment


def test_without_clamav_settings_nothing_is_scanned_and_files_are_available(django_capture_on_commit_callbacks):
    assert not scanner_configured()
    attachment = store(django_capture_on_commit_callbacks, LETTER)
    assert attachment.scan_status == ScanStatus.NOT_SCANNED
    with attachment_file_open(attachment) as file:
        assert file.read() == LETTER.data


def test_a_clean_file_is_released_after_the_scan(fake_clamd, django_capture_on_commit_callbacks):
    attachment = store(django_capture_on_commit_callbacks, LETTER)
    assert attachment.scan_status == ScanStatus.CLEAN
    assert attachment.scanned_at is not None
    assert fake_clamd.commands == ["INSTREAM"]
    assert fake_clamd.streams == [LETTER.data]  # the whole file, in chunks
    with attachment_file_open(attachment) as file:
        assert file.read() == LETTER.data


def test_an_infected_file_is_deleted_and_its_row_kept(fake_clamd, django_capture_on_commit_callbacks):
    attachment = store(django_capture_on_commit_callbacks, INFECTED)
    assert attachment.scan_status == ScanStatus.INFECTED
    assert not attachment_path(attachment).exists()
    assert Attachment.objects.filter(pk=attachment.pk).exists()
    with pytest.raises(AttachmentUnavailable, match=r"‘infected\.pdf’ was blocked"):
        attachment_file_open(attachment)


def test_files_are_held_until_scanned(fake_clamd, django_capture_on_commit_callbacks):
    attachment = store(django_capture_on_commit_callbacks, LETTER, run_callbacks=False)
    assert attachment.scan_status == ScanStatus.PENDING
    with pytest.raises(AttachmentUnavailable, match="waiting for a virus check"):
        attachment_file_open(attachment)
    assert fake_clamd.streams == []


def test_a_scan_when_clamd_is_down_fails_and_holds_the_file(clamd_down, django_capture_on_commit_callbacks):
    attachment = store(django_capture_on_commit_callbacks, LETTER)
    assert attachment.scan_status == ScanStatus.FAILED
    assert attachment_path(attachment).exists()
    with pytest.raises(AttachmentUnavailable, match="has not been checked for viruses yet"):
        attachment_file_open(attachment)


def test_a_scan_that_gets_no_reply_fails(fake_clamd, django_capture_on_commit_callbacks):
    fake_clamd.mode = "hang-up"
    attachment = store(django_capture_on_commit_callbacks, LETTER)
    assert attachment.scan_status == ScanStatus.FAILED


def test_a_scan_that_times_out_fails(fake_clamd, settings, django_capture_on_commit_callbacks):
    settings.CLAMAV_TIMEOUT_SECONDS = 0.3
    release = threading.Event()
    handler_class = fake_clamd.RequestHandlerClass

    def stall(handler):
        release.wait(5)
        handler_class.handle(handler)

    fake_clamd.RequestHandlerClass = type("Stalling", (handler_class,), {"handle": stall})
    try:
        attachment = store(django_capture_on_commit_callbacks, LETTER)
    finally:
        release.set()
    assert attachment.scan_status == ScanStatus.FAILED


def test_the_job_rescans_failed_attachments_once_clamd_is_back(
    clamd_down, settings, django_capture_on_commit_callbacks, request
):
    attachment = store(django_capture_on_commit_callbacks, LETTER)
    assert attachment.scan_status == ScanStatus.FAILED

    # Too soon: nothing to do yet.
    with django_capture_on_commit_callbacks(execute=True):
        assert rescan_attachments.call() == 0

    Attachment.objects.filter(pk=attachment.pk).update(scanned_at=timezone.now() - RESCAN_AFTER)
    fake_clamd = request.getfixturevalue("fake_clamd")  # clamd comes back
    with django_capture_on_commit_callbacks(execute=True):
        assert rescan_attachments.call() == 1
    attachment.refresh_from_db()
    assert attachment.scan_status == ScanStatus.CLEAN
    assert len(fake_clamd.streams) == 1


def test_the_job_picks_up_pending_attachments_whose_scan_never_ran(fake_clamd, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        [attachment] = attachments_store(message=MessageFactory(), files=[LETTER])
    place_file, _enqueue_scan = callbacks
    place_file()  # committed and in place, but the process stopped before the scan was enqueued
    Attachment.objects.filter(pk=attachment.pk).update(created_at=timezone.now() - RESCAN_AFTER)
    with django_capture_on_commit_callbacks(execute=True):
        assert rescan_attachments.call() == 1
    attachment.refresh_from_db()
    assert attachment.scan_status == ScanStatus.CLEAN


def test_the_job_gives_up_after_a_while_and_never_rescans_decided_ones(fake_clamd, django_capture_on_commit_callbacks):
    now = timezone.now()
    old = store(django_capture_on_commit_callbacks, LETTER, run_callbacks=False)
    Attachment.objects.filter(pk=old.pk).update(
        scan_status=ScanStatus.FAILED,
        created_at=now - RESCAN_GIVE_UP_AFTER - datetime.timedelta(minutes=1),
        scanned_at=now - datetime.timedelta(hours=1),
    )
    recent_failed = store(django_capture_on_commit_callbacks, LETTER, run_callbacks=False)
    Attachment.objects.filter(pk=recent_failed.pk).update(
        scan_status=ScanStatus.FAILED, scanned_at=now - RESCAN_AFTER - datetime.timedelta(seconds=1)
    )
    clean = store(django_capture_on_commit_callbacks, LETTER)
    Attachment.objects.filter(pk=clean.pk).update(created_at=now - datetime.timedelta(hours=1))
    assert clean.scan_status == ScanStatus.CLEAN
    assert attachments_due_for_rescan(now=now) == [recent_failed.pk]


def test_the_job_is_registered_with_the_scheduler():
    schedule.autodiscover()
    names = {job.name for job in schedule.jobs()}
    assert {"messaging.rescan_attachments", "messaging.sweep_incoming"} <= names


def test_scanning_twice_does_not_change_the_outcome(fake_clamd, django_capture_on_commit_callbacks):
    attachment = store(django_capture_on_commit_callbacks, INFECTED)
    assert attachment_scan(attachment_id=attachment.pk) == ScanStatus.INFECTED
    assert len(fake_clamd.streams) == 1  # decided: not sent to clamd again


def test_a_unix_socket_is_used_when_configured(settings, tmp_path, django_capture_on_commit_callbacks):
    path = str(tmp_path / "clamd.sock")
    server = FakeClamdUnix(path)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    settings.CLAMAV_SOCKET = path
    settings.CLAMAV_TIMEOUT_SECONDS = 5
    try:
        assert scanner_configured()
        attachment = store(django_capture_on_commit_callbacks, INFECTED)
    finally:
        server.shutdown()
        server.server_close()
    assert attachment.scan_status == ScanStatus.INFECTED
    assert server.streams == [INFECTED.data]


def test_a_scan_whose_file_is_not_in_place_yet_fails_for_a_retry(fake_clamd, django_capture_on_commit_callbacks):
    attachment = store(django_capture_on_commit_callbacks, LETTER, run_callbacks=False)
    assert attachment_scan(attachment_id=attachment.pk) == ScanStatus.FAILED
    assert fake_clamd.streams == []
