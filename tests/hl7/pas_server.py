"""A real MLLP server standing in for the PAS: an asyncio server on 127.0.0.1 (a free port) in its own thread, that
keeps every message it receives and answers each with the ACK code it is told to (AA, AE, AR), or says nothing.

    with running_pas(ack_code="AA") as pas:
        settings.HL7_OUTBOUND_PAS_HOST, settings.HL7_OUTBOUND_PAS_PORT = pas.host, pas.port
        ...
        assert pas.wait_for_messages(1)[0].startswith(b"MSH|")
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from careportal.hl7.ack import AckError, ack_build
from careportal.hl7.parsing import read_header

START, END = b"\x0b", b"\x1c\r"


def free_port() -> int:
    """A port nothing listens on (for "the PAS is down")."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class FakePAS:
    def __init__(self, *, ack_code: str = "AA", tls: ssl.SSLContext | None = None) -> None:
        self.ack_code = ack_code
        self.tls = tls
        self.host = "127.0.0.1"
        self.port = 0
        self.messages: list[bytes] = []
        self._arrived = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    frame = await reader.readuntil(END)
                except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
                    return
                raw = frame[frame.find(START) + 1 : -len(END)]
                with self._arrived:
                    self.messages.append(raw)
                    self._arrived.notify_all()
                if self.ack_code == "none":
                    continue
                refused = self.ack_code != "AA"
                ack = ack_build(
                    header=read_header(raw),
                    code=self.ack_code,
                    text="Refused by the test PAS" if refused else "",
                    error=AckError(code=204, text="Unknown patient at the test PAS") if refused else None,
                )
                writer.write(START + ack + END)
                await writer.drain()
        finally:
            writer.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._server = await asyncio.start_server(self._handle, self.host, 0, ssl=self.tls)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(5)

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def wait_for_messages(self, count: int, timeout: float = 10) -> list[bytes]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)


@contextmanager
def running_pas(*, ack_code: str = "AA", tls: ssl.SSLContext | None = None) -> Iterator[FakePAS]:
    pas = FakePAS(ack_code=ack_code, tls=tls)
    pas.start()
    try:
        yield pas
    finally:
        pas.stop()
