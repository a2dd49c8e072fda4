"""The inbound interface pages (/staff/hl7/interfaces/): for integration administrators only; the form refuses
bad input with a specific message; every change is recorded; a deactivated interface's messages are refused."""

import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from careportal.hl7.interface_admin import INTEGRATION_GROUP
from careportal.hl7.models import AckMode, InboundInterface, InboundInterfaceChange, InterfaceChangeAction
from careportal.patients.models import Patient
from tests.accounts.factories import UserFactory
from tests.hl7.test_adt import adt
from tests.hl7.test_services import ack_code, receive
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db

LIST = reverse("hl7:interfaces")
ADD = reverse("hl7:interface-add")

VALID = {
    "name": "Radiology (CRIS)",
    "sending_application": "cris",
    "sending_facility": "RRV_RAD",
    "message_types": "ORU^R01\noru^r01, MDM^T02",
    "source_networks": "10.20.30.0/24\n2001:db8:5::/48\n10.20.40.7",
    "hospital_number_authority": "rrv",
}


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture
def integration_admin(db):
    user = UserFactory(display_name="Ivy Integration")
    user.groups.add(Group.objects.get(name=INTEGRATION_GROUP))
    return user


@pytest.fixture
def admin_client(integration_admin) -> Client:
    client = Client()
    client.force_login(integration_admin)
    return client


def test_the_integration_group_holds_the_interface_and_queue_permissions(integration_admin) -> None:
    assert integration_admin.has_perm("hl7.change_inboundinterface")
    assert integration_admin.has_perm("hl7.add_inboundinterface")
    assert integration_admin.has_perm("hl7.change_inboundmessage")
    assert not integration_admin.has_perm("patients.change_patient")


def test_the_staff_console_links_an_integration_administrator_to_the_hl7_pages(admin_client) -> None:
    page = _text(admin_client.get("/staff/"))

    assert LIST in page and reverse("hl7:unmatched") in page
    assert "integration administrator" in page
    assert "Results inbox" not in page


def test_the_list_shows_every_interface(admin_client) -> None:
    page = _text(admin_client.get(LIST))

    assert "Laboratory (WinPath)" in page and "WINPATH at RRV_LAB" in page and "127.0.0.1/32" in page


def test_an_interface_is_added_normalised_and_the_change_recorded(admin_client, integration_admin) -> None:
    response = admin_client.post(ADD, VALID)

    assert response.status_code == 302 and response["Location"] == LIST
    interface = InboundInterface.objects.get(name="Radiology (CRIS)")
    assert (interface.sending_application, interface.sending_facility) == ("CRIS", "RRV_RAD")
    assert interface.message_types == ["ORU^R01", "MDM^T02"]
    assert interface.source_networks == ["10.20.30.0/24", "2001:db8:5::/48", "10.20.40.7/32"]
    assert interface.hospital_number_authority == "RRV" and interface.is_active
    change = InboundInterfaceChange.objects.get(interface=interface)
    assert change.action == InterfaceChangeAction.CREATED
    assert change.changed_by == integration_admin and change.changed_by_name == "Ivy Integration"
    assert change.changes["sending_application"] == {"from": None, "to": "CRIS"}


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("source_networks", "10.20.30.300", "10.20.30.300 is not an IP address or network"),
        ("source_networks", "10.20.30.1/24", "has host bits set: did you mean 10.20.30.0/24?"),
        ("source_networks", "2001:db8::/129", "is not an IP address or network"),
        ("source_networks", "0.0.0.0/0", "is every address"),
        ("source_networks", "", "Enter at least one address or network"),
        ("source_networks", " , ", "Enter at least one address or network"),
        ("message_types", "XYZ^R01", "XYZ^R01 is not a message type CarePortal knows"),
        ("message_types", "ORU", "ORU is not a message type and trigger event"),
        ("message_types", "ORU^R01^ORU_R01", "is not a message type and trigger event"),
        ("message_types", "", "Enter at least one message type"),
        ("sending_application", "", "Enter the sending application (MSH-3)"),
        ("sending_application", "WIN|PATH", "Sending application must only include letters"),
        ("sending_facility", "", "Enter the sending facility (MSH-4)"),
        ("sending_facility", "X" * 61, "Sending facility must be 60 characters or fewer"),
        ("hospital_number_authority", "R R V", "Assigning authority must only include letters"),
        ("name", "", "Enter a name for the interface"),
        ("name", "<b>Lab</b>", "Name must only include letters"),
    ],
)
def test_bad_input_is_refused_with_a_specific_message_and_nothing_saved(
    admin_client, field: str, value: str, error: str
) -> None:
    before = InboundInterface.objects.count()
    response = admin_client.post(ADD, {**VALID, field: value})

    assert response.status_code == 400
    assert error in _text(response).replace("&#x27;", "'")
    assert InboundInterface.objects.count() == before
    assert not InboundInterfaceChange.objects.exists()


def test_a_second_interface_for_the_same_sender_is_refused(admin_client) -> None:
    response = admin_client.post(ADD, {**VALID, "sending_application": "winpath", "sending_facility": "rrv_lab"})

    assert response.status_code == 400
    assert "There is already an interface for WINPATH at RRV_LAB (Laboratory (WinPath))" in _text(response)


def test_a_second_interface_with_the_same_name_is_refused(admin_client) -> None:
    response = admin_client.post(ADD, {**VALID, "name": "laboratory (winpath)"})

    assert response.status_code == 400
    assert "There is already an interface called" in _text(response)


def test_a_change_is_recorded_field_by_field_and_shown(admin_client, integration_admin) -> None:
    interface = InboundInterface.objects.get(sending_application="WINPATH", sending_facility="RRV_LAB")
    url = reverse("hl7:interface-edit", kwargs={"pk": interface.pk})
    form = {
        "name": interface.name,
        "sending_application": "WINPATH",
        "sending_facility": "RRV_LAB",
        "message_types": "ORU^R01",
        "source_networks": "10.1.1.0/24",
        "hospital_number_authority": "RRV",
    }

    assert admin_client.post(url, form).status_code == 302

    change = InboundInterfaceChange.objects.get(interface=interface)
    assert change.action == InterfaceChangeAction.CHANGED and change.changed_by == integration_admin
    assert set(change.changes) == {"source_networks"}
    assert change.changes["source_networks"]["to"] == ["10.1.1.0/24"]
    page = _text(admin_client.get(url))
    assert "Changed" in page and "Ivy Integration" in page and "10.1.1.0/24" in page


def test_saving_without_a_change_records_nothing(admin_client) -> None:
    interface = InboundInterface.objects.get(sending_application="EDM")
    url = reverse("hl7:interface-edit", kwargs={"pk": interface.pk})
    form = {
        "name": interface.name,
        "sending_application": "EDM",
        "sending_facility": "RRV",
        "message_types": "\n".join(interface.message_types),
        "source_networks": "\n".join(interface.source_networks),
        "hospital_number_authority": "RRV",
    }
    assert admin_client.post(url, form).status_code == 302
    assert not InboundInterfaceChange.objects.exists()


def test_a_deactivated_interface_is_refused_from_the_next_message(
    admin_client, django_capture_on_commit_callbacks
) -> None:
    patient = PatientFactory(hospital_number="40012345", nhs_number=None, family_name="Hargreaves")
    interface = InboundInterface.objects.get(sending_application="PAS")
    url = reverse("hl7:interface-deactivate", kwargs={"pk": interface.pk})

    assert "will be refused" in _text(admin_client.get(url))
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(url).status_code == 302

    interface.refresh_from_db()
    assert not interface.is_active
    assert InboundInterfaceChange.objects.get(interface=interface).action == InterfaceChangeAction.DEACTIVATED
    assert ack_code(receive(adt("A31", "PID|1||40012345^^^RRV^MR||SMITH^JANE"))) == "AR"
    assert Patient.objects.get(pk=patient.pk).family_name == "Hargreaves"

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("hl7:interface-reactivate", kwargs={"pk": interface.pk}))
    assert ack_code(receive(adt("A31", "PID|1||40012345^^^RRV^MR||SMITH^JANE", control="A2"))) == "AA"


@pytest.mark.parametrize("who", ["patient_client", "clinician_client", "helpdesk_client", "proxy_client"])
def test_the_pages_are_not_found_for_anyone_without_the_permission(request, who: str) -> None:
    client = request.getfixturevalue(who)
    interface = InboundInterface.objects.first()
    assert interface is not None
    for url in (
        LIST,
        ADD,
        reverse("hl7:interface-edit", kwargs={"pk": interface.pk}),
        reverse("hl7:interface-deactivate", kwargs={"pk": interface.pk}),
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(ADD, VALID).status_code == 404
    assert client.post(reverse("hl7:interface-deactivate", kwargs={"pk": interface.pk})).status_code == 404
    assert not InboundInterface.objects.filter(name=VALID["name"]).exists()
    interface.refresh_from_db()
    assert interface.is_active


def test_a_queue_operator_without_the_interface_permission_gets_404(db) -> None:
    from django.contrib.auth.models import Permission

    user = UserFactory()
    user.user_permissions.add(Permission.objects.get(codename="change_inboundmessage", content_type__app_label="hl7"))
    client = Client()
    client.force_login(user)
    assert client.get(LIST).status_code == 404
    assert client.get(reverse("hl7:unmatched")).status_code == 200


def test_signed_out_visitors_are_sent_to_sign_in(client) -> None:
    response = client.get(LIST)
    assert response.status_code == 302 and "sign-in" in response["Location"]


def test_an_unknown_interface_is_not_found(admin_client) -> None:
    assert admin_client.get(reverse("hl7:interface-edit", kwargs={"pk": 999999})).status_code == 404


def test_the_django_admin_validates_and_records_changes(db) -> None:
    superuser = UserFactory(is_superuser=True, is_staff=True, display_name="Root")
    client = Client()
    client.force_login(superuser)
    assert client.get("/admin/hl7/inboundinterface/").status_code == 200
    data = {
        "name": "Admin added",
        "sending_application": "ADM",
        "sending_facility": "RRV",
        "message_types": '["ORU^R01"]',
        "source_networks": '["not-a-network"]',
        "hospital_number_authority": "",
        "ack_mode": "after_apply",
        "is_active": "on",
        "changes-TOTAL_FORMS": "0",
        "changes-INITIAL_FORMS": "0",
    }
    refused = client.post("/admin/hl7/inboundinterface/add/", data)
    assert refused.status_code == 200 and "is not an IP address or network" in refused.content.decode()

    client.post("/admin/hl7/inboundinterface/add/", {**data, "source_networks": '["10.0.0.1"]'})
    interface = InboundInterface.objects.get(name="Admin added")
    assert interface.source_networks == ["10.0.0.1/32"]
    assert InboundInterfaceChange.objects.get(interface=interface).changed_by == superuser


def _edit_form(interface: InboundInterface, **changes: str) -> dict[str, str]:
    return {
        "name": interface.name,
        "sending_application": interface.sending_application,
        "sending_facility": interface.sending_facility,
        "message_types": "\n".join(interface.message_types),
        "source_networks": "\n".join(interface.source_networks),
        "hospital_number_authority": interface.hospital_number_authority,
        **changes,
    }


def test_choosing_acknowledgement_after_store_is_recorded_and_shown(admin_client) -> None:
    interface = InboundInterface.objects.get(sending_application="WINPATH", sending_facility="RRV_LAB")
    url = reverse("hl7:interface-edit", kwargs={"pk": interface.pk})
    assert "When should CarePortal acknowledge its messages?" in _text(admin_client.get(url))

    assert admin_client.post(url, _edit_form(interface, ack_mode="after_store")).status_code == 302

    interface.refresh_from_db()
    assert interface.ack_mode == AckMode.AFTER_STORE
    change = InboundInterfaceChange.objects.get(interface=interface)
    assert change.changes == {"ack_mode": {"from": "after_apply", "to": "after_store"}}
    assert "When messages are acknowledged: after_apply → after_store" in _text(admin_client.get(url))
    assert "After storing" in _text(admin_client.get(LIST))
    # Posted without a choice (a script), the interface keeps its mode.
    assert admin_client.post(url, _edit_form(interface)).status_code == 302
    interface.refresh_from_db()
    assert interface.ack_mode == AckMode.AFTER_STORE


def test_an_unknown_acknowledgement_mode_is_refused_and_nothing_changes(admin_client) -> None:
    interface = InboundInterface.objects.get(sending_application="WINPATH", sending_facility="RRV_LAB")
    url = reverse("hl7:interface-edit", kwargs={"pk": interface.pk})

    response = admin_client.post(url, _edit_form(interface, ack_mode="whenever", source_networks="10.9.9.0/24"))

    assert response.status_code == 400
    assert "Choose when CarePortal acknowledges this system" in _text(response)
    interface.refresh_from_db()
    assert interface.ack_mode == AckMode.AFTER_APPLY and "10.9.9.0/24" not in interface.source_networks
    assert not InboundInterfaceChange.objects.exists()
