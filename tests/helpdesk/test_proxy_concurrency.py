"""Two helpdesk staff decide the same application at the same moment, on PostgreSQL (row locks are real there):
the second waits for the first's lock, then is told it is already decided, and changes nothing."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from careportal.access.layer import Viewer
from careportal.audit.models import ActorRole
from careportal.notifications.models import Notification
from careportal.proxy.application_services import ApplicationAlreadyDecided, Decision, proxy_application_decide
from careportal.proxy.models import ProxyRelationship, ProxyRelationshipEvent
from tests.accounts.factories import UserFactory
from tests.proxy.factories import ProxyRelationshipFactory

APPROVE = Decision(
    approve=True, identity_evidence="passport", relationship_evidence="birth_certificate", scopes=["appointments"]
)
DECLINE = Decision(approve=False, reason="No documents")


def _waiting_on_a_lock() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_the_second_of_two_simultaneous_decisions_waits_then_is_refused():
    if connection.vendor != "postgresql":
        pytest.skip("row locks (SELECT ... FOR UPDATE) are only real on PostgreSQL")
    application = ProxyRelationshipFactory(status="requested", origin="application")
    first = Viewer(user=UserFactory(is_helpdesk=True), role=ActorRole.HELPDESK)
    second = Viewer(user=UserFactory(is_helpdesk=True), role=ActorRole.HELPDESK)
    first_has_decided = threading.Event()
    second_may_finish = threading.Event()
    outcome: dict[str, object] = {}

    def decide_first() -> None:
        try:
            with transaction.atomic():
                proxy_application_decide(viewer=first, relationship=application, decision=APPROVE)
                first_has_decided.set()
                # Hold the lock (the transaction is still open) until the second is seen waiting for it.
                second_may_finish.wait(timeout=30)
        finally:
            connections.close_all()

    def decide_second() -> None:
        try:
            proxy_application_decide(viewer=second, relationship=application, decision=DECLINE)
            outcome["second"] = "decided"
        except ApplicationAlreadyDecided:
            outcome["second"] = "already decided"
        finally:
            connections.close_all()

    one = threading.Thread(target=decide_first)
    one.start()
    assert first_has_decided.wait(timeout=30)
    two = threading.Thread(target=decide_second)
    two.start()
    # A bounded wait until PostgreSQL shows the second decision blocked on the first's row lock.
    for _ in range(300):
        if _waiting_on_a_lock():
            break
        time.sleep(0.05)
    else:
        second_may_finish.set()
        pytest.fail("the second decision never waited for the first's lock")
    second_may_finish.set()
    one.join(timeout=30)
    two.join(timeout=30)

    assert outcome["second"] == "already decided"
    application.refresh_from_db()
    assert application.status == "active"
    assert application.verified_by == first.user
    assert application.decision_reason == ""
    assert list(ProxyRelationshipEvent.objects.values_list("kind", flat=True)) == ["approved"]
    assert Notification.objects.filter(kind="proxy_application_decided").count() == 1
    assert ProxyRelationship.objects.count() == 1
