"""The account page and the helpdesk's account actions: unlock, reset two-step verification, a new activation code."""

import re
import time

import pytest
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.internal.flows import trust as allauth_trust
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.test import Client, RequestFactory
from django.urls import reverse

from careportal.accounts.activation import code_digest
from careportal.accounts.models import AccountEvent, ActivationCode
from careportal.accounts.services import activation_code_issue
from careportal.audit.models import AccessEvent
from careportal.helpdesk.models import HelpdeskAction
from tests.accounts.factories import TEST_PASSWORD
from tests.helpdesk.factories import SupportRequestFactory
from tests.patients.factories import PatientFactory
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db

LOCKED = "Locked after too many failed sign-ins"


def account_url(user, name: str = "helpdesk:account") -> str:  # type: ignore[no-untyped-def]
    return reverse(name, kwargs={"account_id": user.public_id})


def lock_out(username: str, ip: str = "10.1.1.1") -> Client:
    """Drive a real lockout: AXES_FAILURE_LIMIT wrong passwords at /sign-in/ from one address."""
    client = Client(REMOTE_ADDR=ip)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("account_login"), {"login": username, "password": "not-the-password"})
    return client


def sign_in(client: Client, username: str):  # type: ignore[no-untyped-def]
    return client.post(reverse("account_login"), {"login": username, "password": TEST_PASSWORD})


# The account page --------------------------------------------------------------------------------------------


def test_the_account_page_shows_status_and_is_in_the_patients_access_log(helpdesk_client, helpdesk_user, patient):
    page = helpdesk_client.get(account_url(patient.user)).content.decode()

    for text in [
        patient.user.username,
        patient.full_name,
        patient.hospital_number,
        "Not locked",
        "Not set up",
        "Last signed in",
        "Active",
        "Account history",
    ]:
        assert text in page, text
    event = AccessEvent.objects.get(patient=patient)
    assert (event.actor, event.actor_role, event.action, event.object_label) == (
        helpdesk_user,
        "helpdesk",
        "view",
        "account details",
    )


def test_the_account_page_shows_sign_ins_and_lockouts_from_the_account_history(helpdesk_client, patient):
    sign_in(Client(REMOTE_ADDR="10.9.9.9"), patient.user.username)
    lock_out(patient.user.username)

    page = helpdesk_client.get(account_url(patient.user)).content.decode()

    assert "Signed in" in page
    assert LOCKED in page
    assert page.count(LOCKED) >= 2, "the status row and the history both say so"


def test_a_proxys_account_page_does_not_name_whom_they_act_for(helpdesk_client):
    relationship = ProxyRelationshipFactory()
    page = helpdesk_client.get(account_url(relationship.proxy)).content.decode()
    assert "Acts for others" in page
    assert relationship.patient.family_name not in page
    assert relationship.patient.hospital_number not in page
    assert not AccessEvent.objects.filter(patient=relationship.patient).exists()


def test_the_account_page_lists_requests_for_help_from_that_account(helpdesk_client, patient):
    sent = SupportRequestFactory(user=patient.user)
    page = helpdesk_client.get(account_url(patient.user)).content.decode()
    assert sent.reference in page


# Unlock ------------------------------------------------------------------------------------------------------


def test_unlock_lets_a_locked_out_patient_sign_in_again(helpdesk_client, helpdesk_user, patient):
    attacker_or_patient = lock_out(patient.user.username, ip="10.1.1.1")
    assert sign_in(attacker_or_patient, patient.user.username).status_code == 429, "locked"
    assert LOCKED in helpdesk_client.get(account_url(patient.user)).content.decode()

    confirm = helpdesk_client.get(account_url(patient.user, "helpdesk:account-unlock"))
    assert confirm.status_code == 200
    assert "Reason" in confirm.content.decode()
    assert not AccountEvent.objects.filter(kind="unlocked").exists(), "the confirmation page changes nothing"

    done = helpdesk_client.post(
        account_url(patient.user, "helpdesk:account-unlock"), {"reason": "Called the helpdesk; locked out"}
    )
    assert done.status_code == 302
    assert done["Location"] == account_url(patient.user)

    response = sign_in(attacker_or_patient, patient.user.username)
    assert response.status_code == 302
    assert response["Location"] == reverse("home:home")
    unlocked = AccountEvent.objects.get(user=patient.user, kind="unlocked")
    assert (unlocked.actor, unlocked.reason) == (helpdesk_user, "Called the helpdesk; locked out")
    assert AccessEvent.objects.filter(
        patient=patient, action="delete", object_label="sign-in lock", actor=helpdesk_user
    ).exists()
    assert HelpdeskAction.objects.get(kind="account_unlocked").patient == patient


def test_unlock_needs_a_reason(helpdesk_client, patient):
    lock_out(patient.user.username)
    response = helpdesk_client.post(account_url(patient.user, "helpdesk:account-unlock"), {"reason": "  "})
    page = response.content.decode()
    assert response.status_code == 200
    assert "There is a problem" in page and "Enter the reason" in page
    assert LOCKED in helpdesk_client.get(account_url(patient.user)).content.decode()


def test_an_overlong_reason_is_refused(helpdesk_client, patient):
    response = helpdesk_client.post(account_url(patient.user, "helpdesk:account-unlock"), {"reason": "x" * 301})
    assert "Reason must be 300 characters or fewer" in response.content.decode()
    assert not AccountEvent.objects.filter(kind="unlocked").exists()


def test_unlock_clears_every_spelling_of_the_username_and_every_address(helpdesk_client, patient):
    lock_out(patient.user.username.upper(), ip="10.1.1.2")
    lock_out(patient.user.username, ip="10.1.1.3")
    helpdesk_client.post(account_url(patient.user, "helpdesk:account-unlock"), {"reason": "Locked twice"})
    for ip in ("10.1.1.2", "10.1.1.3"):
        assert sign_in(Client(REMOTE_ADDR=ip), patient.user.username).status_code == 302


def test_the_helpdesk_cannot_change_their_own_account(helpdesk_client, helpdesk_user):
    page = helpdesk_client.post(account_url(helpdesk_user, "helpdesk:account-unlock"), {"reason": "Me"}).content
    assert "This is your own account" in page.decode()
    response = helpdesk_client.post(
        account_url(helpdesk_user, "helpdesk:account-reset-two-step"), {"reason": "Me", "identity_check": "phone"}
    )
    assert "This is your own account" in response.content.decode()
    assert not HelpdeskAction.objects.exists()
    assert not AccountEvent.objects.filter(actor=helpdesk_user).exists()


@pytest.mark.parametrize("name", ["helpdesk:account-unlock", "helpdesk:account-reset-two-step"])
def test_account_actions_need_their_csrf_token(helpdesk_user, patient, name):
    client = Client(enforce_csrf_checks=True)
    client.force_login(helpdesk_user)
    response = client.post(account_url(patient.user, name), {"reason": "No token", "identity_check": "phone"})
    assert response.status_code == 403
    assert not HelpdeskAction.objects.exists()


# Reset two-step verification ---------------------------------------------------------------------------------


@pytest.fixture
def patient_with_two_step(patient):
    user = patient.user
    TOTP.activate(user, generate_totp_secret())
    RecoveryCodes.activate(user)
    user.two_step_method = "email"
    user.save()
    return patient


def _trust_cookie_for(user) -> str:  # type: ignore[no-untyped-def]
    fingerprint = allauth_trust.create_config_fingerprint(user)
    return allauth_trust.encode_trust_cookie(
        [allauth_trust.IssuedTrust(fingerprint=fingerprint, at=int(time.time()) - 5)]
    )


def _browser_with(cookie: str, *, user=None):  # type: ignore[no-untyped-def]
    """A request from a browser holding allauth's trust cookie and, for `user`, a listed trusted device."""
    request = RequestFactory().get("/")
    request.COOKIES[mfa_settings.TRUST_COOKIE_NAME] = cookie
    if user is not None:
        import datetime

        from django.core.signing import Signer
        from django.utils import timezone

        from careportal.accounts.models import TrustedDevice
        from careportal.accounts.trust import DEVICE_COOKIE_NAME, DEVICE_COOKIE_SALT

        device = TrustedDevice.objects.create(
            user=user, issued_at=int(time.time()) - 5, expires_at=timezone.now() + datetime.timedelta(days=90)
        )
        request.COOKIES[DEVICE_COOKIE_NAME] = Signer(salt=DEVICE_COOKIE_SALT).sign(str(device.public_id))
    return request


def test_reset_two_step_removes_authenticators_signs_out_and_sends_a_notice(
    helpdesk_client, helpdesk_user, patient_with_two_step, django_capture_on_commit_callbacks, mailoutbox
):
    from careportal.accounts.trust import is_trusted_browser

    user = patient_with_two_step.user
    patients_browser = Client()
    patients_browser.force_login(user)
    assert patients_browser.get(reverse("home:home")).status_code == 200
    assert UserSession.objects.filter(user=user).exists()
    trusted = _browser_with(_trust_cookie_for(user), user=user)
    assert is_trusted_browser(trusted, user)

    confirm = helpdesk_client.get(account_url(user, "helpdesk:account-reset-two-step")).content.decode()
    assert "Authenticator app" in confirm and "Recovery codes" in confirm and "Code sent by email" in confirm
    with django_capture_on_commit_callbacks(execute=True):
        response = helpdesk_client.post(
            account_url(user, "helpdesk:account-reset-two-step"),
            {"identity_check": "phone", "reason": "New phone; app lost. DOB and postcode checked."},
        )
    assert response.status_code == 302

    user.refresh_from_db()
    assert not Authenticator.objects.filter(user=user).exists()
    assert user.two_step_method == "none"
    assert user.trusted_devices_revoked_at is not None
    assert not is_trusted_browser(trusted, user)
    assert not user.trusted_devices.filter(revoked_at__isnull=True).exists(), "the device list is emptied too"
    assert not allauth_trust.is_trusted_browser(trusted, user), "allauth's own fingerprint no longer matches"
    assert patients_browser.get(reverse("home:home")).status_code == 302, "signed out everywhere"
    event = AccountEvent.objects.get(user=user, kind="two_step_reset")
    assert event.actor == helpdesk_user
    assert event.reason == "New phone; app lost. DOB and postcode checked."
    assert "authenticator app" in event.detail and "identity checked: phone" in event.detail
    assert AccessEvent.objects.filter(
        patient=patient_with_two_step, action="delete", object_label="two-step verification settings"
    ).exists()
    [notice] = [m for m in mailoutbox if m.to == [user.email]]
    assert notice.subject == "A change to how you sign in to CarePortal"
    assert "turned off two-step verification" in notice.body
    assert patient_with_two_step.family_name not in notice.body

    # They can now sign in with their password alone, and set two-step verification up again.
    response = sign_in(Client(), user.username)
    assert response["Location"] == reverse("home:home")


def test_reset_two_step_needs_an_identity_check_and_a_reason(helpdesk_client, patient_with_two_step):
    response = helpdesk_client.post(account_url(patient_with_two_step.user, "helpdesk:account-reset-two-step"), {})
    page = response.content.decode()
    assert "Select how you checked who they are" in page
    assert "Enter the reason" in page
    assert Authenticator.objects.filter(user=patient_with_two_step.user).count() == 2


def test_reset_for_a_member_of_staff_keeps_the_emailed_code(helpdesk_client, clinician_membership):
    staff = clinician_membership.user
    TOTP.activate(staff, generate_totp_secret())
    page = helpdesk_client.get(account_url(staff, "helpdesk:account-reset-two-step")).content.decode()
    assert "still get a code by email" in page
    helpdesk_client.post(
        account_url(staff, "helpdesk:account-reset-two-step"), {"identity_check": "in_person", "reason": "Lost phone"}
    )
    assert not Authenticator.objects.filter(user=staff).exists()
    page = helpdesk_client.get(account_url(staff)).content.decode()
    assert "Code sent by email (always required for staff)" in page


# A new activation code ---------------------------------------------------------------------------------------


@pytest.fixture
def patient_without_account(db):
    patient = PatientFactory()
    activation_code_issue(patient=patient, issued_by=None)
    return patient


def code_url(patient) -> str:  # type: ignore[no-untyped-def]
    return reverse("helpdesk:patient-activation-code", kwargs={"patient_id": patient.public_id})


def test_a_new_activation_code_is_shown_once_works_and_replaces_the_old_one(
    helpdesk_client, helpdesk_user, patient_without_account
):
    patient = patient_without_account
    old = ActivationCode.objects.get(patient=patient)
    page = helpdesk_client.get(reverse("helpdesk:patient", kwargs={"patient_id": patient.public_id})).content.decode()
    assert "Issued on" in page and "works until" in page

    confirm = helpdesk_client.get(code_url(patient))
    assert confirm.status_code == 200
    assert ActivationCode.objects.filter(patient=patient).count() == 1, "the confirmation page changes nothing"

    response = helpdesk_client.post(code_url(patient), {"identity_check": "phone", "reason": "Letter lost"})

    assert response.status_code == 200, "shown on this response: never redirected, so never in a URL"
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    code = re.search(r'id="activation-code">([A-Z0-9-]+)<', page).group(1)
    new = ActivationCode.objects.get(code_digest=code_digest(code))
    assert new.patient == patient
    assert new.issued_by == helpdesk_user
    assert new.used_at is None and new.revoked_at is None
    assert code_digest(code.lower().replace("-", " ")) == new.code_digest, "typed as read out, it still matches"
    old.refresh_from_db()
    assert old.revoked_at is not None
    assert "shown only once" in page
    action = HelpdeskAction.objects.get(kind="activation_code_issued")
    assert (action.actor, action.patient, action.reason) == (helpdesk_user, patient, "Letter lost")
    assert code not in action.detail
    assert AccessEvent.objects.filter(patient=patient, action="create", object_label="new activation code").exists()

    # The code is never shown again.
    for url in [code_url(patient), reverse("helpdesk:patient", kwargs={"patient_id": patient.public_id})]:
        assert code not in helpdesk_client.get(url).content.decode()


def test_a_new_code_needs_an_identity_check_and_a_reason(helpdesk_client, patient_without_account):
    response = helpdesk_client.post(code_url(patient_without_account), {"reason": ""})
    page = response.content.decode()
    assert "Select how you checked who they are" in page and "Enter the reason" in page
    assert ActivationCode.objects.filter(patient=patient_without_account).count() == 1


def test_a_patient_who_has_an_account_gets_no_new_code(helpdesk_client, patient):
    response = helpdesk_client.post(code_url(patient), {"identity_check": "phone", "reason": "Asked"})
    assert response.status_code == 302
    assert not ActivationCode.objects.filter(patient=patient).exists()
    page = helpdesk_client.get(response["Location"]).content.decode()
    assert "already has an account" in page


def test_issuing_a_code_needs_its_csrf_token(helpdesk_user, patient_without_account):
    client = Client(enforce_csrf_checks=True)
    client.force_login(helpdesk_user)
    response = client.post(code_url(patient_without_account), {"identity_check": "phone", "reason": "No token"})
    assert response.status_code == 403
    assert ActivationCode.objects.filter(patient=patient_without_account).count() == 1
