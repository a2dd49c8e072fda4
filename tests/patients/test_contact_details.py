"""Changing contact details on /your-details/: forms, audit, the outbound ADT^A31 in the same transaction, notices,
who may change what, and contact preferences."""

import pytest
from django.core import mail
from django.urls import reverse

from careportal.audit.models import AccessAction, AccessEvent
from careportal.hl7.models import OutboundMessage
from careportal.notifications.models import Notification
from careportal.patients.models import ContactPreference
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db

ADDRESS = {"address_line_1": "3 Elm Court", "address_line_2": "Highgate", "town": "London", "postcode": "n65ab"}


def test_the_details_page_has_change_links_and_no_do_statements(patient_client):
    body = patient_client.get(reverse("patients:your-details")).content.decode()
    for name in ("address", "mobile-phone", "home-phone", "email", "contact-preferences"):
        assert reverse(f"patients:{name}") in body
    assert "ask your care team to correct this" in body


def test_an_address_change_takes_effect_is_audited_queued_and_notified(
    patient_client, patient, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = patient_client.post(reverse("patients:address"), ADDRESS)
    assert response.status_code == 302
    patient.refresh_from_db()
    assert (patient.address_line_1, patient.town, patient.postcode) == ("3 Elm Court", "London", "N6 5AB")
    event = AccessEvent.objects.get(patient=patient, action=AccessAction.UPDATE)
    assert event.object_label == "your address"
    assert "Elm" not in event.object_label
    message = OutboundMessage.objects.get(patient=patient)
    assert message.message_type == "ADT^A31"
    assert message.status == "queued"  # no PAS endpoint configured in tests: it waits
    assert b"3 Elm Court^Highgate^London^^N6 5AB^GBR^H" in bytes(message.raw)
    assert Notification.objects.get(kind="contact_details_changed").status == "sent"
    assert [m.subject for m in mail.outbox] == ["Your contact details in CarePortal were changed"]
    assert "were changed: your address." in mail.outbox[0].body
    assert "Elm" not in mail.outbox[0].body


@pytest.mark.parametrize("postcode", ["hello", "12345", "SW1A 1AI", "QA1 1AA", "ASCN 1ZZ", "N6 5AB X"])
def test_a_postcode_that_is_not_one_is_refused_and_nothing_changes(patient_client, patient, postcode):
    before = patient.postcode
    response = patient_client.post(reverse("patients:address"), {**ADDRESS, "postcode": postcode})
    assert response.status_code == 400
    assert "Enter a real UK postcode, like SW1A 1AA" in response.content.decode()
    patient.refresh_from_db()
    assert patient.postcode == before
    assert not OutboundMessage.objects.exists()
    assert not AccessEvent.objects.filter(action=AccessAction.UPDATE).exists()


def test_a_missing_address_line_gets_its_own_error(patient_client):
    response = patient_client.post(reverse("patients:address"), {**ADDRESS, "address_line_1": " ", "town": ""})
    body = response.content.decode()
    assert response.status_code == 400
    assert "Enter the first line of the address" in body
    assert "Enter the town or city" in body


@pytest.mark.parametrize("number", ["020 7946 0000", "07123", "not a number", "+33 6 12 34 56 78"])
def test_a_mobile_number_that_is_not_a_uk_mobile_is_refused(patient_client, patient, number):
    response = patient_client.post(reverse("patients:mobile-phone"), {"mobile_phone": number})
    assert response.status_code == 400
    assert "Enter a UK mobile number" in response.content.decode()
    patient.refresh_from_db()
    assert patient.mobile_phone == "07700 900456"


def test_a_mobile_number_is_normalised(patient_client, patient):
    patient_client.post(reverse("patients:mobile-phone"), {"mobile_phone": "+447700900123"})
    patient.refresh_from_db()
    assert patient.mobile_phone == "07700 900123"
    assert AccessEvent.objects.get(action=AccessAction.UPDATE).object_label == "your mobile phone number"


def test_a_bad_home_phone_is_refused_and_a_good_one_saved(patient_client, patient):
    response = patient_client.post(reverse("patients:home-phone"), {"home_phone": "12"})
    assert response.status_code == 400
    patient_client.post(reverse("patients:home-phone"), {"home_phone": "02079460000"})
    patient.refresh_from_db()
    assert patient.home_phone == "020 7946 0000"


def test_saving_the_same_values_changes_nothing_and_sends_nothing(patient_client, patient):
    patient_client.post(reverse("patients:mobile-phone"), {"mobile_phone": patient.mobile_phone})
    assert not OutboundMessage.objects.exists()
    assert not AccessEvent.objects.filter(action=AccessAction.UPDATE).exists()


def test_nothing_is_half_written_when_queueing_the_outbound_message_fails(patient_client, patient, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("the queue table is not there")

    monkeypatch.setattr("careportal.hl7.outbound.adt_a31_queue", broken)
    before = patient.postcode
    with pytest.raises(RuntimeError):
        patient_client.post(reverse("patients:address"), ADDRESS)
    patient.refresh_from_db()
    assert patient.postcode == before
    assert not AccessEvent.objects.filter(action=AccessAction.UPDATE).exists()
    assert not Notification.objects.exists()


def test_a_proxy_with_the_details_scope_changes_the_address_on_behalf(proxy_client, proxy_relationship):
    response = proxy_client.post(reverse("patients:address"), ADDRESS)
    assert response.status_code == 302
    child = proxy_relationship.patient
    child.refresh_from_db()
    assert child.postcode == "N6 5AB"
    event = AccessEvent.objects.get(patient=child, action=AccessAction.UPDATE)
    assert event.actor_id == proxy_relationship.proxy_id
    assert event.on_behalf_of_id == child.pk
    assert OutboundMessage.objects.filter(patient=child).count() == 1


def test_a_proxy_sees_their_details_in_the_third_person_and_cannot_change_the_email(proxy_client, proxy_relationship):
    name = proxy_relationship.patient.given_name
    body = proxy_client.get(reverse("patients:your-details")).content.decode()
    assert f"{name}&#39;s details" in body
    assert reverse("patients:email") not in body
    assert proxy_client.get(reverse("patients:email")).status_code == 404
    assert proxy_client.post(reverse("patients:email"), {"email": "x@example.org"}).status_code == 404


@pytest.mark.parametrize("name", ["your-details", "address", "mobile-phone", "home-phone", "contact-preferences"])
def test_a_proxy_without_the_details_scope_gets_404(client, name):
    relationship = ProxyRelationshipFactory(scopes=["appointments", "results"])
    client.force_login(relationship.proxy)
    assert client.get(reverse(f"patients:{name}")).status_code == 404
    assert client.post(reverse(f"patients:{name}"), ADDRESS).status_code == 404
    assert AccessEvent.objects.filter(action=AccessAction.DENIED).exists()


def test_an_inbound_a31_updates_the_same_details_without_echoing_back(patient):
    from careportal.hl7.handlers.adt import patient_details
    from careportal.hl7.parsing import parse_message
    from careportal.patients.services import patient_update

    raw = (
        b"MSH|^~\\&|PAS|RRV|CAREPORTAL|RRV|20261107080000||ADT^A31|X1|P|2.5\r"
        b"PID|1||" + patient.hospital_number.encode() + b"^^^RRV^MR||||||||9 New Road^^Leeds^^LS1 4AP^GBR^H\r"
    )
    pid = parse_message(raw).first("PID")
    patient_update(patient=patient, details=patient_details(pid))
    patient.refresh_from_db()
    assert patient.postcode == "LS1 4AP"
    assert not OutboundMessage.objects.exists()


# Contact preferences ------------------------------------------------------------------------------------------


def test_the_preferences_page_says_phone_contact_is_unaffected(patient_client):
    body = patient_client.get(reverse("patients:contact-preferences")).content.decode()
    assert "This does not change how the hospital phones you" in body


def test_choosing_paperless_and_email_is_saved_and_audited(patient_client, patient):
    response = patient_client.post(
        reverse("patients:contact-preferences"), {"letters": "portal", "notifications": ["email"]}
    )
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.contact_preference == ContactPreference.PORTAL
    assert AccessEvent.objects.get(action=AccessAction.UPDATE).object_label == "how we contact you"


def test_sms_is_offered_only_with_gov_uk_notify(patient_client, settings):
    settings.NOTIFICATIONS_BACKEND = "django"
    body = patient_client.get(reverse("patients:contact-preferences")).content.decode()
    assert "By text message" not in body
    assert "We email you." in body
    settings.NOTIFICATIONS_BACKEND = "notify"
    assert "By text message" in patient_client.get(reverse("patients:contact-preferences")).content.decode()


def test_choosing_sms_without_a_mobile_number_gives_a_clear_error(patient_client, patient, settings):
    settings.NOTIFICATIONS_BACKEND = "notify"
    patient.mobile_phone = ""
    patient.save()
    response = patient_client.post(
        reverse("patients:contact-preferences"), {"letters": "portal", "notifications": ["sms"]}
    )
    assert response.status_code == 400
    assert "add your mobile phone number first" in response.content.decode()
    patient.refresh_from_db()
    assert not patient.notify_by_sms


def test_choosing_no_way_at_all_is_refused(patient_client, settings):
    settings.NOTIFICATIONS_BACKEND = "notify"
    response = patient_client.post(reverse("patients:contact-preferences"), {"letters": "portal"})
    assert response.status_code == 400
    assert "Choose email, text message or both" in response.content.decode()


def test_the_mobile_number_cannot_be_removed_while_texts_go_to_it(patient_client, patient):
    patient.notify_by_sms = True
    patient.save()
    response = patient_client.post(reverse("patients:mobile-phone"), {"mobile_phone": ""})
    assert response.status_code == 400
    assert "we need a mobile number" in response.content.decode()
    patient.refresh_from_db()
    assert patient.mobile_phone


def test_a_proxy_changes_letters_only(proxy_client, proxy_relationship, settings):
    settings.NOTIFICATIONS_BACKEND = "notify"
    body = proxy_client.get(reverse("patients:contact-preferences")).content.decode()
    assert "By text message" not in body
    proxy_client.post(reverse("patients:contact-preferences"), {"letters": "portal", "notifications": ["sms"]})
    child = proxy_relationship.patient
    child.refresh_from_db()
    assert child.contact_preference == ContactPreference.PORTAL
    assert not child.notify_by_sms
