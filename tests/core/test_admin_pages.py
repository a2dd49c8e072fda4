"""Every Django admin page a superuser can open answers: the list and the "add" form of each registered model,
and the change form of one existing object of each (the demo trust provides them)."""

import pytest
from django.contrib import admin
from django.urls import reverse

from careportal.demo.services import demo_trust_load
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client):
    demo_trust_load()
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    return client


def test_every_admin_list_add_and_change_page_answers(superuser_client):
    failures = []
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        urls = [reverse("admin:{}_{}_changelist".format(*info))]
        if model_admin.has_add_permission(_request(superuser_client)):
            urls.append(reverse("admin:{}_{}_add".format(*info)))
        first = model._default_manager.first()
        if first is not None:
            urls.append(reverse("admin:{}_{}_change".format(*info), args=[first.pk]))
        for url in urls:
            status = superuser_client.get(url).status_code
            if status != 200:
                failures.append(f"{url}: {status}")
    assert failures == []


def _request(client):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = UserFactory.build(is_superuser=True, is_staff=True, is_active=True)
    return request
