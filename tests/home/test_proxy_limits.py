"""What someone acting for another person can never do: change that person's password, two-step verification or
security answers, end their sessions, or reach a part of their record they were not given (404).

The account pages (/account/...) are always about the signed-in person's own account. The walk below posts to every
one of them from a parent's session while the parent has their child's record open, and then checks that nothing
of the child's account changed."""

import datetime
import uuid
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from careportal.accounts.models import SecurityAnswer
from tests.accounts.factories import TEST_PASSWORD, UserFactory
from tests.patients.factories import CareRelationshipFactory, CareTeamFactory, PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-password-2031"


def _account_urls(patterns: Any, prefix: str = "", namespace: str = "") -> list[tuple[str, str, URLPattern]]:
    """Every named URL under /account/ (ours and allauth's), with its full name."""
    found = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found += _account_urls(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern) and entry.name and (prefix + str(entry.pattern)).startswith("account"):
            found.append((f"{namespace}{entry.name}", prefix + str(entry.pattern), entry))
    return found


ACCOUNT_URLS = sorted({name for name, _, _ in _account_urls(get_resolver().url_patterns)})
# Addresses that need a key from an email: made up here, so they can only fail.
KEYED = {
    "account_confirm_email": {"key": "made-up-key"},
    "account_reset_password_from_key": {"uidb36": "1", "key": "made-up-key"},
}


@pytest.fixture
def family() -> dict[str, Any]:
    child = PatientWithAccountFactory(given_name="Arjun", family_name="Patel", birth_date=datetime.date(2015, 6, 1))
    parent = UserFactory(first_name="Priya", last_name="Patel")
    ProxyRelationshipFactory(proxy=parent, patient=child, valid_from=child.birth_date)
    account = child.user
    EmailAddress.objects.create(user=account, email=account.email, verified=True, primary=True)
    totp = Authenticator.objects.create(user=account, type=Authenticator.Type.TOTP, data={"secret": "JBSWY3DPEHPK3PXP"})
    key = Authenticator.objects.create(
        user=account, type=Authenticator.Type.WEBAUTHN, data={"name": "Arjun's phone", "credential": {}}
    )
    for question in ("first school", "first pet", "street"):
        SecurityAnswer.objects.create(user=account, question=question, answer_hash=f"hash-of-{question}")
    session = UserSession.objects.create(
        user=account, ip="192.0.2.1", session_key=uuid.uuid4().hex, user_agent="Arjun's browser"
    )
    return {"child": child, "parent": parent, "totp": totp, "key": key, "session": session}


def _snapshot(user: Any) -> dict[str, Any]:
    user.refresh_from_db()
    return {
        "password": user.password,
        "username": user.username,
        "email": user.email,
        "is_active": user.is_active,
        "trusted_devices_revoked_at": user.trusted_devices_revoked_at,
        "authenticators": sorted(Authenticator.objects.filter(user=user).values_list("pk", "type", "data")),
        "answers": sorted(SecurityAnswer.objects.filter(user=user).values_list("question", "answer_hash")),
        "emails": sorted(EmailAddress.objects.filter(user=user).values_list("email", "verified", "primary")),
        "sessions": sorted(UserSession.objects.filter(user=user).values_list("pk", flat=True)),
    }


def _url_for(name: str, family: dict[str, Any]) -> str:
    if name in KEYED:
        return reverse(name, kwargs=KEYED[name])
    if name == "accounts:forget-trusted-device":
        return reverse(name, kwargs={"device_id": uuid.uuid4()})
    if name == "accounts:session-end":
        return reverse(name, kwargs={"session_id": family["session"].pk})
    if name in ("mfa_remove_webauthn", "mfa_edit_webauthn"):
        return reverse(name, kwargs={"pk": family["key"].pk})
    return reverse(name)


# What a form on any of these pages might ask for: the parent's own password (the only one they know), a new
# password, a code, an authenticator to remove.
POSTED = {
    "oldpassword": TEST_PASSWORD,
    "password": TEST_PASSWORD,
    "password1": NEW_PASSWORD,
    "password2": NEW_PASSWORD,
    "code": "123456",
    "name": "Not Arjun's key",
    "email": "someone-else@example.org",
    "authenticator": "",
    "session": "",
}


def _acting_for_the_child(family: dict[str, Any]) -> Client:
    client = Client()
    client.force_login(family["parent"])
    client.post(reverse("home:act-for", args=[family["child"].public_id]))
    return client


@pytest.mark.parametrize("url_name", ACCOUNT_URLS)
def test_no_account_page_changes_the_account_of_the_person_acted_for(url_name: str, family: dict[str, Any]) -> None:
    before = _snapshot(family["child"].user)
    url = _url_for(url_name, family)

    for method in ("get", "post"):
        response = getattr(_acting_for_the_child(family), method)(url, POSTED if method == "post" else None)
        assert response.status_code < 500, (method, url)

    assert _snapshot(family["child"].user) == before


def test_changing_the_password_while_acting_for_a_child_changes_the_parents_own(family: dict[str, Any]) -> None:
    client = _acting_for_the_child(family)
    child_password = _snapshot(family["child"].user)["password"]

    client.post(reverse("account_change_password"), POSTED)

    family["parent"].refresh_from_db()
    assert family["parent"].check_password(NEW_PASSWORD)
    assert _snapshot(family["child"].user)["password"] == child_password


def test_the_childs_sign_in_session_cannot_be_ended_by_the_parent(family: dict[str, Any]) -> None:
    response = _acting_for_the_child(family).post(
        reverse("accounts:session-end", kwargs={"session_id": family["session"].pk})
    )
    assert response.status_code == 404
    assert UserSession.objects.filter(pk=family["session"].pk).exists()


def test_the_security_page_says_it_is_the_parents_own_account(family: dict[str, Any]) -> None:
    body = _acting_for_the_child(family).get(reverse("accounts:security")).content.decode()

    assert family["parent"].username in body
    assert family["child"].user.username not in body
    assert "These are the settings of your own account. They are not Arjun&#39;s" in body


def test_the_home_card_says_sign_in_and_security_is_the_parents_own(family: dict[str, Any]) -> None:
    body = _acting_for_the_child(family).get(reverse("home:home")).content.decode()
    assert "Your own account, not Arjun&#39;s" in body
    assert "Only Arjun can change how they sign in." in body


# Scopes not given ---------------------------------------------------------------------------------------------------

PAGES_BY_SCOPE = {
    "results": ["results:list", "results:preferences"],
    "messages": ["messaging:list", "messaging:compose"],
    "letters": ["letters:list"],
    "details": ["patients:your-details", "patients:address", "patients:contact-preferences"],
    "appointments": ["appointments:list"],
}


@pytest.mark.parametrize("scope", sorted(PAGES_BY_SCOPE))
def test_a_proxy_without_a_scope_gets_404_for_its_pages_and_200_with_it(scope: str) -> None:
    child = PatientWithAccountFactory(birth_date=datetime.date(2015, 6, 1))
    CareRelationshipFactory(patient=child, care_team=CareTeamFactory())
    others = [s for s in PAGES_BY_SCOPE if s != scope]
    without = ProxyRelationshipFactory(patient=child, scopes=others, valid_from=child.birth_date)
    only = ProxyRelationshipFactory(patient=child, scopes=[scope], valid_from=child.birth_date)

    for relationship, expected in ((without, 404), (only, 200)):
        client = Client()
        client.force_login(relationship.proxy)
        for name in PAGES_BY_SCOPE[scope]:
            assert client.get(reverse(name)).status_code == expected, (name, relationship.scopes)


def test_a_proxy_never_reads_the_patients_access_log_or_changes_their_sign_in_email(family: dict[str, Any]) -> None:
    client = _acting_for_the_child(family)
    for name in ("audit:access-log", "patients:email", "patients:email-sent"):
        assert client.get(reverse(name)).status_code == 404, name
