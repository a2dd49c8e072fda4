"""Nothing about patients in any log line while the helpdesk works: searches, account pages, actions, new codes,
requests for help and replies (the project's formatter, every logger at DEBUG: see tests/core/test_logging.py)."""

import datetime
import re

import pytest
from django.test import Client
from django.urls import reverse

from careportal.accounts.services import activation_code_issue
from tests.core.test_logging import patient_identifiers
from tests.patients.factories import PatientFactory, PatientWithAccountFactory, nhs_number_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def distinctive_patients():
    with_account = PatientWithAccountFactory(
        given_name="Zebedee",
        family_name="Quarrington",
        nhs_number=nhs_number_for(4243),
        hospital_number="RX7731943",
        email="zebedee.q@example.net",
        mobile_phone="07700 900983",
        home_phone="020 7946 0322",
        address_line_1="17 Wisteria Crescent",
        postcode="SW1A 2AA",
        birth_date=datetime.date(1958, 2, 11),
    )
    without_account = PatientFactory(
        given_name="Philippa",
        family_name="Onslow-Thring",
        nhs_number=nhs_number_for(4244),
        hospital_number="RX7731944",
        email="philippa.ot@example.net",
        mobile_phone="07700 900984",
        home_phone="020 7946 0323",
        address_line_1="3 Quillet Mews",
        postcode="EC1A 1BB",
        birth_date=datetime.date(1958, 2, 11),
    )
    activation_code_issue(patient=without_account, issued_by=None)
    return with_account, without_account


def test_a_helpdesk_session_logs_nothing_about_patients(
    distinctive_patients,
    helpdesk_client,
    captured_logs,
    django_capture_on_commit_callbacks,
):
    _log_format, stream = captured_logs
    with_account, without_account = distinctive_patients
    nhs = with_account.nhs_number

    for _ in range(5):
        Client(REMOTE_ADDR="10.3.3.3").post(
            reverse("account_login"), {"login": with_account.user.username, "password": "wrong"}
        )
    search = reverse("helpdesk:search")
    helpdesk_client.post(search, {"search_by": "nhs_number", "term": f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"})
    helpdesk_client.post(search, {"search_by": "hospital_number", "term": without_account.hospital_number})
    helpdesk_client.post(search, {"search_by": "hospital_number", "term": "RX0000000"})
    account = reverse("helpdesk:account", kwargs={"account_id": with_account.user.public_id})
    assert helpdesk_client.get(account).status_code == 200
    helpdesk_client.post(account + "unlock/", {"reason": "Quarrington called"})
    with django_capture_on_commit_callbacks(execute=True):
        helpdesk_client.post(account + "reset-two-step/", {"identity_check": "phone", "reason": "Checked"})
    issued = helpdesk_client.post(
        reverse("helpdesk:patient-activation-code", kwargs={"patient_id": without_account.public_id}),
        {"identity_check": "phone", "reason": "Letter lost"},
    )
    code = re.search(r'id="activation-code">([A-Z0-9-]+)<', issued.content.decode()).group(1)

    visitor = Client()
    visitor.post(
        reverse("core:get-help"),
        {
            "name": "Philippa Onslow-Thring",
            "email": "philippa.ot@example.net",
            "topic": "account_setup",
            "description": "My hospital number is RX7731944 and I live at 3 Quillet Mews",
        },
    )
    from careportal.helpdesk.models import SupportRequest

    sent = SupportRequest.objects.get()
    request_page = reverse("helpdesk:request", kwargs={"request_id": sent.public_id})
    assert helpdesk_client.get(request_page).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        helpdesk_client.post(request_page + "reply/", {"reply": "Dear Philippa Onslow-Thring", "action": "send"})

    output = stream.getvalue()
    assert "request_finished" in output
    leaked = [
        value
        for value in [
            *patient_identifiers(with_account),
            *patient_identifiers(without_account),
            code,
            code.replace("-", ""),
            "Quillet",
            "Quarrington called",
        ]
        if value and value in output
    ]
    assert not leaked, f"logged: {leaked}"
