"""Sign-in and account pages. django-allauth's views at CarePortal's stable addresses (DESIGN.md, Addresses).

allauth's own URL set is included under /account/ for the pages it links to internally; the paths below come after
it and reuse its URL names, so `reverse("account_login")` gives /sign-in/ (Django reverses to the last pattern
with a name).
"""

from allauth.account import views as account_views
from allauth.mfa.base import views as mfa_views
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from careportal.accounts import trust
from careportal.accounts.views import activation, recovery, security, signin

# Pages under the "accounts" namespace: ours.
accounts_patterns = [
    *activation.urlpatterns,
    path("forgotten-password/", recovery.forgotten_password, name="forgotten-password"),
    path("forgotten-password/security-questions/", recovery.security_questions, name="forgotten-password-questions"),
    path("forgotten-password/check-your-email/", recovery.password_reset_sent, name="forgotten-password-sent"),
    path("forgotten-password/new-password/", recovery.new_password, name="new-password"),
    path("forgotten-password/password-changed/", recovery.password_reset_done, name="password-reset-done"),
    path("forgotten-username/", recovery.forgotten_username, name="forgotten-username"),
    path("forgotten-username/check-your-email/", recovery.username_sent, name="forgotten-username-sent"),
    # allauth's password reset by email alone would skip the security questions: its addresses lead to ours. (These
    # patterns are included before allauth's, so they win.)
    re_path(r"^account/password/reset/(?P<rest>.*)$", recovery.allauth_password_reset, name="allauth-password-reset"),
    path("account/security/", security.security_home, name="security"),
    path("account/security/forget-trusted-devices/", security.trusted_devices_forget, name="forget-trusted-devices"),
    path(
        "account/security/trusted-devices/<uuid:device_id>/forget/",
        security.trusted_device_forget,
        name="forget-trusted-device",
    ),
    path("account/security/confirm-email/", security.email_confirmation_resend, name="confirm-email-again"),
    # Two-step verification and sessions at allauth's own addresses (these patterns come first, so they win): the
    # pages allauth returns to after a change (mfa_index, usersessions_list) are ours.
    path("account/2fa/", security.two_step_home, name="two-step"),
    path("account/2fa/email-code/", security.email_code, name="email-code"),
    path("account/sessions/", security.sessions, name="sessions"),
    path("account/sessions/<int:session_id>/sign-out/", security.session_end, name="session-end"),
    path("account/sessions/sign-out-other-devices/", security.sessions_end_others, name="sessions-end-others"),
    path("account/sessions/sign-out-everywhere/", security.sign_out_everywhere, name="sign-out-everywhere"),
    # The idle-timeout warning (careportal/core/static/careportal/session-timeout.mjs).
    path("account/session/status/", security.session_status, name="session-status"),
    path("account/session/keep-alive/", security.session_keep_alive, name="session-keep-alive"),
]

# allauth's pages, by allauth's URL names (no namespace), at our addresses.
allauth_patterns = [
    # allauth pages CarePortal does not offer lead somewhere useful instead (first match wins over allauth's own):
    # accounts are created by activation only; email-address management lives on the security page; signing in
    # by emailed code alone, without the password, would make the email account the only factor.
    path("account/signup/", RedirectView.as_view(pattern_name="accounts:activate"), name="account_signup"),
    path("account/inactive/", RedirectView.as_view(pattern_name="account_login"), name="account_inactive"),
    path("account/email/", RedirectView.as_view(pattern_name="accounts:security"), name="account_email"),
    path("account/login/code/", RedirectView.as_view(pattern_name="account_login"), name="account_request_login_code"),
    path(
        "account/confirm-email/",
        RedirectView.as_view(pattern_name="accounts:security"),
        name="account_email_verification_sent",
    ),
    path("account/", include("allauth.urls")),
    path("sign-in/", account_views.login, name="account_login"),
    path("sign-in/code/", signin.confirm_sign_in_code, name="account_confirm_login_code"),
    path("sign-in/two-step/", mfa_views.authenticate, name="mfa_authenticate"),
    path("sign-in/trust-this-device/", trust.TrustView.as_view(), name="mfa_trust"),
    path("sign-out/", account_views.logout, name="account_logout"),
]
