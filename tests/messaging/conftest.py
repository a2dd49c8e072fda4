"""Messaging test fixtures.

Every messaging test keeps attachments in its own temporary folder and runs without a virus scanner, whatever the
developer's environment says; `fake_clamd` turns scanning on against a small clamd stand-in in a thread.
"""

import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.messaging.files import EICAR


@pytest.fixture(autouse=True)
def attachment_root(settings, tmp_path) -> Path:
    root = tmp_path / "private" / "attachments"
    settings.MESSAGE_ATTACHMENT_ROOT = root
    settings.CLAMAV_SOCKET = ""
    settings.CLAMAV_HOST = ""
    return root


class _ClamdHandler(socketserver.StreamRequestHandler):
    """clamd's INSTREAM command, as `man clamd` describes it: the command as `zINSTREAM\\0` (or `nINSTREAM\\n`),
    then chunks each prefixed with a 4-byte big-endian length, ended by a zero-length chunk; the reply is
    `stream: OK` or `stream: <signature> FOUND`, terminated like the command. Only EICAR counts as a virus here."""

    server: "FakeClamd"

    def handle(self) -> None:
        prefix = self.rfile.read(1)
        terminator = b"\0" if prefix == b"z" else b"\n"
        command = b""
        while (byte := self.rfile.read(1)) not in (terminator, b""):
            command += byte
        self.server.commands.append(command.decode())
        if command == b"PING":
            self.wfile.write(b"PONG" + terminator)
            return
        if command != b"INSTREAM":
            self.wfile.write(b"UNKNOWN COMMAND" + terminator)
            return
        data = b""
        while True:
            length = int.from_bytes(self.rfile.read(4), "big")
            if length == 0:
                break
            data += self.rfile.read(length)
        self.server.streams.append(data)
        if self.server.mode == "hang-up":
            return
        reply = b"stream: Eicar-Test-Signature FOUND" if EICAR in data else b"stream: OK"
        self.wfile.write(reply + terminator)


class FakeClamd(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ClamdHandler)
        self.commands: list[str] = []
        self.streams: list[bytes] = []
        # "reply" answers every stream; "hang-up" reads the stream and closes without answering.
        self.mode = "reply"

    @property
    def port(self) -> int:
        return self.server_address[1]


class FakeClamdUnix(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str) -> None:
        super().__init__(path, _ClamdHandler)
        self.commands: list[str] = []
        self.streams: list[bytes] = []
        self.mode = "reply"


@pytest.fixture
def fake_clamd(settings) -> Iterator[FakeClamd]:
    """A clamd stand-in on a TCP port, with CLAMAV_HOST/CLAMAV_PORT pointing at it."""
    server = FakeClamd()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    settings.CLAMAV_HOST = "127.0.0.1"
    settings.CLAMAV_PORT = server.port
    settings.CLAMAV_TIMEOUT_SECONDS = 5
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def clamd_down(settings) -> int:
    """CLAMAV_HOST/CLAMAV_PORT pointing at a port where nothing listens (as when clamd has stopped)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CLAMAV_HOST = "127.0.0.1"
    settings.CLAMAV_PORT = port
    settings.CLAMAV_TIMEOUT_SECONDS = 2
    return port
