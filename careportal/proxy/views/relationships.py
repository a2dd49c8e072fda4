"""One relationship, seen by its patient: details, history, changing what the proxy sees, taking access away; and
a proxy stopping acting for someone."""

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from careportal.proxy import presenters, rules, selectors, services
from careportal.proxy.access import (
    access_relationship_as_patient,
    access_relationship_as_proxy,
    own_viewer,
    refuse,
)
from careportal.proxy.forms import RelationshipChangeForm
from careportal.proxy.models import ProxyStatus
from careportal.proxy.views.hub import navigation


def _back() -> dict[str, str]:
    return {"href": reverse("proxy:hub"), "text": "Back to access for others"}


@login_required
def relationship(request: HttpRequest, relationship_id: UUID) -> HttpResponse:
    viewer = own_viewer(request)
    row = access_relationship_as_patient(viewer=viewer, public_id=relationship_id)
    today = timezone.localdate()
    may_change_parts = rules.patient_may_change_parts(row, today=today)
    may_take_away = rules.patient_may_take_away(row, today=today)
    initial = {"scopes": list(row.scopes), "valid_until": row.valid_until}
    form = RelationshipChangeForm(
        request.POST if request.method == "POST" else None, initial=initial, scopes_editable=may_change_parts
    )
    if request.method == "POST":
        if not may_take_away:
            refuse(request, object_label="a change to who can act for you")
        if form.is_valid():
            scopes = form.cleaned_data["scopes"] if may_change_parts else row.scopes
            try:
                services.relationship_change(
                    viewer=viewer, relationship=row, scopes=scopes, valid_until=form.cleaned_data["valid_until"]
                )
            except services.ProxyChangeRefused as refused:
                form.add_error(None, str(refused))
            else:
                messages.success(request, f"What {presenters.person_name(row.proxy)} can see has been saved.")
                return redirect("proxy:relationship", relationship_id=row.public_id)
    name = presenters.person_name(row.proxy)
    return render(
        request,
        "proxy/relationship.jinja",
        {
            "page_title": name,
            "name": name,
            "relationship": row,
            "summary": presenters.relationship_summary(row),
            "history": presenters.history_rows(selectors.relationship_history(row), viewer_user_id=viewer.user.pk),
            "form": form,
            "may_change": may_take_away,
            "may_change_parts": may_change_parts,
            "management_note": presenters.management_note(row),
            "is_active": row.status == ProxyStatus.ACTIVE,
            "back_link": _back(),
            "navigation_items": navigation(request),
        },
    )


@login_required
def revoke(request: HttpRequest, relationship_id: UUID) -> HttpResponse:
    viewer = own_viewer(request)
    row = access_relationship_as_patient(viewer=viewer, public_id=relationship_id)
    if not rules.patient_may_take_away(row, today=timezone.localdate()):
        refuse(request, object_label="taking away someone's access")
    name = presenters.person_name(row.proxy)
    if request.method == "POST":
        try:
            services.relationship_revoke(viewer=viewer, relationship=row)
        except services.ProxyChangeRefused as refused:
            messages.info(request, str(refused))
        else:
            messages.success(request, f"{name} can no longer act for you. We have emailed you both.")
        return redirect("proxy:hub")
    return render(
        request,
        "proxy/revoke.jinja",
        {
            "page_title": f"Take away {name}'s access to your record",
            "name": name,
            "relationship": row,
            "back_link": {"href": reverse("proxy:relationship", args=[row.public_id]), "text": "Back"},
            "navigation_items": navigation(request),
        },
    )


@login_required
def stop(request: HttpRequest, relationship_id: UUID) -> HttpResponse:
    row = access_relationship_as_proxy(request=request, public_id=relationship_id)
    if row.status != ProxyStatus.ACTIVE:
        refuse(request, object_label="stopping acting for someone")
    patient = row.patient
    if request.method == "POST":
        try:
            services.relationship_stop_by_proxy(user=request.user, relationship=row)  # type: ignore[arg-type]
        except services.ProxyChangeRefused as refused:
            messages.info(request, str(refused))
        else:
            messages.success(request, f"You no longer act for {patient.full_name}. We have told them.")
        return redirect("proxy:hub")
    return render(
        request,
        "proxy/stop.jinja",
        {
            "page_title": f"Stop acting for {patient.full_name}",
            "name": patient.full_name,
            "given_name": patient.given_name,
            "back_link": _back(),
            "navigation_items": navigation(request),
        },
    )
