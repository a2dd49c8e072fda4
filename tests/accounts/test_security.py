"""Sign-in and security: the pages, two-step verification choices, reauthentication, notices, trusted devices,
account events and safe redirects."""

import datetime
import re
from contextlib import nullcontext

import pytest
import time_machine
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from careportal.accounts.models import AccountEvent, AccountEventKind, TwoStepMethod
from tests.accounts.factories import TEST_PASSWORD, UserFactory
from tests.accounts.passkey_device import SoftwarePasskey, js_data_on
from tests.accounts.security_steps import (
    code_in,
    reauthenticate,
    setup_key_on,
    sign_in,
    sign_out,
    totp_code,
)

pytestmark = pytest.mark.django_db

NOTICE_SUBJECT = "A change to how you sign in to CarePortal"
START = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)


def notices(mailoutbox) -> list[str]:  # type: ignore[no-untyped-def]
    return [m.body for m in mailoutbox if m.subject == NOTICE_SUBJECT]


def two_step_events(user) -> list[str]:  # type: ignore[no-untyped-def]
    return list(
        AccountEvent.objects.filter(user=user, kind=AccountEventKind.TWO_STEP_CHANGED)
        .order_by("id")
        .values_list("detail", flat=True)
    )


def turn_email_code(client: Client, action: str):  # type: ignore[no-untyped-def]
    return client.post(reverse("accounts:email-code"), {"action": action})


def add_passkey(client: Client, django_capture_on_commit_callbacks, name: str = "My phone") -> SoftwarePasskey:  # type: ignore[no-untyped-def]
    """Add a passkey through allauth's page, as the browser would with a phone or security key."""
    device = SoftwarePasskey()
    reauthenticate(client)
    page = client.get(reverse("mfa_add_webauthn")).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("mfa_add_webauthn"),
            {"name": name, "credential": device.create(js_data_on(page)["creation_options"])},
        )
    assert response.status_code == 302, response.content.decode()
    return device


def stored_passkey(user, name: str = "My phone") -> Authenticator:  # type: ignore[no-untyped-def]
    """A passkey added for `user` in another browser."""
    client = Client()
    client.force_login(user)
    add_passkey(client, lambda **kwargs: nullcontext(), name)
    return Authenticator.objects.get(user=user, type=Authenticator.Type.WEBAUTHN, data__name=name)


def activate_totp(client: Client, django_capture_on_commit_callbacks) -> str:  # type: ignore[no-untyped-def]
    """Set up an authenticator app through the page (password given again first); returns the secret."""
    reauthenticate(client)
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    secret = setup_key_on(page.content.decode())
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)})
    assert response.status_code == 302, response.content.decode()
    assert response["Location"] == reverse("mfa_view_recovery_codes")
    return secret


def complete_sign_in(client: Client, response, *, trust: bool = False):  # type: ignore[no-untyped-def]
    if response["Location"] == reverse("mfa_trust"):
        response = client.post(reverse("mfa_trust"), {"action": "trust" if trust else "skip"})
    return response


# The pages -------------------------------------------------------------------------------------------------------

SIGNED_IN_PAGES = [
    "accounts:security",
    "mfa_index",
    "usersessions_list",
    "account_change_password",
    "account_reauthenticate",
    "mfa_list_webauthn",
]
PAGES_AFTER_REAUTHENTICATION = [
    "mfa_activate_totp",
    "mfa_add_webauthn",
    "mfa_generate_recovery_codes",
]


@pytest.mark.parametrize("name", SIGNED_IN_PAGES + PAGES_AFTER_REAUTHENTICATION)
def test_every_security_page_sends_a_signed_out_visitor_to_sign_in(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.parametrize("name", SIGNED_IN_PAGES)
def test_every_security_page_opens_for_its_owner(patient_client, name):
    response = patient_client.get(reverse(name))
    assert response.status_code == 200
    assert "<h1" in response.content.decode()


@pytest.mark.parametrize("name", PAGES_AFTER_REAUTHENTICATION)
def test_pages_that_change_how_you_sign_in_ask_for_the_password_first(patient_client, name):
    response = patient_client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    assert reauthenticate(patient_client).status_code == 302
    assert patient_client.get(reverse(name)).status_code == 200


def test_the_security_page_shows_username_email_two_step_devices_and_sessions(patient_client, patient):
    user = patient.user
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    body = patient_client.get(reverse("accounts:security")).content.decode()
    assert user.username in body
    assert user.email in body
    assert "Confirmed" in body
    assert "Two-step verification" in body and "Off" in body
    assert "This device is not trusted" in body
    assert "Only this device" in body
    assert reverse("account_change_password") in body
    assert reverse("usersessions_list") in body


def test_an_unconfirmed_email_address_is_shown_as_such(patient_client, patient):
    EmailAddress.objects.create(user=patient.user, email=patient.user.email, verified=False, primary=True)
    assert "Not confirmed" in patient_client.get(reverse("accounts:security")).content.decode()


def test_the_header_and_the_home_page_link_to_the_security_page(patient_client):
    body = patient_client.get(reverse("home:home")).content.decode()
    assert body.count(f'href="{reverse("accounts:security")}"') >= 2, "header account link and home card"
    assert "Sign-in and security" in body


def test_staff_reach_the_security_page_from_the_header(clinician_client):
    body = clinician_client.get(reverse("staff:home")).content.decode()
    assert f'href="{reverse("accounts:security")}"' in body


# The emailed code -------------------------------------------------------------------------------------------------


def test_turning_on_the_emailed_code_asks_for_the_password_again_then_sends_a_notice(
    patient_client, patient, mailoutbox, django_capture_on_commit_callbacks
):
    user = patient.user
    with django_capture_on_commit_callbacks(execute=True):
        asked = turn_email_code(patient_client, "on")
    assert asked.status_code == 302
    assert asked["Location"].startswith(reverse("account_reauthenticate"))
    user.refresh_from_db()
    assert user.two_step_method == TwoStepMethod.NONE, "nothing changes before the password is given"

    page = patient_client.get(asked["Location"]).content.decode()
    assert "Enter your password again" in page
    wrong = patient_client.post(asked["Location"], {"password": "not-my-password"})
    assert "That password is not right" in wrong.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        done = patient_client.post(asked["Location"], {"password": TEST_PASSWORD})
    assert done.status_code == 302
    assert done["Location"] == reverse("mfa_index")
    user.refresh_from_db()
    assert user.two_step_method == TwoStepMethod.EMAIL
    assert two_step_events(user) == ["emailed code turned on"]
    [notice] = notices(mailoutbox)
    assert "a code sent by email is now your second step" in notice
    assert mailoutbox[-1].to == [user.email]
    assert "You will now get a code by email" in patient_client.get(reverse("mfa_index")).content.decode()


def test_a_patient_who_chose_the_emailed_code_is_asked_for_it_at_sign_in(
    client, patient, mailoutbox, django_capture_on_commit_callbacks
):
    patient.user.two_step_method = TwoStepMethod.EMAIL
    patient.user.save()
    with django_capture_on_commit_callbacks(execute=True):
        response = sign_in(client, patient.user.username)
    assert response["Location"] == reverse("account_confirm_login_code")
    code = code_in(mailoutbox[-1].body)
    response = client.post(reverse("account_confirm_login_code"), {"action": "verify", "code": code})
    response = complete_sign_in(client, response)
    assert response["Location"] == reverse("home:home")


def test_reauthentication_lasts_only_for_the_timeout(patient_client, patient, settings):
    with time_machine.travel(START, tick=False) as traveller:
        reauthenticate(patient_client)
        assert turn_email_code(patient_client, "on")["Location"] == reverse("mfa_index")
        traveller.shift(datetime.timedelta(seconds=settings.ACCOUNT_REAUTHENTICATION_TIMEOUT - 10))
        assert turn_email_code(patient_client, "off")["Location"] == reverse("mfa_index")
        traveller.shift(datetime.timedelta(seconds=20))
        again = turn_email_code(patient_client, "on")
        assert again["Location"].startswith(reverse("account_reauthenticate"))
    patient.user.refresh_from_db()
    assert patient.user.two_step_method == TwoStepMethod.NONE


def test_turning_off_the_emailed_code_sends_a_notice(
    patient_client, patient, mailoutbox, django_capture_on_commit_callbacks
):
    patient.user.two_step_method = TwoStepMethod.EMAIL
    patient.user.save()
    reauthenticate(patient_client)
    with django_capture_on_commit_callbacks(execute=True):
        turn_email_code(patient_client, "off")
    patient.user.refresh_from_db()
    assert patient.user.two_step_method == TwoStepMethod.NONE
    assert two_step_events(patient.user) == ["emailed code turned off"]
    [notice] = notices(mailoutbox)
    assert "you no longer get a code by email" in notice


def test_the_emailed_code_is_not_turned_on_for_an_address_nobody_confirmed(patient_client, patient, mailoutbox):
    EmailAddress.objects.create(user=patient.user, email=patient.user.email, verified=False, primary=True)
    reauthenticate(patient_client)
    response = turn_email_code(patient_client, "on")
    patient.user.refresh_from_db()
    assert patient.user.two_step_method == TwoStepMethod.NONE
    assert "confirm your email address" in patient_client.get(response["Location"]).content.decode()


def test_staff_cannot_turn_off_the_emailed_code_without_an_app_or_passkey(
    clinician_client, clinician_membership, mailoutbox
):
    user = clinician_membership.user
    user.two_step_method = TwoStepMethod.EMAIL
    user.save()
    page = clinician_client.get(reverse("mfa_index")).content.decode()
    assert "Turn off codes by email" not in page
    assert "Staff must use two-step verification" in page

    reauthenticate(clinician_client)
    response = turn_email_code(clinician_client, "off")
    user.refresh_from_db()
    assert user.two_step_method == TwoStepMethod.EMAIL
    assert "Set up an authenticator app or a passkey" in clinician_client.get(response["Location"]).content.decode()
    assert two_step_events(user) == []
    assert mailoutbox == []


def test_staff_with_a_passkey_may_turn_off_the_emailed_code(clinician_client, clinician_membership):
    user = clinician_membership.user
    user.two_step_method = TwoStepMethod.EMAIL
    user.save()
    stored_passkey(user)
    assert "Turn off codes by email" in clinician_client.get(reverse("mfa_index")).content.decode()
    reauthenticate(clinician_client)
    turn_email_code(clinician_client, "off")
    user.refresh_from_db()
    assert user.two_step_method == TwoStepMethod.NONE


def test_staff_who_never_chose_it_still_get_the_emailed_code(clinician_membership, client, mailoutbox):
    # The adapter asks staff for a code whatever two_step_method says: there is nothing for them to turn off.
    response = sign_in(client, clinician_membership.user.username)
    assert response["Location"] == reverse("account_confirm_login_code")


def test_the_toggle_only_takes_posts_and_known_actions(patient_client):
    assert patient_client.get(reverse("accounts:email-code")).status_code == 405
    reauthenticate(patient_client)
    assert turn_email_code(patient_client, "sideways").status_code == 400


def test_a_notice_goes_out_through_a_real_smtp_server(
    smtp_server, patient_client, patient, django_capture_on_commit_callbacks
):
    reauthenticate(patient_client)
    with django_capture_on_commit_callbacks(execute=True):
        turn_email_code(patient_client, "on")
    message = smtp_server.wait_for_message(to=patient.user.email)
    assert message["Subject"] == NOTICE_SUBJECT
    body = smtp_server.body(message)
    assert "a code sent by email is now your second step" in body
    assert "If you did not make this change, call the CarePortal helpdesk" in body
    assert patient.family_name not in body


# Authenticator app and recovery codes --------------------------------------------------------------------------


def test_an_authenticator_app_is_set_up_end_to_end_and_then_asked_for_at_sign_in(
    patient, mailoutbox, django_capture_on_commit_callbacks
):
    user = patient.user
    client = Client()
    with time_machine.travel(START, tick=False) as traveller:
        complete_sign_in(client, sign_in(client, user.username))
        secret = activate_totp(client, django_capture_on_commit_callbacks)

        assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
        codes_page = client.get(reverse("mfa_view_recovery_codes")).content.decode()
        assert "10 of 10 codes are left" in codes_page
        assert two_step_events(user) == ["authenticator app added", "recovery codes added"]
        assert any("an authenticator app was set up" in body for body in notices(mailoutbox))
        assert "On: an authenticator app" in client.get(reverse("accounts:security")).content.decode()

        sign_out(client)
        traveller.shift(datetime.timedelta(seconds=60))
        response = sign_in(client, user.username)
        assert response["Location"] == reverse("mfa_authenticate")
        assert client.get(reverse("home:home")).status_code == 302, "not signed in before the code"
        wrong = client.post(reverse("mfa_authenticate"), {"code": "000000"})
        assert "That code is not right" in wrong.content.decode()
        response = client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
        response = complete_sign_in(client, response)
        assert response["Location"] == reverse("home:home")
        assert client.get(reverse("home:home")).status_code == 200


def test_a_recovery_code_works_once_only(patient, django_capture_on_commit_callbacks):
    user = patient.user
    client = Client()
    with time_machine.travel(START, tick=False) as traveller:
        complete_sign_in(client, sign_in(client, user.username))
        activate_totp(client, django_capture_on_commit_callbacks)
        codes = RecoveryCodes(Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES))
        code = codes.get_unused_codes()[0]
        sign_out(client)

        traveller.shift(datetime.timedelta(minutes=1))
        sign_in(client, user.username)
        first = complete_sign_in(client, client.post(reverse("mfa_authenticate"), {"code": code}))
        assert first["Location"] == reverse("home:home")
        sign_out(client)

        sign_in(client, user.username)
        second = client.post(reverse("mfa_authenticate"), {"code": code})
        assert second.status_code == 200
        assert "That code is not right" in second.content.decode()
        assert client.get(reverse("home:home")).status_code == 302


def test_recovery_codes_can_be_seen_downloaded_and_replaced(patient, mailoutbox, django_capture_on_commit_callbacks):
    user = patient.user
    client = Client()
    complete_sign_in(client, sign_in(client, user.username))
    activate_totp(client, django_capture_on_commit_callbacks)
    old_codes = RecoveryCodes(
        Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    ).get_unused_codes()

    page = client.get(reverse("mfa_view_recovery_codes")).content.decode()
    assert all(code in page for code in old_codes)
    download = client.get(reverse("mfa_download_recovery_codes"))
    assert download["Content-Type"].startswith("text/plain")
    assert "attachment" in download["Content-Disposition"]
    assert download.content.decode().split() == old_codes

    assert client.get(reverse("mfa_generate_recovery_codes")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("mfa_generate_recovery_codes"))
    assert response["Location"] == reverse("mfa_view_recovery_codes")
    new_codes = RecoveryCodes(
        Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    ).get_unused_codes()
    assert set(new_codes).isdisjoint(old_codes)
    assert two_step_events(user)[-1] == "recovery codes replaced with new ones"
    assert any("new recovery codes were made" in body for body in notices(mailoutbox))


def test_removing_the_authenticator_app_removes_the_recovery_codes_and_sends_a_notice(
    patient, mailoutbox, django_capture_on_commit_callbacks
):
    user = patient.user
    client = Client()
    complete_sign_in(client, sign_in(client, user.username))
    activate_totp(client, django_capture_on_commit_callbacks)
    assert client.get(reverse("mfa_deactivate_totp")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("mfa_deactivate_totp"))
    assert response["Location"] == reverse("mfa_index")
    assert not Authenticator.objects.filter(user=user).exists()
    assert two_step_events(user)[-2:] == ["authenticator app removed", "recovery codes removed"]
    assert any("the authenticator app was removed" in body for body in notices(mailoutbox))


def test_recovery_codes_cannot_be_made_without_an_app_or_passkey(patient_client):
    reauthenticate(patient_client)
    response = patient_client.post(reverse("mfa_generate_recovery_codes"))
    assert response.status_code == 200
    assert "once you have set up an authenticator app or a passkey" in response.content.decode()


# Passkeys ----------------------------------------------------------------------------------------------------------


def test_the_add_a_passkey_page_loads_allauths_scripts_from_this_site_with_the_nonce(patient_client):
    reauthenticate(patient_client)
    response = patient_client.get(reverse("mfa_add_webauthn"))
    body = response.content.decode()
    assert response.status_code == 200
    for script in ("mfa/js/webauthn-json.js", "mfa/js/webauthn.js", "account/js/onload.js", "careportal/passkeys.mjs"):
        assert re.search(rf'<script nonce="[^"]+"[^>]* src="/static/{re.escape(script)}"', body), script
    assert 'data-allauth-onload="allauth.webauthn.forms.addForm"' in body
    assert '<script id="js_data" type="application/json">{' in body
    policy = response["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy
    for script in ("mfa/js/webauthn-json.js", "mfa/js/webauthn.js", "account/js/onload.js"):
        assert patient_client.get(f"/static/{script}").status_code == 200


def test_a_passkey_is_added_listed_renamed_and_removed(
    patient_client, patient, mailoutbox, django_capture_on_commit_callbacks
):
    add_passkey(patient_client, django_capture_on_commit_callbacks, "Kitchen laptop")
    passkey = Authenticator.objects.get(user=patient.user, type=Authenticator.Type.WEBAUTHN)
    assert two_step_events(patient.user) == ["passkey added", "recovery codes added"]
    assert any("a passkey was added" in body for body in notices(mailoutbox))
    assert "On: a passkey" in patient_client.get(reverse("accounts:security")).content.decode()
    listing = patient_client.get(reverse("mfa_list_webauthn")).content.decode()
    assert "Kitchen laptop" in listing

    response = patient_client.post(reverse("mfa_edit_webauthn", kwargs={"pk": passkey.pk}), {"name": "Old laptop"})
    assert response["Location"] == reverse("mfa_list_webauthn")
    assert "Old laptop" in patient_client.get(reverse("mfa_list_webauthn")).content.decode()

    page = patient_client.get(reverse("mfa_remove_webauthn", kwargs={"pk": passkey.pk})).content.decode()
    assert 'Remove the passkey "Old laptop"?' in page
    with django_capture_on_commit_callbacks(execute=True):
        patient_client.post(reverse("mfa_remove_webauthn", kwargs={"pk": passkey.pk}))
    assert not Authenticator.objects.filter(user=patient.user).exists(), "recovery codes go with the last passkey"
    assert two_step_events(patient.user)[-2:] == ["passkey removed", "recovery codes removed"]
    assert any("a passkey was removed" in body for body in notices(mailoutbox))


def test_a_made_up_passkey_is_refused(patient_client, patient):
    reauthenticate(patient_client)
    patient_client.get(reverse("mfa_add_webauthn"))
    forged = SoftwarePasskey().create(
        {"publicKey": {"challenge": "bm90LXRoZS1jaGFsbGVuZ2U", "rp": {"id": "testserver"}}}
    )
    response = patient_client.post(reverse("mfa_add_webauthn"), {"name": "Forged", "credential": forged})
    assert response.status_code == 200
    assert not Authenticator.objects.filter(user=patient.user).exists()


def test_another_persons_passkey_cannot_be_renamed_or_removed(patient_client, other_patient):
    passkey = stored_passkey(other_patient.user)
    reauthenticate(patient_client)
    assert patient_client.get(reverse("mfa_edit_webauthn", kwargs={"pk": passkey.pk})).status_code == 404
    assert patient_client.post(reverse("mfa_remove_webauthn", kwargs={"pk": passkey.pk})).status_code == 404
    assert Authenticator.objects.filter(pk=passkey.pk).exists()


def test_someone_with_a_passkey_signs_in_with_it(patient, django_capture_on_commit_callbacks):
    client = Client()
    complete_sign_in(client, sign_in(client, patient.user.username))
    device = add_passkey(client, django_capture_on_commit_callbacks)
    sign_out(client)

    response = sign_in(client, patient.user.username)
    assert response["Location"] == reverse("mfa_authenticate")
    page = client.get(reverse("mfa_authenticate")).content.decode()
    assert "Use your passkey" in page
    assert 'data-allauth-onload="allauth.webauthn.forms.authenticateForm"' in page
    response = client.post(reverse("mfa_authenticate"), {"credential": device.get(js_data_on(page)["request_options"])})
    response = complete_sign_in(client, response)
    assert response["Location"] == reverse("home:home")
    assert client.get(reverse("home:home")).status_code == 200


def test_a_passkey_also_confirms_it_is_you_before_a_change(patient, django_capture_on_commit_callbacks):
    client = Client()
    client.force_login(patient.user)
    device = add_passkey(client, django_capture_on_commit_callbacks)
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=10)):
        asked = client.get(reverse("mfa_activate_totp"))
        assert asked["Location"].startswith(reverse("account_reauthenticate"))
        page = client.get(asked["Location"]).content.decode()
        assert "Use a passkey" in page
        passkey_page = client.get(reverse("mfa_reauthenticate_webauthn") + "?next=" + reverse("mfa_activate_totp"))
        options = js_data_on(passkey_page.content.decode())["request_options"]
        response = client.post(
            reverse("mfa_reauthenticate_webauthn") + "?next=" + reverse("mfa_activate_totp"),
            {"credential": device.get(options), "next": reverse("mfa_activate_totp")},
        )
        assert response["Location"] == reverse("mfa_activate_totp")
        assert client.get(reverse("mfa_activate_totp")).status_code == 200


# Trusted devices ---------------------------------------------------------------------------------------------------


def _sign_in_with_emailed_code(client: Client, user, mailoutbox, capture, *, trust: bool):  # type: ignore[no-untyped-def]
    with capture(execute=True):
        response = sign_in(client, user.username)
    if response["Location"] != reverse("account_confirm_login_code"):
        return response, False
    response = client.post(
        reverse("account_confirm_login_code"), {"action": "verify", "code": code_in(mailoutbox[-1].body)}
    )
    return complete_sign_in(client, response, trust=trust), True


def test_a_trusted_device_skips_the_code_until_all_devices_are_forgotten(
    patient, mailoutbox, django_capture_on_commit_callbacks
):
    user = patient.user
    user.two_step_method = TwoStepMethod.EMAIL
    user.save()
    client = Client()
    capture = django_capture_on_commit_callbacks
    with time_machine.travel(START, tick=False) as traveller:
        response, asked = _sign_in_with_emailed_code(client, user, mailoutbox, capture, trust=True)
        assert asked and response["Location"] == reverse("home:home")
        cookie = client.cookies["mfa_trusted"]
        assert cookie["httponly"] and cookie["samesite"] == "Lax"
        page = client.get(reverse("accounts:security")).content.decode()
        assert "This device is trusted until 31 May 2026" in page
        sign_out(client)

        traveller.shift(datetime.timedelta(days=1))
        response, asked = _sign_in_with_emailed_code(client, user, mailoutbox, capture, trust=False)
        assert not asked, "a trusted device needs no code"
        assert response["Location"] == reverse("home:home")

        with capture(execute=True):
            forgotten = client.post(reverse("accounts:forget-trusted-devices"))
        assert forgotten["Location"] == reverse("accounts:security")
        assert "This device is not trusted" in client.get(reverse("accounts:security")).content.decode()
        assert two_step_events(user) == ["stopped trusting all devices"]
        assert any("no device is trusted any more" in body for body in notices(mailoutbox))
        sign_out(client)

        traveller.shift(datetime.timedelta(seconds=5))
        response, asked = _sign_in_with_emailed_code(client, user, mailoutbox, capture, trust=True)
        assert asked, "after 'stop trusting all devices' the code is asked again"
        sign_out(client)

        traveller.shift(datetime.timedelta(seconds=5))
        response, asked = _sign_in_with_emailed_code(client, user, mailoutbox, capture, trust=False)
        assert not asked, "a device trusted again after that is trusted"


def test_trust_expires_after_90_days(patient, mailoutbox, django_capture_on_commit_callbacks):
    user = patient.user
    user.two_step_method = TwoStepMethod.EMAIL
    user.save()
    client = Client()
    with time_machine.travel(START, tick=False) as traveller:
        _sign_in_with_emailed_code(client, user, mailoutbox, django_capture_on_commit_callbacks, trust=True)
        sign_out(client)
        traveller.shift(datetime.timedelta(days=91))
        _response, asked = _sign_in_with_emailed_code(
            client, user, mailoutbox, django_capture_on_commit_callbacks, trust=False
        )
        assert asked


def test_forgetting_trusted_devices_also_applies_to_the_authenticator_app(patient, django_capture_on_commit_callbacks):
    user = patient.user
    client = Client()
    with time_machine.travel(START, tick=False) as traveller:
        complete_sign_in(client, sign_in(client, user.username))
        secret = activate_totp(client, django_capture_on_commit_callbacks)
        sign_out(client)

        traveller.shift(datetime.timedelta(minutes=1))
        sign_in(client, user.username)
        complete_sign_in(client, client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)}), trust=True)
        sign_out(client)

        traveller.shift(datetime.timedelta(minutes=1))
        assert sign_in(client, user.username)["Location"] == reverse("home:home"), "trusted: no code asked"
        client.post(reverse("accounts:forget-trusted-devices"))
        sign_out(client)

        traveller.shift(datetime.timedelta(minutes=1))
        assert sign_in(client, user.username)["Location"] == reverse("mfa_authenticate")


def test_forgetting_trusted_devices_needs_a_post(patient_client):
    assert patient_client.get(reverse("accounts:forget-trusted-devices")).status_code == 405


# Cookies and redirects ----------------------------------------------------------------------------------------------


def test_cookie_settings_are_safe(settings):
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert settings.SESSION_COOKIE_SAMESITE == "Lax"
    assert settings.CSRF_COOKIE_HTTPONLY is True
    assert settings.MFA_TRUST_COOKIE_SAMESITE == "Lax"
    assert settings.MFA_TRUST_COOKIE_SECURE == settings.SESSION_COOKIE_SECURE
    from allauth.mfa import app_settings as mfa_settings

    assert mfa_settings.TRUST_COOKIE_HTTPONLY is True


def test_the_session_cookie_is_httponly_and_lax(client, patient):
    response = sign_in(client, patient.user.username)
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "http://testserver.evil.example/"])
def test_sign_in_never_redirects_to_another_site(client, patient, target):
    response = client.post(
        reverse("account_login") + f"?next={target}",
        {"login": patient.user.username, "password": TEST_PASSWORD, "next": target},
    )
    assert response["Location"] == reverse("home:home")


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/"])
def test_reauthentication_never_redirects_to_another_site(patient_client, target):
    response = patient_client.post(
        reverse("account_reauthenticate") + f"?next={target}", {"password": TEST_PASSWORD, "next": target}
    )
    assert response.status_code == 302
    assert "evil.example" not in response["Location"]


def test_the_admin_sign_in_goes_through_two_step_verification(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


# Account events ----------------------------------------------------------------------------------------------------


def test_sign_in_and_failed_sign_in_are_recorded_with_the_address(client, patient):
    sign_in(client, patient.user.username, "wrong-password-typed", REMOTE_ADDR="192.0.2.7")
    sign_in(client, patient.user.username, REMOTE_ADDR="192.0.2.7")
    events = list(AccountEvent.objects.filter(user=patient.user).order_by("id").values_list("kind", "ip_address"))
    assert events == [(AccountEventKind.SIGN_IN_FAILED, "192.0.2.7"), (AccountEventKind.SIGNED_IN, "192.0.2.7")]


def test_a_lock_is_recorded_once_and_an_unknown_username_records_nothing(client, patient, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT + 2):
        sign_in(client, patient.user.username, "wrong", REMOTE_ADDR="198.51.100.4")
        sign_in(client, "nobody-by-this-name", "wrong", REMOTE_ADDR="198.51.100.4")
    locked = AccountEvent.objects.filter(user=patient.user, kind=AccountEventKind.LOCKED_OUT)
    assert locked.count() == 1
    assert locked.get().ip_address == "198.51.100.4"
    assert AccountEvent.objects.exclude(user=patient.user).count() == 0


def test_account_events_never_hold_passwords_or_codes(patient, mailoutbox, django_capture_on_commit_callbacks):
    user = patient.user
    client = Client()
    sign_in(client, user.username, "Typed-Wrong-Secret-1")
    complete_sign_in(client, sign_in(client, user.username))
    secret = activate_totp(client, django_capture_on_commit_callbacks)
    recovery = RecoveryCodes(Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("account_change_password"),
            {
                "oldpassword": TEST_PASSWORD,
                "password1": "A-new-long-passphrase-42",
                "password2": "A-new-long-passphrase-42",
            },
        )
    secrets = {
        "Typed-Wrong-Secret-1",
        TEST_PASSWORD,
        "A-new-long-passphrase-42",
        secret,
        totp_code(secret),
        *recovery.get_unused_codes(),
    }
    stored = " ".join(f"{e.kind} {e.reason} {e.detail} {e.ip_address}" for e in AccountEvent.objects.filter(user=user))
    assert AccountEvent.objects.filter(user=user).count() >= 5
    for value in secrets:
        assert value not in stored


def test_events_are_recorded_for_a_user_created_without_a_patient(client):
    staffer = UserFactory()
    sign_in(client, staffer.username)
    assert AccountEvent.objects.filter(user=staffer, kind=AccountEventKind.SIGNED_IN).exists()
    assert AccountEvent.objects.get(user=staffer).occurred_at <= timezone.now()


# Guessing codes ----------------------------------------------------------------------------------------------------


def test_wrong_authenticator_codes_are_limited_per_account(patient, settings, django_capture_on_commit_callbacks):
    user = patient.user
    client = Client()
    with time_machine.travel(START, tick=False) as traveller:
        complete_sign_in(client, sign_in(client, user.username))
        secret = activate_totp(client, django_capture_on_commit_callbacks)
        sign_out(client)
        traveller.shift(datetime.timedelta(minutes=1))

        sign_in(client, user.username)
        for _ in range(settings.CAREPORTAL_TWO_STEP_CODE_FAILURES - 1):
            assert (
                "That code is not right"
                in client.post(reverse("mfa_authenticate"), {"code": "000000"}).content.decode()
            )
        # The wrong code that uses up the last try says what happens now: codes are paused until 09:31 (the first
        # wrong code was at 09:01; London is on GMT in March before the clocks change).
        paused = (
            "A wrong code has been entered too many times for this account, so no code will work until 09:31, not "
            "even the right one. Try again after that. If you need to sign in sooner, call the helpdesk on "
            "020 7946 0000."
        )
        last = client.post(reverse("mfa_authenticate"), {"code": "000000"}).content.decode()
        assert paused in last.replace("&#39;", "'")
        # From another browser and address, even the right code waits until the pause is over.
        elsewhere = Client(REMOTE_ADDR="203.0.113.50")
        sign_in(elsewhere, user.username)
        refused = elsewhere.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
        assert paused in refused.content.decode().replace("&#39;", "'")
        assert elsewhere.get(reverse("home:home")).status_code == 302

        traveller.shift(datetime.timedelta(minutes=settings.CAREPORTAL_TWO_STEP_CODE_PAUSE_MINUTES, seconds=31))
        sign_in(elsewhere, user.username)
        response = complete_sign_in(elsewhere, elsewhere.post(reverse("mfa_authenticate"), {"code": totp_code(secret)}))
        assert response["Location"] == reverse("home:home")


def test_someone_with_an_authenticator_app_may_confirm_it_is_them_with_a_code(
    patient, django_capture_on_commit_callbacks
):
    client = Client()
    with time_machine.travel(START, tick=False) as traveller:
        complete_sign_in(client, sign_in(client, patient.user.username))
        secret = activate_totp(client, django_capture_on_commit_callbacks)
        traveller.shift(datetime.timedelta(minutes=10))
        asked = client.get(reverse("mfa_generate_recovery_codes"))
        assert asked["Location"].startswith(reverse("account_reauthenticate"))
        password_page = client.get(asked["Location"]).content.decode()
        assert "Use a code from your authenticator app, or a recovery code" in password_page
        page = client.get(reverse("mfa_reauthenticate") + "?next=" + reverse("mfa_generate_recovery_codes"))
        assert "Enter a security code" in page.content.decode()
        assert (
            "That code is not right" in client.post(reverse("mfa_reauthenticate"), {"code": "123456"}).content.decode()
        )
        response = client.post(
            reverse("mfa_reauthenticate") + "?next=" + reverse("mfa_generate_recovery_codes"),
            {"code": totp_code(secret), "next": reverse("mfa_generate_recovery_codes")},
        )
        assert response["Location"] == reverse("mfa_generate_recovery_codes")
        assert client.get(reverse("mfa_generate_recovery_codes")).status_code == 200


def test_an_unconfirmed_address_can_be_sent_a_new_confirmation_link(
    patient_client, patient, mailoutbox, django_capture_on_commit_callbacks
):
    EmailAddress.objects.create(user=patient.user, email=patient.user.email, verified=False, primary=True)
    page = patient_client.get(reverse("accounts:security")).content.decode()
    assert "Send me a link to confirm my email address" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = patient_client.post(reverse("accounts:confirm-email-again"))
    assert response["Location"] == reverse("accounts:security")
    [email] = mailoutbox
    assert email.subject == "Confirm your email address for CarePortal"
    assert email.to == [patient.user.email]
    assert "We have sent you an email with a link" in patient_client.get(reverse("accounts:security")).content.decode()
    # Asking again at once sends nothing (allauth's confirm_email rate limit).
    with django_capture_on_commit_callbacks(execute=True):
        patient_client.post(reverse("accounts:confirm-email-again"))
    assert len(mailoutbox) == 1


def test_a_confirmed_address_is_not_sent_a_link(patient_client, patient, mailoutbox):
    EmailAddress.objects.create(user=patient.user, email=patient.user.email, verified=True, primary=True)
    assert "Send me a link" not in patient_client.get(reverse("accounts:security")).content.decode()
    patient_client.post(reverse("accounts:confirm-email-again"))
    assert mailoutbox == []
