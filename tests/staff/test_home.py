"""The staff console's landing page offers each person the tools their role allows, and nothing else."""

import pytest
from django.test import Client

from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_clinician_sees_the_results_inbox_but_not_the_release_rules(clinician_client):
    page = clinician_client.get("/staff/").content.decode()
    assert "Open the results inbox" in page
    assert "/staff/results/rules/" not in page
    assert "/staff/hl7/unmatched/" not in page


def test_the_helpdesk_manages_release_rules_and_bank_holidays_but_has_no_results_inbox(helpdesk_client):
    page = helpdesk_client.get("/staff/").content.decode()
    assert "/staff/results/rules/" in page and "/staff/results/bank-holidays/" in page
    assert "Open the results inbox" not in page


def test_a_superuser_in_no_care_team_can_open_the_console_and_reach_the_hl7_queue():
    client = Client()
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    response = client.get("/staff/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/staff/hl7/unmatched/" in page and "/staff/results/rules/" in page
