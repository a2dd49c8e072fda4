"""Proxy access in the helpdesk console: the queue of applications, deciding one, a relationship's page (change
the sensitive categories shared, end access), and setting access up with the patient's consent.

Relationships are read through the access layer (`access_relationship_as_helpdesk`, `access_patient_as_staff`),
which audits every look in the patient's log; a change is audited by its service, inside its transaction. Posts
resolve the object first, so an unknown id is a 404 whatever was posted.
"""

from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from careportal.access.decorators import helpdesk_area
from careportal.access.layer import Viewer, patients_found_by_staff
from careportal.access.scopes import Scope
from careportal.accounts.security_selectors import two_step_status
from careportal.audit.models import AccessAction
from careportal.helpdesk import proxy_presenters as presenters
from careportal.helpdesk.presenters import summary_list
from careportal.helpdesk.proxy_forms import (
    ApplicationDecisionForm,
    EndAccessForm,
    SensitiveCategoriesForm,
    StaffSetUpForm,
)
from careportal.patients.access import access_patient_as_staff
from careportal.proxy.application_access import APPLICATION_LABEL, RELATIONSHIPS_LABEL, access_relationship_as_helpdesk
from careportal.proxy.application_selectors import applications_waiting
from careportal.proxy.application_services import (
    ApplicationAlreadyDecided,
    DecisionRefused,
    proxy_application_decide,
)
from careportal.proxy.models import ProxyRelationship, ProxyStatus
from careportal.proxy.staff_services import (
    StaffChangeRefused,
    proxy_access_end_by_staff,
    proxy_access_set_up_by_staff,
    proxy_sensitive_categories_change,
)

QUEUE_PAGE_SIZE = 50
ALREADY_DECIDED = (
    "This application has already been decided by someone else. Nothing was changed: see the decision below."
)


def _back_to_queue() -> dict[str, str]:
    return {"href": reverse("helpdesk:proxy-requests"), "text": "Back to requests to act for someone"}


def _relationship_url(relationship: ProxyRelationship) -> str:
    return reverse("helpdesk:proxy-relationship", kwargs={"relationship_id": relationship.public_id})


@helpdesk_area
def proxy_requests(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    """Applications waiting for identity checks, oldest first."""
    page = Paginator(applications_waiting(), QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    applications = list(page.object_list)
    patients_found_by_staff(
        viewer=viewer,
        patients=list({a.patient_id: a.patient for a in applications}.values()),
        object_label=APPLICATION_LABEL,
    )
    return render(
        request,
        "helpdesk/proxy_requests.jinja",
        {
            "page_title": "Requests to act for someone",
            "page": page,
            "count": page.paginator.count,
            "table_rows": presenters.queue_table_rows(applications),
        },
    )


def _application_page(
    request: HttpRequest, relationship: ProxyRelationship, form: ApplicationDecisionForm, *, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "helpdesk/proxy_request.jinja",
        {
            "page_title": "Request to act for someone",
            "relationship": relationship,
            "applicant_rows": summary_list(
                presenters.applicant_rows(relationship.proxy, two_step_status(user=relationship.proxy))
            ),
            "applicant_href": reverse("helpdesk:account", kwargs={"account_id": relationship.proxy.public_id}),
            "patient_rows": summary_list(presenters.patient_rows(relationship.patient)),
            "patient_href": reverse("helpdesk:patient", kwargs={"patient_id": relationship.patient.public_id}),
            "request_rows": summary_list(presenters.request_rows(relationship)),
            "note": presenters.note_paragraphs(relationship),
            "evidence_to_check": presenters.evidence_to_check(relationship),
            "form": form,
            "back_link": _back_to_queue(),
        },
        status=status,
    )


@helpdesk_area
def proxy_request(request: HttpRequest, viewer: Viewer, relationship_id: UUID) -> HttpResponse:
    """One application, and the decision on it."""
    if request.method == "POST":
        viewer, relationship = access_relationship_as_helpdesk(
            viewer=viewer, public_id=relationship_id, object_label=APPLICATION_LABEL, action=None
        )
        form = ApplicationDecisionForm(request.POST)
        if form.is_valid():
            try:
                decided = proxy_application_decide(
                    viewer=viewer, relationship=relationship, decision=form.decision_value()
                )
            except ApplicationAlreadyDecided:
                messages.error(request, ALREADY_DECIDED)
                return redirect(_relationship_url(relationship))
            except DecisionRefused as refusal:
                form.add_error(refusal.field or None, refusal.message)
            else:
                approved = decided.status == ProxyStatus.ACTIVE
                messages.success(
                    request,
                    f"Approved: {decided.proxy.audit_name} can now act for the patient. We have emailed them."
                    if approved
                    else f"Declined. We have emailed {decided.proxy.audit_name} to sign in and read your reason.",
                )
                return redirect("helpdesk:proxy-requests")
    else:
        form = ApplicationDecisionForm(initial={})
    viewer, relationship = access_relationship_as_helpdesk(
        viewer=viewer, public_id=relationship_id, object_label=APPLICATION_LABEL
    )
    if relationship.status != ProxyStatus.REQUESTED:
        if request.method == "POST":
            messages.error(request, ALREADY_DECIDED)
        return redirect(_relationship_url(relationship))
    if request.method != "POST":
        form = ApplicationDecisionForm(initial={"scopes": list(relationship.scopes)})
    return _application_page(request, relationship, form)


def _relationship_page(
    request: HttpRequest,
    relationship: ProxyRelationship,
    *,
    sensitive_form: SensitiveCategoriesForm | None = None,
    end_form: EndAccessForm | None = None,
) -> HttpResponse:
    failed = end_form if end_form is not None else sensitive_form
    context: dict[str, object] = {
        "page_title": f"Access for {relationship.proxy.audit_name}",
        "relationship": relationship,
        "is_active": relationship.status == ProxyStatus.ACTIVE,
        "status": presenters.status_tag(relationship),
        "rows": summary_list(presenters.relationship_rows(relationship)),
        "applicant_href": reverse("helpdesk:account", kwargs={"account_id": relationship.proxy.public_id}),
        "patient_rows": summary_list(presenters.patient_rows(relationship.patient)),
        "patient_href": reverse("helpdesk:patient", kwargs={"patient_id": relationship.patient.public_id}),
        "history": presenters.history_table_rows(list(relationship.events.all())),
        "sensitive_form": sensitive_form
        or SensitiveCategoriesForm(initial={"sensitive_categories": relationship.sensitive_categories_granted}),
        "end_form": end_form or EndAccessForm(),
        "back_link": {
            "href": reverse("helpdesk:patient", kwargs={"patient_id": relationship.patient.public_id}),
            "text": "Back to the patient",
        },
    }
    if failed is not None and failed.errors:
        context["form"] = failed
    return render(request, "helpdesk/proxy_relationship.jinja", context)


@helpdesk_area
def proxy_relationship(request: HttpRequest, viewer: Viewer, relationship_id: UUID) -> HttpResponse:
    viewer, relationship = access_relationship_as_helpdesk(
        viewer=viewer, public_id=relationship_id, object_label=RELATIONSHIPS_LABEL
    )
    return _relationship_page(request, relationship)


@helpdesk_area
@require_POST
def proxy_relationship_sensitive(request: HttpRequest, viewer: Viewer, relationship_id: UUID) -> HttpResponse:
    viewer, relationship = access_relationship_as_helpdesk(
        viewer=viewer, public_id=relationship_id, object_label=RELATIONSHIPS_LABEL, action=None
    )
    form = SensitiveCategoriesForm(request.POST)
    if form.is_valid():
        try:
            proxy_sensitive_categories_change(
                viewer=viewer, relationship=relationship, categories=form.cleaned_data["sensitive_categories"]
            )
        except StaffChangeRefused as refusal:
            messages.error(request, refusal.message)
        else:
            messages.success(request, "The sensitive information shared has been changed. We have emailed them.")
        return redirect(_relationship_url(relationship))
    viewer, relationship = access_relationship_as_helpdesk(
        viewer=viewer, public_id=relationship_id, object_label=RELATIONSHIPS_LABEL
    )
    return _relationship_page(request, relationship, sensitive_form=form)


@helpdesk_area
@require_POST
def proxy_relationship_end(request: HttpRequest, viewer: Viewer, relationship_id: UUID) -> HttpResponse:
    viewer, relationship = access_relationship_as_helpdesk(
        viewer=viewer, public_id=relationship_id, object_label=RELATIONSHIPS_LABEL, action=None
    )
    form = EndAccessForm(request.POST)
    if form.is_valid():
        try:
            proxy_access_end_by_staff(viewer=viewer, relationship=relationship, reason=form.cleaned_data["reason"])
        except StaffChangeRefused as refusal:
            messages.error(request, refusal.message)
        else:
            messages.success(
                request, f"{relationship.proxy.audit_name} can no longer act for the patient. We have emailed them."
            )
        return redirect(_relationship_url(relationship))
    viewer, relationship = access_relationship_as_helpdesk(
        viewer=viewer, public_id=relationship_id, object_label=RELATIONSHIPS_LABEL
    )
    return _relationship_page(request, relationship, end_form=form)


@helpdesk_area
def patient_proxy_new(request: HttpRequest, viewer: Viewer, patient_id: UUID) -> HttpResponse:
    """Set up access for someone with the patient's recorded consent. The account is POSTed, never in a URL."""
    form = StaffSetUpForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        viewer, patient = access_patient_as_staff(
            viewer=viewer, public_id=patient_id, scope=Scope.ACCOUNT, object_label=RELATIONSHIPS_LABEL
        )
        if form.is_valid():
            try:
                relationship = proxy_access_set_up_by_staff(viewer=viewer, patient=patient, set_up=form.set_up_value())
            except StaffChangeRefused as refusal:
                form.add_error(refusal.field or None, refusal.message)
            else:
                messages.success(
                    request, f"{relationship.proxy.audit_name} can now act for the patient. We have emailed them."
                )
                return redirect(_relationship_url(relationship))
    else:
        viewer, patient = access_patient_as_staff(
            viewer=viewer,
            public_id=patient_id,
            scope=Scope.ACCOUNT,
            object_label=RELATIONSHIPS_LABEL,
            action=AccessAction.VIEW,
        )
    return render(
        request,
        "helpdesk/proxy_new.jinja",
        {
            "page_title": "Set up access for someone",
            "patient": patient,
            "patient_rows": summary_list(presenters.patient_rows(patient)),
            "form": form,
            "back_link": {
                "href": reverse("helpdesk:patient", kwargs={"patient_id": patient.public_id}),
                "text": "Back to the patient",
            },
        },
    )
