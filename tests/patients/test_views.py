import pytest
from django.urls import reverse

from careportal.audit.models import AccessEvent

pytestmark = pytest.mark.django_db


def test_your_details_shows_the_record_with_the_nhs_number_spaced(patient_client, patient):
    patient.nhs_number = "9990000018"
    patient.save()
    body = patient_client.get(reverse("patients:your-details")).content.decode()
    assert "999 000 0018" in body
    assert patient.hospital_number in body
    assert patient.postcode in body
    assert AccessEvent.objects.filter(patient=patient, object_label="contact details").count() == 1


def test_missing_contact_details_say_not_recorded(patient_client, patient):
    patient.mobile_phone = ""
    patient.save()
    assert "Not recorded" in patient_client.get(reverse("patients:your-details")).content.decode()


def test_a_proxy_with_the_details_scope_sees_their_details(proxy_client, proxy_relationship):
    body = proxy_client.get(reverse("patients:your-details")).content.decode()
    assert f"{proxy_relationship.patient.given_name}&#39;s details" in body
    assert "How we send your letters" not in body
    assert proxy_relationship.patient.hospital_number in body


def test_text_from_the_record_is_escaped(patient_client, patient):
    patient.address_line_1 = "<script>alert(1)</script>"
    patient.save()
    body = patient_client.get(reverse("patients:your-details")).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;" in body
