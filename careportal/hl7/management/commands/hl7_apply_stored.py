"""`manage.py hl7_apply_stored`: apply the messages CarePortal kept, without applying, before it used their type.

Before appointments and letters existed, SIU and MDM messages were acknowledged (AA) and kept. Run this once after
upgrading (`make run` runs it every time; with nothing to do it costs one query): each kept message whose type
CarePortal now applies is applied once, in the order it arrived, or waits in the unmatched queue with its reason.
Running it again changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from careportal.hl7.services import stored_messages_apply, stored_messages_waiting


class Command(BaseCommand):
    help = "Apply kept HL7 messages (such as SIU and MDM received before CarePortal used them), once each."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--type",
            dest="message_types",
            action="append",
            metavar="TYPE",
            help="Only this message type, such as SIU^S12 (repeat for more). Default: every type now applied.",
        )

    def handle(self, *args: Any, message_types: list[str] | None, **options: Any) -> None:
        types = frozenset(t.strip().upper() for t in message_types) if message_types else None
        if not stored_messages_waiting(types).exists():
            self.stdout.write("No kept messages to apply.")
            return
        result = stored_messages_apply(message_types=types)
        self.stdout.write(
            f"Applied {result.applied}; already applied before {result.duplicates}; "
            f"waiting for staff in the unmatched queue {result.waiting}."
        )
        if result.waiting:
            self.stdout.write("Those waiting are at /staff/hl7/unmatched/ with the reason each could not be applied.")
