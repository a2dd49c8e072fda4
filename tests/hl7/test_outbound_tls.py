"""Sending to the PAS over TLS: the PAS's certificate is checked against the configured CA."""

import pytest

from careportal.hl7.listener import tls_context
from careportal.hl7.models import OutboundStatus
from careportal.hl7.outbound import adt_a31_queue, outbound_send_due
from tests.hl7.pas_server import running_pas
from tests.hl7.test_tls import pki  # noqa: F401 - the fixture
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tls_pas(pki):  # noqa: F811 - the fixture
    with running_pas(tls=tls_context(cert_file=str(pki.server_cert), key_file=str(pki.server_key))) as server:
        yield server


def _point_at(settings, port: int, **tls: object) -> None:
    settings.HL7_OUTBOUND_PAS_HOST = "127.0.0.1"
    settings.HL7_OUTBOUND_PAS_PORT = port
    settings.HL7_OUTBOUND_TIMEOUT_SECONDS = 3
    for name, value in tls.items():
        setattr(settings, name, value)


def test_a_message_is_sent_over_tls_to_a_pas_whose_certificate_checks_out(settings, tls_pas, pki):  # noqa: F811
    _point_at(settings, tls_pas.port, HL7_OUTBOUND_PAS_TLS=True, HL7_OUTBOUND_PAS_TLS_CA_FILE=str(pki.ca))
    message = adt_a31_queue(patient=PatientFactory())
    assert outbound_send_due().sent == 1
    assert tls_pas.wait_for_messages(1) == [bytes(message.raw)]


def test_a_pas_certificate_from_an_unknown_authority_is_refused(settings, tls_pas):
    _point_at(settings, tls_pas.port, HL7_OUTBOUND_PAS_TLS=True, HL7_OUTBOUND_PAS_TLS_CA_FILE="")
    message = adt_a31_queue(patient=PatientFactory())
    assert outbound_send_due().retrying == 1
    message.refresh_from_db()
    assert message.status == OutboundStatus.QUEUED
    assert message.last_error.startswith("TLS handshake failed")
    assert tls_pas.messages == []
