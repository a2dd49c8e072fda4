"""A small blocking MLLP client for the listener's tests and the benchmark: send a message, read its ACK."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from types import TracebackType
from typing import Any

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"

_MSA = re.compile(rb"(?:^|\r)MSA\|([A-Z]{2})\|([^|\r]*)")


class MLLPClient:
    def __init__(self, host: str, port: int, *, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = bytearray()

    def __enter__(self) -> MLLPClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, message: bytes) -> None:
        self.sock.sendall(START_BLOCK + message + END_BLOCK)

    def read_frame(self) -> bytes:
        """The next framed reply, without framing. Raises ConnectionError if the server closes first."""
        while True:
            end = self._buf.find(END_BLOCK)
            if end >= 0:
                start = self._buf.find(START_BLOCK, 0, end)
                if start < 0:
                    raise AssertionError("reply without a start block")
                reply = bytes(self._buf[start + 1 : end])
                del self._buf[: end + len(END_BLOCK)]
                return reply
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection before replying")
            self._buf += chunk

    def request(self, message: bytes) -> bytes:
        """Send one message and wait for its ACK."""
        self.send(message)
        return self.read_frame()

    def closed_by_server(self, timeout: float = 5.0) -> bool:
        """True if the server closes (or resets) the connection within `timeout` seconds without replying."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False


def ack_code(ack: bytes) -> tuple[str, str]:
    """(MSA-1, MSA-2): the acknowledgement code and the control id it acknowledges. The control id is echoed byte
    for byte, so that the sender can match it, even when those bytes are not valid in the message's character set
    (a fuzzed MSH-10 of b"\x80P"): such bytes are kept as surrogates rather than failing the decode."""
    match = _MSA.search(ack)
    if match is None:
        raise AssertionError(f"not an ACK: {ack[:200]!r}")
    return match.group(1).decode(), match.group(2).decode(errors="surrogateescape")


def control_id(message: bytes) -> str:
    """MSH-10 of a message."""
    return message.split(b"\r", 1)[0].split(b"|")[9].decode()


class ListenerThread:
    """A real MLLPListener serving on 127.0.0.1:<free port> from its own event loop in a thread. Its worker
    threads commit to the test database, which the test (or pytest-django's live server) reads too: a shared
    in-memory database on SQLite, the test database on PostgreSQL."""

    def __init__(self, **options: Any) -> None:
        from careportal.hl7.listener import MLLPListener

        self.listener = MLLPListener(host="127.0.0.1", port=0, **options)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="test-hl7-listener", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.listener.start())
            self.ready.set()
            self.loop.run_until_complete(self.listener.serve_until_stopped())
        except BaseException as exc:
            self.failure = exc
            raise
        finally:
            self.ready.set()
            self.loop.close()

    def start(self) -> ListenerThread:
        self.thread.start()
        assert self.ready.wait(10)
        assert self.failure is None, self.failure
        return self

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.listener.stop)
            self.thread.join(30)
        assert not self.thread.is_alive(), "the listener did not stop"
        assert self.failure is None, self.failure

    @property
    def port(self) -> int:
        return self.listener.port

    def client(self, **options: Any) -> MLLPClient:
        return MLLPClient("127.0.0.1", self.port, **options)
