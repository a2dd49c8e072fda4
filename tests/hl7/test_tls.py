"""MLLP over TLS: certificates generated here (a test CA, a server and a client certificate), a real listener, a
real TLS client. A plaintext client gets nothing applied; a bad configuration stops the listener at start-up."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.core.management import call_command
from django.core.management.base import CommandError

from careportal.hl7.listener import END_BLOCK, TLSConfigurationError, frame, tls_context
from careportal.hl7.models import InboundMessage
from careportal.patients.models import Patient
from tests.hl7.mllp_client import ListenerThread, ack_code
from tests.hl7.test_adt import adt
from tests.patients.factories import PatientFactory

UPDATE = adt("A31", "PID|1||40012345^^^RRV^MR||SMITH^JANE", control="TLS1")


@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


def _issue(*, subject: str, issuer_key, issuer_name, key, ca: bool, usage=None, san: bool = False) -> x509.Certificate:  # type: ignore[no-untyped-def]
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name or _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _issue(subject="CarePortal test CA", issuer_key=ca_key, issuer_name=None, key=ca_key, ca=True)
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths = {}
    for role, usage in (("server", ExtendedKeyUsageOID.SERVER_AUTH), ("client", ExtendedKeyUsageOID.CLIENT_AUTH)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(
            subject=f"{role}.test",
            issuer_key=ca_key,
            issuer_name=ca_cert.subject,
            key=key,
            ca=False,
            usage=usage,
            san=role == "server",
        )
        (folder / f"{role}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths[role] = (folder / f"{role}.pem", _write_key(key, folder / f"{role}.key"))
    return Pki(
        ca=folder / "ca.pem",
        server_cert=paths["server"][0],
        server_key=paths["server"][1],
        client_cert=paths["client"][0],
        client_key=paths["client"][1],
    )


def _tls_connection(port: int, pki: Pki, *, with_certificate: bool = False) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return _client_context(pki, with_certificate=with_certificate).wrap_socket(raw, server_hostname="localhost")


def _client_context(pki: Pki, *, with_certificate: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki.ca))
    if with_certificate:
        context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    return context


def _read_ack(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(END_BLOCK):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.strip(b"\x0b\x1c\r") + b"\r" if data else b""


@pytest.fixture
def tls_listener(pki: Pki, transactional_db: None) -> Iterator[ListenerThread]:
    running = ListenerThread(
        tls=tls_context(cert_file=str(pki.server_cert), key_file=str(pki.server_key)), frame_timeout=5
    ).start()
    yield running
    running.stop()


@pytest.fixture
def eleanor(transactional_db: None) -> Patient:
    return PatientFactory(hospital_number="40012345", nhs_number=None, family_name="Hargreaves")


def test_a_tls_client_completes_the_handshake_and_gets_its_ack(tls_listener, pki, eleanor) -> None:
    with _tls_connection(tls_listener.port, pki) as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        tls.sendall(frame(UPDATE))
        ack = _read_ack(tls)

    assert ack_code(ack) == ("AA", "TLS1")
    assert Patient.objects.get(pk=eleanor.pk).family_name == "Smith"


def test_a_plaintext_client_against_a_tls_listener_gets_nothing_applied(tls_listener, eleanor) -> None:
    with socket.create_connection(("127.0.0.1", tls_listener.port), timeout=10) as plain:
        plain.sendall(frame(UPDATE))
        try:
            answer = plain.recv(65536)
        except (ConnectionResetError, TimeoutError):
            answer = b""

    assert b"MSA|" not in answer
    assert not InboundMessage.objects.exists()
    assert Patient.objects.get(pk=eleanor.pk).family_name == "Hargreaves"


def test_with_a_ca_file_a_client_certificate_is_required(pki, eleanor) -> None:
    context = tls_context(cert_file=str(pki.server_cert), key_file=str(pki.server_key), ca_file=str(pki.ca))
    running = ListenerThread(tls=context, frame_timeout=5).start()
    try:
        # TLS 1.3 reports a refused client certificate on the first read or write, not in the handshake.
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)), _tls_connection(running.port, pki) as tls:
            tls.sendall(frame(UPDATE))
            if not _read_ack(tls):
                raise ConnectionError("closed without an ACK")
        assert not InboundMessage.objects.exists()

        with _tls_connection(running.port, pki, with_certificate=True) as tls:
            tls.sendall(frame(UPDATE))
            assert ack_code(_read_ack(tls)) == ("AA", "TLS1")
    finally:
        running.stop()


def test_no_certificate_means_plain_tcp() -> None:
    assert tls_context(cert_file="", key_file="") is None


@pytest.mark.parametrize(
    ("cert", "key", "ca", "error"),
    [
        ("missing.pem", "server.key", "", "HL7_TLS_CERT_FILE: .*missing.pem does not exist"),
        ("server.pem", "missing.key", "", "HL7_TLS_KEY_FILE: .*does not exist"),
        ("server.pem", "", "", "Set both HL7_TLS_CERT_FILE and HL7_TLS_KEY_FILE"),
        ("", "", "ca.pem", "HL7_TLS_CA_FILE needs"),
        ("garbage.pem", "server.key", "", "not a PEM certificate and its private key"),
        ("server.pem", "client.key", "", "not a PEM certificate and its private key"),
        ("server.pem", "server.key", "garbage.pem", "HL7_TLS_CA_FILE is not a PEM file"),
        ("server.pem", "server.key", ".", "HL7_TLS_CA_FILE: .* is not a file"),
    ],
)
def test_a_bad_tls_configuration_fails_clearly(pki, cert: str, key: str, ca: str, error: str) -> None:
    folder = pki.ca.parent
    (folder / "garbage.pem").write_text("not a certificate")

    def path(name: str) -> str:
        return str(folder / name) if name else ""

    with pytest.raises(TLSConfigurationError, match=error):
        tls_context(cert_file=path(cert), key_file=path(key), ca_file=path(ca))


def test_the_listen_command_refuses_to_start_with_a_missing_certificate(settings, tmp_path) -> None:
    settings.HL7_TLS_CERT_FILE = str(tmp_path / "nope.pem")
    settings.HL7_TLS_KEY_FILE = str(tmp_path / "nope.key")

    with pytest.raises(CommandError, match="Cannot start the HL7 listener with TLS: HL7_TLS_CERT_FILE"):
        call_command("hl7_listen", "--port", "0")
