"""The form for an inbound interface (/staff/hl7/interfaces/). It does all the validation; each error says what to
do, in NHS.UK style. Lists (message types, networks) are one item a line, or separated by commas."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from typing import Any

from django import forms

from careportal.core.forms import code_input, without_maxlength
from careportal.hl7.handlers import KNOWN_MESSAGE_TYPES
from careportal.hl7.interface_admin import InterfaceValues, name_taken, sender_taken_by
from careportal.hl7.interfaces import MESSAGE_TYPE_PATTERN
from careportal.hl7.models import AckMode, InboundInterface

# HD namespace ids (MSH-3, MSH-4) as senders configure them: no HL7 delimiters, no spaces.
SENDER_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9_.\-]*$")
AUTHORITY_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9_.\-]*$")
MAX_LIST_ITEMS = 50


def _items(text: str) -> list[str]:
    return [item.strip() for item in re.split(r"[\s,;]+", text) if item.strip()]


def _shown(value: str) -> str:
    """A value the administrator typed, quoted back in an error: printable and short."""
    clean = "".join(ch for ch in value if ch.isprintable())
    return clean[:40] + ("…" if len(clean) > 40 else "")


class InterfaceForm(forms.Form):
    name = without_maxlength(
        forms.CharField(
            label="Name",
            help_text="What staff call this system, for example Laboratory (WinPath).",
            max_length=100,
            error_messages={
                "required": "Enter a name for the interface, for example Laboratory (WinPath)",
                "max_length": "Name must be 100 characters or fewer",
            },
        )
    )
    sending_application = without_maxlength(
        forms.CharField(
            label="Sending application (MSH-3)",
            help_text="Exactly as the system puts it in MSH-3 of its messages, for example WINPATH.",
            max_length=60,
            widget=code_input(20),
            error_messages={
                "required": "Enter the sending application (MSH-3), for example WINPATH",
                "max_length": "Sending application must be 60 characters or fewer",
            },
        )
    )
    sending_facility = without_maxlength(
        forms.CharField(
            label="Sending facility (MSH-4)",
            help_text="Exactly as the system puts it in MSH-4 of its messages, for example RRV_LAB.",
            max_length=60,
            widget=code_input(20),
            error_messages={
                "required": "Enter the sending facility (MSH-4), for example RRV_LAB",
                "max_length": "Sending facility must be 60 characters or fewer",
            },
        )
    )
    message_types = forms.CharField(
        label="Message types it may send",
        help_text="Message type and trigger event, one on each line, for example ORU^R01 for results, or "
        "ADT^A04, ADT^A08, ADT^A28, ADT^A31 and ADT^A40 for registrations, updates and merges.",
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": False, "autocapitalize": "characters"}),
        error_messages={"required": "Enter at least one message type, for example ORU^R01"},
    )
    source_networks = forms.CharField(
        label="Addresses it sends from",
        help_text="IP addresses or networks (CIDR), IPv4 or IPv6, one on each line, for example 10.20.30.40 or "
        "10.20.30.0/24 or 2001:db8::/64. Messages from any other address are refused.",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": False}),
        error_messages={"required": "Enter at least one address or network the system sends from"},
    )
    hospital_number_authority = without_maxlength(
        forms.CharField(
            label="Assigning authority for hospital numbers (optional)",
            help_text="PID-3 component 4 on this trust's hospital numbers in its messages, for example RRV. Leave "
            "blank if it sends none. A number with another authority is never taken as the hospital number.",
            required=False,
            max_length=20,
            widget=code_input(10),
            error_messages={"max_length": "Assigning authority must be 20 characters or fewer"},
        )
    )

    ack_mode = forms.ChoiceField(
        label="When should CarePortal acknowledge its messages?",
        help_text="Acknowledging after storing is much faster; a message that then cannot be applied waits in the "
        "unmatched messages queue instead of being refused in its ACK. See the HL7 guide (docs/hl7.md).",
        choices=[
            (AckMode.AFTER_APPLY, "After applying each message: the ACK says whether it was applied (AA or AE)"),
            (AckMode.AFTER_STORE, "As soon as each message is safely stored: workers apply it just after"),
        ],
        initial=AckMode.AFTER_APPLY,
        # Not chosen (a form posted by a script, the admin's own check): the interface keeps what it has.
        required=False,
        widget=forms.RadioSelect,
        error_messages={
            "invalid_choice": "Choose when CarePortal acknowledges this system's messages",
        },
    )

    def __init__(self, *args: Any, interface: InboundInterface | None = None, **kwargs: Any) -> None:
        self.interface = interface
        if interface is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": interface.name,
                "sending_application": interface.sending_application,
                "sending_facility": interface.sending_facility,
                "message_types": "\n".join(interface.message_types),
                "source_networks": "\n".join(interface.source_networks),
                "hospital_number_authority": interface.hospital_number_authority,
                "ack_mode": interface.ack_mode,
            }
        super().__init__(*args, **kwargs)

    def _code(self, name: str, label: str, example: str, pattern: re.Pattern[str]) -> str:
        value = unicodedata.normalize("NFKC", self.cleaned_data[name]).strip().upper()
        if value and not pattern.match(value):
            raise forms.ValidationError(
                f"{label} must only include letters, numbers, full stops, hyphens and underscores, like {example}"
            )
        return value

    def clean_name(self) -> str:
        value = " ".join(self.cleaned_data["name"].split())
        if any(not ch.isprintable() for ch in value) or re.search(r"[<>]", value):
            raise forms.ValidationError("Name must only include letters, numbers, spaces and punctuation")
        if name_taken(name=value, exclude_pk=self.interface.pk if self.interface else None):
            raise forms.ValidationError(f"There is already an interface called {_shown(value)}: choose another name")
        return value

    def clean_sending_application(self) -> str:
        return self._code("sending_application", "Sending application", "WINPATH", SENDER_PATTERN)

    def clean_sending_facility(self) -> str:
        return self._code("sending_facility", "Sending facility", "RRV_LAB", SENDER_PATTERN)

    def clean_hospital_number_authority(self) -> str:
        return self._code("hospital_number_authority", "Assigning authority", "RRV", AUTHORITY_PATTERN)

    def clean_ack_mode(self) -> str:
        value = self.cleaned_data["ack_mode"]
        if not value:
            return self.interface.ack_mode if self.interface is not None else AckMode.AFTER_APPLY
        return str(value)

    def clean_message_types(self) -> list[str]:
        items = [unicodedata.normalize("NFKC", item).upper() for item in _items(self.cleaned_data["message_types"])]
        if not items:
            raise forms.ValidationError("Enter at least one message type, for example ORU^R01")
        if len(items) > MAX_LIST_ITEMS:
            raise forms.ValidationError(f"Enter {MAX_LIST_ITEMS} message types or fewer")
        out: list[str] = []
        for item in items:
            match = MESSAGE_TYPE_PATTERN.match(item)
            if match is None:
                raise forms.ValidationError(
                    f"{_shown(item)} is not a message type and trigger event: enter them like ORU^R01, one on each line"
                )
            if match.group(1) not in KNOWN_MESSAGE_TYPES:
                raise forms.ValidationError(
                    f"{_shown(item)} is not a message type CarePortal knows: check the message code "
                    "(the part before ^), for example ORU, ADT, SIU or MDM"
                )
            if item not in out:
                out.append(item)
        return out

    def clean_source_networks(self) -> list[str]:
        items = _items(self.cleaned_data["source_networks"])
        if not items:
            raise forms.ValidationError("Enter at least one address or network the system sends from")
        if len(items) > MAX_LIST_ITEMS:
            raise forms.ValidationError(f"Enter {MAX_LIST_ITEMS} addresses or networks or fewer")
        out: list[str] = []
        for item in items:
            try:
                network = ipaddress.ip_network(item, strict=True)
            except ValueError:
                try:
                    loose = ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise forms.ValidationError(
                        f"{_shown(item)} is not an IP address or network: enter addresses like 10.20.30.40 or "
                        "2001:db8::1, or networks like 10.20.30.0/24"
                    ) from None
                raise forms.ValidationError(
                    f"{_shown(item)} has host bits set: did you mean {loose}? Enter the network's first address "
                    "before the /"
                ) from None
            if network.prefixlen == 0:
                raise forms.ValidationError(
                    f"{_shown(item)} is every address: enter only the addresses the system sends from"
                )
            if str(network) not in out:
                out.append(str(network))
        return out

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        application = cleaned.get("sending_application")
        facility = cleaned.get("sending_facility")
        if application and facility:
            taken = sender_taken_by(
                sending_application=application,
                sending_facility=facility,
                exclude_pk=self.interface.pk if self.interface else None,
            )
            if taken is not None:
                self.add_error(
                    "sending_facility",
                    f"There is already an interface for {application} at {facility} ({_shown(taken.name)}): "
                    "change that one instead",
                )
        return cleaned

    def values(self) -> InterfaceValues:
        data = self.cleaned_data
        return InterfaceValues(
            name=data["name"],
            sending_application=data["sending_application"],
            sending_facility=data["sending_facility"],
            message_types=data["message_types"],
            source_networks=data["source_networks"],
            hospital_number_authority=data["hospital_number_authority"],
            ack_mode=data["ack_mode"],
        )
