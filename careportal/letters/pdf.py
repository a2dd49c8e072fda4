"""Checking that a letter is a PDF, by its content, and taking out anything active before it is stored.

A letter is accepted when its bytes start with the PDF signature (`%PDF-`, allowing a few bytes of junk before it,
as readers do) and qpdf (pikepdf) opens it; a password-protected (encrypted) PDF is refused, since nobody could read
it and we cannot check it. Then, from every dictionary reachable from the document's trailer, CarePortal takes out:

- automatic actions: the document's /OpenAction (unless it only says which page to open at) and every /AA
  (additional actions on pages, fields and annotations);
- JavaScript: the /JavaScript names tree and any /JS;
- embedded files: the /EmbeddedFiles names tree, /EF file specifications, file-attachment annotations;
- link and other actions on annotations and outline items (/A, /Next) except "go to a page in this document":
  Launch, URI (web links), SubmitForm, ImportData, GoToR/GoToE, media and the rest;
- XFA forms (/XFA) and rich media, movie, sound, screen and 3D annotations.

A PDF that needed nothing taken out and has nothing after its end marker is stored byte for byte (a digital
signature stays valid); otherwise it is re-saved by qpdf, which writes only the objects the document reaches, so a
payload hidden between or after them goes too. docs/letters.md repeats this for operators.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pikepdf

PDF_SIGNATURE = b"%PDF-"
# Readers accept the signature within the first 1024 bytes; CarePortal does too, and drops what comes before it.
SIGNATURE_WINDOW = 1024
_SAFE_ACTIONS = {"/GoTo"}
_ACTIVE_ANNOTATIONS = {"/FileAttachment", "/RichMedia", "/Movie", "/Sound", "/Screen", "/3D"}
_REMOVED_KEYS = ("/AA", "/JavaScript", "/JS", "/EmbeddedFiles", "/EF", "/XFA", "/RichMediaContent")


class DocumentRejected(ValueError):
    """Not a letter CarePortal can store. `reason` says why, in words for an operator, naming no content."""

    def __init__(self, reason: str, *, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


NOT_PDF = "not_pdf"
ENCRYPTED = "encrypted"
TOO_LARGE = "too_large"
EMPTY = "empty"


@dataclass(frozen=True)
class CheckedPdf:
    data: bytes  # what is stored and downloaded
    page_count: int
    removed: tuple[str, ...]  # what was taken out ("JavaScript", "OpenAction", ...), empty when nothing was


def pdf_check(data: bytes, *, max_bytes: int) -> CheckedPdf:
    """Check `data` is a PDF CarePortal may store and return it cleaned. Raises DocumentRejected."""
    if not data:
        raise DocumentRejected("the document is empty", code=EMPTY)
    if len(data) > max_bytes:
        raise DocumentRejected(f"the document is larger than {max_bytes // 1024} KB", code=TOO_LARGE)
    start = data.find(PDF_SIGNATURE, 0, SIGNATURE_WINDOW)
    if start < 0:
        raise DocumentRejected("the document is not a PDF", code=NOT_PDF)
    data = data[start:]
    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            if pdf.is_encrypted:
                raise DocumentRejected("the document is a password-protected PDF", code=ENCRYPTED)
            page_count = len(pdf.pages)
            if page_count == 0:
                raise DocumentRejected("the document is a PDF with no pages", code=NOT_PDF)
            removed = _remove_active_content(pdf)
            if removed or start or _has_trailing_bytes(data):
                output = io.BytesIO()
                pdf.save(output, compress_streams=True, deterministic_id=True)
                data = output.getvalue()
    except pikepdf.PasswordError:
        raise DocumentRejected("the document is a password-protected PDF", code=ENCRYPTED) from None
    except DocumentRejected:
        raise
    except Exception:  # qpdf raises several kinds for damaged files; none of them is ours to pass on
        raise DocumentRejected("the document is not a PDF", code=NOT_PDF) from None
    return CheckedPdf(data=data, page_count=page_count, removed=tuple(sorted(set(removed))))


def _has_trailing_bytes(data: bytes) -> bool:
    end = data.rfind(b"%%EOF")
    return end < 0 or bool(data[end + 5 :].strip(b"\r\n\t \x00\x0c"))


def _remove_active_content(pdf: pikepdf.Pdf) -> list[str]:
    removed: list[str] = []
    for dictionary in _dictionaries(pdf):
        for key in _REMOVED_KEYS:
            if key in dictionary:
                del dictionary[key]
                removed.append(key[1:])
        open_action = dictionary.get("/OpenAction")
        if open_action is not None and not (isinstance(open_action, pikepdf.Array) or _actions_safe(open_action)):
            del dictionary["/OpenAction"]
            removed.append("OpenAction")
        for key in ("/A", "/Next"):
            if key in dictionary and not _actions_safe(dictionary[key]):
                del dictionary[key]
                removed.append("action")
        annotations = dictionary.get("/Annots")
        if isinstance(annotations, pikepdf.Array):
            kept = [a for a in annotations if not _is_active_annotation(a)]
            if len(kept) != len(annotations):
                dictionary["/Annots"] = pikepdf.Array(kept)
                removed.append("annotation")
    return removed


def _dictionaries(pdf: pikepdf.Pdf) -> Iterator[pikepdf.Object]:
    """Every dictionary (and stream dictionary) reachable from the trailer, each indirect object once."""
    seen: set[tuple[int, int]] = set()
    stack: list[Any] = [pdf.trailer]
    while stack:
        obj = stack.pop()
        if not isinstance(obj, pikepdf.Object):
            continue
        if obj.is_indirect:
            if obj.objgen in seen:
                continue
            seen.add(obj.objgen)
        if isinstance(obj, pikepdf.Array):
            stack.extend(obj)
        elif isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
            yield obj
            stack.extend(obj[key] for key in list(obj.keys()) if key in obj)


def _actions_safe(value: Any) -> bool:
    actions = list(value) if isinstance(value, pikepdf.Array) else [value]
    for action in actions:
        if not isinstance(action, pikepdf.Dictionary):
            return False
        if str(action.get("/S", "")) not in _SAFE_ACTIONS:
            return False
        if "/Next" in action and not _actions_safe(action["/Next"]):
            return False
    return True


def _is_active_annotation(annotation: Any) -> bool:
    return isinstance(annotation, pikepdf.Dictionary) and str(annotation.get("/Subtype", "")) in _ACTIVE_ANNOTATIONS
