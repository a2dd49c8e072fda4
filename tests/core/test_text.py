"""The shared removal of bidirectional controls from typed text (careportal/core/text.py)."""

import pytest
from django import forms

from careportal.core.text import BIDI_CONTROLS, UserTextField, has_bidi_controls, strip_bidi_controls

OVERRIDES = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
MARKS = "\u200e\u200f\u061c"


def test_every_listed_control_is_one_the_brief_names():
    assert {*OVERRIDES, *MARKS} == BIDI_CONTROLS


@pytest.mark.parametrize("control", list(OVERRIDES))
def test_embeddings_overrides_and_isolates_are_removed_from_free_text(control):
    assert strip_bidi_controls(f"invoice{control}fdp.exe") == "invoicefdp.exe"


def test_marks_are_kept_in_free_text_but_removed_when_asked():
    # Right-to-left keyboards insert the marks to place punctuation; they cannot reorder a run of text.
    text = "\u0645\u0631\u062d\u0628\u0627\u200f!\u061c 12"
    assert strip_bidi_controls(text) == text
    assert strip_bidi_controls(text, marks=True) == "\u0645\u0631\u062d\u0628\u0627! 12"


def test_right_to_left_writing_itself_is_untouched():
    for text in ["ألم في الصدر منذ الصباح", "שלום, מה שלומך?", "میرا اپائنٹمنٹ", "Café ☕ 👍🏽", ""]:
        assert strip_bidi_controls(text) == text
        assert not has_bidi_controls(text)


def test_has_bidi_controls_sees_marks_too():
    assert has_bidi_controls("a\u200eb") and has_bidi_controls("a\u202eb")


class _Form(forms.Form):
    text = UserTextField(max_length=5, strip=False)
    optional = UserTextField(required=False)


def test_the_field_removes_overrides_before_its_length_and_required_checks():
    form = _Form({"text": "\u202eabcde\u202c", "optional": "\u2067x\u2069"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data == {"text": "abcde", "optional": "x"}

    only_controls = _Form({"text": "\u202e\u202e"})
    assert not only_controls.is_valid()
    assert "text" in only_controls.errors
