"""Two accepts of the same invitation at once on PostgreSQL: the invitation row is locked, so exactly one succeeds and
the other is told the link has been used, writing nothing."""

import datetime
import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from careportal.proxy.models import InvitationStatus, ProxyInvitation, ProxyRelationship, ProxyRelationshipEvent
from careportal.proxy.services import LinkOutcome, invitation_accept, invitation_token_digest
from tests.accounts.factories import UserFactory
from tests.patients.factories import PatientWithAccountFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row locks need PostgreSQL; SQLite has one writer at a time"
    ),
]


def test_two_accepts_at_once_make_one_relationship():
    patient = PatientWithAccountFactory()
    invitee = UserFactory(email="carer@example.org")
    ProxyInvitation.objects.create(
        patient=patient,
        invited_by=patient.user,
        email="carer@example.org",
        relationship="carer",
        scopes=["letters"],
        token_digest=invitation_token_digest("the-token"),
        expires_at=timezone.now() + datetime.timedelta(days=1),
    )
    start = threading.Barrier(2)
    outcomes: list[LinkOutcome] = []
    errors: list[BaseException] = []

    def accept() -> None:
        try:
            start.wait()
            outcomes.append(invitation_accept(digest=invitation_token_digest("the-token"), user=invitee).outcome)
        except BaseException as error:  # reported after join()
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=accept) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert sorted(outcome.value for outcome in outcomes) == ["accepted", "used"]
    assert ProxyRelationship.objects.count() == 1
    assert ProxyRelationshipEvent.objects.count() == 2
    assert ProxyInvitation.objects.get().status == InvitationStatus.ACCEPTED
