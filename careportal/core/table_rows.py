"""Rows for the NHS.UK `table` and `summaryList` macros, built by presenters so that templates only call the macro.

Cells that hold HTML are `Markup`: built with `format_markup` (every value escaped exactly as a template escapes
it) or `format_html`, or by calling a Jinja macro (autoescaped like any template), never by joining strings."""

from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.template import engines
from markupsafe import Markup, escape

Cell = dict[str, Any]


def format_markup(template: str, *args: Any) -> Markup:
    """`template` (trusted HTML) with each argument escaped as the templates escape it (markupsafe: `'` becomes
    `&#39;`), so a cell moved out of a template renders exactly as it did there. Markup arguments go in as they are."""
    return Markup(template).format(*args)  # noqa: S704 - the template is ours; every argument is escaped  # nosec B704


def summary_rows(pairs: Iterable[tuple[str, Any]]) -> list[dict[str, Cell]]:
    """(label, value) pairs as summary-list rows; the value is text, escaped by the macro."""
    return [{"key": {"text": label}, "value": {"text": value}} for label, value in pairs]


def lines_html(lines: Iterable[str]) -> Markup:
    """Lines of text, each escaped, joined by line breaks."""
    return Markup("<br>").join(escape(line) for line in lines)


def macro(template_name: str, name: str, *args: Any) -> Markup:
    """What one of a template's macros renders (an NHS.UK component, or one of ours), as Markup."""
    module = engines["jinja2"].env.get_template(template_name).module  # type: ignore[attr-defined]
    return Markup(getattr(module, name)(*args))  # noqa: S704 - an autoescaped macro's output  # nosec B704


def tag_html(text: str, colour: str) -> Markup:
    """An NHS.UK tag, exactly as the `tag` macro renders it."""
    return macro("nhsuk/components/tag/macro.jinja", "tag", {"text": text, "colour": colour})


def bdi(text: str) -> Markup:
    """Text someone typed, isolated (`<bdi>`): right-to-left writing reads the right way round and cannot reorder
    the rest of the row."""
    return format_markup("<bdi>{}</bdi>", text)


def link_html(href: str, text: str) -> Markup:
    return format_markup('<a href="{}">{}</a>', href, text)


def status_tag_html(status: Any) -> Markup:
    """A status with words and a colour (`.text`, `.colour`) as an NHS.UK tag."""
    return tag_html(status.text, status.colour)


def csrf_input_html(request: HttpRequest) -> Markup:
    """The hidden CSRF field, as `layouts/macros.jinja`'s `csrf_input` renders it, for a form inside a table cell."""
    return format_markup('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', get_token(request))
