"""The admin's form for the proxy policy table: ages in order, real scopes, clear errors, nothing saved on error."""

import pytest
from django.test import Client
from django.urls import reverse

from careportal.proxy.forms_admin import ProxyPolicyAdminForm
from careportal.proxy.models import ProxyPolicy
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db


def _data(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "parental_full_access_until_age": 16,
        "parental_access_ends_at_age": 18,
        "scopes_kept_after_narrowing": ["appointments"],
        "notice_days_before": 30,
        "invitation_valid_days": 14,
    }
    data.update(changes)
    return data


def test_the_defaults_are_valid_and_saved_in_scope_order() -> None:
    form = ProxyPolicyAdminForm(
        data=_data(scopes_kept_after_narrowing=["letters", "appointments"]), instance=ProxyPolicy.current()
    )
    assert form.is_valid(), form.errors
    form.save()
    assert ProxyPolicy.current().scopes_kept_after_narrowing == ["appointments", "letters"]


@pytest.mark.parametrize(("narrows", "ends"), [(18, 18), (17, 16)])
def test_the_narrowing_age_must_be_below_the_ending_age(narrows: int, ends: int) -> None:
    form = ProxyPolicyAdminForm(
        data=_data(parental_full_access_until_age=narrows, parental_access_ends_at_age=ends),
        instance=ProxyPolicy.current(),
    )
    assert not form.is_valid()
    assert form.errors["parental_full_access_until_age"] == [
        f"The age at which a parent's access narrows ({narrows}) must be below the age at which it ends ({ends})."
    ]


def test_an_unknown_scope_is_refused_with_a_clear_error() -> None:
    form = ProxyPolicyAdminForm(
        data=_data(scopes_kept_after_narrowing=["appointments", "everything"]), instance=ProxyPolicy.current()
    )
    assert not form.is_valid()
    assert (
        "everything is not one of the parts of a record a proxy can be given."
        in form.errors["scopes_kept_after_narrowing"][0]
    )


def test_no_scopes_kept_is_allowed_and_ends_access_at_the_narrowing_age() -> None:
    form = ProxyPolicyAdminForm(data=_data(scopes_kept_after_narrowing=[]), instance=ProxyPolicy.current())
    assert form.is_valid(), form.errors


def test_the_admin_page_refuses_bad_ages_and_saves_nothing() -> None:
    admin_user = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin_user)
    policy = ProxyPolicy.current()
    url = reverse("admin:proxy_proxypolicy_change", args=[policy.pk])

    page = client.get(url)
    assert page.status_code == 200
    assert "Scopes kept after narrowing" in page.content.decode()

    response = client.post(url, _data(parental_full_access_until_age=19, parental_access_ends_at_age=18))

    assert response.status_code == 200
    assert "must be below the age at which it ends" in response.content.decode()
    assert ProxyPolicy.objects.get(pk=policy.pk).parental_full_access_until_age == 16
