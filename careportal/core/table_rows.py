"""Rows for the NHS.UK `table` and `summaryList` macros, built by presenters so that templates only call the macro.

Cells that hold HTML are `Markup`: built with `format_html` (every value escaped) or by calling a Jinja macro
(autoescaped like any template), never by joining strings."""

from collections.abc import Iterable
from typing import Any

from django.template import engines
from markupsafe import Markup, escape

Cell = dict[str, Any]


def summary_rows(pairs: Iterable[tuple[str, Any]]) -> list[dict[str, Cell]]:
    """(label, value) pairs as summary-list rows; the value is text, escaped by the macro."""
    return [{"key": {"text": label}, "value": {"text": value}} for label, value in pairs]


def lines_html(lines: Iterable[str]) -> Markup:
    """Lines of text, each escaped, joined by line breaks."""
    return Markup("<br>").join(escape(line) for line in lines)


def macro(template_name: str, name: str, *args: Any) -> Markup:
    """What one of a template's macros renders (an NHS.UK component, or one of ours), as Markup."""
    module = engines["jinja2"].env.get_template(template_name).module  # type: ignore[attr-defined]
    return Markup(getattr(module, name)(*args))  # noqa: S704 - an autoescaped macro's output


def tag_html(text: str, colour: str) -> Markup:
    """An NHS.UK tag, exactly as the `tag` macro renders it."""
    return macro("nhsuk/components/tag/macro.jinja", "tag", {"text": text, "colour": colour})
