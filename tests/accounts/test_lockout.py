"""Lockout after repeated failures (django-axes, by username and IP address)."""

from unittest import mock

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.urls import reverse

from tests.accounts.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

LOCKED = "You cannot sign in at the moment"


def _fail(client, username: str, ip: str = "10.0.0.1"):  # type: ignore[no-untyped-def]
    return client.post(reverse("account_login"), {"login": username, "password": "wrong"}, REMOTE_ADDR=ip)


def test_five_failures_lock_the_username_at_that_address(client, patient, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _fail(client, patient.user.username).status_code == 200
    locked = _fail(client, patient.user.username)
    assert locked.status_code == 429
    assert LOCKED in locked.content.decode()
    # Even the right password is refused while locked.
    right = client.post(
        reverse("account_login"), {"login": patient.user.username, "password": TEST_PASSWORD}, REMOTE_ADDR="10.0.0.1"
    )
    assert right.status_code == 429


def test_an_attacker_elsewhere_cannot_lock_the_patient_out(client, patient, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _fail(client, patient.user.username, ip="203.0.113.9")
    response = client.post(
        reverse("account_login"), {"login": patient.user.username, "password": TEST_PASSWORD}, REMOTE_ADDR="10.0.0.1"
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("home:home")


def test_an_unknown_username_locks_exactly_like_a_real_one(client, patient, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        real = _fail(client, patient.user.username, ip="10.0.0.2")
        unknown = _fail(client, "nobody-by-this-name", ip="10.0.0.3")
        assert real.status_code == unknown.status_code
    assert real.status_code == unknown.status_code == 429


def test_the_lock_lifts_after_the_cool_off_time(client, patient, settings):
    import datetime

    import time_machine

    start = datetime.datetime(2026, 11, 25, 10, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            _fail(client, patient.user.username)
    later = start + settings.AXES_COOLOFF_TIME + datetime.timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        response = client.post(
            reverse("account_login"),
            {"login": patient.user.username, "password": TEST_PASSWORD},
            REMOTE_ADDR="10.0.0.1",
        )
    assert response.status_code == 302


def test_unknown_username_and_wrong_password_do_the_same_password_work(client, patient):
    """Equal work means equal time: one password hash either way, so timing does not tell whether an account
    exists. (The test hasher's verify() hashes by calling encode(), so counting encode() counts hashes.)"""
    with mock.patch.object(MD5PasswordHasher, "encode", autospec=True, side_effect=MD5PasswordHasher.encode) as encode:
        _fail(client, patient.user.username, ip="10.0.0.4")
        hashes_for_real = encode.call_count
        encode.reset_mock()
        _fail(client, "nobody-by-this-name", ip="10.0.0.5")
        hashes_for_unknown = encode.call_count
    assert hashes_for_real == hashes_for_unknown == 1
