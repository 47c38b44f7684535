"""Which source address ICMPv4 errors from this box would carry.

The kernel picks the source of the route back to the packet's sender. A box
with no IPv4 address (other than 127.0.0.0/8) has nothing to pick: Linux >= 5.13
then uses 192.0.0.8 (RFC 7600), older kernels 0.0.0.0. Many networks filter
both, which breaks traceroute and path-MTU discovery. A /32 on a loopback fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from v4via6.host.lookup import RouteLookup
from v4via6.host.snapshot import HostSnapshot, sysctl_path
from v4via6.model import DUMMY_ICMP_SOURCE

#: Kernel release that started using 192.0.0.8 instead of 0.0.0.0.
DUMMY_SOURCE_KERNEL = (5, 13)

LOOPBACK_FIX = (
    "give the box an IPv4 address of its own on a loopback, e.g. "
    "ip addr add 192.0.2.1/32 dev lo (use your router's address)"
)


@dataclass(frozen=True, slots=True)
class IcmpSource:
    """The ICMP error source and why."""

    address: IPv4Address | None
    dummy: bool
    note: str

    def to_json(self) -> dict[str, Any]:
        return {
            "address": str(self.address) if self.address is not None else None,
            "dummy": self.dummy,
            "note": self.note,
        }


def _v4(addr: IPv4Address | IPv6Address) -> IPv4Address:
    return addr if isinstance(addr, IPv4Address) else IPv4Address(0)


def fallback_source(snapshot: HostSnapshot) -> IPv4Address:
    """What the kernel uses when the box has no IPv4 address: 192.0.0.8 or 0.0.0.0."""
    if snapshot.kernel.at_least(*DUMMY_SOURCE_KERNEL):
        return DUMMY_ICMP_SOURCE
    return IPv4Address("0.0.0.0")


def _dummy(snapshot: HostSnapshot, why: str) -> IcmpSource:
    addr = fallback_source(snapshot)
    return IcmpSource(
        addr,
        True,
        f"{why}, so ICMPv4 errors (TTL exceeded, fragmentation needed) go out from {addr}, "
        f"which many networks filter; {LOOPBACK_FIX}",
    )


def icmp_source(
    snapshot: HostSnapshot, reverse: RouteLookup | None, iif: str | None
) -> IcmpSource:
    """The source of ICMP errors sent back to the sender ``reverse`` was looked up for.

    ``reverse`` is the output lookup towards the packet's source (None when no
    source was given: then the answer is the box-wide choice).
    """
    usable = snapshot.usable_ipv4()
    if not usable:
        return _dummy(snapshot, "this box has no IPv4 address (127.0.0.0/8 does not count)")
    inbound = snapshot.sysctl_int(sysctl_path("net", "ipv4", "icmp_errors_use_inbound_ifaddr"))
    if inbound and iif is not None:
        on_iif = [a for a in usable if a.ifname == iif]
        if on_iif:
            return IcmpSource(
                _v4(on_iif[0].address), False,
                f"icmp_errors_use_inbound_ifaddr=1: the address of {iif}",
            )
    if reverse is not None:
        if reverse.ok and reverse.entry is not None and reverse.entry.prefsrc is not None:
            return IcmpSource(
                reverse.entry.prefsrc, False,
                f"the source of the route back to {reverse.dst}",
            )
        if reverse.ok:
            return _dummy(snapshot, f"the route back to {reverse.dst} yields no IPv4 source")
        return IcmpSource(
            None, False,
            f"no route back to {reverse.dst} ({reverse.error}): no ICMP error can be sent",
        )
    globals_first = sorted(usable, key=lambda a: (a.scope, a.ifname != "lo"))
    return IcmpSource(
        _v4(globals_first[0].address), False,
        "an address of this box, chosen per sender; give --from for the exact one",
    )
