"""Where the files of "download my record" are kept: the letter storage (LETTER_STORAGE, under LETTER_ROOT by
default: files 0600, no URL), in `record-downloads/`, under random names. Nothing here writes a file itself: the
Storage API does, as for letters (careportal/letters/storage.py)."""

from __future__ import annotations

import re
import secrets

from django.core.files.base import ContentFile, File

from careportal.letters.storage import letter_storage

FOLDER = "record-downloads"
_STORED_NAME = re.compile(r"[0-9a-f]{32}")
BUNDLE = "json"
PDF = "pdf"


def new_export_file_name() -> str:
    return secrets.token_hex(16)


def _path(stored_name: str, kind: str) -> str:
    # A stored name is ours (random hex): anything else could point outside the folder.
    if not _STORED_NAME.fullmatch(stored_name) or kind not in (BUNDLE, PDF):
        raise ValueError("not a stored record download")
    return f"{FOLDER}/{stored_name}.{kind}"


def export_file_save(*, stored_name: str, kind: str, data: bytes) -> None:
    storage = letter_storage()
    name = _path(stored_name, kind)
    saved = storage.save(name, ContentFile(data))
    if saved != name:
        storage.delete(saved)
        raise FileExistsError("a stored record download already has this name")


def export_file_open(*, stored_name: str, kind: str) -> File:
    return letter_storage().open(_path(stored_name, kind), "rb")


def export_file_exists(*, stored_name: str, kind: str) -> bool:
    return bool(stored_name) and letter_storage().exists(_path(stored_name, kind))


def export_file_delete(*, stored_name: str, kind: str) -> None:
    if stored_name:
        letter_storage().delete(_path(stored_name, kind))
