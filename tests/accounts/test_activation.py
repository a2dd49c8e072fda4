"""The activation journey through Django's test client: a patient with a letter creates their account."""

import datetime
import re

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import check_password
from django.contrib.auth.password_validation import CommonPasswordValidator
from django.db import IntegrityError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from careportal.accounts.models import AccountEvent, AccountEventKind, ActivationCode, SecurityAnswer, User
from careportal.accounts.security import answer_matches
from careportal.accounts.services import activation_code_issue
from careportal.audit.models import AccessEvent, ActorRole
from careportal.notifications.models import Notification
from careportal.patients.models import ContactPreference
from tests.accounts.activation_steps import (
    EMAIL,
    PASSWORD,
    USERNAME,
    choose_security_questions,
    confirmation_link,
    create_account,
    enter_code,
    enter_email,
    enter_username_and_password,
    errors,
    letter_for_new_patient,
    reach_check_page,
)
from tests.accounts.factories import UserFactory
from tests.patients.factories import PatientWithAccountFactory

pytestmark = pytest.mark.django_db

REFUSED = "We could not match these details with an activation code that can still be used."
CHARACTERS = (
    "Username can only include letters a to z (without accents), numbers, full stops (.), hyphens (-) "
    "and underscores (_)"
)


@pytest.fixture
def letter():
    return letter_for_new_patient()


def account_rows() -> dict[str, int]:
    return {
        "users": User.objects.count(),
        "answers": SecurityAnswer.objects.count(),
        "emails": EmailAddress.objects.count(),
        "account_events": AccountEvent.objects.count(),
        "access_events": AccessEvent.objects.count(),
        "notifications": Notification.objects.count(),
    }


# The whole journey ----------------------------------------------------------------------------------------------


def test_a_patient_with_a_letter_creates_their_account_and_is_signed_in(
    letter, client, mailoutbox, django_capture_on_commit_callbacks
):
    reach_check_page(client, letter)
    check_page = client.get(reverse("accounts:activate-check")).content.decode()
    assert USERNAME in check_page and EMAIL in check_page
    assert "What was the name of your first school?" in check_page
    assert "we will stop posting your letters" in check_page
    # Patients are told, before the account exists, that it is not for a family member's health (issue 13).
    assert "This account is for you only" in check_page and "Access for others" in check_page

    with django_capture_on_commit_callbacks(execute=True):
        response = create_account(client)

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:activate-done")
    user = User.objects.get(username=USERNAME)
    letter.patient.refresh_from_db()
    assert letter.patient.user == user
    assert letter.patient.contact_preference == ContactPreference.PORTAL
    assert user.check_password(PASSWORD)
    assert (user.first_name, user.email) == ("Siobhán", EMAIL)
    code = ActivationCode.objects.get(patient=letter.patient)
    assert code.used_at is not None
    # The answers are stored hashed, and match however they are typed.
    answers = {answer.question: answer for answer in user.security_answers.all()}
    assert set(answers) == {"first_school", "first_pet", "parents_met"}
    assert "Mary" not in answers["first_school"].answer_hash
    assert answer_matches("st marys", answers["first_school"].answer_hash)
    assert answer_matches("GALWAY", answers["parents_met"].answer_hash)
    # The email address waits for its confirmation link.
    address = EmailAddress.objects.get(user=user)
    assert (address.email, address.primary, address.verified) == (EMAIL, True, False)
    [email] = mailoutbox
    assert email.to == [EMAIL]
    assert email.subject == "Confirm your email address for CarePortal"
    assert "/account/confirm-email/" in confirmation_link(email.body)
    # Recorded for the helpdesk and in the patient's own access log.
    assert user.account_events.filter(kind=AccountEventKind.ACTIVATED).count() == 1
    events = AccessEvent.objects.filter(patient=letter.patient).order_by("id")
    assert [(e.actor_id, e.actor_role, e.action, e.object_label) for e in events] == [
        (None, ActorRole.SYSTEM, "create", "account activation code"),
        (user.pk, ActorRole.PATIENT, "create", "CarePortal account"),
        (user.pk, ActorRole.PATIENT, "update", "letter preference"),
    ]

    # Signed in, on the confirmation page.
    done = client.get(response["Location"], follow=True)
    page = done.content.decode()
    assert done.status_code == 200
    assert "Your account is ready" in page
    assert USERNAME in page
    assert "s•••@example.org" in page
    assert "Your letters now come through CarePortal" in page
    assert "call the helpdesk" in page
    assert f'href="{reverse("accounts:security")}"' in page
    assert "Successfully signed in" not in page
    assert client.get(reverse("home:home")).status_code == 200


def test_each_step_shows_where_the_patient_is(letter, client):
    assert "Step 1 of 4" in client.get(reverse("accounts:activate")).content.decode()
    enter_code(client, letter.code)
    assert "Step 2 of 4" in client.get(reverse("accounts:activate-email")).content.decode()
    enter_email(client)
    assert "Step 3 of 4" in client.get(reverse("accounts:activate-username")).content.decode()
    enter_username_and_password(client)
    page = client.get(reverse("accounts:activate-security-questions")).content.decode()
    assert "Step 4 of 4" in page
    assert f'href="{reverse("accounts:activate-username")}"' in page, "back link to the step before"


def test_the_new_account_signs_in_with_its_password(letter, client):
    reach_check_page(client, letter)
    create_account(client)
    response = Client().post(reverse("account_login"), {"login": USERNAME.upper(), "password": PASSWORD})
    assert response["Location"] == reverse("home:home")


def test_later_steps_need_a_checked_code(client):
    for name in [
        "accounts:activate-email",
        "accounts:activate-username",
        "accounts:activate-security-questions",
        "accounts:activate-check",
        "accounts:activate-done",
    ]:
        response = client.get(reverse(name))
        assert response["Location"] == reverse("accounts:activate"), name


def test_steps_cannot_be_skipped(letter, client):
    enter_code(client, letter.code)
    assert client.get(reverse("accounts:activate-check"))["Location"] == reverse("accounts:activate-email")
    enter_email(client)
    response = client.get(reverse("accounts:activate-security-questions"))
    assert response["Location"] == reverse("accounts:activate-username")


def test_after_change_on_the_check_page_the_patient_returns_to_it(letter, client):
    reach_check_page(client, letter)
    response = enter_email(client, "siobhan.new@example.org")
    assert response["Location"] == reverse("accounts:activate-check")
    assert "siobhan.new@example.org" in client.get(reverse("accounts:activate-check")).content.decode()


def test_what_the_patient_entered_is_cleared_after_an_hour(letter, client):
    enter_code(client, letter.code)
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=61)):
        response = client.get(reverse("accounts:activate-email"))
    assert response["Location"] == reverse("accounts:activate")
    assert "Start again" in client.get(response["Location"]).content.decode()


def test_the_session_holds_no_password_or_answer_in_clear(letter, client):
    reach_check_page(client, letter)
    state = client.session["careportal_activation"]
    stored = repr(state)
    for secret in [PASSWORD, "Biscuit", "Galway", "Mary", letter.code]:
        assert secret not in stored
    assert check_password(PASSWORD, state["password_hash"])


def test_someone_signed_in_is_asked_to_sign_out_first(patient_client, letter):
    page = patient_client.get(reverse("accounts:activate")).content.decode()
    assert "You are already signed in" in page
    response = patient_client.post(reverse("accounts:activate"), {"code": letter.code})
    assert "You are already signed in" in response.content.decode()
    assert ActivationCode.objects.get(patient=letter.patient).failed_attempts == 0


# Wrong details: one answer, whatever was wrong ------------------------------------------------------------------


def _expire(code: ActivationCode) -> None:
    code.expires_at = timezone.now() - datetime.timedelta(minutes=1)
    code.save()


def _use(code: ActivationCode) -> None:
    code.used_at = timezone.now()
    code.save()


def _revoke(code: ActivationCode) -> None:
    code.revoked_at = timezone.now()
    code.save()


def _lock(code: ActivationCode) -> None:
    code.failed_attempts = 5
    code.save()


@pytest.mark.parametrize(
    ("change_code", "overrides"),
    [
        (None, {"code": "ABCD-EFGH-JKMN"}),
        (None, {"date_of_birth_day": "23"}),
        (None, {"date_of_birth_year": "1980"}),
        (None, {"postcode": "N8 7QF"}),
        (_expire, {}),
        (_use, {}),
        (_revoke, {}),
        (_lock, {}),
    ],
    ids=["wrong code", "wrong day", "wrong year", "wrong postcode", "expired", "used", "revoked", "locked"],
)
def test_every_refusal_gets_the_same_message_and_status(letter, client, change_code, overrides):
    if change_code:
        change_code(ActivationCode.objects.get(patient=letter.patient))
    response = enter_code(client, letter.code, **overrides)
    assert response.status_code == 200
    assert errors(response) == [REFUSED + " Check the activation code, date of birth and postcode, then try again."]
    assert "careportal_activation" not in client.session
    assert User.objects.count() == 0


def test_the_code_is_case_and_dash_insensitive_and_so_is_the_postcode(letter, client):
    typed = letter.code.lower().replace("-", " ")
    response = enter_code(client, typed, postcode="n8   7qe")
    assert response["Location"] == reverse("accounts:activate-email")


def test_a_code_reissued_by_the_helpdesk_replaces_the_old_one(letter, client):
    new_code = activation_code_issue(patient=letter.patient, issued_by=None)
    assert errors(enter_code(client, letter.code))
    assert enter_code(client, new_code)["Location"] == reverse("accounts:activate-email")


def test_a_patient_who_already_has_an_account_cannot_activate_again(client):
    patient = PatientWithAccountFactory(birth_date=datetime.date(1979, 11, 22), postcode="N8 7QE")
    code = activation_code_issue(patient=patient, issued_by=None)
    before = account_rows()
    response = enter_code(client, code)
    assert response.status_code == 200
    assert "You already have an account" in response.content.decode()
    assert "careportal_activation" not in client.session
    assert account_rows() == before


def test_an_account_made_for_the_patient_part_way_through_stops_the_journey(letter, client):
    reach_check_page(client, letter)
    letter.patient.user = UserFactory()
    letter.patient.save()
    before = account_rows()
    response = create_account(client)
    assert "You already have an account" in response.content.decode()
    assert account_rows() == before


def test_a_code_revoked_part_way_through_creates_nothing(letter, client):
    reach_check_page(client, letter)
    _revoke(ActivationCode.objects.get(patient=letter.patient))
    response = create_account(client)
    assert response["Location"] == reverse("accounts:activate")
    assert "Your activation code stopped working" in client.get(response["Location"]).content.decode()
    assert User.objects.count() == 0


# Throttling -----------------------------------------------------------------------------------------------------


def test_wrong_tries_lock_the_code_after_five(letter, settings):
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(settings.CAREPORTAL_ACTIVATION_CODE_MAX_ATTEMPTS):
        assert errors(enter_code(client, letter.code, date_of_birth_day="1"))
    code = ActivationCode.objects.get(patient=letter.patient)
    assert code.failed_attempts == 5
    # From another address, with everything right, the locked code still does not work; the helpdesk reissues.
    response = enter_code(Client(REMOTE_ADDR="198.51.100.9"), letter.code)
    assert errors(response)[0].startswith(REFUSED)
    code.refresh_from_db()
    assert code.failed_attempts == 5


def test_failures_from_one_address_are_throttled_for_an_hour(letter, settings):
    client = Client(REMOTE_ADDR="203.0.113.8")
    for n in range(settings.CAREPORTAL_ACTIVATION_IP_ATTEMPTS_PER_HOUR):
        assert errors(enter_code(client, f"ABCD-EFGH-{n:04d}"[:14].replace("0", "A"))), n
    # Even the right details are not checked now.
    response = enter_code(client, letter.code)
    assert response.status_code == 429
    page = response.content.decode()
    assert "You have tried too many times" in page
    assert "call the CarePortal helpdesk" in page
    assert ActivationCode.objects.get(patient=letter.patient).failed_attempts == 0
    # Another address is not affected.
    assert enter_code(Client(REMOTE_ADDR="198.51.100.10"), letter.code).status_code == 302
    # An hour later the first address may try again.
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=61)):
        assert enter_code(client, letter.code).status_code == 302


def test_format_errors_do_not_count_as_tries(letter, settings):
    client = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(settings.CAREPORTAL_ACTIVATION_IP_ATTEMPTS_PER_HOUR + 2):
        assert errors(enter_code(client, "short"))
    assert enter_code(client, letter.code).status_code == 302


def test_a_post_without_a_csrf_token_is_refused(letter):
    client = Client(enforce_csrf_checks=True)
    response = enter_code(client, letter.code)
    assert response.status_code == 403
    assert "Your page timed out" in response.content.decode()
    assert "careportal_activation" not in client.session


# What may be typed ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"code": ""}, "Enter your activation code"),
        ({"code": "ABC"}, "Activation code must be 12 letters and numbers, like ABCD-EFGH-JKMN"),
        ({"code": "Ä" * 5000}, "Activation code must be 12 letters and numbers, like ABCD-EFGH-JKMN"),
        ({"postcode": ""}, "Enter your postcode"),
        ({"postcode": "not a postcode"}, "Enter a real postcode, like LS1 4AP"),
        (
            {"date_of_birth_day": "", "date_of_birth_month": "", "date_of_birth_year": ""},
            "Enter your date of birth",
        ),
        ({"date_of_birth_year": ""}, "Date of birth must include a year"),
        ({"date_of_birth_day": "", "date_of_birth_month": ""}, "Date of birth must include a day and a month"),
        ({"date_of_birth_day": "31", "date_of_birth_month": "2"}, "Date of birth must be a real date"),
        ({"date_of_birth_month": "13"}, "Date of birth must be a real date"),
        ({"date_of_birth_day": "xx"}, "Date of birth must be a real date"),
        ({"date_of_birth_year": "79"}, "Year must include 4 numbers"),
        ({"date_of_birth_year": "2999"}, "Date of birth must be in the past"),
        ({"date_of_birth_year": "1850"}, "Date of birth must be the same as or after 1 January 1900"),
    ],
)
def test_step_one_explains_what_to_fix(letter, client, overrides, message):
    response = enter_code(client, letter.code, **overrides)
    assert response.status_code == 200
    assert errors(response) == [message]
    assert ActivationCode.objects.get(patient=letter.patient).failed_attempts == 0


def test_the_error_summary_links_to_the_date_box_in_error(letter, client):
    page = enter_code(client, letter.code, date_of_birth_year="").content.decode()
    assert 'href="#id_date_of_birth"' in page
    assert re.search(r'<input[^>]*id="id_date_of_birth"[^>]*name="date_of_birth_year"', page)
    assert "nhsuk-input--error" in re.search(r'<input[^>]*name="date_of_birth_year"[^>]*>', page).group(0)
    assert "nhsuk-input--error" not in re.search(r'<input[^>]*name="date_of_birth_day"[^>]*>', page).group(0)


def test_a_month_may_be_typed_as_a_word(letter, client):
    assert enter_code(client, letter.code, date_of_birth_month="Nov")["Location"] == reverse("accounts:activate-email")


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("", "Enter your email address"),
        ("not-an-email", "Enter an email address in the correct format, like name@example.com"),
        ("a" * 250 + "@example.org", "Email address must be 254 characters or fewer"),
    ],
)
def test_the_email_address_must_be_real(letter, client, email, message):
    enter_code(client, letter.code)
    assert errors(enter_email(client, email)) == [message]


def test_an_email_address_used_by_another_account_is_refused(letter, client):
    UserFactory(email="taken@example.org")
    enter_code(client, letter.code)
    assert errors(enter_email(client, "Taken@Example.org")) == [
        "This email address is already used for a CarePortal account. Enter a different email address."
    ]


@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("", "Enter a username"),
        ("abc", "Username must be 4 characters or more"),
        ("a" * 151, "Username must be 150 characters or fewer"),
        ("é" * 5000, "Username must be 150 characters or fewer"),
        ("siobhán", CHARACTERS),
        ("ѕiobhan", CHARACTERS),
        ("siobhan o", CHARACTERS),
        ("🙂🙂🙂🙂", CHARACTERS),
        ("siobhan@example.org", "Username cannot be an email address"),
        ("999 000 0026", "Username cannot be an NHS number"),
        ("9990000026", "Username cannot be an NHS number"),
        ("12345", "Username must include at least one letter"),
    ],
)
def test_usernames_follow_the_rules(letter, client, username, message):
    enter_code(client, letter.code)
    enter_email(client)
    response = enter_username_and_password(client, username=username)
    assert response.status_code == 200
    assert errors(response) == [message]
    assert PASSWORD not in response.content.decode(), "the password is never echoed back"


def test_usernames_are_unique_whatever_their_case(letter, client):
    UserFactory(username="Siobhan.OS")
    enter_code(client, letter.code)
    enter_email(client)
    assert errors(enter_username_and_password(client, username="siobhan.os")) == [
        "That username is already taken. Try another, for example by adding a number."
    ]


def test_a_username_taken_part_way_through_sends_the_patient_back_to_choose_another(letter, client):
    reach_check_page(client, letter)
    # The database refuses a second username differing only by case, even when the form's check came first.
    UserFactory(username=USERNAME.upper())
    response = create_account(client)
    assert response["Location"] == reverse("accounts:activate-username")
    assert "Someone has just taken that username" in client.get(response["Location"]).content.decode()
    assert not User.objects.filter(username=USERNAME).exists()


def test_the_database_refuses_usernames_differing_only_by_case():
    UserFactory(username="CaseTest")
    with pytest.raises(IntegrityError):
        User.objects.create(username="casetest")


def _common_password() -> str:
    return sorted(p for p in CommonPasswordValidator().passwords if len(p) >= 12 and not p.isdigit())[0]


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", "Enter a password"),
        ("short-pass", "This password is too short. It must contain at least 12 characters."),
        (_common_password(), "This password is too common."),
        ("379104628573619", "This password is entirely numeric."),
        ("siobhan.os-2026", "The password is too similar to the username."),
        ("x" * 257, "Password must be 256 characters or fewer"),
    ],
    ids=["empty", "short", "common", "numeric", "like-username", "overlong"],
)
def test_weak_passwords_are_refused(letter, client, password, message):
    enter_code(client, letter.code)
    enter_email(client)
    response = enter_username_and_password(client, password=password)
    assert message in errors(response)
    if password:
        assert password not in response.content.decode()


def test_a_password_like_the_patients_name_is_refused(client):
    letter = letter_for_new_patient(family_name="Quarrington")
    enter_code(client, letter.code)
    enter_email(client)
    response = enter_username_and_password(client, password="Quarrington1!")
    assert errors(response) == ["The password is too similar to the last name."]


def test_a_unicode_passphrase_works_for_signing_in(letter, client):
    passphrase = "Ceòl na mara 🌊 agus 山 2026"
    reach_check_page(client, letter, password=passphrase)
    create_account(client)
    response = Client().post(reverse("account_login"), {"login": USERNAME, "password": passphrase})
    assert response["Location"] == reverse("home:home")


def test_three_different_security_questions_are_needed(letter, client):
    enter_code(client, letter.code)
    enter_email(client)
    enter_username_and_password(client)
    response = choose_security_questions(client, question_2="first_school", question_3="first_school")
    assert errors(response) == [
        "Choose a different question from question 1",
        "Choose a different question from question 1",
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"question_1": ""}, "Choose your first question"),
        ({"question_2": "favourite_colour"}, "Choose your second question from the list"),
        ({"answer_3": ""}, "Enter your answer to question 3"),
        ({"answer_1": ". - '"}, "Answer to question 1 must include at least 2 letters or numbers"),
        ({"answer_2": "a" * 101}, "Answer to question 2 must be 100 characters or fewer"),
    ],
)
def test_security_answers_are_checked(letter, client, overrides, message):
    enter_code(client, letter.code)
    enter_email(client)
    enter_username_and_password(client)
    assert errors(choose_security_questions(client, **overrides)) == [message]


# All or nothing -------------------------------------------------------------------------------------------------


def test_a_failure_half_way_leaves_no_partial_rows(letter, client, monkeypatch):
    reach_check_page(client, letter)
    before = account_rows()

    def fail(**kwargs):  # type: ignore[no-untyped-def]
        raise IntegrityError("simulated failure after the account rows were written")

    # The last write before the email: everything before it must be rolled back.
    monkeypatch.setattr("careportal.accounts.activation_services.activation_complete_record", fail)
    with pytest.raises(IntegrityError):
        create_account(client)

    assert account_rows() == before
    letter.patient.refresh_from_db()
    assert letter.patient.user is None
    assert letter.patient.contact_preference == ContactPreference.POST
    code = ActivationCode.objects.get(patient=letter.patient)
    assert code.used_at is None
    # The patient can simply try again.
    monkeypatch.undo()
    assert create_account(client)["Location"] == reverse("accounts:activate-done")


# Email confirmation ---------------------------------------------------------------------------------------------


@pytest.fixture
def activated(letter, client, mailoutbox, django_capture_on_commit_callbacks):
    reach_check_page(client, letter)
    with django_capture_on_commit_callbacks(execute=True):
        create_account(client)
    [email] = mailoutbox
    return confirmation_link(email.body)


def test_the_emailed_link_confirms_the_address(activated, client):
    path = activated.split("testserver", 1)[1]
    page = client.get(path)
    assert page.status_code == 200
    assert "Confirm your email address" in page.content.decode()
    # Opening the link (as a mail scanner would) confirms nothing; the button does.
    assert not EmailAddress.objects.get(email=EMAIL).verified
    response = client.post(path)
    assert response.status_code == 302
    assert EmailAddress.objects.get(email=EMAIL).verified
    user = User.objects.get(username=USERNAME)
    assert AccountEventKind.EMAIL_VERIFIED in [event.kind for event in user.account_events.all()]


def test_the_link_works_from_another_browser_too(activated):
    path = activated.split("testserver", 1)[1]
    client = Client()
    assert "Confirm my email address" in client.get(path).content.decode()
    assert client.post(path)["Location"] == reverse("account_login")
    assert EmailAddress.objects.get(email=EMAIL).verified


def test_a_used_link_says_so_plainly(activated, client):
    path = activated.split("testserver", 1)[1]
    client.post(path)
    page = client.get(path).content.decode()
    assert "This link has expired or has already been used" in page
    assert "Confirm my email address" not in page
    assert client.post(path).status_code == 404


def test_an_expired_link_does_not_confirm(activated, client, settings):
    path = activated.split("testserver", 1)[1]
    later = timezone.now() + datetime.timedelta(days=settings.ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS, minutes=1)
    with time_machine.travel(later):
        assert "This link has expired" in client.get(path).content.decode()
        assert client.post(path).status_code == 404
    assert not EmailAddress.objects.get(email=EMAIL).verified


def test_a_tampered_link_does_not_confirm(activated, client):
    path = activated.split("testserver", 1)[1]
    assert "This link has expired" in client.get(path[:-3] + "xx/").content.decode()


# The demo trust -------------------------------------------------------------------------------------------------


def test_the_demo_letter_activates_siobhans_account(client):
    from careportal.demo.data import DEMO_ACTIVATION_CODE
    from careportal.demo.services import demo_trust_load

    demo_trust_load()
    response = client.post(
        reverse("accounts:activate"),
        {
            "code": DEMO_ACTIVATION_CODE,
            "date_of_birth_day": "22",
            "date_of_birth_month": "11",
            "date_of_birth_year": "1979",
            "postcode": "N8 7QE",
        },
    )
    assert response["Location"] == reverse("accounts:activate-email")
    enter_email(client)
    enter_username_and_password(client)
    choose_security_questions(client)
    assert create_account(client)["Location"] == reverse("accounts:activate-done")
    user = User.objects.get(username=USERNAME)
    assert user.patient.hospital_number == "40077801"
    # Loading the demo again does not give her a new code.
    demo_trust_load()
    assert not ActivationCode.objects.filter(patient=user.patient, used_at__isnull=True).exists()
