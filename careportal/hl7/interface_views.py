"""Inbound interfaces (/staff/hl7/interfaces/): list, add, change, deactivate and reactivate.

For integration administrators and superusers (`hl7.change_inboundinterface`); everyone else gets an audited
404, as for any page that is not theirs. The pages show no patient data.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from careportal.access.layer import refuse_console
from careportal.accounts.models import User
from careportal.hl7 import presenters
from careportal.hl7.interface_admin import (
    InterfaceError,
    can_manage_interfaces,
    interface_changes,
    interface_get,
    interface_save,
    interface_set_active,
    interfaces_listed,
)
from careportal.hl7.interface_forms import InterfaceForm
from careportal.hl7.models import InboundInterface

ViewFunc = Callable[..., HttpResponse]
APPLIES_SOON = "Messages arriving from now on follow it (a running listener reads the change within a few seconds)."


def interfaces_area(view: ViewFunc) -> ViewFunc:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_manage_interfaces(request.user):
            refuse_console(request, object_label="the HL7 inbound interfaces")
        return view(request, *args, **kwargs)

    return wrapper


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _back() -> dict[str, str]:
    return {"href": reverse("hl7:interfaces"), "text": "Back to inbound interfaces"}


@interfaces_area
def interfaces(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "hl7/interfaces/list.jinja",
        {
            "page_title": "Inbound interfaces",
            "table_rows": presenters.interface_table_rows(presenters.interface_rows(interfaces_listed())),
        },
    )


def _form_page(request: HttpRequest, form: InterfaceForm, *, title: str) -> HttpResponse:
    interface = form.interface
    return render(
        request,
        "hl7/interfaces/form.jinja",
        {
            "page_title": title,
            "form": form,
            "interface": interface,
            "history": presenters.interface_history(interface_changes(interface=interface)) if interface else [],
            "back_link": _back(),
        },
        status=400 if form.is_bound and form.errors else 200,
    )


def _save(request: HttpRequest, form: InterfaceForm) -> HttpResponse | None:
    try:
        saved = interface_save(interface=form.interface, by=_user(request), values=form.values())
    except InterfaceError as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return None
    messages.success(request, f"The interface {saved.name} was saved. {APPLIES_SOON}")
    return redirect("hl7:interfaces")


@interfaces_area
@require_http_methods(["GET", "POST"])
def interface_add(request: HttpRequest) -> HttpResponse:
    form = InterfaceForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid() and (response := _save(request, form)) is not None:
        return response
    return _form_page(request, form, title="Add an inbound interface")


@interfaces_area
@require_http_methods(["GET", "POST"])
def interface_edit(request: HttpRequest, pk: int) -> HttpResponse:
    interface = interface_get(pk)
    form = InterfaceForm(request.POST if request.method == "POST" else None, interface=interface)
    if form.is_bound and form.is_valid() and (response := _save(request, form)) is not None:
        return response
    return _form_page(request, form, title=f"Change {interface.name}")


def _active_page(request: HttpRequest, interface: InboundInterface, *, active: bool) -> HttpResponse:
    if request.method == "POST":
        interface_set_active(interface=interface, by=_user(request), active=active)
        done = "reactivated" if active else "deactivated: its messages are refused (AR) and change nothing"
        messages.success(request, f"The interface {interface.name} was {done}. {APPLIES_SOON}")
        return redirect("hl7:interfaces")
    return render(
        request,
        "hl7/interfaces/active.jinja",
        {
            "page_title": f"{'Reactivate' if active else 'Deactivate'} {interface.name}?",
            "interface": interface,
            "active": active,
            "back_link": _back(),
        },
    )


@interfaces_area
@require_http_methods(["GET", "POST"])
def interface_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    return _active_page(request, interface_get(pk), active=False)


@interfaces_area
@require_http_methods(["GET", "POST"])
def interface_reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    return _active_page(request, interface_get(pk), active=True)
