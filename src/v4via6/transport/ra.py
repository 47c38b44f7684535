"""ICMPv6 router advertisement / solicitation codec (RFC 4861 §4.1, §4.2, §6.1) — pure bytes.

Used for unnumbered BGP peering: a router learns its neighbour's link-local
address from the source of the RAs the neighbour sends (FRR's
``neighbor IFACE interface`` does exactly that), so v4via6 both listens for
and sends RAs. Ours carry router lifetime 0, so hosts never take us as a
default router.

Checksum: on Linux the kernel computes the ICMPv6 checksum of every packet
sent on a raw ``IPPROTO_ICMPV6`` socket and verifies it on receive
(RFC 3542 §3.1; ``IPV6_CHECKSUM`` cannot be changed for ICMPv6), so
:func:`encode_router_advert` leaves it zero. :func:`icmpv6_checksum` exists to
verify packets in tests and tools.

Also here: the byte layouts of the socket options a raw ICMPv6 socket needs
(``ICMP6_FILTER``, ``IPV6_JOIN_GROUP``, ``IPV6_PKTINFO``).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

ICMPV6_ROUTER_SOLICIT = 133
ICMPV6_ROUTER_ADVERT = 134
ND_OPT_SOURCE_LLADDR = 1
ND_OPT_TARGET_LLADDR = 2
ND_OPT_PREFIX_INFO = 3
ND_OPT_MTU = 5

#: Hop limit every ND packet is sent with and must arrive with (RFC 4861 §6.1).
ND_HOP_LIMIT = 255
ALL_NODES = "ff02::1"
ALL_ROUTERS = "ff02::2"

#: ``ICMP6_FILTER`` socket option (level ``IPPROTO_ICMPV6``), from linux/icmpv6.h.
ICMP6_FILTER = 1

RA_HEADER_LEN = 16
RS_HEADER_LEN = 8


class NdDecodeError(ValueError):
    """An RA/RS that RFC 4861 §6.1 says to discard; the message says why."""


@dataclass(frozen=True)
class RouterAdvert:
    """The fields of a router advertisement v4via6 cares about."""

    cur_hop_limit: int = 0
    flags: int = 0
    router_lifetime: int = 0
    reachable_time: int = 0
    retrans_timer: int = 0
    source_lladdr: bytes | None = None
    mtu: int | None = None
    #: Options we do not interpret, as (type, body) pairs in wire order.
    other_options: tuple[tuple[int, bytes], ...] = field(default=())


@dataclass(frozen=True)
class RouterSolicit:
    """A router solicitation (only its source link-layer address option is kept)."""

    source_lladdr: bytes | None = None


def format_mac(mac: bytes) -> str:
    """``b'\\x02\\x00...'`` -> ``'02:00:...'``."""
    return ":".join(f"{b:02x}" for b in mac)


def parse_mac(text: str) -> bytes:
    """``'02:00:5e:00:53:01'`` -> 6 bytes."""
    parts = text.split(":")
    if len(parts) != 6:
        raise ValueError(f"not a MAC address: {text!r}")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise ValueError(f"not a MAC address: {text!r}") from None


def _encode_option(opt_type: int, body: bytes) -> bytes:
    total = 2 + len(body)
    padded = (total + 7) // 8 * 8
    return struct.pack("!BB", opt_type, padded // 8) + body + b"\0" * (padded - total)


def encode_lladdr_option(mac: bytes, opt_type: int = ND_OPT_SOURCE_LLADDR) -> bytes:
    """Source (or target) link-layer address option, padded to 8 octets."""
    return _encode_option(opt_type, mac)


def encode_mtu_option(mtu: int) -> bytes:
    """MTU option (type 5, 8 octets)."""
    return struct.pack("!BBHI", ND_OPT_MTU, 1, 0, mtu)


def encode_router_advert(ra: RouterAdvert) -> bytes:
    """ICMPv6 RA bytes with checksum 0 (the kernel fills it in on raw ICMPv6 sockets)."""
    if not 0 <= ra.router_lifetime <= 0xFFFF:
        raise ValueError(f"router lifetime out of range: {ra.router_lifetime}")
    out = struct.pack(
        "!BBHBBHII",
        ICMPV6_ROUTER_ADVERT,
        0,
        0,
        ra.cur_hop_limit,
        ra.flags,
        ra.router_lifetime,
        ra.reachable_time,
        ra.retrans_timer,
    )
    if ra.source_lladdr is not None:
        out += encode_lladdr_option(ra.source_lladdr)
    if ra.mtu is not None:
        out += encode_mtu_option(ra.mtu)
    for opt_type, body in ra.other_options:
        out += _encode_option(opt_type, body)
    return out


def encode_router_solicit(source_lladdr: bytes | None = None) -> bytes:
    """ICMPv6 RS bytes (checksum 0), optionally with our link-layer address."""
    out = struct.pack("!BBHI", ICMPV6_ROUTER_SOLICIT, 0, 0, 0)
    if source_lladdr is not None:
        out += encode_lladdr_option(source_lladdr)
    return out


def decode_options(data: bytes) -> list[tuple[int, bytes]]:
    """Split ND options into (type, body-after-type-and-length) pairs."""
    options: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < 2:
            raise NdDecodeError(f"truncated ND option at offset {pos}")
        opt_type, units = data[pos], data[pos + 1]
        if units == 0:
            raise NdDecodeError(f"ND option type {opt_type} has length 0")
        end = pos + units * 8
        if end > len(data):
            raise NdDecodeError(f"ND option type {opt_type} runs past the packet ({units * 8} > {len(data) - pos})")
        options.append((opt_type, data[pos + 2 : end]))
        pos = end
    return options


def _check_header(packet: bytes, want_type: int, min_len: int, name: str) -> None:
    if len(packet) < min_len:
        raise NdDecodeError(f"{name} too short: {len(packet)} bytes, need {min_len}")
    if packet[0] != want_type:
        raise NdDecodeError(f"not a {name}: ICMPv6 type {packet[0]}")
    if packet[1] != 0:
        raise NdDecodeError(f"{name} with ICMPv6 code {packet[1]} (must be 0)")


def decode_router_advert(packet: bytes) -> RouterAdvert:
    """Parse an ICMPv6 RA (starting at the ICMPv6 type byte)."""
    _check_header(packet, ICMPV6_ROUTER_ADVERT, RA_HEADER_LEN, "router advertisement")
    hop, flags, lifetime, reachable, retrans = struct.unpack_from("!BBHII", packet, 4)
    lladdr: bytes | None = None
    mtu: int | None = None
    others: list[tuple[int, bytes]] = []
    for opt_type, body in decode_options(packet[RA_HEADER_LEN:]):
        if opt_type == ND_OPT_SOURCE_LLADDR:
            lladdr = body[:6] if len(body) >= 6 else body
        elif opt_type == ND_OPT_MTU and len(body) >= 6:
            mtu = struct.unpack_from("!I", body, 2)[0]
        else:
            others.append((opt_type, body))
    return RouterAdvert(hop, flags, lifetime, reachable, retrans, lladdr, mtu, tuple(others))


def decode_router_solicit(packet: bytes) -> RouterSolicit:
    """Parse an ICMPv6 RS (starting at the ICMPv6 type byte)."""
    _check_header(packet, ICMPV6_ROUTER_SOLICIT, RS_HEADER_LEN, "router solicitation")
    lladdr: bytes | None = None
    for opt_type, body in decode_options(packet[RS_HEADER_LEN:]):
        if opt_type == ND_OPT_SOURCE_LLADDR:
            lladdr = body[:6] if len(body) >= 6 else body
    return RouterSolicit(lladdr)


def validate_router_advert(source: str, hop_limit: int | None, packet: bytes) -> RouterAdvert:
    """RFC 4861 §6.1.2 checks a receiver makes, then decode.

    The source must be link-local and the hop limit 255 (proof the packet was
    not forwarded); None means the hop limit was not reported and is not checked.
    """
    try:
        src = ipaddress.IPv6Address(source.split("%", 1)[0])
    except ValueError:
        raise NdDecodeError(f"router advertisement from non-IPv6 source {source!r}") from None
    if not src.is_link_local:
        raise NdDecodeError(f"router advertisement from {src}: source is not link-local")
    if hop_limit is not None and hop_limit != ND_HOP_LIMIT:
        raise NdDecodeError(f"router advertisement from {src} with hop limit {hop_limit} (must be 255)")
    return decode_router_advert(packet)


def icmpv6_checksum(source: str, destination: str, packet: bytes) -> int:
    """RFC 4443 §2.3 checksum over the IPv6 pseudo-header and ``packet``.

    Compute with the checksum field zeroed; a received packet is intact when
    the function returns 0 over the packet as received.
    """
    src = ipaddress.IPv6Address(source.split("%", 1)[0]).packed
    dst = ipaddress.IPv6Address(destination.split("%", 1)[0]).packed
    data = src + dst + struct.pack("!I3xB", len(packet), 58) + packet
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def pack_icmp6_filter(pass_types: set[int] | frozenset[int]) -> bytes:
    """``struct icmp6_filter`` that passes only ``pass_types`` (Linux: a set bit blocks)."""
    words = [0xFFFFFFFF] * 8
    for t in pass_types:
        if not 0 <= t <= 255:
            raise ValueError(f"ICMPv6 type out of range: {t}")
        words[t >> 5] &= ~(1 << (t & 31)) & 0xFFFFFFFF
    return struct.pack("=8I", *words)


def pack_ipv6_mreq(group: str, ifindex: int) -> bytes:
    """``struct ipv6_mreq`` for IPV6_JOIN_GROUP: 16 address bytes + int ifindex."""
    return ipaddress.IPv6Address(group).packed + struct.pack("=i", ifindex)


def unpack_in6_pktinfo(data: bytes) -> tuple[str, int]:
    """``struct in6_pktinfo`` (IPV6_PKTINFO ancillary data) -> (destination, ifindex)."""
    if len(data) < 20:
        raise ValueError(f"in6_pktinfo is 20 bytes, got {len(data)}")
    ifindex: int = struct.unpack_from("=I", data, 16)[0]
    return str(ipaddress.IPv6Address(data[:16])), ifindex
