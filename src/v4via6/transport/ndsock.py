"""Raw ICMPv6 socket bound to one interface, for sending and receiving RAs and RSs.

:func:`open_nd_socket` sets it up as RFC 4861 wants: bound to the interface
(``SO_BINDTODEVICE``), hop limit 255 for unicast and multicast, only the
wanted ICMPv6 types passed (``ICMP6_FILTER``), destination and hop limit of
each received packet reported (``IPV6_RECVPKTINFO``, ``IPV6_RECVHOPLIMIT``),
our own multicasts not looped back. The kernel fills in and checks the
ICMPv6 checksum. Needs CAP_NET_RAW.
"""

from __future__ import annotations

import contextlib
import fcntl
import socket
import struct
from dataclasses import dataclass

from v4via6.transport import sockopts
from v4via6.transport.endpoints import AddressError, ifname_to_index
from v4via6.transport.ra import ICMP6_FILTER, ND_HOP_LIMIT, pack_icmp6_filter, pack_ipv6_mreq, unpack_in6_pktinfo

IPPROTO_ICMPV6 = 58
SIOCGIFHWADDR = 0x8927
IPV6_RECVPKTINFO = 49
IPV6_PKTINFO = 50
IPV6_RECVHOPLIMIT = 51
IPV6_HOPLIMIT = 52
IPV6_MULTICAST_IF = 17
IPV6_MULTICAST_HOPS = 18
IPV6_MULTICAST_LOOP = 19
IPV6_JOIN_GROUP = 20

_ANC_SIZE = socket.CMSG_SPACE(20) + socket.CMSG_SPACE(4)


class NdSocketError(OSError):
    """The raw ICMPv6 socket could not be set up; one-line message."""


@dataclass(frozen=True)
class NdPacket:
    """One received ICMPv6 packet and where it came from."""

    source: str
    destination: str | None
    ifindex: int
    hop_limit: int | None
    data: bytes


def interface_mac(ifname: str) -> bytes | None:
    """Hardware address of ``ifname`` (SIOCGIFHWADDR), None if it has no 6-byte one."""
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        try:
            res = fcntl.ioctl(s.fileno(), SIOCGIFHWADDR, struct.pack("16s16s", ifname.encode(), b""))
        except OSError:
            return None
    mac = res[18:24]
    return mac if any(mac) else None


def open_nd_socket(ifname: str, pass_types: set[int], *, join_groups: tuple[str, ...] = ()) -> socket.socket:
    """Non-blocking raw ICMPv6 socket on ``ifname`` that receives only ``pass_types``."""
    ifindex = ifname_to_index(ifname)
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_ICMPV6)
    except PermissionError:
        raise NdSocketError(f"raw ICMPv6 socket on {ifname} needs CAP_NET_RAW") from None
    try:
        sock.setblocking(False)
        sockopts.set_bindtodevice(sock, ifname)
        sock.setsockopt(IPPROTO_ICMPV6, ICMP6_FILTER, pack_icmp6_filter(pass_types))
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MULTICAST_HOPS, ND_HOP_LIMIT)
        sock.setsockopt(socket.IPPROTO_IPV6, sockopts.IPV6_UNICAST_HOPS, ND_HOP_LIMIT)
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MULTICAST_IF, ifindex)
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0)
        for group in join_groups:
            # Already a member (e.g. ff02::2 with forwarding on) is fine.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_JOIN_GROUP, pack_ipv6_mreq(group, ifindex))
    except OSError as exc:
        sock.close()
        raise NdSocketError(f"cannot set up ICMPv6 socket on {ifname}: {exc.strerror or exc}") from None
    return sock


def send_nd(sock: socket.socket, ifname: str, packet: bytes, destination: str) -> None:
    """Send ``packet`` to ``destination`` (multicast or link-local) on ``ifname``."""
    try:
        scope = ifname_to_index(ifname)
    except AddressError as exc:
        raise NdSocketError(str(exc)) from None
    sock.sendto(packet, (destination, 0, 0, scope))


def recv_nd(sock: socket.socket) -> NdPacket | None:
    """One packet from a non-blocking ND socket, or None when none is waiting."""
    try:
        data, ancdata, _flags, addr = sock.recvmsg(4096, _ANC_SIZE)
    except (BlockingIOError, InterruptedError):
        return None
    destination: str | None = None
    ifindex = int(addr[3]) if len(addr) >= 4 else 0
    hop_limit: int | None = None
    for level, ctype, cdata in ancdata:
        if level != socket.IPPROTO_IPV6:
            continue
        if ctype == IPV6_PKTINFO:
            with contextlib.suppress(ValueError):
                destination, ifindex = unpack_in6_pktinfo(cdata)
        elif ctype == IPV6_HOPLIMIT and len(cdata) >= 4:
            hop_limit = struct.unpack("=i", cdata[:4])[0]
    return NdPacket(str(addr[0]).split("%", 1)[0], destination, ifindex, hop_limit, data)
