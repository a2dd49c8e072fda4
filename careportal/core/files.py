"""Private files (message attachments now; letters and record downloads next), kept through Django's `Storage` API.

No module writes files itself: each kind of file has a storage, built from a setting of the form
`{"BACKEND": "dotted.path.Storage", "OPTIONS": {...}}`. The default is `PrivateFileSystemStorage` (files 0600,
folders 0700, written to disk before `save` returns); several web servers share files through any django-storages
backend (S3-compatible object storage) named there instead, with no change of code.

A file that belongs to a database row is placed only once the row has committed (`file_store_after_commit`): it is
first saved under `incoming/`, and a commit callback copies it to its final name and removes the staged copy. A
transaction that rolls back drops its callback, so the staged copy stays behind, unreachable: `incoming_sweep`, run
by a periodic job, places staged copies whose rows did commit (the process stopped in between) and deletes the rest.
Nothing relies on a finaliser or on when the garbage collector runs.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, Storage
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

INCOMING = "incoming"


class PrivateFileSystemStorage(FileSystemStorage):
    """Files readable by this user only (0600, folders 0700), and on disk (fsynced) before `save` returns, since a
    file is staged before the transaction that records it commits. Serves no URL: files leave only through
    access-checked views."""

    def __init__(self, location: Any = None, **options: Any) -> None:
        options.setdefault("file_permissions_mode", 0o600)
        options.setdefault("directory_permissions_mode", 0o700)
        options.setdefault("base_url", None)
        super().__init__(location, **options)

    def _save(self, name: str, content: File) -> str:
        name = super()._save(name, content)  # type: ignore[misc]  # FileSystemStorage._save, untyped in the stubs
        fd = os.open(self.path(name), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return name

    def url(self, name: str | None) -> str:
        raise NotImplementedError("private files have no URL: serve them through an access-checked view")


@functools.cache
def _storage(backend: str, options_json: str, default_location: str) -> Storage:
    storage_class = import_string(backend)
    options = json.loads(options_json)
    if issubclass(storage_class, FileSystemStorage):
        options.setdefault("location", default_location)
    return storage_class(**options)


def storage_from_config(config: Mapping[str, Any], *, default_location: Any) -> Storage:
    """The storage a `{"BACKEND": ..., "OPTIONS": {...}}` setting names; a file-system one defaults to
    `default_location`. One instance per configuration (settings read at each call, so a test may change them)."""
    return _storage(
        str(config["BACKEND"]),
        json.dumps(dict(config.get("OPTIONS") or {}), sort_keys=True, default=str),
        str(default_location),
    )


def _staged_name(final_name: str) -> str:
    return f"{INCOMING}/{final_name.rsplit('/', 1)[-1]}"


def _save_exactly(storage: Storage, name: str, content: File) -> None:
    saved = storage.save(name, content)
    if saved != name:
        # Names are random: a clash means something else wrote there. Never serve one file under another's name.
        storage.delete(saved)
        raise FileExistsError("a stored file already has this name")


def file_place(storage: Storage, *, final_name: str) -> None:
    """Move a staged file to its final name (a no-op if it is there already)."""
    staged = _staged_name(final_name)
    if not storage.exists(staged):
        return
    if isinstance(storage, FileSystemStorage):
        # One rename on the same disk, instead of a copy.
        final_path = storage.path(final_name)
        os.makedirs(os.path.dirname(final_path), mode=0o700, exist_ok=True)
        os.replace(storage.path(staged), final_path)
        return
    if not storage.exists(final_name):
        with storage.open(staged, "rb") as file:
            _save_exactly(storage, final_name, file)
    storage.delete(staged)


def file_store_after_commit(storage: Storage, *, final_name: str, data: bytes) -> None:
    """Stage `data` now and place it under `final_name` when the current transaction commits (see the module)."""
    _save_exactly(storage, _staged_name(final_name), ContentFile(data))
    transaction.on_commit(functools.partial(file_place, storage, final_name=final_name), robust=True)


def incoming_sweep(
    storage: Storage,
    *,
    is_committed: Callable[[str], bool],
    final_name_for: Callable[[str], str],
    is_ours: Callable[[str], bool],
    older_than: datetime.timedelta,
) -> dict[str, int]:
    """Tidy what transactions left in `incoming/`: a staged file whose row committed is placed, any other deleted.
    Only files older than `older_than` are looked at, so transactions still in progress are left alone."""
    counts = {"placed": 0, "deleted": 0}
    try:
        _folders, names = storage.listdir(INCOMING)
    except FileNotFoundError:
        return counts
    cutoff = timezone.now() - older_than
    for name in names:
        if not is_ours(name):
            continue
        staged = f"{INCOMING}/{name}"
        try:
            if storage.get_modified_time(staged) > cutoff:
                continue
        except FileNotFoundError:
            continue
        if is_committed(name):
            file_place(storage, final_name=final_name_for(name))
            counts["placed"] += 1
        else:
            storage.delete(staged)
            counts["deleted"] += 1
    return counts
