"""The Jinja2 environment: our templates first, then the NHS.UK frontend macros from nhsuk-frontend-jinja."""

from typing import Any

from django.conf import settings
from django.contrib.messages import get_messages
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from jinja2 import ChainableUndefined, ChoiceLoader, Environment, PackageLoader, Template, select_autoescape
from jinja2.environment import TemplateModule
from jinja2.runtime import Context

from careportal.core.addresses import fixed_url
from careportal.core.formatting import format_date, format_datetime, format_nhs_number
from careportal.core.forms import nhs_field
from careportal.core.layout import (
    component,
    current_navigation,
    error_summary_items,
    header_account_items,
    header_slots,
    record_bar,
    record_caption,
    request_csrf_token,
    select_component,
    whose_record,
)

# The settings templates may read: what pages tell people (the helpdesk's number, time limits they are told
# about). The rest of Django's settings (keys, database addresses, internal switches) never reach a template.
TEMPLATE_SETTINGS = (
    "ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS",
    "AXES_COOLOFF_TIME",
    "CAREPORTAL_ACTIVATION_CODE_DAYS",
    "CAREPORTAL_ACTIVATION_CODE_MAX_ATTEMPTS",
    "CAREPORTAL_HELPDESK_EMAIL",
    "CAREPORTAL_HELPDESK_HOURS",
    "CAREPORTAL_HELPDESK_PHONE",
    "CAREPORTAL_HELPDESK_RESPONSE_TARGET_DAYS",
    "CAREPORTAL_IDLE_TIMEOUT_SECONDS",
    "CAREPORTAL_IDLE_WARNING_SECONDS",
    "CAREPORTAL_SERVICE_NAME",
    "CAREPORTAL_SESSION_ABSOLUTE_SECONDS",
    "CAREPORTAL_TRUST_NAME",
    "MFA_RECOVERY_CODE_COUNT",
)


class TemplateSettings:
    """`settings` in templates: the TEMPLATE_SETTINGS only, read when the page renders (tests may override them).

    Asking for any other name is an error, not an empty string: with ChainableUndefined a misspelt or unlisted
    setting would otherwise vanish from the page without a trace."""

    def __getattr__(self, name: str) -> Any:
        if name not in TEMPLATE_SETTINGS:
            raise RuntimeError(f"templates may not read the setting {name}: add it to TEMPLATE_SETTINGS if they must")
        return getattr(settings, name)


class ImportingTemplate(Template):
    """A Jinja2 template whose `{% import %}` / `{% from ... import %}` costs one set operation, not twenty.

    On every import Jinja2 3.1 works out which of the importing page's globals the imported template lacks, with
    `ctx.globals_keys - self.globals.keys()`: one Python-level ChainMap lookup per global. The NHS.UK macros import
    their helpers inside each macro, so a page makes about fifty imports, and with our twenty globals that was a
    tenth of rendering a page. This asks the same question with a C-level set difference and, when the answer is
    "none" (always, here: every template shares the environment's globals), gives Jinja2's own cached module."""

    def _get_default_module(self, ctx: Context | None = None) -> TemplateModule:
        if ctx is not None and not ctx.globals_keys.difference(self.globals):
            ctx = None
        return super()._get_default_module(ctx)


def url(viewname: str, *args: Any, **kwargs: Any) -> str:
    if args or kwargs:
        return reverse(viewname, args=args or None, kwargs=kwargs or None)
    return fixed_url(viewname)  # the header's, the footer's, the dialog's: kept once drawn


def environment(**options: Any) -> Environment:
    # Django passes its own loader (the app template folders); the NHS.UK macros come after ours.
    options["loader"] = ChoiceLoader([options["loader"], PackageLoader("nhsuk_frontend_jinja")])
    options["undefined"] = ChainableUndefined
    # HTML is escaped; plain-text emails (.txt) are not, or "D'Arcy" would arrive as "D&#39;Arcy".
    options["autoescape"] = select_autoescape(disabled_extensions=("txt",), default_for_string=True, default=True)
    env = Environment(**options)  # noqa: S701 - autoescape is set just above  # nosec B701
    env.template_class = ImportingTemplate
    env.globals.update(
        {
            "static": static,
            "url": url,
            "csrf_token_value": request_csrf_token,
            "get_messages": get_messages,
            "settings": TemplateSettings(),
            "service_name": settings.CAREPORTAL_SERVICE_NAME,
            "now": timezone.now,
            "nhs_field": nhs_field,
            "header_account_items": header_account_items,
            "component": component,
            "select_component": select_component,
            "header_slots": header_slots,
            "current_navigation": current_navigation,
            "error_summary_items": error_summary_items,
            "record_bar": record_bar,
            "record_caption": record_caption,
            "whose_record": whose_record,
        }
    )
    env.filters.update(
        {
            "nhs_number": format_nhs_number,
            "date": format_date,
            "datetime": format_datetime,
        }
    )
    return env
