"""`manage.py hl7_listen`: the HL7 v2 MLLP listener (careportal/hl7/listener.py). `make run` starts it.

Runs until SIGTERM or SIGINT, then stops accepting connections, lets the messages being applied finish and be
acknowledged, and exits. Settings: HL7_* in docs/configuration.md; TLS with
HL7_TLS_CERT_FILE and HL7_TLS_KEY_FILE (docs/hl7.md).
"""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from careportal.hl7.listener import MLLPListener, TLSConfigurationError, run_listener


def port_number(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise ValueError(value)
    return port


class Command(BaseCommand):
    help = "Receive HL7 v2 messages over MLLP and acknowledge each once it is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host", default=settings.HL7_LISTEN_HOST, help="Address to listen on (default: %(default)s)."
        )
        parser.add_argument(
            "--port",
            type=port_number,
            default=settings.HL7_LISTEN_PORT,
            help="TCP port to listen on; 0 picks a free one (default: %(default)s).",
        )

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        try:
            listener = MLLPListener(host=host, port=port)
        except TLSConfigurationError as exc:
            raise CommandError(f"Cannot start the HL7 listener with TLS: {exc}") from exc
        try:
            run_listener(listener)
        except OSError as exc:
            # Typically the port is in use or the address is not this machine's.
            raise CommandError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
