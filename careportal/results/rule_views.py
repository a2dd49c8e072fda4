"""Release rules and bank holidays (/staff/results/rules/, /staff/results/bank-holidays/).

For those who configure the trust: superusers, staff with the `results.change_releaserule` permission, and the
helpdesk. Everyone else gets 404, as for any page that is not theirs. Neither page shows patient data.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from careportal.accounts.models import User
from careportal.core.models import CalendarChange
from careportal.results.release_rules import (
    ReleaseRuleError,
    bank_holiday_add,
    bank_holiday_get,
    bank_holiday_remove,
    bank_holidays_listed,
    can_manage_release_rules,
    is_default_rule,
    release_rule_delete,
    release_rule_get,
    release_rule_save,
    release_rules_grouped,
    rule_scope_text,
)
from careportal.results.rule_forms import BankHolidayForm, ReleaseRuleForm
from careportal.results.rule_presenters import bank_holidays_page, rule_tables

ViewFunc = Callable[..., HttpResponse]

APPLIES_FROM_NOW = (
    "It applies to results that arrive from now on. Results already waiting keep the release date they were given."
)


def release_rules_area(view: ViewFunc) -> ViewFunc:
    """Only for those who may change release rules; others get 404, not 403."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_manage_release_rules(request.user):
            raise Http404("Page not found")
        return view(request, *args, **kwargs)

    return wrapper


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@release_rules_area
def rules(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "results/rules/list.jinja",
        {"page_title": "Release rules for test results", "tables": rule_tables(release_rules_grouped())},
    )


def _save_rule(request: HttpRequest, form: ReleaseRuleForm) -> HttpResponse | None:
    """Save a valid form; the page again (with the error) when the service refuses, None when it did not."""
    data = form.cleaned_data
    try:
        rule = release_rule_save(
            rule=form.rule,
            by=_user(request),
            test_code=data["test_code"],
            category=data["category"],
            description=data["description"],
            mode=data["mode"],
            working_days=data["working_days"],
            result_kind=data["result_kind"],
            sensitive_category=data["sensitive_category"],
        )
    except ReleaseRuleError as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return None
    scope = rule_scope_text(test_code=rule.test_code, category=rule.category)
    messages.success(request, f"The rule for {scope} was saved. {APPLIES_FROM_NOW}")
    return redirect("results:rules")


def _rule_form_page(request: HttpRequest, form: ReleaseRuleForm, *, title: str) -> HttpResponse:
    return render(
        request,
        "results/rules/form.jinja",
        {
            "page_title": title,
            "form": form,
            "rule": form.rule,
            "applies_from_now": APPLIES_FROM_NOW,
            "back_link": {"href": reverse("results:rules"), "text": "Back to release rules"},
        },
    )


@release_rules_area
@require_http_methods(["GET", "POST"])
def rule_add(request: HttpRequest) -> HttpResponse:
    default_exists = release_rules_grouped().default is not None
    if request.method == "POST":
        form = ReleaseRuleForm(request.POST, default_exists=default_exists)
        if form.is_valid() and (response := _save_rule(request, form)) is not None:
            return response
    else:
        form = ReleaseRuleForm(default_exists=default_exists)
    return _rule_form_page(request, form, title="Add a release rule")


@release_rules_area
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule = release_rule_get(pk)
    if request.method == "POST":
        form = ReleaseRuleForm(request.POST, rule=rule)
        if form.is_valid() and (response := _save_rule(request, form)) is not None:
            return response
    else:
        form = ReleaseRuleForm(rule=rule)
    return _rule_form_page(request, form, title=f"Change the rule for {rule.applies_to.lower()}")


@release_rules_area
@require_http_methods(["GET", "POST"])
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = release_rule_get(pk)
    if request.method == "POST":
        try:
            release_rule_delete(rule=rule, by=_user(request))
        except ReleaseRuleError as error:
            messages.error(request, error.message)
        else:
            scope = rule_scope_text(test_code=rule.test_code, category=rule.category)
            messages.success(request, f"The rule for {scope} was deleted. {APPLIES_FROM_NOW}")
        return redirect("results:rules")
    return render(
        request,
        "results/rules/delete.jinja",
        {
            "page_title": "Delete a release rule",
            "rule": rule,
            "is_default": is_default_rule(rule),
            "back_link": {"href": reverse("results:rules"), "text": "Back to release rules"},
        },
    )


@release_rules_area
@require_http_methods(["GET", "POST"])
def bank_holidays(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = BankHolidayForm(request.POST)
        if form.is_valid():
            try:
                added = bank_holiday_add(
                    day=form.cleaned_data["date"],
                    name=form.cleaned_data["name"],
                    change=form.cleaned_data["change"],
                    by=_user(request),
                )
            except ReleaseRuleError as error:
                form.add_error("date", error.message)
            else:
                moved = added.reports_moved
                text = f"{added.holiday.name} ({added.holiday.date:%-d %B %Y}) was added"
                text += " as a working day." if added.holiday.change == CalendarChange.OPEN else "."
                if moved:
                    text += (
                        f" {moved} result{'s' if moved != 1 else ''} that would have been released that day will be "
                        "released on the next working day instead."
                    )
                messages.success(request, text)
                return redirect("results:bank-holidays")
    else:
        form = BankHolidayForm()
    return render(
        request,
        "results/rules/bank_holidays.jinja",
        {
            "page_title": "Bank holidays",
            "form": form,
            "calendar": bank_holidays_page(bank_holidays_listed(today=timezone.localdate())),
            "back_link": {"href": reverse("results:rules"), "text": "Back to release rules"},
        },
    )


@release_rules_area
@require_POST
def bank_holiday_delete(request: HttpRequest, pk: int) -> HttpResponse:
    holiday = bank_holiday_get(pk)
    was_open = holiday.change == CalendarChange.OPEN
    moved = bank_holiday_remove(holiday=holiday, by=_user(request))
    if was_open:
        text = f"{holiday.date:%-d %B %Y} is a bank holiday again."
        if moved:
            text += (
                f" {moved} result{'s' if moved != 1 else ''} that would have been released that day will be "
                "released on the next working day instead."
            )
    else:
        text = f"{holiday.name} ({holiday.date:%-d %B %Y}) was removed. Results already given a release date keep it."
    messages.success(request, text)
    return redirect("results:bank-holidays")
