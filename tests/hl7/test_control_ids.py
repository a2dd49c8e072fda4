"""Duplicates and control ids (issue 10): a copy of a message already applied (same sender, control id and content)
is acknowledged again and not applied; a different message under a control id the sender used before is stored,
never dropped, flagged for staff, and applied or answered AE by HL7_CONTROL_ID_REUSE."""

import importlib
import re
import threading
from html import unescape

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.urls import reverse

from careportal.hl7.ack import ack_read
from careportal.hl7.models import ErrorKind, InboundMessage, MessageStatus
from careportal.hl7.parsing import content_hash
from careportal.hl7.services import message_receive, message_replay, message_reuse_checked
from careportal.results.models import DiagnosticReport
from tests.accounts.factories import UserFactory
from tests.hl7.interfaces import LOCAL_PEER
from tests.hl7.test_services import ack_code, ack_text, err_code, receive, sample
from tests.patients.factories import PatientFactory

FBC = sample("oru_r01_fbc_final.hl7")
# The next message from the same lab after its interface engine restarted and its counter began again: the same
# control id, another patient's report, with a 1 MB text value.
OTHER = (
    FBC.replace(b"26H0456781", b"26H0999999")
    .replace(b"OE-778812", b"OE-999999")
    .replace(b"NTE|1|L|", b"OBX|5|TX|FILM^Blood film^WINPATH||" + b"Normal film. " * 80_000 + b"||||||F\rNTE|1|L|")
)
UNMATCHED = reverse("hl7:unmatched")


@pytest.fixture
def eleanor(db):
    return PatientFactory(hospital_number="40012345", nhs_number="9990000018")


@pytest.fixture
def operator_client(db) -> Client:
    user = UserFactory(display_name="Interface Team")
    user.user_permissions.add(Permission.objects.get(codename="change_inboundmessage", content_type__app_label="hl7"))
    client = Client()
    client.force_login(user)
    return client


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def statuses() -> list[str]:
    return list(InboundMessage.objects.order_by("pk").values_list("status", flat=True))


# What counts as the same content -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "resend",
    [
        pytest.param(lambda raw: raw.replace(b"\r", b"\n"), id="LF"),
        pytest.param(lambda raw: raw.replace(b"\r", b"\r\n"), id="CRLF"),
        pytest.param(lambda raw: b"\x0b" + raw + b"\x1c\r", id="MLLP framing"),
        pytest.param(lambda raw: b"\xef\xbb\xbf" + raw.replace(b"\r", b" \t\r") + b"\r\n\r\n", id="BOM, spaces"),
        pytest.param(lambda raw: b"FHS|^~\\&\rBHS|^~\\&\r" + raw + b"BTS|1\rFTS|1\r", id="batch"),
        pytest.param(lambda raw: raw.replace(b"|20261102093015|", b"|20261102101500|"), id="MSH-7 restamped"),
    ],
)
def test_the_same_message_sent_again_has_the_same_hash(resend) -> None:  # type: ignore[no-untyped-def]
    assert content_hash(resend(FBC)) == content_hash(FBC)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda raw: raw.replace(b"||98|", b"||99|"), id="a value"),
        pytest.param(lambda raw: raw.replace(b"Microcytic", b"Normocytic"), id="a comment"),
        pytest.param(lambda raw: raw.replace(b"|L|||F|", b"|LL|||F|"), id="a flag"),
        pytest.param(lambda raw: raw.replace(b"|P|2.4|", b"|P|2.5|"), id="the version"),
        pytest.param(lambda raw: raw.replace(b"MICROCYTIC", b"microcytic").replace(b"Micro", b"micro"), id="case"),
        pytest.param(lambda raw: raw.replace(b"picture. Suggest", b"picture.  Suggest"), id="inner spacing"),
    ],
)
def test_any_other_difference_changes_the_hash(change) -> None:  # type: ignore[no-untyped-def]
    assert content_hash(change(FBC)) != content_hash(FBC)


def test_every_stored_message_has_its_hash(eleanor) -> None:
    receive(FBC)
    receive(b"not hl7 at all")
    assert all(len(h) == 64 for h in InboundMessage.objects.values_list("content_hash", flat=True))
    assert InboundMessage.objects.order_by("pk").first().content_hash == content_hash(FBC)


# Same sender, same control id, same content ------------------------------------------------------------------


@pytest.mark.parametrize("form", [lambda raw: raw, lambda raw: raw.replace(b"\r", b"\r\n")], ids=["same", "CRLF"])
def test_a_copy_is_acknowledged_again_and_not_applied(eleanor, form) -> None:  # type: ignore[no-untyped-def]
    receive(FBC)
    ack = receive(form(FBC))
    assert ack_code(ack) == "AA" and ack_text(ack) == "Already applied"
    assert statuses() == ["applied", "duplicate"]
    assert not InboundMessage.objects.filter(control_id_reused=True).exists()
    assert DiagnosticReport.objects.get().actions.count() == 1


def test_a_copy_of_a_message_stored_before_hashes_existed_is_still_a_duplicate(eleanor) -> None:
    receive(FBC)
    InboundMessage.objects.update(content_hash="")
    ack = receive(FBC)
    assert ack_code(ack) == "AA" and ack_text(ack) == "Already applied"
    assert statuses() == ["applied", "duplicate"]
    assert InboundMessage.objects.filter(content_hash="").count() == 0


def test_the_migration_fills_the_hash_of_existing_messages(eleanor) -> None:
    receive(FBC)
    receive(b"MSH|^~\\&|broken")
    InboundMessage.objects.update(content_hash="")
    migration = importlib.import_module("careportal.hl7.migrations.0002_inboundmessage_content")
    migration.fill_content_hashes(apps, None)
    assert list(InboundMessage.objects.order_by("pk").values_list("content_hash", flat=True)) == [
        content_hash(FBC),
        content_hash(b"MSH|^~\\&|broken"),
    ]


# Same sender, same control id, different content ---------------------------------------------------------------


def test_a_different_message_under_a_reused_control_id_is_applied_and_flagged(eleanor, settings) -> None:
    settings.HL7_CONTROL_ID_REUSE = "apply"
    receive(FBC)
    ack = receive(OTHER)
    assert ack_code(ack) == "AA"
    assert ack_text(ack) == "Applied; MSH-10 was used before for a different message: staff will check"
    assert statuses() == ["applied", "applied"]
    flagged = InboundMessage.objects.get(control_id_reused=True)
    assert flagged.error_kind == ErrorKind.CONTROL_ID_REUSED and flagged.needs_attention
    assert bytes(flagged.raw) == OTHER
    assert DiagnosticReport.objects.count() == 2
    assert DiagnosticReport.objects.get(filler_order_number="26H0999999").observations.count() == 5

    # A copy of the second message, or of the first, is then a duplicate like any other.
    assert ack_text(receive(OTHER)) == "Already applied"
    assert ack_text(receive(FBC.replace(b"\r", b"\n"))) == "Already applied"
    assert statuses() == ["applied", "applied", "duplicate", "duplicate"]


def test_a_different_message_under_a_reused_control_id_is_answered_ae_when_so_configured(eleanor, settings) -> None:
    settings.HL7_CONTROL_ID_REUSE = "error"
    receive(FBC)
    ack = receive(OTHER)
    assert ack_code(ack) == "AE" and err_code(ack) == "205"
    assert "MSH-10" in ack_text(ack)
    assert statuses() == ["applied", "error"]
    kept = InboundMessage.objects.get(status="error")
    assert kept.control_id_reused and kept.error_kind == ErrorKind.CONTROL_ID_REUSED and kept.needs_attention
    assert bytes(kept.raw) == OTHER
    assert DiagnosticReport.objects.count() == 1

    # Staff who find it is a real new result replay it: applied, once.
    replay = message_replay(message=kept, patient=eleanor, by=UserFactory())
    assert replay.status == MessageStatus.APPLIED and replay.control_id_reused and not replay.needs_attention
    assert DiagnosticReport.objects.count() == 2
    kept.refresh_from_db()
    assert kept.status == MessageStatus.REPLAYED


def test_a_reused_control_id_message_that_fails_waits_for_its_own_reason_and_is_flagged(db, settings) -> None:
    settings.HL7_CONTROL_ID_REUSE = "apply"
    PatientFactory(hospital_number="40012345", nhs_number="9990000018")
    receive(FBC)
    unknown = FBC.replace(b"40012345^^^RRV^MR~9990000018^^^NHS^NH", b"49999999^^^RRV^MR")
    ack = receive(unknown)
    assert ack_code(ack) == "AE"
    waiting = InboundMessage.objects.get(status="error")
    assert waiting.error_kind == ErrorKind.UNKNOWN_PATIENT and waiting.control_id_reused


def test_a_failed_message_fixed_and_sent_again_under_its_control_id_leaves_the_first_copy_for_staff(db) -> None:
    """An earlier failure is resolved automatically only by a copy with the same content; another message under
    the same control id may be something else, so a person decides."""
    receive(FBC)  # no patient yet: AE
    PatientFactory(hospital_number="40012345", nhs_number="9990000018")
    assert ack_code(receive(FBC.replace(b"Microcytic", b"Microcytic (repeat)"))) == "AA"
    assert InboundMessage.objects.get(status="error").needs_attention
    assert ack_code(receive(FBC)) == "AA"
    assert not InboundMessage.objects.get(status="error").needs_attention


# The queue ---------------------------------------------------------------------------------------------------


def test_the_queue_shows_the_flag_and_the_message_page_compares_and_marks_it_checked(
    eleanor, operator_client, settings
) -> None:
    settings.HL7_CONTROL_ID_REUSE = "apply"
    receive(FBC)
    receive(OTHER)
    flagged = InboundMessage.objects.get(control_id_reused=True)

    queue = text_of(operator_client.get(UNMATCHED))
    assert "Applied: check the control id" in queue
    assert "Control id used before by this sender for a different message" in queue
    recent = text_of(operator_client.get(reverse("hl7:recent")))
    assert "Applied: check the control id" in recent

    url = reverse("hl7:message", kwargs={"message_id": flagged.public_id})
    page = text_of(operator_client.get(url))
    assert "Control id used before" in page
    assert "WP20261102093015001 (used before by this sender for a different message)" in page
    assert "Other messages from this sender with the same control id" in page
    assert "Mark as checked" in page and "Find the patient" not in page

    dismiss = reverse("hl7:message-dismiss", kwargs={"message_id": flagged.public_id})
    refused = operator_client.post(dismiss, {"checked-note": ""})
    assert refused.status_code == 400
    assert "Enter what you found when you checked the message" in text_of(refused)

    done = operator_client.post(dismiss, {"checked-note": "New result after the lab's engine restart"})
    assert done.status_code == 302
    flagged.refresh_from_db()
    assert flagged.status == MessageStatus.APPLIED and flagged.resolved_at is not None
    assert flagged.resolution_note == "New result after the lab's engine restart"
    assert "No messages need attention" in text_of(operator_client.get(UNMATCHED))


def test_the_queue_shows_the_ae_kept_message_with_its_reason(eleanor, operator_client, settings) -> None:
    settings.HL7_CONTROL_ID_REUSE = "error"
    receive(FBC)
    receive(OTHER)
    queue = text_of(operator_client.get(UNMATCHED))
    assert "Waiting for staff" in queue
    assert "Control id used before by this sender for a different message" in queue


def test_only_an_unchecked_flagged_message_can_be_marked_checked(eleanor) -> None:
    receive(FBC)
    with pytest.raises(ValueError):
        message_reuse_checked(message=InboundMessage.objects.get(), by=UserFactory(), note="fine")


def test_the_setting_accepts_only_apply_or_error() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            "DJANGO_SETTINGS_MODULE": "careportal.config.settings.base",
            "HL7_CONTROL_ID_REUSE": "drop",
            "PATH": "",
            "DATABASE_URL": "sqlite:///:memory:",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "HL7_CONTROL_ID_REUSE must be apply or error" in result.stderr


# Concurrency (PostgreSQL) ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_different_messages_under_one_control_id_at_once_are_both_kept() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs a database that several connections share (the in-memory SQLite test database is not)")
    PatientFactory(hospital_number="40012345", nhs_number="9990000018")
    barrier = threading.Barrier(4)
    acks: list[bytes] = []
    errors: list[BaseException] = []

    def send(raw: bytes) -> None:
        try:
            barrier.wait()
            acks.append(message_receive(raw, peer=LOCAL_PEER))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(raw,)) for raw in (FBC, FBC, OTHER, OTHER)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert [ack_read(a).code for a in acks] == ["AA"] * 4
    # Each content applied once; its second copy a duplicate.
    assert InboundMessage.objects.filter(status="applied").count() == 2
    assert InboundMessage.objects.filter(status="duplicate").count() == 2
    assert DiagnosticReport.objects.count() == 2
