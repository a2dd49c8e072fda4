"""Where letter PDFs and print-room exports are kept: the letter storage (LETTER_STORAGE, files under LETTER_ROOT by
default), through Django's Storage API and careportal/core/files.py. Nothing here writes a file itself.

A letter's PDF is staged and placed under its final name only when the transaction that records it commits
(`file_store_after_commit`); `letters_sweep_incoming` (a periodic job) places staged copies whose rows committed and
deletes the rest. A replaced version's file is deleted once the replacement has committed.
"""

from __future__ import annotations

import datetime
import functools
import re
import secrets

import structlog
from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage
from django.db import transaction

from careportal.core.files import file_store_after_commit, incoming_sweep, storage_from_config

logger = structlog.get_logger(__name__)

_STORED_NAME = re.compile(r"[0-9a-f]{32}")
EXPORTS = "exports"


def letter_storage() -> Storage:
    return storage_from_config(settings.LETTER_STORAGE, default_location=settings.LETTER_ROOT)


def new_stored_name() -> str:
    return secrets.token_hex(16)


def _checked(stored_name: str) -> str:
    # A stored name is ours (random hex): anything else could point outside the storage.
    if not _STORED_NAME.fullmatch(stored_name):
        raise ValueError("not a stored letter name")
    return stored_name


def letter_file_name(stored_name: str) -> str:
    """A letter's file within the storage: two-character folders keep each directory small."""
    name = _checked(stored_name)
    return f"letters/{name[:2]}/{name}.pdf"


def export_file_name(stored_name: str) -> str:
    return f"{EXPORTS}/{_checked(stored_name)}.csv"


def letter_file_stage(*, stored_name: str, data: bytes) -> None:
    """Stage a letter's PDF now; it is placed under its final name when the current transaction commits."""
    file_store_after_commit(letter_storage(), final_name=letter_file_name(stored_name), data=data)


def letter_file_delete_after_commit(stored_name: str) -> None:
    transaction.on_commit(functools.partial(_delete_quietly, letter_file_name(stored_name)), robust=True)


def _delete_quietly(name: str) -> None:
    letter_storage().delete(name)


def letter_file_open(stored_name: str) -> File:
    return letter_storage().open(letter_file_name(stored_name), "rb")


def export_file_save(*, stored_name: str, data: bytes) -> None:
    storage = letter_storage()
    name = export_file_name(stored_name)
    saved = storage.save(name, ContentFile(data))
    if saved != name:
        storage.delete(saved)
        raise FileExistsError("a stored export already has this name")


def export_file_open(stored_name: str) -> File:
    return letter_storage().open(export_file_name(stored_name), "rb")


def export_file_delete(stored_name: str) -> None:
    letter_storage().delete(export_file_name(stored_name))


def letters_sweep_incoming(*, older_than_seconds: float = 3600) -> dict[str, int]:
    from careportal.letters.models import Letter

    def stored_name_of(staged: str) -> str:
        return staged.removesuffix(".pdf")

    counts = incoming_sweep(
        letter_storage(),
        is_committed=lambda staged: Letter.objects.filter(stored_name=stored_name_of(staged)).exists(),
        final_name_for=lambda staged: letter_file_name(stored_name_of(staged)),
        is_ours=lambda staged: staged.endswith(".pdf") and bool(_STORED_NAME.fullmatch(stored_name_of(staged))),
        older_than=datetime.timedelta(seconds=older_than_seconds),
    )
    if counts["placed"] or counts["deleted"]:
        logger.info("letters_incoming_swept", **counts)
    return counts
