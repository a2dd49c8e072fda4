"""Presenters for the page layout (layouts/base.jinja), which every page shares: the account links in the header,
the menu with the page being shown marked, and the error summary's list. Registered as template globals in
careportal/config/jinja2_env.py, since the layout renders whatever view the page comes from.

Cells that hold HTML are `Markup` built with `format_markup`, so every value is escaped (careportal/core/table_rows.py).
"""

import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.middleware.csrf import get_token
from django.urls import reverse
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from careportal.core.table_rows import format_markup

SIGN_OUT_FORM = (
    '<form class="nhsuk-header__account-form" action="{}" method="post" novalidate>'
    '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
    '<button class="nhsuk-header__account-button" type="submit">Sign out</button>'
    "</form>"
)


# Stand for the request's CSRF token and the signed-in username in a header kept by `component` (below), which fills
# them in afterwards: so one header drawn for a page serves everyone who opens that page.
CSRF_TOKEN_SLOT = "careportal-slot-csrf-token"  # noqa: S105 - a placeholder, not a secret
USERNAME_SLOT = "careportal-slot-username"


def request_csrf_token(request: Any) -> str:
    """Django's `get_token(request)`, masked once per request rather than once per call: masking draws 32 random
    characters one by one, and a signed-in page asks three times (the header's Sign out, the idle-timeout dialog,
    the page's own form). Each response still carries a freshly masked token (the BREACH defence is per response);
    a new secret (rotated at sign-in) gets a new token."""
    secret = request.META.get("CSRF_COOKIE")
    kept = getattr(request, "_careportal_csrf_token", None)
    if secret is not None and kept is not None and kept[0] == secret:
        return str(kept[1])
    token = get_token(request)
    request._careportal_csrf_token = (request.META.get("CSRF_COOKIE"), token)
    return token


def header_account_items(request: Any, *, slots: bool = False) -> list[dict[str, Any]]:
    """The header's account links: the signed-in username (to sign-in and security) and a Sign out button (a POST
    form), or Sign in. `request` may be missing (an error page rendered without one): then Sign in. With `slots`,
    USERNAME_SLOT and CSRF_TOKEN_SLOT stand for the username and the token, for `component` to fill in."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return [{"href": reverse("account_login"), "text": "Sign in"}]
    account_link_html: Markup = format_markup(
        '{}<span class="nhsuk-u-visually-hidden">: sign-in and security</span>',
        USERNAME_SLOT if slots else user.get_username(),
    )
    token = CSRF_TOKEN_SLOT if slots else request_csrf_token(request)
    sign_out_html: Markup = format_markup(SIGN_OUT_FORM, reverse("account_logout"), token)
    return [
        {"href": reverse("accounts:security"), "html": account_link_html, "icon": True},
        {"html": sign_out_html},
    ]


def current_navigation(items: Iterable[Mapping[str, Any]] | None, path: str) -> list[dict[str, Any]]:
    """The header's menu with the page being shown marked `current` (aria-current="page"), so everyone can tell
    where they are."""
    return [dict(item, current=(item["href"] == path)) for item in items or []]


def error_summary_items(form: Any) -> list[dict[str, Any]]:
    """The error summary's list for a form with errors: the form's own errors first, then each field's first
    error, linked to the field."""
    errors: list[dict[str, Any]] = [{"text": error} for error in form.non_field_errors()]
    errors += [{"text": field.errors[0], "href": f"#{field.auto_id}"} for field in form if field.errors]
    return errors


# Whose record is in view ---------------------------------------------------------------------------------------------
# A patient-area page (careportal/access/decorators.py `patient_area`) leaves the viewer, and the records the signed-in
# person may open, on the request. Someone acting for another person is told whose record every page is: in the
# page title, in a caption above the heading, and in a line under the header with a link to switch.


def whose_record(request: Any) -> str:
    """ "Arjun Patel's record" when the page shows someone else's record to a proxy; empty otherwise (the patient's
    own pages, staff pages, pages about the signed-in person's own account)."""
    viewer = getattr(request, "viewer", None)
    if viewer is None or not viewer.is_proxy or viewer.patient is None:
        return ""
    return f"{viewer.patient.full_name}'s record"


@pass_context
def record_caption(context: Context, default: str = "") -> Markup:
    """The caption above a patient-area page's heading: "Arjun Patel's record" for a proxy (with `default` after
    it, when the page has a caption of its own), `default` alone for the patient, nothing when both are empty."""
    whose = whose_record(context.get("request"))
    text = " · ".join(part for part in (whose, default) if part)
    if not text:
        return Markup("")
    return format_markup('<span class="nhsuk-caption-l">{}</span>', text)


def record_bar(request: Any) -> dict[str, Any] | None:
    """The line under the header naming whose record is in view, for a proxy and for anyone with more than one
    record to choose from, with a link to switch when there is another to switch to."""
    viewer = getattr(request, "viewer", None)
    if viewer is None or viewer.patient is None:
        return None
    can_switch = len(getattr(request, "patient_choices", ())) > 1
    if not viewer.is_proxy and not can_switch:
        return None
    return {
        "whose": whose_record(request) or "your own record",
        "switch_href": reverse("home:choose") if can_switch else "",
    }


# NHS.UK components drawn once per process ---------------------------------------------------------------------------
# The NHS.UK macros are pure: what they draw depends on their parameters alone (they see no page variables, and our
# template globals do not change). Drawing the header, the footer and the tags through the macros was half of
# rendering a results page, and most pages draw the same ones again and again, so `component` keeps what each drew
# for given parameters.
COMPONENT_CACHE_SIZE = 2048
_drawn: dict[tuple[str, Any], Markup] = {}


def _frozen(value: Any) -> Any:
    """`value` (the parameters: dicts, lists, text, Markup, numbers) as a hashable key; Markup and plain text stay
    apart, as a macro escapes one and not the other."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(key), _frozen(item)) for key, item in value.items()))
    if isinstance(value, list | tuple):
        return ("list", *(_frozen(item) for item in value))
    if isinstance(value, Markup):
        return ("markup", str(value))
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return (type(value).__name__, str(value))


def component(macro: Any, params: Mapping[str, Any], fill: Mapping[str, str] | None = None) -> Markup:
    """`macro(params)` for an NHS.UK component macro, kept for the next page that draws it with the same
    parameters; `fill` replaces slots (such as CSRF_TOKEN_SLOT) with this request's values, escaped."""
    key = (str(macro.name), _frozen(params))
    drawn = _drawn.get(key)
    if drawn is None:
        drawn = macro(params)  # Markup: the templates autoescape
        if len(_drawn) >= COMPONENT_CACHE_SIZE:
            _drawn.clear()  # rarely reached: the number of different headers and tags a trust's pages draw is small
        _drawn[key] = drawn
    if not fill:
        return drawn
    # One pass, so a value filled in (a username) is never searched for another slot.
    slots = re.compile("|".join(re.escape(slot) for slot in fill))
    filled = slots.sub(lambda found: str(escape(fill[found.group(0)])), str(drawn))
    # The macro's own HTML, with escaped values in its slots.
    return Markup(filled)  # noqa: S704  # nosec B704


def header_slots(request: Any) -> dict[str, str] | None:
    """What fills the slots of a header drawn with `header_account_items(request, slots=True)`."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return {USERNAME_SLOT: user.get_username(), CSRF_TOKEN_SLOT: request_csrf_token(request)}


# A form's select, its options drawn without the macro ------------------------------------------------------------
# The NHS.UK select macro draws each option through Jinja2 (an attributes macro and a `default` filter per option),
# and the options are what change from one person to the next (the results filter lists each patient's own tests),
# so `component` alone would rarely find the whole select kept. Instead the select is drawn and kept without its
# options, and the options are written here as the macro writes them; tests/core/test_layout_components.py checks
# the two agree, character for character.
_OPTION = '\n    <option value="{}"{}\n  >{}</option>\n    \n  '
_SELECT_END = "\n  </select>"
_OPTION_KEYS = frozenset({"value", "text", "selected"})


def select_component(macro: Any, params: Mapping[str, Any]) -> Markup:
    """`macro(params)` for the NHS.UK select macro, with `params` as `careportal.core.forms.nhs_field` gives them
    (each item a value, a text and whether it is selected). An item with anything else (a divider, attributes,
    disabled) is left to the macro."""
    items = params.get("items") or []
    if any(not isinstance(item, Mapping) or not _OPTION_KEYS.issuperset(item) for item in items):
        whole: Markup = macro(params)  # Markup: the templates autoescape
        return whole
    drawn = str(component(macro, {**params, "items": []}))
    options = "".join(
        _OPTION.format(escape(item["value"]), " selected" if item["selected"] else "", escape(item["text"]))
        for item in items
    )
    at = drawn.rindex(_SELECT_END)
    # The macro's own HTML, with options whose value and text are escaped as the macro escapes them.
    return Markup(drawn[:at] + options + drawn[at:])  # noqa: S704  # nosec B704
