"""Which hospital systems may send HL7 to CarePortal: the inbound interfaces (InboundInterface) as the receiving
path reads them, and the check every message passes before anything is applied.

A message is accepted only from an active interface whose MSH-3 (sending application) and MSH-4 (sending facility)
it names, of a message type and trigger event that interface lists, and, over MLLP, from an address inside one of
that interface's source networks. Anything else is refused with AR (HL7 table 0008, "application reject": refused
for reasons unrelated to its content, so sending it again unchanged will not help) and stored for staff, with the
reason. The batch import (`manage.py hl7_import`) is an operator's command on the server itself: its messages are
checked by sender and type only, since there is no network peer.

This runs for every message (benchmarked at over 100 messages a second), so the active interfaces are read in one
query into a snapshot that each process keeps for HL7_INTERFACE_CACHE_SECONDS. A change made by an integration
administrator clears the snapshot of the process that made it at once, and reaches other processes (the MLLP
listener) within that many seconds.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings

from careportal.hl7.models import AckMode, ErrorKind, InboundInterface, MessageSource
from careportal.hl7.parsing import (
    ERR_TABLE_VALUE_NOT_FOUND,
    ERR_UNSUPPORTED_EVENT,
    ERR_UNSUPPORTED_MESSAGE_TYPE,
    MessageHeader,
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MESSAGE_TYPE_PATTERN = re.compile(r"^([A-Z]{3})\^([A-Z0-9]{3})$")


@dataclass(frozen=True)
class InterfaceRule:
    """One active interface, as the receiving path checks it."""

    pk: int
    name: str
    message_types: frozenset[str]
    networks: tuple[IPNetwork, ...]
    hospital_number_authority: str
    ack_mode: str = AckMode.AFTER_APPLY

    def allows_type(self, header: MessageHeader) -> bool:
        return f"{header.message_code}^{header.trigger_event}" in self.message_types

    def allows_address(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.networks)


@dataclass(frozen=True)
class Refusal:
    """Why a message is refused: the readable text (field positions and the interface's name, never values)."""

    kind: ErrorKind
    text: str
    code: int
    field: int


def sender_key(application: str, facility: str) -> tuple[str, str]:
    return application.strip().upper(), facility.strip().upper()


def parse_network(value: str) -> IPNetwork:
    """An address or a network in CIDR notation, IPv4 or IPv6, in its normal form. Raises ValueError."""
    return ipaddress.ip_network(value.strip(), strict=False)


def rule_from(interface: InboundInterface) -> InterfaceRule:
    networks = []
    for value in interface.source_networks or []:
        try:
            networks.append(parse_network(str(value)))
        except ValueError:
            continue  # saved by the admin by hand: a value that is not a network allows nothing
    return InterfaceRule(
        pk=interface.pk,
        name=interface.name,
        message_types=frozenset(str(t).upper() for t in interface.message_types or []),
        networks=tuple(networks),
        hospital_number_authority=interface.hospital_number_authority.strip().upper(),
        ack_mode=interface.ack_mode,
    )


# --- The per-process snapshot ------------------------------------------------------------------------------------

_lock = threading.Lock()
_snapshot: tuple[float, dict[tuple[str, str], InterfaceRule]] | None = None


def _load() -> dict[tuple[str, str], InterfaceRule]:
    return {
        sender_key(i.sending_application, i.sending_facility): rule_from(i)
        for i in InboundInterface.objects.filter(is_active=True).order_by()
    }


def active_rules(*, fresh: bool = False) -> dict[tuple[str, str], InterfaceRule]:
    """Active interfaces by (MSH-3, MSH-4), upper case: one query at most, none while the snapshot is young."""
    global _snapshot
    now = time.monotonic()
    with _lock:
        current = _snapshot
    if not fresh and current is not None and now - current[0] < settings.HL7_INTERFACE_CACHE_SECONDS:
        return current[1]
    rules = _load()
    with _lock:
        _snapshot = (now, rules)
    return rules


def interfaces_cache_clear() -> None:
    """Forget this process's snapshot: the next message reads the interfaces again."""
    global _snapshot
    with _lock:
        _snapshot = None


def interface_for(header: MessageHeader, *, fresh: bool = False) -> InterfaceRule | None:
    return active_rules(fresh=fresh).get(sender_key(header.sending_application, header.sending_facility))


def interface_for_if_cached(header: MessageHeader) -> InterfaceRule | None:
    """The interface a message comes through as this process's snapshot knows it, never querying the database (for
    the listener's event loop, where a query would hold up every connection); None when the snapshot is missing or
    too old, as when the sender is unknown."""
    with _lock:
        current = _snapshot
    if current is None or time.monotonic() - current[0] >= settings.HL7_INTERFACE_CACHE_SECONDS:
        return None
    return current[1].get(sender_key(header.sending_application, header.sending_facility))


# --- The check -----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def peer_address(peer: str) -> IPAddress | None:
    """The IP address in the listener's peer label, or None: "10.0.0.5:40122" and "[2001:db8::5]:40122" (see
    `listener._peer_label`), or a bare address. An IPv4 address in IPv6 form (::ffff:10.0.0.5, from a dual-stack
    socket) counts as the IPv4 address. Anything else (a file name, "unknown") is no address."""
    text = peer.strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def interface_check(
    header: MessageHeader, *, peer: str, source: str, fresh: bool = False
) -> tuple[InterfaceRule | None, Refusal | None]:
    """The interface a message comes through, or why it is refused.

    ERR-3 codes (HL7 table 0357): an unknown sender is 103 "table value not found" (MSH-3 and MSH-4 take their
    values from the receiver's tables 0361 and 0362 of applications and facilities); a type the interface does
    not list is 200 "unsupported message type", or 201 "unsupported event code" when it lists other events of
    that message; an address outside the interface's networks is 103 on MSH-4: this sender is not known there.
    """
    rule = interface_for(header, fresh=fresh)
    if rule is None:
        return None, Refusal(
            kind=ErrorKind.SENDER_UNKNOWN,
            text="MSH-3/MSH-4: no active inbound interface is configured for this sending application and "
            "facility; CarePortal applied nothing",
            code=ERR_TABLE_VALUE_NOT_FOUND,
            field=3,
        )
    if not rule.allows_type(header):
        same_code = any(t.startswith(f"{header.message_code}^") for t in rule.message_types)
        return rule, Refusal(
            kind=ErrorKind.TYPE_NOT_ALLOWED,
            text=f"MSH-9: the interface {rule.name} does not allow this message type and trigger event; "
            "CarePortal applied nothing",
            code=ERR_UNSUPPORTED_EVENT if same_code else ERR_UNSUPPORTED_MESSAGE_TYPE,
            field=9,
        )
    if source == MessageSource.MLLP:
        address = peer_address(peer)
        if address is None or not rule.allows_address(address):
            return rule, Refusal(
                kind=ErrorKind.ADDRESS_NOT_ALLOWED,
                text=f"MSH-4: the interface {rule.name} does not accept messages from this network address; "
                "CarePortal applied nothing",
                code=ERR_TABLE_VALUE_NOT_FOUND,
                field=4,
            )
    return rule, None


def networks_normalised(values: Iterable[str]) -> list[str]:
    """Networks in normal form, in the order given, without repeats. Raises ValueError naming the bad value."""
    out: list[str] = []
    for value in values:
        network = str(parse_network(value))
        if network not in out:
            out.append(network)
    return out
