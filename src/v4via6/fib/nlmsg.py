"""Pure packing and parsing of rtnetlink messages (routes, nexthop objects, links).

No I/O here: functions turn values into the exact bytes the kernel expects and
kernel bytes back into small tuples. The layouts follow <linux/netlink.h>,
<linux/rtnetlink.h> and <linux/nexthop.h>; every struct is host byte order
(little endian on every machine we run on), addresses are network order.

The route write path is hot (a million routes per batch), so packers are single
``struct.pack`` calls on precompiled structs plus byte concatenation.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import NamedTuple

# --- netlink header ---------------------------------------------------------
NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4

NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_ACK = 0x04
NLM_F_DUMP_INTR = 0x10
NLM_F_DUMP = 0x300
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
# Flags on an NLMSG_ERROR answer.
NLM_F_CAPPED = 0x100
NLM_F_ACK_TLVS = 0x200

NLMSGERR_ATTR_MSG = 1

SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NETLINK_GET_STRICT_CHK = 12

# --- rtnetlink message types -------------------------------------------------
RTM_NEWLINK = 16
RTM_GETLINK = 18
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RTM_GETROUTE = 26
RTM_NEWNEXTHOP = 104
RTM_DELNEXTHOP = 105
RTM_GETNEXTHOP = 106

# --- route attributes (enum rtattr_type_t) ------------------------------------
RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PRIORITY = 6
RTA_PREFSRC = 7
RTA_MULTIPATH = 9
RTA_TABLE = 15
RTA_VIA = 18
RTA_NH_ID = 30

RTN_UNSPEC = 0
RTN_UNICAST = 1
RTN_NAMES = {
    1: "unicast", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast",
    6: "blackhole", 7: "unreachable", 8: "prohibit", 9: "throw", 10: "nat",
}

RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RT_SCOPE_NOWHERE = 255
RT_TABLE_UNSPEC = 0

# --- nexthop objects ------------------------------------------------------------
NHA_ID = 1
NHA_GROUP = 2
NHA_GROUP_TYPE = 3
NHA_BLACKHOLE = 4
NHA_OIF = 5
NHA_GATEWAY = 6
NEXTHOP_GRP_TYPE_MPATH = 0

# --- links ------------------------------------------------------------------------
IFLA_IFNAME = 3

AF_UNSPEC = 0
AF_INET = socket.AF_INET  # 2
AF_INET6 = socket.AF_INET6  # 10

NLMSGHDR = struct.Struct("=IHHII")
RTMSG = struct.Struct("=BBBBBBBBI")
NHMSG = struct.Struct("=BBBBI")
IFINFOMSG = struct.Struct("=BBHiII")
RTATTR = struct.Struct("=HH")
RTNEXTHOP = struct.Struct("=HBBi")
NEXTHOP_GRP = struct.Struct("=IBBH")
_U32_ATTR = struct.Struct("=HHI")
_U16_ATTR = struct.Struct("=HHH2x")
_ERR = struct.Struct("=i")
_U32 = struct.Struct("=I")
_ATTR_U32 = struct.Struct("=HHI")  # an attribute header and the u32 that may follow

# nlmsghdr + rtmsg + RTA_DST(4) + RTA_TABLE + RTA_PRIORITY in one struct.
ROUTE_HEAD = struct.Struct("=IHHII" "BBBBBBBBI" "HH4s" "HHI" "HHI")
# The same for an IPv6 route: RTA_DST(16).
ROUTE6_HEAD = struct.Struct("=IHHII" "BBBBBBBBI" "HH16s" "HHI" "HHI")
# nlmsghdr + nhmsg + NHA_ID.
_NH_HEAD = struct.Struct("=IHHII" "BBBBI" "HHI")


def align4(n: int) -> int:
    return (n + 3) & ~3


def rtattr(kind: int, payload: bytes) -> bytes:
    """One route attribute, padded to 4 bytes."""
    length = 4 + len(payload)
    return RTATTR.pack(length, kind) + payload + b"\0" * (align4(length) - length)


def u32_attr(kind: int, value: int) -> bytes:
    return _U32_ATTR.pack(8, kind, value)


def via_attr(family: int, addr: bytes) -> bytes:
    """RTA_VIA: struct rtvia { u16 family; u8 addr[]; }."""
    return rtattr(RTA_VIA, struct.pack("=H", family) + addr)


class HopSpec(NamedTuple):
    """A next hop in kernel terms: output ifindex, gateway family/bytes, weight."""

    ifindex: int
    family: int  # AF_INET6, AF_INET, or AF_UNSPEC (device only)
    gateway: bytes
    weight: int = 1


def _gateway_attr(hop: HopSpec) -> bytes:
    if hop.family == AF_INET6:
        return via_attr(AF_INET6, hop.gateway)
    if hop.family == AF_INET:
        return rtattr(RTA_GATEWAY, hop.gateway)
    return b""


def nexthop_tail(hops: tuple[HopSpec, ...]) -> bytes:
    """The route attributes that say where a route goes (inline, no nexthop object).

    One hop: ``RTA_OIF`` + ``RTA_VIA`` (IPv6 gateway) or ``RTA_GATEWAY`` (IPv4).
    Several: ``RTA_MULTIPATH`` holding one rtnexthop (rtnh_hops = weight - 1) per hop,
    each followed by its ``RTA_VIA``/``RTA_GATEWAY``.
    """
    if len(hops) == 1:
        hop = hops[0]
        return u32_attr(RTA_OIF, hop.ifindex) + _gateway_attr(hop)
    parts = []
    for hop in hops:
        gw = _gateway_attr(hop)
        parts.append(RTNEXTHOP.pack(8 + len(gw), 0, hop.weight - 1, hop.ifindex) + gw)
    return rtattr(RTA_MULTIPATH, b"".join(parts))


def nexthop_tail6(hops: tuple[HopSpec, ...]) -> bytes:
    """Inline next hops of an IPv6 route: an IPv6 gateway is a plain ``RTA_GATEWAY``.

    (The kernel refuses ``RTA_VIA`` on IPv6 routes.) One hop: ``RTA_OIF`` +
    ``RTA_GATEWAY``; several: ``RTA_MULTIPATH`` with one rtnexthop per hop.
    """
    if len(hops) == 1:
        hop = hops[0]
        gw = rtattr(RTA_GATEWAY, hop.gateway) if hop.family != AF_UNSPEC else b""
        return u32_attr(RTA_OIF, hop.ifindex) + gw
    parts = []
    for hop in hops:
        gw = rtattr(RTA_GATEWAY, hop.gateway) if hop.family != AF_UNSPEC else b""
        parts.append(RTNEXTHOP.pack(8 + len(gw), 0, hop.weight - 1, hop.ifindex) + gw)
    return rtattr(RTA_MULTIPATH, b"".join(parts))


def nhid_tail(nh_id: int) -> bytes:
    """The route attribute that points a route at a nexthop object."""
    return u32_attr(RTA_NH_ID, nh_id)


def pack_route(
    msg_type: int,
    flags: int,
    seq: int,
    dst: bytes,
    dst_len: int,
    table: int,
    metric: int,
    protocol: int,
    tail: bytes = b"",
    prefsrc: bytes | None = None,
) -> bytes:
    """An RTM_NEWROUTE / RTM_DELROUTE request: IPv4, or IPv6 when ``dst`` is 16 bytes.

    Always carries RTA_DST, RTA_TABLE (and rtm_table when < 256) and RTA_PRIORITY.
    A delete gets scope NOWHERE and type UNSPEC so it matches the route whatever
    its scope/type; ``protocol`` makes the kernel match only that owner.
    """
    extra = b"" if prefsrc is None else RTATTR.pack(4 + len(prefsrc), RTA_PREFSRC) + prefsrc
    if len(dst) == 16:
        head_struct, family = ROUTE6_HEAD, AF_INET6
    else:
        head_struct, family = ROUTE_HEAD, AF_INET
    length = head_struct.size + len(extra) + len(tail)
    if msg_type == RTM_DELROUTE:
        scope, rtype = RT_SCOPE_NOWHERE, RTN_UNSPEC
    else:
        scope, rtype = RT_SCOPE_UNIVERSE, RTN_UNICAST
    head = head_struct.pack(
        length, msg_type, flags, seq, 0,
        family, dst_len, 0, 0, table if table < 256 else RT_TABLE_UNSPEC,
        protocol, scope, rtype, 0,
        4 + len(dst), RTA_DST, dst,
        8, RTA_TABLE, table,
        8, RTA_PRIORITY, metric,
    )
    return head + extra + tail


def pack_nexthop(
    seq: int, flags: int, nh_id: int, protocol: int, hop: HopSpec
) -> bytes:
    """RTM_NEWNEXTHOP for a single next hop (gateway + device) object."""
    body = u32_attr(NHA_OIF, hop.ifindex)
    if hop.family != AF_UNSPEC:
        body += rtattr(NHA_GATEWAY, hop.gateway)
    length = 16 + 8 + 8 + len(body)
    return _NH_HEAD.pack(
        length, RTM_NEWNEXTHOP, flags, seq, 0,
        hop.family if hop.family != AF_UNSPEC else AF_INET, 0, protocol, 0, 0,
        8, NHA_ID, nh_id,
    ) + body


def pack_nexthop_group(
    seq: int, flags: int, nh_id: int, protocol: int, members: tuple[tuple[int, int], ...]
) -> bytes:
    """RTM_NEWNEXTHOP for a multipath group of ``(member id, weight)``; weight stored - 1."""
    grp = b"".join(NEXTHOP_GRP.pack(mid, weight - 1, 0, 0) for mid, weight in members)
    body = rtattr(NHA_GROUP, grp) + _U16_ATTR.pack(6, NHA_GROUP_TYPE, NEXTHOP_GRP_TYPE_MPATH)
    length = 16 + 8 + 8 + len(body)
    return _NH_HEAD.pack(
        length, RTM_NEWNEXTHOP, flags, seq, 0,
        AF_UNSPEC, 0, protocol, 0, 0,
        8, NHA_ID, nh_id,
    ) + body


def pack_del_nexthop(seq: int, flags: int, nh_id: int) -> bytes:
    """RTM_DELNEXTHOP by id."""
    return _NH_HEAD.pack(
        32, RTM_DELNEXTHOP, flags, seq, 0, AF_UNSPEC, 0, 0, 0, 0, 8, NHA_ID, nh_id
    )


def pack_route_dump(seq: int, protocol: int = 0, table: int = 0, family: int = AF_INET) -> bytes:
    """RTM_GETROUTE dump of IPv4 (or ``family`` AF_INET6) routes, filtered by protocol/table
    when strict checking is on."""
    attrs = u32_attr(RTA_TABLE, table) if table else b""
    body = RTMSG.pack(family, 0, 0, 0, table if 0 < table < 256 else 0, protocol, 0, 0, 0)
    length = 16 + len(body) + len(attrs)
    return NLMSGHDR.pack(length, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body + attrs


def pack_nexthop_dump(seq: int) -> bytes:
    """RTM_GETNEXTHOP dump of every nexthop object."""
    body = NHMSG.pack(AF_UNSPEC, 0, 0, 0, 0)
    return NLMSGHDR.pack(16 + len(body), RTM_GETNEXTHOP, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


def pack_link_dump(seq: int) -> bytes:
    """RTM_GETLINK dump of every interface."""
    body = IFINFOMSG.pack(AF_UNSPEC, 0, 0, 0, 0, 0)
    return NLMSGHDR.pack(16 + len(body), RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


# --- parsing -------------------------------------------------------------------------


class Message(NamedTuple):
    """One netlink message inside a receive buffer: header fields and payload bounds."""

    type: int
    flags: int
    seq: int
    start: int  # payload start offset in the buffer
    end: int  # payload end offset


def iter_messages(buf: bytes | bytearray | memoryview, length: int) -> Iterator[Message]:
    """Split ``buf[:length]`` into netlink messages."""
    off = 0
    unpack = NLMSGHDR.unpack_from
    while off + 16 <= length:
        mlen, mtype, mflags, seq, _pid = unpack(buf, off)
        if mlen < 16 or off + mlen > length:
            raise ValueError(f"truncated netlink message at offset {off} (len {mlen})")
        yield Message(mtype, mflags, seq, off + 16, off + mlen)
        off += align4(mlen)


def iter_attrs(buf: bytes | bytearray | memoryview, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """Yield ``(type, payload start, payload end)`` for each rtattr in ``buf[start:end]``."""
    off = start
    unpack = RTATTR.unpack_from
    while off + 4 <= end:
        alen, atype = unpack(buf, off)
        if alen < 4 or off + alen > end:
            raise ValueError(f"bad attribute length {alen} at offset {off}")
        yield atype & 0x3FFF, off + 4, off + alen
        off += align4(alen)


class ErrorAnswer(NamedTuple):
    """An NLMSG_ERROR: errno 0 is an ACK. ``seq`` is the request's sequence number."""

    seq: int
    errno: int
    text: str


def parse_error(buf: bytes | bytearray | memoryview, msg: Message) -> ErrorAnswer:
    """Decode an NLMSG_ERROR (ACK when errno is 0), including the extended-ack text."""
    (err,) = _ERR.unpack_from(buf, msg.start)
    text = ""
    if msg.flags & NLM_F_ACK_TLVS:
        orig_len = NLMSGHDR.unpack_from(buf, msg.start + 4)[0]
        tlv_start = msg.start + 4 + (16 if msg.flags & NLM_F_CAPPED else align4(orig_len))
        for atype, s, e in iter_attrs(buf, tlv_start, msg.end):
            if atype == NLMSGERR_ATTR_MSG:
                text = bytes(buf[s:e]).rstrip(b"\0").decode("utf-8", "replace")
    return ErrorAnswer(msg.seq, -err, text)


class RouteMsg(NamedTuple):
    """An IPv4 or IPv6 route as dumped, in kernel terms (no interface names yet)."""

    table: int
    dst: bytes
    dst_len: int
    protocol: int
    scope: int
    type: int
    metric: int
    prefsrc: bytes | None
    nh_id: int | None
    hops: tuple[HopSpec, ...]


def parse_route(buf: bytes | bytearray | memoryview, msg: Message) -> RouteMsg:
    """Decode one RTM_NEWROUTE message (as a dump yields) into a RouteMsg."""
    family, dst_len, _src_len, _tos, table, protocol, scope, rtype, _flags = RTMSG.unpack_from(
        buf, msg.start
    )
    dst = b"\0\0\0\0"
    metric = 0
    prefsrc: bytes | None = None
    nh_id: int | None = None
    oif = 0
    gw_family = AF_UNSPEC
    gateway = b""
    hops: tuple[HopSpec, ...] = ()
    for atype, s, e in iter_attrs(buf, msg.start + 12, msg.end):
        if atype == RTA_DST:
            dst = bytes(buf[s:e])
        elif atype == RTA_TABLE:
            table = _U32.unpack_from(buf, s)[0]
        elif atype == RTA_PRIORITY:
            metric = _U32.unpack_from(buf, s)[0]
        elif atype == RTA_PREFSRC:
            prefsrc = bytes(buf[s:e])
        elif atype == RTA_OIF:
            oif = _U32.unpack_from(buf, s)[0]
        elif atype == RTA_GATEWAY:
            gw_family, gateway = (AF_INET if e - s == 4 else AF_INET6), bytes(buf[s:e])
        elif atype == RTA_VIA:
            gw_family = struct.unpack_from("=H", buf, s)[0]
            gateway = bytes(buf[s + 2 : e])
        elif atype == RTA_NH_ID:
            nh_id = _U32.unpack_from(buf, s)[0]
        elif atype == RTA_MULTIPATH:
            hops = _parse_multipath(buf, s, e)
    if not hops and (oif or gateway):
        hops = (HopSpec(oif, gw_family, gateway, 1),)
    if family not in (AF_INET, AF_INET6):
        raise ValueError(f"not an IPv4 or IPv6 route (family {family})")
    return RouteMsg(table, dst, dst_len, protocol, scope, rtype, metric, prefsrc, nh_id, hops)


def _parse_multipath(buf: bytes | bytearray | memoryview, start: int, end: int) -> tuple[HopSpec, ...]:
    hops = []
    off = start
    while off + 8 <= end:
        rlen, _flags, rhops, ifindex = RTNEXTHOP.unpack_from(buf, off)
        if rlen < 8 or off + rlen > end:
            raise ValueError(f"bad rtnexthop length {rlen}")
        family, gateway = AF_UNSPEC, b""
        for atype, s, e in iter_attrs(buf, off + 8, off + rlen):
            if atype == RTA_VIA:
                family = struct.unpack_from("=H", buf, s)[0]
                gateway = bytes(buf[s + 2 : e])
            elif atype == RTA_GATEWAY:
                family, gateway = (AF_INET if e - s == 4 else AF_INET6), bytes(buf[s:e])
        hops.append(HopSpec(ifindex, family, gateway, rhops + 1))
        off += align4(rlen)
    return tuple(hops)


def parse_route_key(buf: bytes | bytearray | memoryview, msg: Message) -> tuple[int, bytes, int, int, int]:
    """Just what identifies a dumped route: ``(table, dst, dst_len, metric, nh_id or 0)``.

    Cheaper than ``parse_route`` (no next hops decoded), for bulk work on dumps.
    """
    dst_len = buf[msg.start + 1]
    table = buf[msg.start + 4]
    dst = b"\0\0\0\0"
    metric = 0
    nh_id = 0
    off = msg.start + 12
    end = msg.end
    unpack = _ATTR_U32.unpack_from
    while off + 4 <= end:
        alen, atype, value = unpack(buf, off) if off + 8 <= end else (*RTATTR.unpack_from(buf, off), 0)
        if alen < 4:
            raise ValueError(f"bad attribute length {alen} at offset {off}")
        atype &= 0x3FFF
        if atype == RTA_DST:
            dst = bytes(buf[off + 4 : off + alen])
        elif atype == RTA_TABLE:
            table = value
        elif atype == RTA_PRIORITY:
            metric = value
        elif atype == RTA_NH_ID:
            nh_id = value
        off += (alen + 3) & ~3
    return table, dst, dst_len, metric, nh_id


def route_protocol(buf: bytes | bytearray | memoryview, msg: Message) -> int:
    """rtm_protocol of a route message, without decoding the rest (fast skip)."""
    return buf[msg.start + 5]


class NexthopMsg(NamedTuple):
    """A nexthop object as dumped: a single hop, or a group of ``(id, weight)``."""

    id: int
    protocol: int
    hop: HopSpec | None
    group: tuple[tuple[int, int], ...]
    blackhole: bool


def parse_nexthop(buf: bytes | bytearray | memoryview, msg: Message) -> NexthopMsg:
    """Decode one RTM_NEWNEXTHOP message."""
    _family, _scope, protocol, _resvd, _flags = NHMSG.unpack_from(buf, msg.start)
    nh_id = 0
    oif = 0
    gateway = b""
    group: list[tuple[int, int]] = []
    blackhole = False
    for atype, s, e in iter_attrs(buf, msg.start + 8, msg.end):
        if atype == NHA_ID:
            nh_id = _U32.unpack_from(buf, s)[0]
        elif atype == NHA_OIF:
            oif = _U32.unpack_from(buf, s)[0]
        elif atype == NHA_GATEWAY:
            gateway = bytes(buf[s:e])
        elif atype == NHA_BLACKHOLE:
            blackhole = True
        elif atype == NHA_GROUP:
            for off in range(s, e - 7, 8):
                mid, weight, weight_high, _r = NEXTHOP_GRP.unpack_from(buf, off)
                group.append((mid, (weight | (weight_high << 8)) + 1))
    hop = None
    if not group and not blackhole:
        gw_family = (AF_INET6 if len(gateway) == 16 else AF_INET) if gateway else AF_UNSPEC
        hop = HopSpec(oif, gw_family, gateway, 1)
    return NexthopMsg(nh_id, protocol, hop, tuple(group), blackhole)


def parse_link(buf: bytes | bytearray | memoryview, msg: Message) -> tuple[int, str]:
    """``(ifindex, ifname)`` from one RTM_NEWLINK message."""
    _family, _pad, _type, index, _flags, _change = IFINFOMSG.unpack_from(buf, msg.start)
    for atype, s, e in iter_attrs(buf, msg.start + 16, msg.end):
        if atype == IFLA_IFNAME:
            return index, bytes(buf[s:e]).rstrip(b"\0").decode("utf-8", "replace")
    return index, ""
