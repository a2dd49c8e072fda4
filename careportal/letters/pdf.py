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
payload hidden between or after them goes too. The walk itself is careportal/core/pdf.py, shared with message
attachments. docs/letters.md repeats this for operators.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pikepdf

from careportal.core.pdf import PAGE_LINKS_ONLY, pdf_has_trailing_bytes, pdf_remove_active_content

PDF_SIGNATURE = b"%PDF-"
# Readers accept the signature within the first 1024 bytes; CarePortal does too, and drops what comes before it.
SIGNATURE_WINDOW = 1024


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
            removed = pdf_remove_active_content(pdf, links=PAGE_LINKS_ONLY)
            if removed or start or pdf_has_trailing_bytes(data):
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
