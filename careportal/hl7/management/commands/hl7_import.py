"""`manage.py hl7_import FILE [FILE...]`: backfill HL7 v2 messages from files, exactly as if they had arrived over MLLP.

Each file may hold one message, several (one after another, or separated by blank lines), an MLLP-framed capture,
or an FHS/BHS batch file (careportal/hl7/batch.py splits them). Every message is received as message_receive() would
receive it, with the file name as its peer, so it is journalled, applied or queued for staff, and a message already
applied is counted as a duplicate and not applied twice: an import that stopped half way can simply be run again.
Messages are applied --batch-size at a time (careportal/hl7/bulk_apply.py: the same outcome, far fewer queries),
each batch in one transaction.

Exit status: 0 when every message was applied (or was a duplicate, or of a type CarePortal does not use); 1 when
any was rejected or is waiting for staff, or a file was not what it claimed (batch counts, bytes that are not
HL7); 2 when a file is missing (nothing is imported then).
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db import DatabaseError
from tqdm import tqdm

from careportal.hl7.batch import split_messages
from careportal.hl7.bulk_apply import BATCH_SIZE, raw_messages_apply
from careportal.hl7.models import InboundMessage, MessageSource, MessageStatus

PEER_LENGTH = 100  # InboundMessage.peer


def peer_for(path: Path) -> str:
    """The file name as the journal's peer: as given, or its last 100 characters (the most telling part)."""
    name = str(path)
    return name if len(name) <= PEER_LENGTH else "…" + name[-(PEER_LENGTH - 1) :]


class _BarOutput:
    """Lets tqdm draw on the command's stderr: without an added newline or the error colour on each redraw."""

    def __init__(self, wrapper: OutputWrapper) -> None:
        self._wrapper = wrapper

    def write(self, text: str) -> None:
        self._wrapper.write(text, style_func=lambda s: s, ending="")

    def flush(self) -> None:
        self._wrapper.flush()


SUMMARY_ROWS = [
    (MessageStatus.APPLIED, "applied"),
    (MessageStatus.DUPLICATE, "already applied before (duplicates)"),
    (MessageStatus.IGNORED, "acknowledged, of a type CarePortal does not use"),
    (MessageStatus.ERROR, "could not be applied: waiting in the unmatched queue"),
    (MessageStatus.REJECTED, "rejected: not a readable HL7 message"),
]


class Command(BaseCommand):
    help = "Import HL7 v2 messages from files (single messages, MLLP captures or FHS/BHS batch files)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="Files of HL7 v2 messages.")
        parser.add_argument("--no-progress", action="store_true", help="Do not show a progress bar.")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=BATCH_SIZE,
            metavar="N",
            help=f"Messages applied together, in one transaction (default {BATCH_SIZE}; 1 applies them one by one).",
        )

    def handle(self, *args: Any, files: list[Path], no_progress: bool, batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be 1 or more.", returncode=2)
        missing = [str(path) for path in files if not path.is_file()]
        if missing:
            raise CommandError(
                f"Not a file, or does not exist: {', '.join(missing)}. Nothing was imported.", returncode=2
            )

        problems: list[str] = []
        ack_codes: collections.Counter[str] = collections.Counter()
        peers = [peer_for(path) for path in files]
        # Rows this run creates are those after the newest one now: the summary counts them by outcome.
        newest_before = InboundMessage.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        bar = tqdm(
            total=0,
            unit="msg",
            desc="Importing",
            file=_BarOutput(self.stderr),
            disable=no_progress or not self.stderr.isatty(),
        )
        try:
            for path, peer in zip(files, peers, strict=True):
                try:
                    data = path.read_bytes()
                except OSError as exc:
                    problems.append(f"{path}: cannot be read ({exc.strerror})")
                    continue
                split = split_messages(data)
                problems += [f"{path}: {problem}" for problem in split.problems]
                if not split.messages:
                    problems.append(f"{path}: {'empty' if not data.strip() else 'no HL7 messages found'}")
                    continue
                bar.total += len(split.messages)
                bar.refresh()
                for start in range(0, len(split.messages), batch_size):
                    chunk = split.messages[start : start + batch_size]
                    try:
                        outcomes = raw_messages_apply(chunk, peer=peer, source=MessageSource.IMPORT)
                    except DatabaseError as exc:
                        raise CommandError(
                            f"Database error while importing {path} ({type(exc).__name__}). Messages already "
                            "imported are kept: run the import again, and they will be counted as duplicates."
                        ) from exc
                    ack_codes.update(outcome.ack_code for outcome in outcomes)
                    bar.update(len(chunk))
        finally:
            bar.close()

        counts = collections.Counter(
            InboundMessage.objects.filter(pk__gt=newest_before, source=MessageSource.IMPORT, peer__in=peers)
            .values_list("status", flat=True)
            .iterator()
        )
        total = sum(ack_codes.values())
        self.stdout.write(f"{total} message{'s' if total != 1 else ''} from {len(files)} file(s):")
        width = max(len(label) for _, label in SUMMARY_ROWS)
        for status, label in SUMMARY_ROWS:
            self.stdout.write(f"  {label:<{width}}  {counts[status]:>7}")
        for problem in problems:
            self.stderr.write(f"Problem: {problem}")

        failures = []
        if ack_codes["AR"]:
            failures.append(f"{ack_codes['AR']} rejected")
        if ack_codes["AE"]:
            failures.append(f"{ack_codes['AE']} waiting for staff in the unmatched queue (/staff/hl7/unmatched/)")
        if problems:
            failures.append(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} with the files")
        if failures:
            raise CommandError("Import finished with " + "; ".join(failures) + ".", returncode=1)
