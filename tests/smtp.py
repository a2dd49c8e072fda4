"""A real SMTP server for tests (aiosmtpd on 127.0.0.1, a free port), and the Django settings to send through it.

Use the `smtp_server` fixture: every email the portal sends in that test goes over a real SMTP connection to it.

    def test_something(smtp_server):
        ...
        message = smtp_server.wait_for_message(to="someone@example.org")
        assert "Your CarePortal sign-in code" == message["Subject"]
"""

import email
import email.policy
import socket
import threading
import time
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RecordingHandler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.arrived:
            self.messages.append(message)  # type: ignore[arg-type]
            self.arrived.notify_all()
        return "250 Message accepted for delivery"


class SMTPServer:
    def __init__(self) -> None:
        self.handler = RecordingHandler()
        # aiosmtpd checks that its server is up by connecting to the port, so it needs a real one, not 0.
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=_free_port())

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    @property
    def port(self) -> int:
        return int(self.controller.port)

    @property
    def messages(self) -> list[EmailMessage]:
        return list(self.handler.messages)

    def wait_for_message(self, *, to: str, timeout: float = 10.0, after: int = 0) -> EmailMessage:
        """The first message to `to` among those received after the first `after` messages; waits for it."""
        deadline = time.monotonic() + timeout
        with self.handler.arrived:
            while True:
                for message in self.handler.messages[after:]:
                    if to.lower() in str(message["To"]).lower():
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"No email to {to} arrived within {timeout} seconds")
                self.handler.arrived.wait(remaining)

    @staticmethod
    def body(message: EmailMessage) -> str:
        part = message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""


@pytest.fixture
def smtp_server(settings):  # type: ignore[no-untyped-def]
    server = SMTPServer()
    server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    yield server
    server.stop()
