"""The inbound interfaces the test senders need: every sample message and every message the tests build comes
from one of these senders, over MLLP from the loopback addresses (the listener the tests start) or by import.

`message_receive` refuses a sender that has no interface (careportal/hl7/interfaces.py), so tests that send HL7
configure these first: tests/hl7/conftest.py and tests/results/conftest.py do it for every test with a database.
Tests of the refusal itself remove or change them.
"""

from careportal.hl7.interfaces import active_rules, interfaces_cache_clear
from careportal.hl7.models import InboundInterface

# What the tests pass as the listener's peer when they call message_receive directly.
LOCAL_PEER = "127.0.0.1:50000"
LOOPBACK = ["127.0.0.1/32", "::1/128"]
# Some tests name a sender on the hospital network.
TEST_NETWORKS = [*LOOPBACK, "10.0.0.0/8"]
ADT_TYPES = ["ADT^A04", "ADT^A08", "ADT^A28", "ADT^A31", "ADT^A40"]
SIU_TYPES = ["SIU^S12", "SIU^S13", "SIU^S14", "SIU^S15"]

TEST_SENDERS = [
    ("Laboratory (WinPath)", "WINPATH", "RRV_LAB", ["ORU^R01"]),
    ("Other laboratory (WinPath)", "WINPATH", "OTHER_LAB", ["ORU^R01"]),
    ("Pathology (CoPath)", "COPATH", "RRV_PATH", ["ORU^R01"]),
    ("Patient administration", "PAS", "RRV", [*ADT_TYPES, *SIU_TYPES, "ADT^A01", "ADT^A03"]),
    ("Documents", "EDM", "RRV", ["MDM^T02", "MDM^T10", "MDM^T11"]),
    ("Test laboratory", "LAB", "FAC", ["ORU^R01"]),
]


def configure_test_interfaces() -> list[InboundInterface]:
    created = [
        InboundInterface.objects.update_or_create(
            sending_application=application,
            sending_facility=facility,
            defaults={
                "name": name,
                "message_types": types,
                "source_networks": TEST_NETWORKS,
                "hospital_number_authority": "RRV",
                "is_active": True,
            },
        )[0]
        for name, application, facility, types in TEST_SENDERS
    ]
    # As in a running listener, the snapshot of interfaces is loaded before the message whose queries a test counts.
    interfaces_cache_clear()
    active_rules()
    return created
