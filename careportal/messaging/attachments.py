"""Message attachments: checking and cleaning what people upload, keeping it in private storage, and serving it.

The flow is `attachments_clean` (in the form or service, before anything is saved) → `attachments_store` (inside the
service's transaction, once the message row exists) → `attachment_response` (in the access-checked download view).

What is accepted is decided by the content, never the name or the browser's claim: libmagic recognises the type,
then the matching library must open it. Images are decoded and re-encoded, which drops metadata (EXIF location,
PNG text) and anything appended to the file (a ZIP or HTML "polyglot" payload after the image). PDFs are kept byte
for byte when they hold no active content and nothing unusual, and otherwise re-saved by qpdf (pikepdf) without
their scripts, automatic actions, embedded files and anything around the PDF structure. docs/messaging.md
("Attachments") explains the choices for operators.

Error messages are plain sentences naming the file, for the person who chose it; nothing about a file (its name or
contents) is ever logged.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import re
import secrets
import unicodedata
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import magic
import pikepdf
import pillow_heif
import structlog
from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import Storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import FileResponse
from django.utils import timezone
from PIL import Image, ImageCms, ImageOps

from careportal.core.files import file_store_after_commit, incoming_sweep, storage_from_config
from careportal.core.pdf import PAGE_AND_WEB_LINKS, pdf_has_trailing_bytes, pdf_remove_active_content
from careportal.core.text import strip_bidi_controls
from careportal.messaging.models import Attachment, Message, ScanStatus

logger = structlog.get_logger(__name__)

# HEIC photos (iPhones) open through Pillow once pillow-heif has registered its opener.
pillow_heif.register_heif_opener()


# ----------------------------------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True)
class CleanFile:
    """A file that passed the checks, ready to store."""

    display_name: str  # the person's file name, cleaned, with the extension of its real type
    content_type: str  # as recognised from the content (HEIC photos arrive as image/jpeg: see _clean_image)
    data: bytes  # images re-encoded without metadata; PDFs as given if safe, or re-saved without active content


class AttachmentRejected(ValueError):
    """A file, or a set of files, that cannot be attached. `str()` is a sentence to show the person."""


class AttachmentUnavailable(Exception):
    """The attachment cannot be downloaded (yet): waiting for the virus check, blocked by it, or missing."""

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message)
        self.status = status


def attachments_clean(files: Sequence[UploadedFile]) -> list[CleanFile]:
    """Check and clean the files a person attached to one message. Raises AttachmentRejected for the first problem.

    Checks, in order: how many files; then for each, its size (from the upload, before reading it), that it is not
    empty, its type (libmagic on the content), and that it opens as that type; images larger than
    MESSAGE_IMAGE_MAX_PIXELS are refused from their header, before any pixels are decoded.
    """
    files = list(files)
    max_count = settings.MESSAGE_ATTACHMENT_MAX_COUNT
    if len(files) > max_count:
        raise AttachmentRejected(
            f"You can attach up to {max_count} {'file' if max_count == 1 else 'files'} to a message; "
            f"you chose {len(files)}"
        )
    return [_clean_one(upload) for upload in files]


@transaction.atomic
def attachments_store(*, message: Message, files: Sequence[CleanFile]) -> list[Attachment]:
    """Keep cleaned files for `message`, each under a random name in the attachment storage.

    Rows and files stay consistent with the transaction (careportal.core.files): each file is staged before its
    row and placed under its final name only when the transaction commits. A transaction (or a savepoint around
    this call) that rolls back leaves its staged copy behind, unreachable, for `attachments_sweep_incoming` to
    delete.

    With a virus scanner configured, attachments start as PENDING (held from download) and a scan is enqueued on
    commit; without one they are NOT_SCANNED and available at once.
    """
    from careportal.core.tasks import enqueue_on_commit
    from careportal.messaging.scanning import scanner_configured
    from careportal.messaging.tasks import scan_attachment

    scanning = scanner_configured()
    storage = attachment_storage()
    now = timezone.now()
    stored: list[Attachment] = []
    for clean in files:
        stored_name = secrets.token_hex(16)
        # Registered before the row is created, so a failure from here on leaves the file to the rollback path.
        file_store_after_commit(storage, final_name=_final_name(stored_name), data=clean.data)
        attachment = Attachment.objects.create(
            message=message,
            stored_name=stored_name,
            display_name=clean.display_name,
            content_type=clean.content_type,
            size=len(clean.data),
            sha256=hashlib.sha256(clean.data).hexdigest(),
            scan_status=ScanStatus.PENDING if scanning else ScanStatus.NOT_SCANNED,
            created_at=now,
        )
        if scanning:
            # After the file's own commit callback (callbacks run in order), so the scan finds it in place.
            enqueue_on_commit(scan_attachment, attachment_id=attachment.pk)
        stored.append(attachment)
    return stored


def attachment_file_open(attachment: Attachment) -> File:
    """Open an attachment's stored file for reading. Raises AttachmentUnavailable unless it may be downloaded."""
    name = attachment.display_name
    if attachment.scan_status == ScanStatus.PENDING:
        raise AttachmentUnavailable(
            f"‘{name}’ is waiting for a virus check. Try again in a few minutes", status=attachment.scan_status
        )
    if attachment.scan_status == ScanStatus.INFECTED:
        raise AttachmentUnavailable(
            f"‘{name}’ was blocked because the virus check found a problem with it", status=attachment.scan_status
        )
    if attachment.scan_status == ScanStatus.FAILED:
        raise AttachmentUnavailable(
            f"‘{name}’ has not been checked for viruses yet. Try again later", status=attachment.scan_status
        )
    if not attachment.is_available:
        raise AttachmentUnavailable(f"‘{name}’ cannot be downloaded", status=attachment.scan_status)
    try:
        return attachment_storage().open(_final_name(attachment.stored_name), "rb")
    except FileNotFoundError:
        logger.warning("attachment_file_missing", attachment_id=attachment.pk)
        raise AttachmentUnavailable(
            f"‘{name}’ cannot be downloaded at the moment. Try again later", status=attachment.scan_status
        ) from None


def attachment_response(attachment: Attachment) -> FileResponse:
    """A download response for an attachment the viewer may see (check access before calling this).

    Always a download (`Content-Disposition: attachment`, the file name RFC 6266-encoded by Django), never shown
    inline, with the type we recognised and no sniffing, so a browser cannot be talked into running it as a page;
    the sandbox policy covers a browser that renders it anyway. Not cached anywhere: it is clinical correspondence.
    """
    response = FileResponse(
        attachment_file_open(attachment),
        as_attachment=True,
        filename=attachment.display_name,
        content_type=attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


def attachments_sweep_incoming(*, older_than_seconds: float = 3600) -> dict[str, int]:
    """Tidy staged files that transactions left in the storage's `incoming/` (the periodic job in jobs.py).

    A staged file whose row exists was committed but not placed (the process stopped in between): place it. One
    without a row belongs to a transaction that rolled back or never finished: delete it. Only files older than
    `older_than_seconds` are looked at, so transactions still in progress are left alone.
    """
    counts = incoming_sweep(
        attachment_storage(),
        is_committed=lambda name: Attachment.objects.filter(stored_name=name).exists(),
        final_name_for=_final_name,
        is_ours=lambda name: bool(_STORED_NAME.fullmatch(name)),
        older_than=datetime.timedelta(seconds=older_than_seconds),
    )
    if counts["placed"] or counts["deleted"]:
        logger.info("attachments_incoming_swept", **counts)
    return counts


def attachment_storage() -> Storage:
    """The storage attachments live in (ATTACHMENT_STORAGE; files under MESSAGE_ATTACHMENT_ROOT by default)."""
    return storage_from_config(settings.ATTACHMENT_STORAGE, default_location=settings.MESSAGE_ATTACHMENT_ROOT)


def stored_file_name(attachment: Attachment) -> str:
    """The attachment's file name within the attachment storage."""
    return _final_name(attachment.stored_name)


def attachment_file_delete(attachment: Attachment) -> None:
    """Delete an attachment's stored file and keep its row (a blocked file: the thread still shows it was sent)."""
    attachment_storage().delete(_final_name(attachment.stored_name))


def attachment_path(attachment: Attachment) -> Path:
    """Where an attachment's file lives on disk, with the file-system storage (for tests and operators)."""
    return Path(attachment_storage().path(_final_name(attachment.stored_name)))


def attachment_type_names(content_types: Sequence[str] | None = None) -> str:
    """ "PDF, JPEG, PNG or HEIC": the accepted types as people know them, for hints and error messages."""
    names = [_TYPES[t].label for t in _accepted_types(content_types)]
    if not names:
        return "no"
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def attachments_hint() -> str:
    """The limits, for the hint under a file input: "You can attach up to 5 PDF, JPEG, PNG or HEIC files, …"."""
    count = settings.MESSAGE_ATTACHMENT_MAX_COUNT
    return (
        f"You can attach up to {count} {'file' if count == 1 else 'files'} ({attachment_type_names()}), "
        f"each smaller than {_format_size(settings.MESSAGE_ATTACHMENT_MAX_BYTES)}"
    )


def attachment_accept_attribute() -> str:
    """The file input's `accept` list: a hint to the browser's file picker only, never a check."""
    values: list[str] = []
    for content_type in _accepted_types():
        values.append(content_type)
        values.extend(_TYPES[content_type].extensions)
    return ",".join(values)


# ----------------------------------------------------------------------------------------------------------------
# Types


@dataclass(frozen=True)
class _Type:
    label: str
    extensions: tuple[str, ...]  # the first is the one a cleaned name gets
    cleaner: Callable[[bytes, str], tuple[bytes, str]]  # (data, quoted name) -> (clean data, stored content type)


def _accepted_types(content_types: Sequence[str] | None = None) -> list[str]:
    """The configured types this module knows how to check and clean, in the configured order. A configured type
    it has no cleaner for is not accepted: a file nobody can make safe is not stored."""
    configured = settings.MESSAGE_ATTACHMENT_TYPES if content_types is None else content_types
    return [t for t in dict.fromkeys(configured) if t in _TYPES]


def _recognised_type(data: bytes) -> str:
    content_type = magic.from_buffer(data, mime=True)
    # libmagic calls some iPhone photos by the container's name; they are the same HEIC as far as we are concerned.
    return (
        "image/heic" if content_type in {"image/heif", "image/heic-sequence", "image/heif-sequence"} else content_type
    )


# ----------------------------------------------------------------------------------------------------------------
# Cleaning one file


def _clean_one(upload: UploadedFile) -> CleanFile:
    name = _clean_name(upload.name or "")
    quoted = f"‘{name}’"
    max_bytes = settings.MESSAGE_ATTACHMENT_MAX_BYTES
    too_big = f"{quoted} must be smaller than {_format_size(max_bytes)}"
    # The size Django counted while receiving the upload: checked before reading the file into memory.
    if upload.size is not None and upload.size > max_bytes:
        raise AttachmentRejected(too_big)
    upload.seek(0)
    # Read one byte more than allowed, in case the declared size was wrong.
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise AttachmentRejected(too_big)
    if not data:
        raise AttachmentRejected(f"{quoted} is empty")

    if not _accepted_types():
        raise AttachmentRejected(f"{quoted} cannot be attached: this portal does not accept attachments")
    content_type = _recognised_type(data)
    if content_type not in _accepted_types():
        raise AttachmentRejected(f"{quoted} is not a {attachment_type_names()} file")
    kind = _TYPES[content_type]
    clean_data, stored_type = kind.cleaner(data, quoted)
    return CleanFile(
        display_name=_name_with_extension(name, _TYPES[stored_type].extensions[0]),
        content_type=stored_type,
        data=clean_data,
    )


_STORED_NAME = re.compile(r"[0-9a-f]{32}")
_NAME_MAX = 150
# Characters Windows refuses in file names, which would otherwise break the download's name.
_UNSAFE_IN_NAMES = re.compile(r'[<>:"/\\|?*]')


def _clean_name(raw: str) -> str:
    """The person's file name without any path, control or formatting characters (including the right-to-left
    override that makes "fdp.exe" read as "exe.pdf"), or characters a download name cannot carry.

    "C:\\Users\\x\\photo.jpg" and "../../../etc/passwd.png" keep their last part only; every bidirectional control,
    marks included, goes (careportal/core/text.py), then any other control or format character (NUL, zero-width
    spaces); leading dots go, so nothing is hidden; what is left empty becomes "attachment" (and the type's
    extension is added after: "attachment.png"). This name is what pages show and what the download is called."""
    name = strip_bidi_controls(unicodedata.normalize("NFC", raw), marks=True)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        " " if unicodedata.category(ch).startswith("Z") else ch
        for ch in name
        if not unicodedata.category(ch).startswith("C")
    )
    name = _UNSAFE_IN_NAMES.sub("_", name)
    name = " ".join(name.split()).strip(" .")
    return name[:_NAME_MAX].rstrip(" .") or "attachment"


def _name_with_extension(name: str, extension: str) -> str:
    """`name` with its extension replaced by the one for the file's real type: "IMG_0001.HEIC" → "IMG_0001.jpg"."""
    stem, dot, old = name.rpartition(".")
    base = stem if dot and stem and re.fullmatch(r"[A-Za-z0-9]{1,5}", old) else name
    base = base[: _NAME_MAX - len(extension)].rstrip(" .") or "attachment"
    return base + extension


def _format_size(size: int) -> str:
    megabyte = 1024 * 1024
    if size >= megabyte:
        return f"{size // megabyte} MB" if size % megabyte == 0 else f"{size / megabyte:.1f} MB"
    return f"{max(1, size // 1024)} KB"


# ----------------------------------------------------------------------------------------------------------------
# Images


# The Pillow formats each type may be opened as: Pillow is told which decoder to use rather than guessing again.
_PILLOW_FORMATS = {"image/jpeg": ["JPEG", "MPO"], "image/png": ["PNG"], "image/heic": ["HEIF"]}


def _clean_image(data: bytes, quoted: str, content_type: str) -> tuple[bytes, str]:
    """Decode and re-encode an image. Returns the new bytes and their type.

    Re-encoding keeps only pixels: EXIF (with GPS location and camera serials), XMP, PNG text chunks, comments and
    any bytes appended to the file are all gone. The EXIF orientation is applied to the pixels first, so a photo
    taken sideways still shows upright. The colour profile is kept when it parses, as colour matters in clinical
    photos (a rash, a wound). HEIC is saved as JPEG, which every browser and clinical desktop can open.
    """
    damaged = AttachmentRejected(f"{quoted} cannot be opened as an image. It may be damaged")
    max_pixels = settings.MESSAGE_IMAGE_MAX_PIXELS

    def too_large(size: str) -> AttachmentRejected:
        return AttachmentRejected(
            f"{quoted} is too large an image{size}. Send an image of up to {max_pixels / 1_000_000:g} million pixels"
        )

    image: Image.Image
    try:
        image = Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS[content_type])
    except Image.DecompressionBombError:
        # Pillow's own, higher limit, checked as it reads the header.
        raise too_large("") from None
    except Exception:
        raise damaged from None
    # The header gives the size before any pixels are decoded: a few KB can otherwise expand to gigabytes.
    width, height = image.size
    if width * height > max_pixels:
        raise too_large(f" ({width:,} × {height:,} pixels)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
            image = ImageOps.exif_transpose(image)
            icc_profile = _valid_icc_profile(image.info.get("icc_profile"))
            if "transparency" in image.info:
                # A palette or greyscale image's transparent colour lives in `info`, which is not carried over.
                image = image.convert("RGBA")
            output = io.BytesIO()
            if content_type == "image/png":
                image = (
                    image if image.mode in {"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"} else image.convert("RGBA")
                )
                _without_metadata(image).save(output, format="PNG", icc_profile=icc_profile)
                stored_type = "image/png"
            else:
                image = image if image.mode in {"L", "RGB"} else image.convert("RGB")
                _without_metadata(image).save(output, format="JPEG", quality=90, icc_profile=icc_profile)
                stored_type = "image/jpeg"
    except Exception as error:
        logger.info("attachment_image_undecodable", error=type(error).__name__)
        raise damaged from None
    return output.getvalue(), stored_type


def _without_metadata(image: Image.Image) -> Image.Image:
    # Savers fall back to `info` for some metadata (PNG text, XMP, the colour profile): start from nothing.
    image.info = {}
    return image


def _valid_icc_profile(profile: Any) -> bytes | None:
    if not isinstance(profile, bytes) or not profile:
        return None
    try:
        ImageCms.ImageCmsProfile(io.BytesIO(profile))
    except Exception:
        return None
    return profile


# ----------------------------------------------------------------------------------------------------------------
# PDFs


# Markers of another format hidden inside a PDF (a ZIP, an HTML page): such a PDF is re-saved, which drops what is
# outside the PDF's objects and compresses what is inside them.
_FOREIGN_MARKERS = (b"pk\x03\x04", b"<script", b"<html", b"<!doctype", b"<svg", b"<iframe")


def _clean_pdf(data: bytes, quoted: str) -> tuple[bytes, str]:
    """Keep a PDF byte for byte if it is safe; otherwise re-save it without active content.

    Safe means: no document or page actions (/OpenAction, /AA), no JavaScript or embedded files, no XFA form
    scripts, no link actions other than go-to-page, web/email links and page turning, nothing after the final
    %%EOF, and no ZIP or HTML markers in the raw bytes. Keeping safe files as given preserves digital signatures;
    re-saving through qpdf writes only the objects reachable from the document, so removed scripts and anything
    appended or hidden around the objects are gone. Password-protected PDFs are refused: we cannot check them.
    """
    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            # Links a reader follows only when the person clicks: a page, a web or email address, a page turn.
            removed = pdf_remove_active_content(pdf, links=PAGE_AND_WEB_LINKS)
            if not removed and not _pdf_has_foreign_bytes(data):
                return data, "application/pdf"
            output = io.BytesIO()
            pdf.save(output, compress_streams=True)
    except pikepdf.PasswordError:
        raise AttachmentRejected(f"{quoted} is protected by a password. Remove the password and try again") from None
    except Exception as error:
        logger.info("attachment_pdf_unreadable", error=type(error).__name__)
        raise AttachmentRejected(f"{quoted} cannot be opened as a PDF. It may be damaged") from None
    if removed:
        logger.info("attachment_pdf_active_content_removed", kinds=sorted(set(removed)))
    return output.getvalue(), "application/pdf"


def _pdf_has_foreign_bytes(data: bytes) -> bool:
    if pdf_has_trailing_bytes(data):
        return True
    lowered = data.lower()
    return any(marker in lowered for marker in _FOREIGN_MARKERS)


_TYPES: dict[str, _Type] = {
    "application/pdf": _Type("PDF", (".pdf",), _clean_pdf),
    "image/jpeg": _Type("JPEG", (".jpg", ".jpeg"), lambda data, quoted: _clean_image(data, quoted, "image/jpeg")),
    "image/png": _Type("PNG", (".png",), lambda data, quoted: _clean_image(data, quoted, "image/png")),
    "image/heic": _Type("HEIC", (".heic", ".heif"), lambda data, quoted: _clean_image(data, quoted, "image/heic")),
}


# ----------------------------------------------------------------------------------------------------------------
# Private storage


def _final_name(stored_name: str) -> str:
    # A stored name is ours (random hex); refuse anything else so a bad row can never point outside the storage.
    if not _STORED_NAME.fullmatch(stored_name):
        raise ValueError("not a stored attachment name")
    # Two-character folders keep any one directory to a few thousand entries as attachments accumulate.
    return f"{stored_name[:2]}/{stored_name}"
