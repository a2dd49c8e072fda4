"""The helpdesk console: find an account, see its status, and act on it (unlock, reset two-step, new code).

Every page reads patients through the access layer (`access_account_as_staff`, `access_patient_as_staff`), which
writes the patient's audit event; every action is a POST after a confirmation page with a reason.
"""

from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from careportal.access.decorators import helpdesk_area
from careportal.access.layer import Viewer, patients_found_by_staff
from careportal.access.scopes import Scope
from careportal.accounts.access import access_account_as_staff
from careportal.accounts.models import User
from careportal.accounts.security_selectors import email_status, two_step_status
from careportal.audit.models import AccessAction
from careportal.core.formatting import format_date, format_nhs_number
from careportal.helpdesk import presenters, proxy_presenters, selectors, services
from careportal.helpdesk.forms import AccountSearchForm, IdentityCheckedReasonForm, ReasonForm, SearchBy
from careportal.patients.access import access_patient_as_staff
from careportal.patients.models import Patient
from careportal.proxy.application_selectors import applications_waiting_count, relationships_of_patient

NO_RESULTS = {
    SearchBy.HOSPITAL_NUMBER: "No patient has the hospital number {term}. Check the number with the caller.",
    SearchBy.NHS_NUMBER: "No patient has the NHS number {term}. Check the number with the caller.",
    SearchBy.USERNAME: 'No account has a username starting with "{term}". Check the spelling with the caller.',
}


def _back_to_search() -> dict[str, str]:
    return {"href": reverse("helpdesk:search"), "text": "Back to find an account"}


def _back_to_account(account_id: UUID) -> dict[str, str]:
    return {"href": reverse("helpdesk:account", kwargs={"account_id": account_id}), "text": "Back to the account"}


def _back_to_patient(patient_id: UUID) -> dict[str, str]:
    return {"href": reverse("helpdesk:patient", kwargs={"patient_id": patient_id}), "text": "Back to the patient"}


@helpdesk_area
def console_home(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    return render(
        request,
        "helpdesk/home.jinja",
        {
            "page_title": "Helpdesk console",
            "viewer": viewer,
            "counts": selectors.console_counts(),
            "proxy_requests_waiting": applications_waiting_count(),
        },
    )


@helpdesk_area
def search(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    """POSTed, never GET: hospital and NHS numbers must not appear in a URL, a browser history or a server log."""
    form = AccountSearchForm(request.POST if request.method == "POST" else None)
    context: dict[str, object] = {"page_title": "Find an account", "form": form, "searched": False}
    if request.method == "POST" and form.is_valid():
        search_by, term = form.cleaned_data["search_by"], form.cleaned_data["term"]
        results = selectors.account_search(viewer=viewer, search_by=search_by, term=term)
        patients_found_by_staff(
            viewer=viewer, patients=results.patients, object_label="account details in a helpdesk search"
        )
        shown_term = format_nhs_number(term) if search_by == SearchBy.NHS_NUMBER else term
        context.update(
            searched=True,
            results=presenters.search_table_rows(
                [
                    *(presenters.patient_result_row(p) for p in results.patients),
                    *(presenters.account_result_row(u) for u in results.other_accounts),
                ]
            ),
            more_than_shown=results.more_than_shown,
            no_results_text=NO_RESULTS[search_by].format(term=shown_term),
        )
    return render(request, "helpdesk/search.jinja", context)


def _account_context(account: User, patient: Patient | None) -> dict[str, object]:
    roles = selectors.account_roles(user=account)
    lockout = selectors.account_lockout(username=account.username)
    two_step = two_step_status(user=account)
    kind = presenters.account_kind(
        is_helpdesk=account.is_helpdesk,
        is_care_team_member=roles["is_care_team_member"],
        is_proxy=roles["is_proxy"],
        is_patient=patient is not None,
    )
    return {
        "account": account,
        "patient": patient,
        "lockout": lockout,
        "can_reset_two_step": presenters.two_step_can_reset(two_step),
        "account_rows": presenters.summary_list(
            presenters.account_rows(
                account=account, kind=kind, lockout=lockout, two_step=two_step, email=email_status(user=account)
            )
        ),
        "patient_rows": presenters.summary_list(presenters.patient_rows(patient)) if patient else [],
        "activation_text": presenters.activation_code_text(selectors.latest_activation_code(patient=patient))
        if patient
        else "",
        "events": presenters.event_table_rows(presenters.event_rows(list(selectors.account_events(user=account)))),
        "support_requests": presenters.account_request_table_rows(
            presenters.queue_rows(list(selectors.account_support_requests(user=account)))
        ),
        "back_link": _back_to_search(),
    }


@helpdesk_area
def account(request: HttpRequest, viewer: Viewer, account_id: UUID) -> HttpResponse:
    viewer, user, patient = access_account_as_staff(viewer=viewer, public_id=account_id, object_label="account details")
    return render(
        request,
        "helpdesk/account.jinja",
        {"page_title": f"Account: {user.username}", "viewer": viewer, **_account_context(user, patient)},
    )


def _own_account(viewer: Viewer, account_id: UUID) -> bool:
    return viewer.user.public_id == account_id


@helpdesk_area
def account_unlock(request: HttpRequest, viewer: Viewer, account_id: UUID) -> HttpResponse:
    form = ReasonForm(request.POST if request.method == "POST" else None)
    own = _own_account(viewer, account_id)
    if request.method == "POST" and form.is_valid() and not own:
        viewer, user, _patient = access_account_as_staff(
            viewer=viewer, public_id=account_id, object_label="sign-in lock", action=AccessAction.DELETE
        )
        services.account_unlock(
            account=user, actor=viewer.user, reason=form.cleaned_data["reason"], ip_address=viewer.ip_address
        )
        messages.success(request, f"{user.username} can sign in again. Their password has not changed.")
        return redirect("helpdesk:account", account_id=user.public_id)
    viewer, user, _patient = access_account_as_staff(
        viewer=viewer, public_id=account_id, object_label="account details"
    )
    return render(
        request,
        "helpdesk/account_unlock.jinja",
        {
            "page_title": f"Unlock sign-in for {user.username}",
            "account": user,
            "own_account": own,
            "form": form,
            "lockout_text": presenters.lockout_text(selectors.account_lockout(username=user.username)),
            "back_link": _back_to_account(user.public_id),
        },
    )


@helpdesk_area
def account_reset_two_step(request: HttpRequest, viewer: Viewer, account_id: UUID) -> HttpResponse:
    form = IdentityCheckedReasonForm(request.POST if request.method == "POST" else None)
    own = _own_account(viewer, account_id)
    if request.method == "POST" and form.is_valid() and not own:
        viewer, user, _patient = access_account_as_staff(
            viewer=viewer,
            public_id=account_id,
            object_label="two-step verification settings",
            action=AccessAction.DELETE,
        )
        services.account_two_step_reset(
            account=user,
            actor=viewer.user,
            reason=form.cleaned_data["reason"],
            identity_check=form.cleaned_data["identity_check"],
            ip_address=viewer.ip_address,
        )
        messages.success(
            request,
            f"Two-step verification is off for {user.username}, and they have been signed out everywhere. "
            "They can sign in with their username and password, then set it up again.",
        )
        return redirect("helpdesk:account", account_id=user.public_id)
    viewer, user, _patient = access_account_as_staff(
        viewer=viewer, public_id=account_id, object_label="account details"
    )
    two_step = two_step_status(user=user)
    return render(
        request,
        "helpdesk/account_reset_two_step.jinja",
        {
            "page_title": f"Reset two-step verification for {user.username}",
            "account": user,
            "own_account": own,
            "form": form,
            "two_step_lines": presenters.two_step_text(two_step),
            "staff_keep_email_code": two_step.is_staff,
            "back_link": _back_to_account(user.public_id),
        },
    )


@helpdesk_area
def patient(request: HttpRequest, viewer: Viewer, patient_id: UUID) -> HttpResponse:
    """A patient's page for the helpdesk, for patients who have not set up an account yet."""
    viewer, found = access_patient_as_staff(
        viewer=viewer, public_id=patient_id, scope=Scope.ACCOUNT, object_label="account details"
    )
    return render(
        request,
        "helpdesk/patient.jinja",
        {
            "page_title": f"Patient: {found.hospital_number}",
            "patient": found,
            "patient_rows": presenters.summary_list(presenters.patient_rows(found)),
            "activation_text": presenters.activation_code_text(selectors.latest_activation_code(patient=found)),
            "proxy_rows": proxy_presenters.patient_relationship_table_rows(relationships_of_patient(patient=found)),
            "back_link": _back_to_search(),
        },
    )


@helpdesk_area
def patient_activation_code(request: HttpRequest, viewer: Viewer, patient_id: UUID) -> HttpResponse:
    """Confirm, then issue a new activation code and show it on this one response: never in a URL, a log, the
    session or the database (only its keyed hash is stored)."""
    form = IdentityCheckedReasonForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        viewer, found = access_patient_as_staff(
            viewer=viewer,
            public_id=patient_id,
            scope=Scope.ACCOUNT,
            object_label="new activation code",
            action=AccessAction.CREATE,
        )
        try:
            code = services.activation_code_reissue(
                patient=found,
                actor=viewer.user,
                reason=form.cleaned_data["reason"],
                identity_check=form.cleaned_data["identity_check"],
            )
        except services.HelpdeskActionRefused as refusal:
            messages.error(request, str(refusal))
            return redirect("helpdesk:patient", patient_id=found.public_id)
        latest = selectors.latest_activation_code(patient=found)
        return render(
            request,
            "helpdesk/activation_code_issued.jinja",
            {
                "page_title": "New activation code",
                "patient": found,
                "code": code,
                "expires": format_date(latest.expires_at) if latest else "",
                "back_link": _back_to_patient(found.public_id),
            },
        )
    viewer, found = access_patient_as_staff(
        viewer=viewer, public_id=patient_id, scope=Scope.ACCOUNT, object_label="account details"
    )
    return render(
        request,
        "helpdesk/patient_activation_code.jinja",
        {
            "page_title": "Issue a new activation code",
            "patient": found,
            "patient_rows": presenters.summary_list(presenters.patient_rows(found)),
            "activation_text": presenters.activation_code_text(selectors.latest_activation_code(patient=found)),
            "form": form,
            "back_link": _back_to_patient(found.public_id),
        },
    )
