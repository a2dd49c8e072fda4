"""Fixtures shared by the HL7 tests."""

from __future__ import annotations

from typing import Any

import pytest

from careportal.hl7.interfaces import active_rules, interfaces_cache_clear
from careportal.hl7.models import AckMode, InboundInterface
from tests.hl7.test_ack_after_store import PATIENTS
from tests.patients.factories import PatientFactory


@pytest.fixture
def after_store(settings: Any, test_interfaces: list[InboundInterface]) -> None:
    """The laboratory's interface acknowledges after store, its snapshot is fresh in this process, and the sample
    messages' patients exist; no worker is woken (the tests apply stored messages themselves)."""
    settings.HL7_STORED_WAKE_SECONDS = 0
    lab = InboundInterface.objects.get(sending_application="WINPATH", sending_facility="RRV_LAB")
    lab.ack_mode = AckMode.AFTER_STORE
    lab.save()
    interfaces_cache_clear()
    active_rules()  # the snapshot the listener's event loop consults to send a message to the group commit
    for hospital_number, nhs_number in PATIENTS:
        PatientFactory(hospital_number=hospital_number, nhs_number=nhs_number)
