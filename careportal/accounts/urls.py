"""Sign-in and account pages. django-allauth's views at CarePortal's stable addresses (DESIGN.md, Addresses).

allauth's own URL set is included under /account/ for the pages it links to internally; the paths below come after
it and reuse its URL names, so `reverse("account_login")` gives /sign-in/ (Django reverses to the last pattern
with a name).
"""

from allauth.account import views as account_views
from allauth.mfa.base import views as mfa_views
from django.urls import include, path

from careportal.accounts.views import activation, recovery, security

# Pages under the "accounts" namespace: ours.
accounts_patterns = [
    path("activate/", activation.activate, name="activate"),
    path("forgotten-password/", recovery.forgotten_password, name="forgotten-password"),
    path("forgotten-username/", recovery.forgotten_username, name="forgotten-username"),
    path("account/security/", security.security_home, name="security"),
]

# allauth's pages, by allauth's URL names (no namespace), at our addresses.
allauth_patterns = [
    path("account/", include("allauth.urls")),
    path("sign-in/", account_views.login, name="account_login"),
    path("sign-in/code/", account_views.confirm_login_code, name="account_confirm_login_code"),
    path("sign-in/two-step/", mfa_views.authenticate, name="mfa_authenticate"),
    path("sign-in/trust-this-device/", mfa_views.trust, name="mfa_trust"),
    path("sign-out/", account_views.logout, name="account_logout"),
]
