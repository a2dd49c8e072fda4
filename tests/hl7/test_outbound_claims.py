"""Several workers sending at once: a message one worker holds is skipped by the others (PostgreSQL's
SELECT ... FOR UPDATE SKIP LOCKED), so no message is sent twice and none waits for another worker's lock."""

import threading

import pytest
from django.db import connection, transaction

from careportal.hl7.models import OutboundMessage, OutboundStatus
from careportal.hl7.outbound import _claim, adt_a31_queue
from tests.patients.factories import PatientFactory


@pytest.mark.skipif(not connection.features.has_select_for_update_skip_locked, reason="SKIP LOCKED needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_a_message_another_worker_holds_is_skipped_not_waited_for():
    from django.utils import timezone

    held = adt_a31_queue(patient=PatientFactory())
    other = adt_a31_queue(patient=PatientFactory())
    locked, release = threading.Event(), threading.Event()

    def other_worker() -> None:
        try:
            with transaction.atomic():
                OutboundMessage.objects.select_for_update().get(pk=held.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    worker = threading.Thread(target=other_worker)
    worker.start()
    try:
        assert locked.wait(10)
        claimed = _claim(now=timezone.now())
        assert claimed is not None and claimed.pk == other.pk
        assert _claim(now=timezone.now()) is None  # the held one is skipped, the other already claimed
    finally:
        release.set()
        worker.join(10)
    held.refresh_from_db()
    assert held.status == OutboundStatus.QUEUED
