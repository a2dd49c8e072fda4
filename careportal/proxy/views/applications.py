"""Applying to act for someone (/access-for-others/apply/), and the applicant's own page about their application.

The page after applying is addressed by the application's public id only: no patient detail reaches a URL."""

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from careportal.proxy import application_presenters as presenters
from careportal.proxy.application_access import access_own_application, applicant_viewer
from careportal.proxy.application_forms import ProxyApplicationForm
from careportal.proxy.application_services import ApplicationRefused, proxy_application_submit


@login_required
def apply(request: HttpRequest) -> HttpResponse:
    form = ProxyApplicationForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        viewer = applicant_viewer(request)
        try:
            relationship = proxy_application_submit(viewer=viewer, details=form.details())
        except ApplicationRefused as refusal:
            form.add_error(refusal.field or None, refusal.message)
        else:
            return redirect("proxy:application", application_id=relationship.public_id)
    return render(
        request,
        "proxy/apply.jinja",
        {
            "page_title": "Apply to act for someone",
            "form": form,
            "back_link": {"href": reverse("home:home"), "text": "Back"},
        },
    )


@login_required
def application(request: HttpRequest, application_id: UUID) -> HttpResponse:
    found = access_own_application(viewer=applicant_viewer(request), public_id=application_id)
    page = presenters.application_page(found)
    return render(request, "proxy/application.jinja", {"page_title": page.title, "application": page})
