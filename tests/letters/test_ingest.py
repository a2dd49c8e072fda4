"""Letters arriving over HL7 (MDM^T02, T10, T11): stored, routed to a team, delivered paperless or by post, the
patient told; sent again, replaced, older, cancelled; and every bad input refused with nothing half-written."""

import base64
import datetime
from pathlib import Path

import pytest
from django.core import mail

from careportal.hl7.models import InboundMessage, MessageSource, MessageStatus
from careportal.hl7.services import message_receive
from careportal.letters.models import Delivery, Letter, LetterStatus
from careportal.notifications.models import Notification
from careportal.patients.models import CareRelationship
from tests.hl7.interfaces import LOCAL_PEER
from tests.hl7.mllp_client import ack_code
from tests.letters.helpers import letter_file_exists, make_pdf, mdm_message, sha256, stored_letter
from tests.patients.factories import PatientFactory
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).resolve().parents[1] / "hl7" / "samples"
# The sample as the document system sends it (its TXA one field early from TXA-11 on), and the standard layout.
SAMPLE = SAMPLES / "mdm_t02_letter.hl7"
STANDARD_SAMPLE = SAMPLES / "variants" / "mdm_t02_letter_standard.hl7"


def receive(raw: bytes, capture) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    with capture(execute=True):
        ack = message_receive(raw, peer=LOCAL_PEER, source=MessageSource.MLLP)
    return ack_code(ack)


def ack_text(raw: bytes, capture) -> str:  # type: ignore[no-untyped-def]
    with capture(execute=True):
        ack = message_receive(raw, peer=LOCAL_PEER, source=MessageSource.MLLP)
    msa = next(line for line in ack.decode().split("\r") if line.startswith("MSA"))
    return msa.split("|")[3]


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


@pytest.mark.parametrize("sample", [SAMPLE, STANDARD_SAMPLE], ids=["as-sent", "standard-layout"])
def test_the_sample_letter_is_stored_for_its_patient_and_team(sample, hl7_interfaces, eleanor, haematology, capture):
    raw = sample.read_bytes()

    assert receive(raw, capture)[0] == "AA"

    letter = Letter.objects.get()
    assert letter.patient == eleanor
    assert letter.care_team == haematology
    assert letter.document_type == "Clinic letter"
    assert letter.document_id == "DOC-88123"
    assert letter.author == "Dr Chidi Okafor"
    assert letter.letter_date == datetime.datetime(2026, 11, 6, 10, 55, tzinfo=datetime.UTC)
    assert letter.page_count == 1
    assert letter.status == LetterStatus.CURRENT
    assert letter.delivery == Delivery.PORTAL, "Eleanor is paperless"
    assert not letter.active_content_removed
    assert sha256(stored_letter(letter)) == letter.sha256
    assert len(stored_letter(letter)) == letter.size
    assert CareRelationship.objects.filter(patient=eleanor, care_team=haematology, reason="letter").exists()
    message = InboundMessage.objects.get()
    assert message.status == MessageStatus.APPLIED
    assert message.patient == eleanor


def test_the_patient_and_proxies_with_the_letters_scope_are_told_with_no_clinical_detail(
    hl7_interfaces, eleanor, haematology, capture
):
    with_scope = ProxyRelationshipFactory(patient=eleanor, basis="granted", valid_from=datetime.date(2025, 1, 1))
    without = ProxyRelationshipFactory(
        patient=eleanor, basis="granted", valid_from=datetime.date(2025, 1, 1), scopes=["appointments"]
    )

    receive(mdm_message(), capture)

    told = set(Notification.objects.filter(kind="new_letter").values_list("user", flat=True))
    assert told == {eleanor.user_id, with_scope.proxy_id}
    assert without.proxy_id not in told
    for email in mail.outbox:
        assert email.subject == "You have a new letter in CarePortal"
        assert "Haematology" not in email.body and "Clinic letter" not in email.body
    assert Letter.objects.get().patient_notified_at is not None


def test_a_patient_who_is_not_paperless_gets_the_letter_by_post(hl7_interfaces, haematology, capture):
    PatientFactory(hospital_number="40012345", contact_preference="post")

    receive(mdm_message(), capture)

    assert Letter.objects.get().delivery == Delivery.POST


def test_a_paperless_patient_without_an_account_gets_the_letter_by_post(hl7_interfaces, haematology, capture):
    PatientFactory(hospital_number="40012345", contact_preference="portal", user=None)

    receive(mdm_message(), capture)

    assert Letter.objects.get().delivery == Delivery.POST


def test_the_same_letter_sent_again_is_not_duplicated(hl7_interfaces, eleanor, haematology, capture):
    pdf = make_pdf()
    receive(mdm_message(pdf=pdf, control_id="A1"), capture)
    first = Letter.objects.get()

    # The same control id (the engine resent it), and a new control id with the same document and content
    assert receive(mdm_message(pdf=pdf, control_id="A1"), capture)[0] == "AA"
    assert receive(mdm_message(pdf=pdf, control_id="A2", sent="20261106120000"), capture)[0] == "AA"

    letter = Letter.objects.get()
    assert (letter.version, letter.stored_name) == (1, first.stored_name)
    assert Notification.objects.filter(kind="new_letter").count() == 1


def test_a_newer_version_replaces_the_file_and_the_old_file_goes(hl7_interfaces, eleanor, haematology, capture):
    receive(mdm_message(pdf=make_pdf(pages=1), control_id="A1"), capture)
    first = Letter.objects.get()
    new_pdf = make_pdf(pages=2)

    assert receive(mdm_message(pdf=new_pdf, control_id="A2", sent="20261107090000"), capture)[0] == "AA"

    letter = Letter.objects.get()
    assert letter.public_id == first.public_id, "the page address stays"
    assert letter.version == 2
    assert letter.page_count == 2
    assert stored_letter(letter) == new_pdf
    assert not letter_file_exists(first.stored_name)


def test_a_replacement_t10_names_its_parent_document(hl7_interfaces, eleanor, haematology, capture):
    receive(mdm_message(document_id="DOC-1", control_id="A1"), capture)
    new_pdf = make_pdf(pages=3)

    raw = mdm_message(
        pdf=new_pdf, event="T10", document_id="DOC-1-v2", parent_id="DOC-1", control_id="A2", edit="20261107090000"
    )
    assert receive(raw, capture)[0] == "AA"

    letter = Letter.objects.get()
    assert (letter.document_id, letter.version, letter.page_count) == ("DOC-1", 2, 3)


def test_an_older_version_never_overwrites_a_newer_one(hl7_interfaces, eleanor, haematology, capture):
    newer = make_pdf(pages=2)
    receive(mdm_message(pdf=newer, control_id="A2", edit="20261107090000"), capture)

    assert receive(mdm_message(pdf=make_pdf(pages=1), control_id="A1", edit="20261106090000"), capture)[0] == "AA"

    letter = Letter.objects.get()
    assert (letter.version, letter.page_count) == (1, 2)
    assert stored_letter(letter) == newer


def test_a_new_version_of_a_printed_letter_goes_back_on_the_list(hl7_interfaces, haematology, capture):
    PatientFactory(hospital_number="40012345")
    receive(mdm_message(control_id="A1"), capture)
    Letter.objects.update(print_listed_on=datetime.date(2026, 11, 6), printed_at=datetime.datetime.now(datetime.UTC))

    receive(mdm_message(pdf=make_pdf(pages=2), control_id="A2", sent="20261107090000"), capture)

    letter = Letter.objects.get()
    assert (letter.print_listed_on, letter.printed_at) == (None, None)


def test_a_cancelled_document_is_marked_sent_in_error(hl7_interfaces, eleanor, haematology, capture):
    receive(mdm_message(control_id="A1"), capture)

    assert receive(mdm_message(event="T11", control_id="A2", sent="20261107090000"), capture)[0] == "AA"

    assert Letter.objects.get().status == LetterStatus.ENTERED_IN_ERROR


def test_a_cancellation_for_an_unknown_document_waits_for_staff(hl7_interfaces, eleanor, capture):
    assert ack_text(mdm_message(event="T11", control_id="A2"), capture) == "TXA-12: no letter with this document id"

    assert InboundMessage.objects.get().status == MessageStatus.ERROR


def test_a_document_id_of_another_patients_letter_is_refused(hl7_interfaces, eleanor, haematology, capture):
    receive(mdm_message(control_id="A1"), capture)
    PatientFactory(hospital_number="40099999")

    text = ack_text(mdm_message(hospital_number="40099999", control_id="A2", pdf=make_pdf(pages=2)), capture)

    assert text == "TXA-12: this document id already belongs to a letter for another patient"
    assert Letter.objects.get().patient == eleanor


def test_an_unknown_patient_goes_to_the_unmatched_queue(hl7_interfaces, haematology, capture):
    assert receive(mdm_message(), capture)[0] == "AE"

    message = InboundMessage.objects.get()
    assert (message.status, message.error_kind) == (MessageStatus.ERROR, "unknown_patient")
    assert not Letter.objects.exists()


def _nothing_written(letter_root) -> None:  # type: ignore[no-untyped-def]
    assert not Letter.objects.exists()
    assert not Notification.objects.exists()
    assert not CareRelationship.objects.filter(reason="letter").exists()
    placed = [p for p in letter_root.rglob("*.pdf") if "incoming" not in p.parts] if letter_root.exists() else []
    assert placed == []


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (mdm_message(data="JVBERi0xLjQK%%%not-base64"), "OBX-5: the document is not valid Base64"),
        (mdm_message(data="JVBERi0"), "OBX-5: the document is not valid Base64"),
        (
            mdm_message(data=base64.b64encode(b"Dear Mrs Hargreaves, this is plain text").decode()),
            "OBX-5: the document is not a PDF",
        ),
        (
            mdm_message(data=base64.b64encode(b"%PDF-1.4 broken").decode()),
            "OBX-5: the document is not a PDF",
        ),
        (mdm_message(pdf=make_pdf(password="secret")), "OBX-5: the document is a password-protected PDF"),
        (mdm_message(data=""), "OBX-5: the document is empty"),
        (mdm_message(ed="^AP^RTF^Base64^"), "OBX-5: the document is not a PDF (component 3 names another type)"),
        (mdm_message(ed="^AP^PDF^Hex^"), "OBX-5: CarePortal accepts documents encoded as Base64 only (component 4)"),
        (mdm_message(with_obx=False), "OBX: no OBX segment of value type ED carries the document"),
        (mdm_message(document_id=""), "TXA-12: the unique document number is missing"),
        (mdm_message(status="IP"), "TXA-17: only an authenticated document (AU or LA) is shown to patients"),
        (mdm_message(activity="20261399"), "TXA-4 (activity date and time) is not a valid HL7 date and time"),
    ],
    ids=[
        "not-base64",
        "truncated-base64",
        "not-pdf",
        "pdf-header-only",
        "encrypted",
        "empty",
        "rtf",
        "hex",
        "no-obx",
        "no-document-id",
        "not-authenticated",
        "bad-date",
    ],
)
def test_a_bad_letter_is_refused_with_a_clear_error_and_nothing_half_written(
    message, error, hl7_interfaces, eleanor, haematology, capture, letter_root
):
    assert ack_text(message, capture) == error

    stored = InboundMessage.objects.get()
    assert stored.status == MessageStatus.ERROR
    assert stored.error_text == error
    _nothing_written(letter_root)


def test_an_oversized_letter_is_refused(hl7_interfaces, eleanor, haematology, capture, letter_root, settings):
    pdf = make_pdf()
    settings.LETTER_MAX_BYTES = len(pdf) - 1

    text = ack_text(mdm_message(pdf=pdf), capture)

    assert text == f"OBX-5: the document is larger than {(len(pdf) - 1) // 1024} KB"
    assert InboundMessage.objects.get().error_kind == "invalid_document"
    _nothing_written(letter_root)


def test_a_letter_with_javascript_is_stored_without_it_and_flagged(hl7_interfaces, eleanor, haematology, capture):
    assert receive(mdm_message(pdf=make_pdf(javascript=True)), capture)[0] == "AA"

    letter = Letter.objects.get()
    assert letter.active_content_removed
    data = stored_letter(letter)
    assert b"app.alert" not in data
    assert sha256(data) == letter.sha256


def test_a_letter_whose_transaction_rolls_back_leaves_no_placed_file(eleanor, haematology, letter_root):
    from django.db import transaction

    from careportal.letters.ingest import LetterData, letter_apply
    from careportal.letters.storage import letters_sweep_incoming

    data = LetterData(
        source="hl7",
        source_system="EDM",
        document_id="DOC-RB",
        document_type="Clinic letter",
        letter_date=datetime.datetime(2026, 11, 6, tzinfo=datetime.UTC),
        version_at=datetime.datetime(2026, 11, 6, tzinfo=datetime.UTC),
        content=make_pdf(),
    )
    with pytest.raises(RuntimeError), transaction.atomic():
        letter_apply(patient=eleanor, data=data, received_at=data.version_at)
        raise RuntimeError("the rest of the message failed")

    assert not Letter.objects.exists()
    assert letters_sweep_incoming(older_than_seconds=0) == {"placed": 0, "deleted": 1}
    assert not list(letter_root.rglob("*.pdf"))
