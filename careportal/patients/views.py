"""/your-details/: the patient's details, with a small page to change each part of their contact details, the
email-address confirmation link, and contact preferences. Changes: careportal/patients/contact_services.py."""

from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from careportal.access.decorators import patient_area
from careportal.access.layer import Viewer, access_patient_record, deny
from careportal.access.scopes import Scope
from careportal.audit.models import ActorRole
from careportal.home.presenters import patient_navigation
from careportal.notifications.services import sms_available
from careportal.patients import contact_services, presenters
from careportal.patients.contact_services import ContactChangeRefused, LinkOutcome
from careportal.patients.forms import AddressForm, ContactPreferencesForm, EmailForm, HomePhoneForm, MobilePhoneForm
from careportal.patients.voice import voice_for

LABEL = "contact details"


def _back(voice_possessive: str) -> dict[str, str]:
    return {"href": reverse("patients:your-details"), "text": f"Back to {voice_possessive} details"}


def _own(viewer: Viewer) -> bool:
    return viewer.role == ActorRole.PATIENT


def _context(request: HttpRequest, viewer: Viewer, patient: Any, **extra: Any) -> dict[str, Any]:
    voice = voice_for(viewer)
    return {
        "viewer": viewer,
        "voice": voice,
        "patient": patient,
        "whose": patient.full_name if viewer.is_proxy else "",
        "navigation_items": patient_navigation(viewer),
        "back_link": _back(voice.possessive),
        **extra,
    }


def _link_for(request: HttpRequest) -> Callable[[str], str]:
    def link(token: str) -> str:
        return request.build_absolute_uri(reverse("patients:email-confirm", kwargs={"token": token}))

    return link


@patient_area
def your_details(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    patient = access_patient_record(viewer=viewer, scope=Scope.DETAILS, object_label=LABEL)
    voice = voice_for(viewer)
    own = _own(viewer)
    context = _context(request, viewer, patient)
    context.pop("back_link")
    return render(
        request,
        "patients/your_details.jinja",
        {
            **context,
            "page_title": presenters.details_title(voice),
            "identity_list": presenters.summary_list(presenters.patient_detail_rows(patient)),
            "contact_list": presenters.summary_list(
                presenters.contact_detail_rows(patient, voice=voice, can_change=True, can_change_email=own)
            ),
            "preference_list": presenters.summary_list(
                presenters.preference_rows(patient, voice=voice, can_change=True, own=own)
            ),
            "waiting_email": presenters.waiting_email(contact_services.email_change_waiting(patient=patient))
            if own
            else None,
            "can_ask_for_correction": viewer.can(Scope.MESSAGES),
            # The words of the compose page's choice, as the reader sees it there (messaging/presenters.py).
            "correction_topic": "A correction to their record" if viewer.is_proxy else "A correction to my record",
            "patient_has_account": patient.user_id is not None,
        },
    )


def _change_page(
    request: HttpRequest,
    viewer: Viewer,
    *,
    form_class: type[forms.Form],
    template: str,
    title: str,
    initial: Callable[[Any], dict[str, str]],
) -> HttpResponse:
    patient = access_patient_record(viewer=viewer, scope=Scope.DETAILS, object_label=LABEL)
    voice = voice_for(viewer)
    if request.method == "POST":
        form = form_class(request.POST)
        if form.is_valid():
            try:
                parts = contact_services.patient_contact_details_change(
                    viewer=viewer, patient=patient, **form.cleaned_data
                )
            except ContactChangeRefused as refusal:
                form.add_error(None, refusal.message)
            else:
                messages.success(request, presenters.changed_message(parts, voice))
                return redirect("patients:your-details")
    else:
        form = form_class(initial=initial(patient))
    return render(
        request,
        template,
        _context(request, viewer, patient, page_title=title.format(possessive=voice.Possessive), form=form),
        status=400 if form.errors else 200,
    )


@patient_area
def address(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    return _change_page(
        request,
        viewer,
        form_class=AddressForm,
        template="patients/change_address.jinja",
        title="{possessive} address",
        initial=lambda p: {
            "address_line_1": p.address_line_1,
            "address_line_2": p.address_line_2,
            "town": p.town,
            "postcode": p.postcode,
        },
    )


@patient_area
def mobile_phone(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    return _change_page(
        request,
        viewer,
        form_class=MobilePhoneForm,
        template="patients/change_phone.jinja",
        title="{possessive} mobile phone number",
        initial=lambda p: {"mobile_phone": p.mobile_phone},
    )


@patient_area
def home_phone(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    return _change_page(
        request,
        viewer,
        form_class=HomePhoneForm,
        template="patients/change_phone.jinja",
        title="{possessive} home phone number",
        initial=lambda p: {"home_phone": p.home_phone},
    )


def _own_record(viewer: Viewer) -> Any:
    """The patient's own record, for the pages only they may use (their email address is how they sign in)."""
    if not _own(viewer):
        deny(viewer, object_label="a page to change an email address", object_type="scope", object_id="email")
    return access_patient_record(viewer=viewer, scope=Scope.DETAILS, object_label=LABEL)


@patient_area
def email(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    patient = _own_record(viewer)
    if request.method == "POST":
        form = EmailForm(request.POST)
        if form.is_valid():
            try:
                contact_services.email_change_request(
                    viewer=viewer,
                    patient=patient,
                    new_email=form.cleaned_data["email"],
                    link_for=_link_for(request),
                )
            except ContactChangeRefused as refusal:
                form.add_error("email", refusal.message)
            else:
                return redirect("patients:email-sent")
    else:
        form = EmailForm()
    return render(
        request,
        "patients/change_email.jinja",
        _context(request, viewer, patient, page_title="Change your email address", form=form),
        status=400 if form.errors else 200,
    )


@patient_area
def email_sent(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    patient = _own_record(viewer)
    waiting = presenters.waiting_email(contact_services.email_change_waiting(patient=patient))
    if waiting is None:
        return redirect("patients:your-details")
    return render(
        request,
        "patients/email_sent.jinja",
        _context(request, viewer, patient, page_title="Check your email", waiting_email=waiting),
    )


@require_POST
@patient_area
def email_resend(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    patient = _own_record(viewer)
    try:
        resent = contact_services.email_change_resend(viewer=viewer, patient=patient, link_for=_link_for(request))
    except ContactChangeRefused as refusal:
        messages.error(request, refusal.message)
        return redirect("patients:email-sent")
    if resent is None:
        messages.info(request, "There is no change of email address waiting to be confirmed.")
        return redirect("patients:your-details")
    return redirect("patients:email-sent")


@require_POST
@patient_area
def email_cancel(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    patient = _own_record(viewer)
    if contact_services.email_change_cancel(viewer=viewer, patient=patient):
        messages.success(request, "The change of email address was cancelled. Your email address has not changed.")
    return redirect("patients:your-details")


LINK_PAGES: dict[LinkOutcome, tuple[str, str]] = {
    LinkOutcome.UNKNOWN: (
        "This link does not work",
        "Check you opened the whole link from the email. If it still does not work, sign in and ask for a new one "
        "on the page where you change your email address.",
    ),
    LinkOutcome.USED: (
        "This link has already been used",
        "Your email address was changed when the link was first opened. You do not need to do anything.",
    ),
    LinkOutcome.CANCELLED: (
        "This link no longer works",
        "The change of email address was cancelled, or a newer link was sent. Use the link in the newest email, or "
        "sign in and ask for a new one.",
    ),
    LinkOutcome.EXPIRED: (
        "This link has expired",
        "Links to confirm an email address work for {hours} hours. Your email address has not changed. Sign in and "
        "ask for a new link on the page where you change your email address.",
    ),
    LinkOutcome.OTHER_ACCOUNT: (
        "This link is for someone else's account",
        "You are signed in to CarePortal as someone other than the person who asked for this change, so nothing "
        "was changed. Sign out, then open the link again.",
    ),
    LinkOutcome.TAKEN: (
        "We could not change your email address",
        "This email address cannot be used for your CarePortal account. Your email address has not changed. Call "
        "the helpdesk if you need help.",
    ),
}


def email_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The link emailed to a new address. Opening it shows a button (so that email scanners that open links do not
    confirm anything); pressing it makes the change. Works signed in (as the person who asked) or signed out."""
    if len(token) > 100:
        raise Http404("Page not found")
    if request.method == "POST":
        outcome = contact_services.email_change_confirm(
            token=token, user=request.user, ip_address=request.META.get("REMOTE_ADDR") or None
        )
    else:
        outcome = contact_services.email_change_link_check(token=token, user=request.user)
    if outcome == LinkOutcome.READY:
        return render(request, "patients/email_confirm.jinja", {"page_title": "Confirm your new email address"})
    if outcome == LinkOutcome.CONFIRMED:
        return render(request, "patients/email_confirmed.jinja", {"page_title": "Your email address has been changed"})
    title, text = LINK_PAGES[outcome]
    return render(
        request,
        "patients/email_link_problem.jinja",
        {"page_title": title, "text": text.format(hours=settings.CAREPORTAL_EMAIL_CHANGE_LINK_HOURS)},
        status=400 if request.method == "POST" else 200,
    )


@patient_area
def contact_preferences(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    patient = access_patient_record(viewer=viewer, scope=Scope.DETAILS, object_label=LABEL)
    voice = voice_for(viewer)
    own = _own(viewer)
    kwargs = {
        "for_patient": own,
        "sms_available": sms_available(),
        "has_mobile": bool(patient.mobile_phone),
    }
    if request.method == "POST":
        form = ContactPreferencesForm(request.POST, **kwargs)
        if form.is_valid():
            chosen = form.cleaned_data.get("notifications")
            choosing = chosen is not None
            try:
                changed = contact_services.contact_preferences_change(
                    viewer=viewer,
                    patient=patient,
                    letters=form.cleaned_data["letters"],
                    by_email="email" in chosen if choosing else patient.notify_by_email,
                    by_sms="sms" in chosen if choosing else patient.notify_by_sms,
                )
            except ContactChangeRefused as refusal:
                form.add_error(None, refusal.message)
            else:
                messages.success(
                    request,
                    f"{voice.Possessive} contact preferences have been changed."
                    if changed
                    else "Nothing was changed: these are the choices we already have.",
                )
                return redirect("patients:your-details")
    else:
        initial_ways = [way for way, on in (("email", patient.notify_by_email), ("sms", patient.notify_by_sms)) if on]
        form = ContactPreferencesForm(
            initial={"letters": patient.contact_preference, "notifications": initial_ways}, **kwargs
        )
    return render(
        request,
        "patients/contact_preferences.jinja",
        _context(request, viewer, patient, page_title=f"How we contact {voice.subject}", form=form),
        status=400 if form.errors else 200,
    )
