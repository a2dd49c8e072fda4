"""Taking active content out of a PDF: one walk of the document, shared by message attachments and letters.

From every dictionary reachable from the trailer it removes automatic actions (the document's /OpenAction unless it
only names a page to open at, and every /AA), JavaScript (/JavaScript, /JS), embedded files (/EmbeddedFiles, /EF,
file-attachment annotations), XFA forms, rich media, movie, sound, screen and 3D annotations, and every link or
outline action (/A, /Next) that the caller does not allow. What each caller allows differs: a letter from the
hospital keeps "go to a page" only, an attachment a patient sends also keeps web and email links and page turns.

The caller then decides whether to keep the file byte for byte (nothing removed: a digital signature stays valid)
or re-save it with qpdf, which writes only the objects the document reaches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pikepdf

REMOVED_KEYS = ("/AA", "/JavaScript", "/JS", "/EmbeddedFiles", "/EF", "/XFA", "/RichMediaContent")
ACTIVE_ANNOTATIONS = frozenset({"/FileAttachment", "/RichMedia", "/Movie", "/Sound", "/Screen", "/3D"})


@dataclass(frozen=True)
class LinkPolicy:
    """The actions a reader may perform when someone clicks (`/S` values), and for /URI the schemes allowed."""

    actions: frozenset[str]
    uri_schemes: tuple[str, ...] = ()


# Go to a page in this document: nothing leaves it.
PAGE_LINKS_ONLY = LinkPolicy(actions=frozenset({"/GoTo"}))
# Also open a web or email address or a phone number, and turn a page.
PAGE_AND_WEB_LINKS = LinkPolicy(
    actions=frozenset({"/GoTo", "/URI", "/Named"}), uri_schemes=("http:", "https:", "mailto:", "tel:")
)


def pdf_remove_active_content(pdf: pikepdf.Pdf, *, links: LinkPolicy) -> list[str]:
    """Remove active content in place; returns what was removed ("JavaScript", "OpenAction", "action", ...)."""
    removed: list[str] = []
    for dictionary in _dictionaries(pdf):
        for key in REMOVED_KEYS:
            if key in dictionary:
                del dictionary[key]
                removed.append(key[1:])
        # Most /OpenAction entries only say which page to open at (a destination array): keep those.
        open_action = dictionary.get("/OpenAction")
        if open_action is not None and not (
            isinstance(open_action, pikepdf.Array) or _actions_allowed(open_action, links)
        ):
            del dictionary["/OpenAction"]
            removed.append("OpenAction")
        for key in ("/A", "/Next"):
            if key in dictionary and not _actions_allowed(dictionary[key], links):
                del dictionary[key]
                removed.append("action")
        annotations = dictionary.get("/Annots")
        if isinstance(annotations, pikepdf.Array):
            kept = [a for a in annotations if not _is_active_annotation(a)]
            if len(kept) != len(annotations):
                dictionary["/Annots"] = pikepdf.Array(kept)
                removed.append("annotation")
    return removed


def pdf_has_trailing_bytes(data: bytes) -> bool:
    """Whether anything but whitespace follows the last %%EOF (or there is none): a payload appended to a PDF."""
    end = data.rfind(b"%%EOF")
    return end < 0 or bool(data[end + 5 :].strip(b"\r\n\t \x00\x0c"))


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
            # Removals may have changed the keys; read the values after the caller has finished with it.
            stack.extend(obj[key] for key in list(obj.keys()) if key in obj)


def _actions_allowed(value: Any, links: LinkPolicy) -> bool:
    actions = list(value) if isinstance(value, pikepdf.Array) else [value]
    for action in actions:
        if not isinstance(action, pikepdf.Dictionary):
            return False
        kind = str(action.get("/S", ""))
        if kind not in links.actions:
            return False
        if kind == "/URI" and not str(action.get("/URI", "")).strip().lower().startswith(links.uri_schemes):
            return False
        if "/Next" in action and not _actions_allowed(action["/Next"], links):
            return False
    return True


def _is_active_annotation(annotation: Any) -> bool:
    return isinstance(annotation, pikepdf.Dictionary) and str(annotation.get("/Subtype", "")) in ACTIVE_ANNOTATIONS
