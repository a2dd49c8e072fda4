"""Invitations: an adult patient invites someone by email; the invitee opens the link, signs in or creates a
proxy-only account, and accepts.

The emailed link, /access-for-others/invitations/<token>/, is opened once: its token's keyed hash goes into the
session and the browser is sent on to /access-for-others/invitation/, so the token does not stay in the address
bar, the history or any Referer, and the request log records the link's path with the token cut out
(careportal/core/logging.py, SECRET_PATH_SEGMENTS). Everything after that reads the invitation from the session.
"""

from uuid import UUID

from allauth.account import app_settings as allauth_settings
from allauth.account.internal.flows.login import perform_password_login
from allauth.account.models import Login
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET

from careportal.access.layer import Viewer, request_facts, viewer_for_request
from careportal.accounts.activation_services import NewAccount, UsernameTaken, client_ip, email_is_taken
from careportal.audit.models import ActorRole
from careportal.core.formatting import format_date
from careportal.proxy import presenters, rules, services
from careportal.proxy.access import access_invitation_as_patient, own_viewer, refuse
from careportal.proxy.forms import InviteForm, ProxyAccountForm
from careportal.proxy.models import ProxyPolicy
from careportal.proxy.services import LinkOutcome
from careportal.proxy.views.hub import navigation

INVITATION_SESSION_KEY = "careportal_proxy_invitation"


# The patient's side ------------------------------------------------------------------------------------------


@never_cache
@login_required
def invite(request: HttpRequest) -> HttpResponse:
    viewer = own_viewer(request)
    session_viewer = viewer_for_request(request)
    if (
        viewer.patient is None
        or (session_viewer is not None and session_viewer.is_proxy)
        or not rules.patient_may_invite(viewer.patient, today=timezone.localdate())
    ):
        # A proxy-only account, anyone with someone else's record open, and a child: nobody to invite for.
        refuse(request, object_label="inviting someone to act for you")
    form = InviteForm(request.POST if request.method == "POST" else None, patient=viewer.patient, user=viewer.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            invitation = services.invitation_create(
                viewer=viewer,
                invitation=services.NewInvitation(
                    email=data["email"],
                    relationship=data["relationship"],
                    scopes=tuple(data["scopes"]),
                    valid_until=data["valid_until"],
                ),
                link_for=lambda token: request.build_absolute_uri(reverse("proxy:invitation-link", args=[token])),
            )
        except services.ProxyChangeRefused as refused:
            form.add_error("email", str(refused))
        else:
            messages.success(
                request,
                f"We have emailed an invitation to {invitation.email}. The link works until "
                f"{format_date(invitation.expires_at)}.",
            )
            return redirect("proxy:hub")
    return render(
        request,
        "proxy/invite.jinja",
        {
            "page_title": "Invite someone to act for you",
            "form": form,
            "valid_days": ProxyPolicy.current().invitation_valid_days,
            "back_link": {"href": reverse("proxy:hub"), "text": "Back"},
            "navigation_items": navigation(request),
        },
    )


@login_required
def invitation_cancel(request: HttpRequest, invitation_id: UUID) -> HttpResponse:
    viewer = own_viewer(request)
    invitation = access_invitation_as_patient(viewer=viewer, public_id=invitation_id)
    if request.method == "POST":
        if services.invitation_cancel(viewer=viewer, invitation=invitation):
            messages.success(
                request, f"The invitation to {invitation.email} has been cancelled. Its link no longer works."
            )
        return redirect("proxy:hub")
    return render(
        request,
        "proxy/invitation_cancel.jinja",
        {
            "page_title": "Cancel this invitation",
            "invitation": invitation,
            "back_link": {"href": reverse("proxy:hub"), "text": "Back"},
            "navigation_items": navigation(request),
        },
    )


# The invitee's side ------------------------------------------------------------------------------------------


@require_GET
def invitation_link(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link: keep only the token's keyed hash, in the session, and move on to an address without it."""
    if len(token) <= services.TOKEN_MAX_LENGTH:
        request.session[INVITATION_SESSION_KEY] = services.invitation_token_digest(token)
    else:
        request.session.pop(INVITATION_SESSION_KEY, None)
    return redirect("proxy:invitation")


PROBLEMS: dict[LinkOutcome, tuple[str, str]] = {
    LinkOutcome.UNKNOWN: (
        "This link does not work",
        "Check that you opened the whole link from the email. If it still does not work, ask the person who "
        "invited you to send a new invitation.",
    ),
    LinkOutcome.USED: (
        "This invitation has already been used",
        "Each invitation link works once, and this one has already been accepted. If that was you, sign in and go "
        "to Access for others.",
    ),
    LinkOutcome.EXPIRED: (
        "This invitation has expired",
        "Invitation links work for {days} days. Ask the person who invited you to send a new invitation.",
    ),
    LinkOutcome.CANCELLED: (
        "This invitation was cancelled",
        "The person who invited you cancelled it, so nobody can accept it now. Ask them if you think this is wrong.",
    ),
    LinkOutcome.OTHER_EMAIL: (
        "This invitation was sent to a different email address",
        "You are signed in to an account with a different email address from the one this invitation was sent to, "
        "so you cannot accept it with this account. Sign out, then open the link again and sign in with the "
        "account for that email address, or create a new account.",
    ),
    LinkOutcome.OWN: (
        "You cannot accept your own invitation",
        "This is an invitation you sent from your own account. The person you invited needs to open the link "
        "from their email and accept it themselves.",
    ),
    LinkOutcome.ALREADY_ACTS: (
        "You can already act for this person",
        "Your account already has access to this person's record, or a request for it is waiting, so there is "
        "nothing to accept. Go to Access for others to see what you can see.",
    ),
}


def _problem(request: HttpRequest, outcome: LinkOutcome, *, status: int = 200) -> HttpResponse:
    title, text = PROBLEMS[outcome]
    return render(
        request,
        "proxy/invitation_problem.jinja",
        {
            "page_title": title,
            "text": text.format(days=ProxyPolicy.current().invitation_valid_days),
            "signed_in": request.user.is_authenticated,
            "outcome": outcome.value,
        },
        status=status,
    )


@never_cache
def invitation(request: HttpRequest) -> HttpResponse:
    digest = request.session.get(INVITATION_SESSION_KEY)
    user = request.user if request.user.is_authenticated else None
    if request.method == "POST" and user is not None:
        base = Viewer(user=user, role=ActorRole.PROXY, **request_facts(request))  # type: ignore[arg-type]
        acceptance = services.invitation_accept(digest=digest, user=user, base=base)  # type: ignore[arg-type]
        if acceptance.outcome is LinkOutcome.ACCEPTED:
            request.session.pop(INVITATION_SESSION_KEY, None)
            assert acceptance.relationship is not None  # noqa: S101 - ACCEPTED always has one
            messages.success(
                request,
                f"You can now act for {acceptance.relationship.patient.full_name}. Choose their record when you "
                "want to see it.",
            )
            return redirect("home:choose")
        return _problem(request, acceptance.outcome, status=400)
    found = services.invitation_for_digest(digest)
    outcome = services.invitation_link_check(found, user=user)
    if outcome is LinkOutcome.SIGN_IN:
        assert found is not None  # noqa: S101 - SIGN_IN only for a real invitation
        return render(
            request,
            "proxy/invitation_sign_in.jinja",
            {
                "page_title": f"{found.invited_by.first_name or found.patient.given_name} has invited you to help with "
                "their hospital record",
                "inviter": found.invited_by.first_name or found.patient.given_name,
                "sign_in_href": f"{reverse('account_login')}?next={reverse('proxy:invitation')}",
                "create_href": reverse("proxy:create-account"),
                "expires": format_date(found.expires_at),
            },
        )
    if outcome is not LinkOutcome.READY:
        return _problem(request, outcome)
    assert found is not None  # noqa: S101 - READY only for a real invitation
    return render(
        request,
        "proxy/invitation_accept.jinja",
        {
            "page_title": "Accept the invitation",
            "patient_name": found.patient.full_name,
            "inviter": found.invited_by.first_name or found.patient.given_name,
            "summary": presenters.invitation_summary(found),
        },
    )


_TYPED_FIELDS = ("first_name", "last_name", "password", "answer_1", "answer_2", "answer_3")


@never_cache
@sensitive_post_parameters(*_TYPED_FIELDS)
def create_account(request: HttpRequest) -> HttpResponse:
    """A proxy-only account (no hospital record), for the address the invitation was sent to."""
    if request.user.is_authenticated:
        return redirect("proxy:invitation")
    digest = request.session.get(INVITATION_SESSION_KEY)
    found = services.invitation_for_digest(digest)
    if services.invitation_link_check(found, user=None) is not LinkOutcome.SIGN_IN:
        return redirect("proxy:invitation")
    assert found is not None  # noqa: S101 - SIGN_IN only for a real invitation
    context = {
        "page_title": "Create an account",
        "email": found.email,
        "inviter": found.invited_by.first_name or found.patient.given_name,
        "sign_in_href": f"{reverse('account_login')}?next={reverse('proxy:invitation')}",
        "back_link": {"href": reverse("proxy:invitation"), "text": "Back"},
    }
    if email_is_taken(found.email):
        return render(
            request, "proxy/create_account_exists.jinja", {**context, "page_title": "You already have an account"}
        )
    form = ProxyAccountForm(request.POST if request.method == "POST" else None, email=found.email)
    if request.method == "POST" and form.is_valid():
        account = NewAccount(
            username=form.cleaned_data["username"],
            password_hash=form.password_hash(),
            email=found.email,
            security_answers=tuple(zip(form.questions(), form.answer_hashes(), strict=True)),
        )
        try:
            user = services.proxy_account_create(
                digest=digest,
                account=account,
                first_name=form.cleaned_data["first_name"],
                last_name=form.cleaned_data["last_name"],
                ip_address=client_ip(request),
            )
        except UsernameTaken:
            form.add_error("username", "That username is already taken. Try another, for example by adding a number.")
        except services.EmailAlreadyHasAccount:
            return render(
                request, "proxy/create_account_exists.jinja", {**context, "page_title": "You already have an account"}
            )
        except services.InvitationNoLongerUsable:
            return redirect("proxy:invitation")
        else:
            # Signed in as activation does it (through allauth's login stages), then on to accept.
            login = Login(
                user=user,
                email_verification=allauth_settings.EmailVerificationMethod.NONE,
                redirect_url=reverse("proxy:invitation"),
            )
            return perform_password_login(request, {"username": user.username}, login)
    return render(request, "proxy/create_account.jinja", {**context, "form": form})
