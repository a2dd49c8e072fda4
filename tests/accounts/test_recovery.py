"""Account recovery: forgotten password (security questions, then an emailed single-use link) and forgotten username.

The enumeration tests walk the same journey for a real account and for identifiers with no recoverable account, and
compare everything a visitor can see: status codes, redirects, cookies, headers and pages (with CSRF tokens, CSP
nonces and the wording of the questions made equal), and the work done: password hashes, database queries and jobs
handed to the task worker.
"""

import datetime
import re
from unittest import mock

import pytest
import time_machine
from allauth.account.models import EmailAddress
from allauth.usersessions.models import UserSession
from django.contrib.auth.hashers import MD5PasswordHasher
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from careportal.accounts.models import AccountEvent, AccountEventKind, PasswordResetLink, SecurityAnswer
from careportal.accounts.models import SecurityQuestion as Q
from careportal.accounts.recovery import LINK_LIFETIME, _made_up_questions, questions_to_ask
from careportal.accounts.security import hash_answer
from careportal.notifications.models import Notification
from tests.accounts.factories import TEST_PASSWORD, UserFactory
from tests.core.test_logging import captured_logs  # noqa: F401 - a fixture, requested by name below

pytestmark = pytest.mark.django_db

ANSWERS = {Q.FIRST_PET: "Biscuit", Q.CHILDHOOD_STREET: "Acacia Avenue", Q.FIRST_SCHOOL: "St. Mary's"}
# What a person might type: other case, spaces and punctuation.
TYPED = {Q.FIRST_PET: "  BISCUIT ", Q.CHILDHOOD_STREET: "acacia   avenue", Q.FIRST_SCHOOL: "st marys"}
NEW_PASSWORD = "Marmalade-kettle-orbit-42"
LINK = re.compile(r"https?://\S+/forgotten-password/new-password/\?key=[\w\-%]+")
INVALID = "This link has expired or has already been used"
LABEL = re.compile(r'<label\s[^>]*for="id_answer_(\d)"[^>]*>\s*(.*?)\s*</label>', re.S)
QUESTION_BY_TEXT = {str(label): value for value, label in Q.choices}


def give_answers(user, answers=ANSWERS) -> None:  # type: ignore[no-untyped-def]
    for question, answer in answers.items():
        SecurityAnswer.objects.create(user=user, question=question, answer_hash=hash_answer(answer))


@pytest.fixture
def account(patient):  # type: ignore[no-untyped-def]
    """A patient's account with three security answers and a confirmed email address."""
    EmailAddress.objects.create(user=patient.user, email=patient.user.email, verified=True, primary=True)
    give_answers(patient.user)
    return patient.user


def asked_questions(client: Client) -> list[str]:
    """The questions on the security-questions page, in order, as SecurityQuestion values."""
    page = client.get(reverse("accounts:forgotten-password-questions")).content.decode()
    found = sorted(LABEL.findall(page))
    return [QUESTION_BY_TEXT[text] for _, text in found]


def answer(client: Client, answers: dict | None = None, *, right: bool = True):  # type: ignore[no-untyped-def]
    questions = asked_questions(client)
    answers = answers or TYPED
    data = {
        f"answer_{n}": (answers.get(question, "something") if right else "not the answer")
        for n, question in enumerate(questions, start=1)
    }
    return client.post(reverse("accounts:forgotten-password-questions"), data)


def start(client: Client, identifier: str):  # type: ignore[no-untyped-def]
    return client.post(reverse("accounts:forgotten-password"), {"identifier": identifier})


def ask_for_link(client: Client, identifier: str, *, right: bool = True):  # type: ignore[no-untyped-def]
    assert start(client, identifier)["Location"] == reverse("accounts:forgotten-password-questions")
    response = answer(client, right=right)
    assert response["Location"] == reverse("accounts:forgotten-password-sent")
    return response


def link_in(body: str) -> str:
    match = LINK.search(body)
    assert match, "no reset link in the email"
    return match.group(0)


def open_link(client: Client, link: str):  # type: ignore[no-untyped-def]
    path = link.split("://", 1)[1].split("/", 1)[1]
    return client.get("/" + path)


def set_password(client: Client, link: str, password: str = NEW_PASSWORD, again: str | None = None):  # type: ignore[no-untyped-def]
    opened = open_link(client, link)
    assert opened.status_code == 302, "a working link redirects to the new-password page"
    return client.post(
        reverse("accounts:new-password"),
        {"new_password": password, "new_password_again": password if again is None else again},
    )


def sign_in(client: Client, username: str, password: str):  # type: ignore[no-untyped-def]
    return client.post(reverse("account_login"), {"login": username, "password": password})


# The forgotten-password journey -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["username", "email", "USERNAME IN CAPITALS"])
def test_forgotten_password_journey_sets_a_new_password(
    account, client, mailoutbox, django_capture_on_commit_callbacks, how
):
    identifier = {
        "username": account.username,
        "email": account.email,
        "USERNAME IN CAPITALS": f"  {account.username.upper()} ",
    }[how]
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_link(client, identifier)
    [email] = mailoutbox
    assert email.to == [account.email]
    assert email.subject == "Reset your CarePortal password"
    link = link_in(email.body)

    opened = open_link(client, link)
    assert opened.status_code == 302
    assert opened["Location"] == reverse("accounts:new-password"), "the key leaves the address bar at once"
    page = client.get(reverse("accounts:new-password"))
    assert page.status_code == 200
    assert "Choose a new password" in page.content.decode()
    assert "no-store" in page["Cache-Control"]

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            reverse("accounts:new-password"), {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
        )
    assert done["Location"] == reverse("accounts:password-reset-done")
    assert "Your password has been changed" in client.get(done["Location"]).content.decode()

    assert AccountEvent.objects.filter(user=account, kind=AccountEventKind.PASSWORD_RESET).count() == 1
    notice = mailoutbox[-1]
    assert notice.subject == "A change to how you sign in to CarePortal"
    assert "your password was reset" in notice.body
    assert sign_in(Client(), account.username, TEST_PASSWORD).status_code == 200, "the old password no longer works"
    assert sign_in(Client(), account.username, NEW_PASSWORD)["Location"] == reverse("home:home")


def test_the_done_page_is_only_shown_after_a_reset(client):
    assert client.get(reverse("accounts:password-reset-done"))["Location"] == reverse("account_login")


def test_the_forgotten_password_journey_through_a_real_smtp_server(
    account, smtp_server, django_capture_on_commit_callbacks
):
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_link(client, account.username)
    message = smtp_server.wait_for_message(to=account.email)
    assert message["Subject"] == "Reset your CarePortal password"
    body = smtp_server.body(message)
    assert "works once, for 1 hour" in body
    for personal in [account.patient.family_name, account.patient.nhs_number, account.username]:
        assert personal not in body
    link = link_in(body)

    received = len(smtp_server.messages)
    with django_capture_on_commit_callbacks(execute=True):
        assert set_password(client, link)["Location"] == reverse("accounts:password-reset-done")
    notice = smtp_server.wait_for_message(to=account.email, after=received)
    assert notice["Subject"] == "A change to how you sign in to CarePortal"
    assert "your password was reset" in smtp_server.body(notice)
    assert Notification.objects.filter(status="sent").count() == 2


def test_the_link_works_only_once(account, client, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_link(client, account.username)
    link = link_in(mailoutbox[0].body)
    assert set_password(client, link).status_code == 302

    again = open_link(Client(), link)
    assert again.status_code == 200
    assert INVALID in again.content.decode()
    # Nor can the session that used it set another password.
    reused = client.post(
        reverse("accounts:new-password"), {"new_password": "Another-long-pass-99", "new_password_again": "x"}
    )
    assert INVALID in reused.content.decode()


def test_a_link_opened_but_left_cannot_be_used_twice_from_two_browsers(
    account, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_link(Client(), account.username)
    link = link_in(mailoutbox[0].body)
    first, second = Client(), Client()
    assert open_link(first, link).status_code == 302
    assert open_link(second, link).status_code == 302
    data = {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
    assert first.post(reverse("accounts:new-password"), data)["Location"] == reverse("accounts:password-reset-done")
    assert INVALID in second.post(reverse("accounts:new-password"), data).content.decode()


def test_an_expired_link_is_refused(account, mailoutbox, django_capture_on_commit_callbacks):
    asked_at = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(asked_at, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            ask_for_link(Client(), account.username)
        link = link_in(mailoutbox[0].body)
    with time_machine.travel(asked_at + LINK_LIFETIME - datetime.timedelta(minutes=1), tick=False):
        assert open_link(Client(), link).status_code == 302, "still works just before the hour is up"
    with time_machine.travel(asked_at + LINK_LIFETIME + datetime.timedelta(seconds=1), tick=False):
        expired = open_link(Client(), link)
        assert expired.status_code == 200
        assert INVALID in expired.content.decode()
        # A browser that opened it in time cannot use it late either.
    client = Client()
    with time_machine.travel(asked_at + datetime.timedelta(minutes=30), tick=False):
        assert open_link(client, link).status_code == 302
    with time_machine.travel(asked_at + LINK_LIFETIME + datetime.timedelta(minutes=5), tick=False):
        late = client.post(
            reverse("accounts:new-password"), {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
        )
        assert INVALID in late.content.decode()


def test_a_newer_link_replaces_the_older_one(account, mailoutbox, django_capture_on_commit_callbacks):
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            ask_for_link(Client(), account.username)
    older, newer = link_in(mailoutbox[0].body), link_in(mailoutbox[1].body)
    assert INVALID in open_link(Client(), older).content.decode()
    assert open_link(Client(), newer).status_code == 302
    assert PasswordResetLink.objects.filter(user=account).count() == 1


def test_a_link_stops_working_when_the_password_changes_another_way(
    account, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_link(Client(), account.username)
    account.set_password("Changed-some-other-way-1")
    account.save()
    assert INVALID in open_link(Client(), link_in(mailoutbox[0].body)).content.decode()


def test_a_made_up_or_overlong_key_is_refused(client):
    for key in ["", "not-a-key", "A" * 5000]:
        response = client.get(reverse("accounts:new-password"), {"key": key})
        assert response.status_code == 200
        assert INVALID in response.content.decode()
    assert INVALID in client.get(reverse("accounts:new-password")).content.decode()


def test_wrong_answers_send_nothing_and_show_the_same_page(
    account, client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_link(client, account.username, right=False)
        start(client, account.username)
        [first, _second] = asked_questions(client)
        one_right = client.post(
            reverse("accounts:forgotten-password-questions"),
            {"answer_1": TYPED[first], "answer_2": "not the answer"},
        )
    assert one_right["Location"] == reverse("accounts:forgotten-password-sent")
    assert mailoutbox == []
    assert not PasswordResetLink.objects.exists()
    page = client.get(reverse("accounts:forgotten-password-sent")).content.decode()
    assert "If the details you gave match an account" in page


def test_each_attempt_has_one_go_at_the_questions(account, client):
    ask_for_link(client, account.username, right=False)
    # The questions page without a fresh start goes back to the first page.
    assert client.get(reverse("accounts:forgotten-password-questions"))["Location"] == reverse(
        "accounts:forgotten-password"
    )
    assert client.post(reverse("accounts:forgotten-password-questions"), {"answer_1": "a", "answer_2": "b"})[
        "Location"
    ] == reverse("accounts:forgotten-password")


def questions_page(client: Client, identifier: str) -> tuple[list[str], str]:
    """The questions asked after typing `identifier`, and the questions page with its tokens and wording made equal."""
    start(client, identifier)
    page = client.get(reverse("accounts:forgotten-password-questions")).content.decode()
    asked = [QUESTION_BY_TEXT[text] for _, text in sorted(LABEL.findall(page))]
    assert len(asked) == 2 and len(set(asked)) == 2
    return asked, normalised(page)


def test_a_real_account_and_an_unknown_name_are_each_asked_one_steady_pair(account, db):
    # Asking 2 of the 3 at random each time showed all of a real account's questions in turn, while a name with no
    # account kept one set: a difference anyone could see by asking a few times.
    real = [questions_page(Client(), identifier) for identifier in [account.username] * 8 + [account.username.upper()]]
    unknown = [questions_page(Client(), identifier) for identifier in ["no.such.person"] * 8 + ["  NO.SUCH.PERSON "]]
    for seen in (real, unknown):
        assert len({tuple(asked) for asked, _ in seen}) == 1, "the same 2 questions, in the same order, every time"
        assert len({page for _, page in seen}) == 1
    assert set(real[0][0]) <= set(ANSWERS), "2 of the 3 the owner chose"
    assert real[0][1] == unknown[0][1], "the pages differ only in the wording of the questions"


def test_which_pair_is_asked_varies_from_name_to_name_for_accounts_and_unknown_names_alike(db):
    # Many accounts with the same three questions: each of the 3 possible pairs is asked of some of them.
    pairs_for_accounts = set()
    for n in range(30):
        give_answers(UserFactory(username=f"pair.test.{n}"))
        pairs_for_accounts.add(frozenset(questions_page(Client(), f"pair.test.{n}")[0]))
    assert len(pairs_for_accounts) == 3
    # Names with no account: each gets its own made-up three, and any 2 of its three, just the same.
    positions, pairs_for_unknown = set(), set()
    for n in range(30):
        name = f"no.account.{n}"
        asked = questions_page(Client(), name)[0]
        made_up = _made_up_questions(name)
        assert set(asked) <= set(made_up)
        positions.add(frozenset(made_up.index(question) for question in asked))
        pairs_for_unknown.add(frozenset(asked))
    assert positions == {frozenset({0, 1}), frozenset({0, 2}), frozenset({1, 2})}
    assert len(pairs_for_unknown) > 10, "not one pair for every unknown name"


def test_a_reset_password_may_change_the_pair_and_nothing_else_does(
    account, client, mailoutbox, django_capture_on_commit_callbacks
):
    before = questions_page(Client(), account.username)[0]
    # Wrong answers, and right answers whose link is never used, leave the pair as it was (or the change would
    # tell whoever answered that they had it right).
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_link(client, account.username, right=False)
        ask_for_link(client, account.username, right=True)
    assert questions_page(Client(), account.username)[0] == before
    with django_capture_on_commit_callbacks(execute=True):
        set_password(client, link_in(mailoutbox[-1].body))
    account.refresh_from_db()
    assert account.recovery_questions_round == 1
    after = questions_page(Client(), account.username)[0]
    assert after == questions_to_ask(identifier=account.username, held=list(ANSWERS), round_number=1)
    assert [questions_page(Client(), account.username)[0] for _ in range(3)] == [after] * 3


def test_an_email_address_shared_by_two_accounts_needs_the_username(
    account, mailoutbox, django_capture_on_commit_callbacks
):
    relative = UserFactory(email=account.email)
    give_answers(relative)
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_link(Client(), account.email)
    assert mailoutbox == [], "the address cannot say whose password to reset"
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_link(Client(), relative.username)
    assert len(mailoutbox) == 1


def test_an_unconfirmed_extra_address_does_not_find_the_account(
    account, mailoutbox, django_capture_on_commit_callbacks
):
    EmailAddress.objects.create(user=account, email="typo.address@example.net", verified=False)
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_link(Client(), "typo.address@example.net")
    assert mailoutbox == []


# Sessions end after a reset -----------------------------------------------------------------------------------


def test_every_session_of_the_account_ends_after_a_reset(account, mailoutbox, django_capture_on_commit_callbacks):
    laptop, phone = Client(HTTP_USER_AGENT="laptop"), Client(HTTP_USER_AGENT="phone")
    for browser in (laptop, phone):
        assert sign_in(browser, account.username, TEST_PASSWORD)["Location"] == reverse("home:home")
        assert browser.get(reverse("home:home")).status_code == 200
    assert UserSession.objects.filter(user=account).count() == 2

    recovering = Client()
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_link(recovering, account.username)
    assert set_password(recovering, link_in(mailoutbox[0].body))["Location"] == reverse("accounts:password-reset-done")

    for browser in (laptop, phone):
        response = browser.get(reverse("home:home"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))
    assert UserSession.objects.filter(user=account).count() == 0
    signed_in = [s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(account.pk)]
    assert signed_in == []


def test_a_reset_lifts_a_sign_in_lock_at_that_address_only(account, mailoutbox, django_capture_on_commit_callbacks):
    from axes.models import AccessAttempt

    for ip in ["10.0.0.7", "203.0.113.5"]:
        for _ in range(5):
            Client().post(reverse("account_login"), {"login": account.username, "password": "wrong"}, REMOTE_ADDR=ip)
    recovering = Client(REMOTE_ADDR="10.0.0.7")
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_link(recovering, account.username)
    with django_capture_on_commit_callbacks(execute=True):
        set_password(recovering, link_in(mailoutbox[0].body))
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["203.0.113.5"]
    response = Client().post(
        reverse("account_login"), {"login": account.username, "password": NEW_PASSWORD}, REMOTE_ADDR="10.0.0.7"
    )
    assert response["Location"] == reverse("home:home")


# The new password ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "again", "message"),
    [
        ("", "", "Enter a new password"),
        ("Short-1", "Short-1", "This password is too short. It must contain at least 12 characters."),
        ("password12345", "password12345", "This password is too common."),
        ("738291046571", "738291046571", "This password is entirely numeric."),
        (NEW_PASSWORD, "Something-else-entirely-9", "The passwords do not match"),
        (NEW_PASSWORD, "", "Type your new password again"),
        ("x" * 4097, "x" * 4097, "Your password must be 4096 characters or fewer"),
    ],
)
def test_weak_or_mistyped_passwords_are_refused_with_specific_messages(
    account, client, mailoutbox, django_capture_on_commit_callbacks, password, again, message
):
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_link(client, account.username)
    response = set_password(client, link_in(mailoutbox[0].body), password, again)
    assert response.status_code == 200
    page = response.content.decode()
    assert "There is a problem" in page
    assert message in page
    assert password not in page or password == "", "a password is never echoed back"
    account.refresh_from_db()
    assert account.check_password(TEST_PASSWORD)
    # The link still works for a better password.
    good = client.post(
        reverse("accounts:new-password"), {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
    )
    assert good["Location"] == reverse("accounts:password-reset-done")


def test_a_password_like_the_username_is_refused(client, mailoutbox, django_capture_on_commit_callbacks):
    user = UserFactory(username="florence.nightingale")
    give_answers(user)
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_link(client, user.username)
    response = set_password(client, link_in(mailoutbox[0].body), "Florence.Nightingale")
    assert "The password is too similar to the username." in response.content.decode()


# Enumeration: the same answer, and the same work, whether or not an account exists -----------------------------

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
_NONCE = re.compile(r"nonce(=|-)\"?[A-Za-z0-9+/=_\-]+\"?")
_QUESTION_TEXT = re.compile("|".join(re.escape(str(label)) for _, label in Q.choices))


def normalised(text: str) -> str:
    text = _CSRF.sub('name="csrfmiddlewaretoken" value="CSRF"', text)
    text = _NONCE.sub("nonce=NONCE", text)
    return _QUESTION_TEXT.sub("QUESTION", text)


def seen_from_outside(response) -> dict:  # type: ignore[no-untyped-def]
    headers = {
        # `Expires` is the time of the response (never_cache): only whether it is there counts.
        name: "(a time)" if name.lower() == "expires" else normalised(value)
        for name, value in response.headers.items()
        if name.lower() not in {"content-length", "set-cookie"}
    }
    return {
        "status": response.status_code,
        "location": response.headers.get("Location"),
        "cookies": sorted(response.cookies.keys()),
        "headers": headers,
        "page": normalised(response.content.decode()),
    }


class Work:
    """The password hashes computed, the database queries made and the jobs queued while a block runs."""

    def __init__(self, capture_callbacks) -> None:  # type: ignore[no-untyped-def]
        self.capture_callbacks = capture_callbacks

    def __enter__(self) -> "Work":
        self._hashes = mock.patch.object(MD5PasswordHasher, "encode", autospec=True, side_effect=MD5_ENCODE)
        self.hashes = self._hashes.start()
        self._queries = CaptureQueriesContext(connection)
        self._queries.__enter__()
        self._callbacks = self.capture_callbacks(execute=False)
        self.callbacks = self._callbacks.__enter__()
        return self

    def __exit__(self, *exc) -> None:  # type: ignore[no-untyped-def]
        self._callbacks.__exit__(*exc)
        self._queries.__exit__(*exc)
        self._hashes.stop()

    def summary(self) -> dict:
        return {
            "hashes": self.hashes.call_count,
            "queries": len(self._queries.captured_queries),
            "jobs queued": len(self.callbacks),
        }


MD5_ENCODE = MD5PasswordHasher.encode


def journey_from_outside(identifier: str, capture_callbacks, *, right: bool) -> dict:  # type: ignore[no-untyped-def]
    client = Client()
    seen: dict = {}
    with Work(capture_callbacks) as work:
        first = start(client, identifier)
    seen["start"], seen["start work"] = seen_from_outside(first), work.summary()
    seen["questions"] = seen_from_outside(client.get(reverse("accounts:forgotten-password-questions")))
    with Work(capture_callbacks) as work:
        answered = answer(client, right=right)
    seen["answers"], seen["answers work"] = seen_from_outside(answered), work.summary()
    seen["sent"] = seen_from_outside(client.get(reverse("accounts:forgotten-password-sent")))
    return seen


def test_known_and_unknown_accounts_look_and_work_the_same_at_every_step(
    account, django_capture_on_commit_callbacks, mailoutbox
):
    staff = UserFactory(is_staff=True)  # staff have no security answers: they reset through the helpdesk
    inactive = UserFactory(is_active=False)
    give_answers(inactive)
    partly_set_up = UserFactory()
    give_answers(partly_set_up, {Q.FIRST_PET: "Rex", Q.FIRST_JOB: "Paper round"})
    # Warm up anything made once per process (the stand-in hash), so that it is not counted against one case.
    journey_from_outside("warm-up", django_capture_on_commit_callbacks, right=False)

    unknown = journey_from_outside("nobody.at.all", django_capture_on_commit_callbacks, right=False)
    cases = {
        "known username, wrong answers": (account.username, False),
        "known username, right answers": (account.username, True),
        "known email address, wrong answers": (account.email, False),
        "unknown email address": ("nobody@example.org", False),
        "staff account without answers": (staff.username, True),
        "inactive account": (inactive.username, True),
        "account with only two answers": (partly_set_up.username, True),
    }
    for name, (identifier, right) in cases.items():
        seen = journey_from_outside(identifier, django_capture_on_commit_callbacks, right=right)
        for step in unknown:
            assert seen[step] == unknown[step], f"{name}: {step} differs from an unknown username"
    assert unknown["answers work"]["hashes"] == 2, "both answers are hashed even for an unknown username"
    assert unknown["answers work"]["jobs queued"] == 1
    assert unknown["start"]["location"] == reverse("accounts:forgotten-password-questions")
    assert unknown["start"]["cookies"] == ["sessionid"]


def test_only_a_real_account_with_the_right_answers_gets_an_email(
    account, mailoutbox, django_capture_on_commit_callbacks
):
    staff = UserFactory(is_staff=True)
    with django_capture_on_commit_callbacks(execute=True):
        for identifier in ["nobody.at.all", staff.username]:
            ask_for_link(Client(), identifier)
        ask_for_link(Client(), account.username, right=False)
    assert mailoutbox == []
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_link(Client(), account.username)
    assert [email.to for email in mailoutbox] == [[account.email]]


def test_no_url_in_the_journey_names_the_person(account, client, mailoutbox, django_capture_on_commit_callbacks):
    locations = []
    with django_capture_on_commit_callbacks(execute=True):
        locations.append(start(client, account.email)["Location"])
        locations.append(answer(client)["Location"])
    link = link_in(mailoutbox[0].body)
    locations.append(open_link(client, link)["Location"])
    locations.append(
        client.post(
            reverse("accounts:new-password"), {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
        )["Location"]
    )
    assert None not in locations
    for value in [account.username, account.email, str(account.public_id)]:
        assert all(value not in location for location in [*locations, link])
    assert all("?" not in location for location in locations), "no query strings: nothing to carry an identifier"


# Throttling ---------------------------------------------------------------------------------------------------


def test_too_many_attempts_on_one_account_stop_checking_and_sending_but_look_the_same(
    account, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.CAREPORTAL_RECOVERY_ATTEMPTS_PER_ACCOUNT = 3
    for _ in range(3):
        ask_for_link(Client(REMOTE_ADDR="10.1.0.1"), account.username, right=False)
    # The right answers now, from another address and by email address: still refused, and no hashing at all.
    with Work(django_capture_on_commit_callbacks) as work:
        client = Client(REMOTE_ADDR="10.1.0.2")
        start(client, account.email)
        response = answer(client)
    assert response["Location"] == reverse("accounts:forgotten-password-sent")
    assert work.summary()["hashes"] == 0
    assert work.summary()["jobs queued"] == 0
    assert mailoutbox == []

    # An unknown username is throttled after exactly as many attempts.
    for _ in range(3):
        ask_for_link(Client(REMOTE_ADDR="10.1.0.3"), "nobody.at.all", right=False)
    with Work(django_capture_on_commit_callbacks) as unknown_work:
        client = Client(REMOTE_ADDR="10.1.0.4")
        start(client, "nobody.at.all")
        assert answer(client)["Location"] == response["Location"]
    assert unknown_work.summary() == work.summary()


def test_too_many_attempts_from_one_address_stop_checking_and_sending(
    account, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.CAREPORTAL_RECOVERY_ATTEMPTS_PER_IP = 3
    for n in range(3):
        ask_for_link(Client(REMOTE_ADDR="10.2.0.1"), f"guess.{n}", right=False)
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_link(Client(REMOTE_ADDR="10.2.0.1"), account.username)
    assert mailoutbox == []
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_link(Client(REMOTE_ADDR="10.2.0.2"), account.username)
    assert len(mailoutbox) == 1


def test_attempts_are_counted_again_after_the_window(account, settings, mailoutbox, django_capture_on_commit_callbacks):
    settings.CAREPORTAL_RECOVERY_ATTEMPTS_PER_ACCOUNT = 1
    from django.core.cache import cache

    ask_for_link(Client(), account.username, right=False)
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_link(Client(), account.username)
    assert mailoutbox == []
    cache.clear()  # what the window's end does to the counters (the local-memory cache ignores time-machine)
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_link(Client(), account.username)
    assert len(mailoutbox) == 1


# Forms, CSRF and odd input ------------------------------------------------------------------------------------


def test_empty_fields_get_specific_messages(client):
    page = client.post(reverse("accounts:forgotten-password"), {"identifier": "  "}).content.decode()
    assert "There is a problem" in page
    assert "Enter your username or email address" in page
    start(client, "anyone")
    page = client.post(reverse("accounts:forgotten-password-questions"), {}).content.decode()
    assert "Enter your answer to the first question" in page
    assert "Enter your answer to the second question" in page
    page = client.post(reverse("accounts:forgotten-username"), {"email": ""}).content.decode()
    assert "Enter your email address" in page
    page = client.post(reverse("accounts:forgotten-username"), {"email": "not-an-address"}).content.decode()
    assert "Enter an email address in the correct format, like name@example.com" in page


def test_overlong_and_unicode_input_is_handled_cleanly(client, mailoutbox, django_capture_on_commit_callbacks):
    for typed in ["é" * 5000, "🙂" * 255, "a\x00b"]:
        response = client.post(reverse("accounts:forgotten-password"), {"identifier": typed})
        assert response.status_code == 200
        assert "There is a problem" in response.content.decode()
    start(client, "anyone")
    too_long = client.post(reverse("accounts:forgotten-password-questions"), {"answer_1": "x" * 101, "answer_2": "y"})
    assert "must be 100 characters or fewer" in too_long.content.decode()
    huge_email = client.post(reverse("accounts:forgotten-username"), {"email": "a" * 5000 + "@example.org"})
    assert "There is a problem" in huge_email.content.decode()

    # A Unicode username and Unicode answers work; answers whatever their case and form. (Usernames are found
    # case-insensitively as sign-in finds them: by the database, which on SQLite folds ASCII letters only.)
    user = UserFactory(username="zoë.名前", email="zoe@example.org")
    give_answers(user, {Q.FIRST_PET: "Ça Va", Q.FIRST_JOB: "Ðiner", Q.PARENTS_MET: "Zürich"})
    recovering = Client()
    with django_capture_on_commit_callbacks(execute=True):
        assert start(recovering, " Zoë.名前 ").status_code == 302
        answer(recovering, {Q.FIRST_PET: "ça va", Q.FIRST_JOB: "ðINER", Q.PARENTS_MET: "zÜrich"})
    assert len(mailoutbox) == 1


@pytest.mark.parametrize(
    ("url_name", "data"),
    [
        ("accounts:forgotten-password", {"identifier": "someone"}),
        ("accounts:forgotten-password-questions", {"answer_1": "a", "answer_2": "b"}),
        ("accounts:new-password", {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}),
        ("accounts:forgotten-username", {"email": "someone@example.org"}),
    ],
)
def test_posts_without_a_csrf_token_are_refused(url_name, data):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse(url_name), data)
    assert response.status_code == 403
    assert "Your page timed out" in response.content.decode()


def test_allauths_reset_by_email_alone_is_switched_off(account, client, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for path in ["/account/password/reset/", "/account/password/reset/key/1-abc/", "/account/password/reset/done/"]:
            assert client.get(path)["Location"] == reverse("accounts:forgotten-password")
        response = client.post("/account/password/reset/", {"email": account.email})
    assert response["Location"] == reverse("accounts:forgotten-password")
    assert mailoutbox == []


# The link's key is never logged -------------------------------------------------------------------------------


def test_the_links_key_and_the_answers_are_never_logged(
    account,
    captured_logs,  # noqa: F811 - the fixture imported above
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    _log_format, stream = captured_logs
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_link(client, account.email)
    link = link_in(mailoutbox[0].body)
    key = link.split("key=", 1)[1]
    with django_capture_on_commit_callbacks(execute=True):
        set_password(client, link)
    output = stream.getvalue()
    assert "/forgotten-password/new-password/" in output, "the request was logged"
    for secret in [key, NEW_PASSWORD, *TYPED.values(), account.email]:
        assert secret.strip() not in output, f"{secret!r} was logged"


# Forgotten username -------------------------------------------------------------------------------------------


def ask_for_username(client: Client, email: str):  # type: ignore[no-untyped-def]
    response = client.post(reverse("accounts:forgotten-username"), {"email": email})
    assert response["Location"] == reverse("accounts:forgotten-username-sent")
    return response


def test_forgotten_username_journey_emails_the_username(
    account, client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_username(client, f"  {account.email.upper()} ")
    [email] = mailoutbox
    assert email.to == [account.email]
    assert email.subject == "Your CarePortal username"
    assert account.username in email.body
    assert AccountEvent.objects.filter(user=account, kind=AccountEventKind.USERNAME_REMINDER_SENT).count() == 1
    page = client.get(reverse("accounts:forgotten-username-sent")).content.decode()
    assert "If the email address you gave is on a CarePortal account" in page


def test_forgotten_username_through_a_real_smtp_server(account, smtp_server, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_username(Client(), account.email)
    message = smtp_server.wait_for_message(to=account.email)
    assert message["Subject"] == "Your CarePortal username"
    body = smtp_server.body(message)
    assert account.username in body
    assert account.patient.family_name not in body


def test_a_confirmed_extra_address_gets_the_username_but_an_unconfirmed_one_does_not(
    account, mailoutbox, django_capture_on_commit_callbacks
):
    EmailAddress.objects.create(user=account, email="work.address@example.net", verified=True)
    EmailAddress.objects.create(user=account, email="typo.address@example.net", verified=False)
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_username(Client(), "work.address@example.net")
        ask_for_username(Client(), "typo.address@example.net")
    assert [email.to for email in mailoutbox] == [["work.address@example.net"]]


def test_a_shared_address_gets_each_accounts_username(account, mailoutbox, django_capture_on_commit_callbacks):
    relative = UserFactory(email=account.email)
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_username(Client(), account.email)
    bodies = sorted(email.body for email in mailoutbox)
    assert len(bodies) == 2
    assert any(account.username in body for body in bodies)
    assert any(relative.username in body for body in bodies)


def test_forgotten_username_looks_and_works_the_same_for_unknown_addresses(
    account, mailoutbox, django_capture_on_commit_callbacks
):
    inactive = UserFactory(is_active=False)

    def from_outside(email: str) -> dict:
        client = Client()
        with Work(django_capture_on_commit_callbacks) as work:
            response = client.post(reverse("accounts:forgotten-username"), {"email": email})
        return {
            "post": seen_from_outside(response),
            "work": work.summary(),
            "sent": seen_from_outside(client.get(reverse("accounts:forgotten-username-sent"))),
        }

    unknown = from_outside("nobody@example.org")
    assert unknown["work"]["jobs queued"] == 1
    for email in [account.email, account.email.upper(), inactive.email]:
        assert from_outside(email) == unknown, email


def test_forgotten_username_is_throttled_per_address_with_the_same_page(
    account, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.CAREPORTAL_RECOVERY_ATTEMPTS_PER_ACCOUNT = 2
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(4):
            ask_for_username(Client(REMOTE_ADDR=f"10.3.0.{n}"), account.email)
    assert len(mailoutbox) == 2


def test_forgotten_username_is_throttled_per_ip(account, settings, mailoutbox, django_capture_on_commit_callbacks):
    settings.CAREPORTAL_RECOVERY_ATTEMPTS_PER_IP = 2
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(2):
            ask_for_username(Client(REMOTE_ADDR="10.4.0.1"), f"guess{n}@example.org")
        ask_for_username(Client(REMOTE_ADDR="10.4.0.1"), account.email)
    assert mailoutbox == []


def test_an_abandoned_attempt_starts_again_after_half_an_hour(account, client):
    began = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(began, tick=False):
        start(client, account.username)
        assert client.get(reverse("accounts:forgotten-password-questions")).status_code == 200
    with time_machine.travel(began + datetime.timedelta(minutes=31), tick=False):
        late = client.get(reverse("accounts:forgotten-password-questions"))
    assert late["Location"] == reverse("accounts:forgotten-password")
