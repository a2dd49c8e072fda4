"""Text that people type, made safe to show: the one place that removes the Unicode bidirectional controls which
make text display in a different order from the one it is stored in ("display spoofing").

A right-to-left override (U+202E) turns "invoice\u202efdp.exe" into what reads as "invoiceexe.pdf", and one left in a
message body or a category reverses everything after it on the line, including the page's own words next to it.

What is removed, and why:

- Free text (message bodies, subjects, notes, categories, reasons): the embeddings and overrides (U+202A–U+202E)
  and the isolates (U+2066–U+2069). Pages show each piece of typed text in its own isolated element
  (`dir="auto"` on a block, `<bdi>` inline), so the browser's bidirectional algorithm already gives right-to-left
  writing (Arabic, Hebrew, Urdu) its proper order without any control character; removing them costs a
  right-to-left writer nothing visible, and an unmatched one can no longer reverse what follows. The marks
  (U+200E left-to-right mark, U+200F right-to-left mark, U+061C Arabic letter mark) are kept: keyboards for
  right-to-left languages insert them to place punctuation and numbers correctly, they change the direction of the
  characters next to them only, and they cannot reorder a run of text.
- File names (`strip_bidi_controls(name, marks=True)`, in careportal/messaging/attachments.py): every
  bidirectional control, the marks included, since a file name has no business carrying any, and a mark next to a
  dot can still shift how the extension reads.

Use `strip_bidi_controls` in a form's clean step, or `UserTextField` as the form field, never per template.
"""

import re
from typing import Any

from django import forms

# U+202A LRE, U+202B RLE, U+202C PDF, U+202D LRO, U+202E RLO; U+2066 LRI, U+2067 RLI, U+2068 FSI, U+2069 PDI.
BIDI_EMBEDDINGS_AND_OVERRIDES = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# U+200E LRM, U+200F RLM, U+061C ALM.
BIDI_MARKS = frozenset("\u200e\u200f\u061c")
BIDI_CONTROLS = BIDI_EMBEDDINGS_AND_OVERRIDES | BIDI_MARKS

_OVERRIDES_PATTERN = re.compile("[" + "".join(sorted(BIDI_EMBEDDINGS_AND_OVERRIDES)) + "]")
_ALL_CONTROLS_PATTERN = re.compile("[" + "".join(sorted(BIDI_CONTROLS)) + "]")


def strip_bidi_controls(text: str, *, marks: bool = False) -> str:
    """`text` without the bidirectional embeddings, overrides and isolates; without the marks too when `marks`."""
    if not text:
        return text
    pattern = _ALL_CONTROLS_PATTERN if marks else _OVERRIDES_PATTERN
    return pattern.sub("", text)


def has_bidi_controls(text: str) -> bool:
    return bool(text) and _ALL_CONTROLS_PATTERN.search(text) is not None


class UserTextField(forms.CharField):
    """A CharField for free text a person types: the bidirectional overrides are removed before any other check,
    so the length and "not blank" checks see what will be stored. Everything else is as CharField."""

    def to_python(self, value: Any) -> str | None:
        text = super().to_python(value)
        return strip_bidi_controls(text) if isinstance(text, str) else text
