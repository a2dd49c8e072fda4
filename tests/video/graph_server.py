"""A local, Graph-shaped HTTPS server: Microsoft sign-in (the tenant's OpenID configuration and token endpoint) and
Microsoft Graph's onlineMeetings, enough for the Teams provider to run end to end over a real socket.

msal accepts only https authorities, so the server has its own certificate authority (made with `cryptography`
for each run); the provider trusts it through TEAMS_CA_BUNDLE, as a trust behind a TLS-inspecting proxy would.

It checks what a real tenant would refuse, and answers as Graph does:
- token requests: the client-credentials grant for this app, with its secret, for https://graph.microsoft.com/.default;
- Graph calls: the Bearer token it issued, JSON bodies with exactly the documented fields and UTC times;
- createOrGet: 201 with a new meeting, or 200 with the meeting already made for that externalId.

Anything malformed is answered 400 and recorded in `problems`, which the fixture asserts is empty at the end.
`script()` queues canned answers (429 with Retry-After, 403, 500...) for the next Graph calls; `refuse_tokens`
makes the token endpoint answer 401 invalid_client.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
import secrets
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TENANT_ID = "9f0c3d1e-5b7a-4e2c-8d61-3a2b1c0d9e8f"
CLIENT_ID = "1b2c3d4e-0000-4000-8000-00000000c11e"
CLIENT_SECRET = "test-client-secret-not-real~0123456789"
ORGANIZER_ID = "7e6d5c4b-1111-4222-8333-0000000a11ce"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
MEETING_FIELDS = {"externalId", "startDateTime", "endDateTime", "subject"}
UPDATE_FIELDS = {"startDateTime", "endDateTime", "subject"}
UTC_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Canned:
    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A certificate authority and a server certificate for 127.0.0.1 signed by it: (ca.pem, cert.pem, key.pem)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CarePortal test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path


class GraphServer:
    def __init__(self, directory: Path) -> None:
        self.ca_path, cert_path, key_path = make_certificates(directory)
        self.requests: list[Recorded] = []
        self.problems: list[str] = []
        self.meetings: dict[str, dict[str, Any]] = {}  # by id
        self.tokens_issued: list[str] = []
        self.refuse_tokens = False
        self._script: list[Canned] = []
        self._lock = threading.Lock()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="graph-server", daemon=True
        )

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def graph_base_url(self) -> str:
        return f"{self.url}/v1.0"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def script(self, *answers: Canned) -> None:
        """Answer the next Graph calls with these, in order, before behaving normally again."""
        with self._lock:
            self._script.extend(answers)

    def graph_calls(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith("/v1.0/")]

    def token_calls(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/oauth2/v2.0/token")]

    # What the server does ---------------------------------------------------------------------------------------

    def answer(self, recorded: Recorded) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests.append(recorded)
            path = urlsplit(recorded.path).path
            if recorded.method == "GET" and path == f"/{TENANT_ID}/v2.0/.well-known/openid-configuration":
                return self._json(200, self._openid_configuration())
            if recorded.method == "POST" and path == f"/{TENANT_ID}/oauth2/v2.0/token":
                return self._token(recorded)
            if path.startswith("/v1.0/"):
                return self._graph(recorded, path)
            if recorded.method == "GET" and re.fullmatch(r"/[^/]+/v2\.0/\.well-known/openid-configuration", path):
                # Microsoft's answer for a tenant it does not know.
                return self._json(
                    400, {"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant not found."}
                )
            self.problems.append(f"unexpected request: {recorded.method} {path}")
            return self._json(404, {"error": "not_found"})

    def _openid_configuration(self) -> dict[str, Any]:
        base = f"{self.url}/{TENANT_ID}"
        return {
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "jwks_uri": f"{self.url}/{TENANT_ID}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "tenant_region_scope": "EU",
        }

    def _token(self, recorded: Recorded) -> tuple[int, dict[str, str], bytes]:
        if recorded.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
            self.problems.append("token request is not a form post")
        form = {key: values[0] for key, values in parse_qs(recorded.body.decode()).items()}
        expected = {
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": GRAPH_SCOPE,
        }
        wrong = [key for key, value in expected.items() if form.get(key) != value]
        if self.refuse_tokens:
            return self._json(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                    "error_codes": [7000215],
                },
            )
        if wrong:
            self.problems.append(f"token request with wrong {', '.join(wrong)}")
            return self._json(400, {"error": "invalid_request", "error_description": "AADSTS900144"})
        token = "test-graph-token-" + secrets.token_urlsafe(16)
        self.tokens_issued.append(token)
        return self._json(
            200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}
        )

    def _graph(self, recorded: Recorded, path: str) -> tuple[int, dict[str, str], bytes]:
        authorization = recorded.headers.get("authorization", "")
        if not authorization.startswith("Bearer ") or authorization.removeprefix("Bearer ") not in self.tokens_issued:
            self.problems.append(f"Graph call without a token this server issued: {recorded.method} {path}")
            return self._graph_error(401, "InvalidAuthenticationToken")
        if self._script:
            canned = self._script.pop(0)
            return self._json(canned.status, canned.body, canned.headers)
        prefix = f"/v1.0/users/{ORGANIZER_ID}/onlineMeetings"
        if not path.startswith(prefix):
            return self._graph_error(404, "ResourceNotFound")
        rest = path.removeprefix(prefix)
        if recorded.method == "POST" and rest == "/createOrGet":
            body = self._meeting_body(recorded, MEETING_FIELDS)
            if body is None:
                return self._graph_error(400, "BadRequest")
            for meeting in self.meetings.values():
                if meeting["externalId"] == body["externalId"]:
                    return self._json(200, meeting)
            meeting_id = "MSo" + secrets.token_urlsafe(24) + "=="
            thread = secrets.token_hex(12)
            meeting = {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('...')/onlineMeetings/$entity",
                "id": meeting_id,
                "externalId": body["externalId"],
                "startDateTime": body["startDateTime"],
                "endDateTime": body["endDateTime"],
                "subject": body["subject"],
                "joinWebUrl": f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{thread}%40thread.v2/0",
                "creationDateTime": datetime.datetime.now(datetime.UTC).isoformat(),
                "participants": {"organizer": {"identity": {"user": {"id": ORGANIZER_ID}}, "upn": None}},
            }
            self.meetings[meeting_id] = meeting
            return self._json(201, meeting)
        meeting_id = unquote(rest.removeprefix("/"))
        if recorded.method == "PATCH":
            body = self._meeting_body(recorded, UPDATE_FIELDS)
            if body is None:
                return self._graph_error(400, "BadRequest")
            if meeting_id not in self.meetings:
                return self._graph_error(404, "NotFound")
            self.meetings[meeting_id].update(body)
            return self._json(200, self.meetings[meeting_id])
        if recorded.method == "DELETE":
            if self.meetings.pop(meeting_id, None) is None:
                return self._graph_error(404, "NotFound")
            return 204, {}, b""
        return self._graph_error(405, "MethodNotAllowed")

    def _meeting_body(self, recorded: Recorded, fields: set[str]) -> dict[str, Any] | None:
        if recorded.headers.get("content-type", "").split(";")[0] != "application/json":
            self.problems.append("Graph body is not JSON")
            return None
        body = json.loads(recorded.body)
        if set(body) != fields:
            self.problems.append(f"Graph body has fields {sorted(body)}, expected {sorted(fields)}")
            return None
        for key in ("startDateTime", "endDateTime"):
            if not UTC_TIME.match(body[key]):
                self.problems.append(f"{key} is not a UTC time: {body[key]}")
                return None
        if body["endDateTime"] <= body["startDateTime"]:
            self.problems.append("meeting ends before it starts")
            return None
        return body

    def _graph_error(self, status: int, code: str) -> tuple[int, dict[str, str], bytes]:
        return self._json(status, {"error": {"code": code, "message": "Test server refused the request."}})

    @staticmethod
    def _json(
        status: int, body: dict[str, Any] | None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        data = b"" if body is None else json.dumps(body).encode()
        return status, {"Content-Type": "application/json", "request-id": secrets.token_hex(8), **(headers or {})}, data


def _handler_for(server: GraphServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            recorded = Recorded(
                method=self.command,
                path=self.path,
                headers={key.lower(): value for key, value in self.headers.items()},
                body=body,
            )
            status, headers, data = server.answer(recorded)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data:
                self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: the tests read `requests`

    return Handler
