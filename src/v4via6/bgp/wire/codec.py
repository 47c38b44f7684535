"""Message codec: ``decode_message(bytes, ctx) -> Message`` and ``encode(msg, ctx) -> bytes``.

Also the UPDATE builders a session uses to send routes: :func:`encode_updates`
packs many prefixes per message grouped by attribute set, :func:`encode_withdrawals`
and :func:`end_of_rib`. RFC 7606 classification of UPDATE problems happens here
and in :mod:`~v4via6.bgp.wire.attributes` (per-attribute actions).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from ipaddress import IPv4Address

from v4via6.bgp.wire.attributes import (
    AS_PATH,
    F_EXTLEN,
    F_OPTIONAL,
    F_TRANSITIVE,
    MP_REACH_NLRI,
    MP_UNREACH_NLRI,
    NEXT_HOP,
    ORIGIN,
    attr_name,
    decode_attributes,
    encode_attribute,
    encode_attributes,
    iter_attributes,
)
from v4via6.bgp.wire.capabilities import Capability
from v4via6.bgp.wire.context import (
    AFI_IPV4,
    HEADER_LEN,
    IPV4_UNICAST_VIA_IPV6,
    SAFI_UNICAST,
    Context,
)
from v4via6.bgp.wire.errors import (
    OPEN_BAD_VERSION,
    OPEN_MESSAGE_ERROR,
    OPEN_UNSPECIFIC,
    UPD_ATTR_FLAGS_ERROR,
    UPD_INVALID_NETWORK,
    UPD_MALFORMED_ATTR_LIST,
    UPD_OPTIONAL_ATTR_ERROR,
    UPDATE_MESSAGE_ERROR,
    Action,
    EncodeError,
    Verdict,
    reset,
)
from v4via6.bgp.wire.framing import check_header, header
from v4via6.bgp.wire.messages import (
    KEEPALIVE,
    NOTIFICATION,
    OPEN,
    UPDATE,
    Announcement,
    Keepalive,
    Message,
    Notification,
    Open,
    RouteRefresh,
    Update,
    Withdrawal,
)
from v4via6.bgp.wire.mp import (
    MpError,
    MpReach,
    MpUnreach,
    decode_mp_reach,
    decode_mp_unreach,
    encode_mp_reach_value,
    encode_mp_unreach_value,
)
from v4via6.bgp.wire.nexthop import LinkLocalStyle, encode_nexthop
from v4via6.bgp.wire.prefixes import (
    NlriError,
    decode_prefixes,
    decode_prefixes_addpath,
    encode_prefixes,
)

Buffer = bytes | bytearray | memoryview
DEFAULT_CONTEXT = Context()
_MP_CODES = (MP_REACH_NLRI, MP_UNREACH_NLRI)

# ============================================================== entry points


def decode_message(data: Buffer, ctx: Context = DEFAULT_CONTEXT) -> Message:
    """One whole message (header included) -> message object.

    Raises :class:`~v4via6.bgp.wire.errors.WireError` for anything that needs a
    session reset; milder UPDATE problems come back as ``Update.verdicts``.
    """
    data = bytes(data)
    if len(data) < HEADER_LEN:
        raise reset(1, 2, f"message of {len(data)} bytes is shorter than the header",
                    data[16:18])
    mtype, length = check_header(data, 0, ctx.max_len)
    if length != len(data):
        raise reset(1, 2, f"length field {length} but {len(data)} bytes given",
                    data[16:18])
    body = data[HEADER_LEN:]
    if mtype == UPDATE:
        return decode_update(body, ctx)
    if mtype == KEEPALIVE:
        return Keepalive()
    if mtype == NOTIFICATION:
        return Notification(body[0], body[1], body[2:])
    if mtype == OPEN:
        return decode_open(body)
    return decode_route_refresh(body, data)


def encode(msg: Message, ctx: Context = DEFAULT_CONTEXT) -> bytes:
    """Message object -> bytes (header included)."""
    if isinstance(msg, Update):
        body = encode_update_body(msg, ctx)
    elif isinstance(msg, Keepalive):
        body = b""
    elif isinstance(msg, Notification):
        body = bytes((msg.code, msg.subcode)) + msg.data
    elif isinstance(msg, Open):
        if not 0 <= msg.my_as <= 0xFFFF:
            raise EncodeError(f"OPEN my_as {msg.my_as} does not fit 2 octets; send AS_TRANS "
                              "(23456) and the four-octet AS capability")
        body = encode_open_body(msg)
    else:
        body = msg.afi.to_bytes(2, "big") + bytes((msg.subtype, msg.safi))
    if HEADER_LEN + len(body) > max(ctx.max_len, 4096):
        raise EncodeError(f"message of {HEADER_LEN + len(body)} bytes exceeds {ctx.max_len}")
    return header(msg.TYPE, len(body)) + body


# ============================================================== OPEN


def decode_open(body: bytes) -> Open:
    version = body[0]
    if version != 4:
        raise reset(OPEN_MESSAGE_ERROR, OPEN_BAD_VERSION, f"BGP version {version} is not 4",
                    (4).to_bytes(2, "big"))
    my_as = int.from_bytes(body[1:3], "big")
    hold = int.from_bytes(body[3:5], "big")
    bgp_id = IPv4Address(body[5:9])
    plen = body[9]
    extended = False
    start, lsize = 10, 1
    if plen == 255 and len(body) >= 13 and body[10] == 255:  # RFC 9072
        extended = True
        plen = int.from_bytes(body[11:13], "big")
        start, lsize = 13, 2
    if start + plen != len(body):
        raise reset(OPEN_MESSAGE_ERROR, OPEN_UNSPECIFIC,
                    f"optional parameters length {plen} does not match the message")
    capabilities: list[Capability] = []
    layout: list[int] = []
    other: list[tuple[int, bytes]] = []
    i, end = start, start + plen
    while i < end:
        if i + 1 + lsize > end:
            raise reset(OPEN_MESSAGE_ERROR, OPEN_UNSPECIFIC, "optional parameter header truncated")
        ptype = body[i]
        vlen = int.from_bytes(body[i + 1 : i + 1 + lsize], "big")
        v = i + 1 + lsize
        if v + vlen > end:
            raise reset(OPEN_MESSAGE_ERROR, OPEN_UNSPECIFIC,
                        f"optional parameter {ptype} overruns the parameters")
        value = body[v : v + vlen]
        if ptype == 2:
            count = 0
            j = 0
            while j < vlen:
                if j + 2 > vlen or j + 2 + value[j + 1] > vlen:
                    raise reset(OPEN_MESSAGE_ERROR, OPEN_UNSPECIFIC,
                                "capability overruns its optional parameter")
                clen = value[j + 1]
                capabilities.append(Capability(value[j], value[j + 2 : j + 2 + clen]))
                count += 1
                j += 2 + clen
            layout.append(count)
        else:
            other.append((ptype, value))
            layout.append(-1)
        i = v + vlen
    return Open(my_as, hold, bgp_id, tuple(capabilities), version, tuple(layout), extended,
                tuple(other))


def _default_layout(caps: Sequence[Capability]) -> list[int]:
    """All capabilities in as few parameters as fit in 255 bytes each."""
    layout: list[int] = []
    size = count = 0
    for cap in caps:
        csize = 2 + len(cap.value)
        if count and size + csize > 255:
            layout.append(count)
            size = count = 0
        size += csize
        count += 1
    if count:
        layout.append(count)
    return layout


def encode_open_body(msg: Open) -> bytes:
    layout = list(msg.param_layout) if msg.param_layout is not None else (
        [-1] * len(msg.other_params) + _default_layout(msg.capabilities))
    params: list[tuple[int, bytes]] = []
    caps = iter(msg.capabilities)
    others = iter(msg.other_params)
    for entry in layout:
        if entry < 0:
            params.append(next(others))
        else:
            chunk = [next(caps) for _ in range(entry)]
            params.append((2, b"".join(bytes((c.code, len(c.value))) + c.value for c in chunk)))
    rest = list(caps)
    if rest:
        params.append((2, b"".join(bytes((c.code, len(c.value))) + c.value for c in rest)))
    params.extend(others)
    extended = msg.extended_params or any(len(v) > 255 for _t, v in params) or sum(
        2 + len(v) for _t, v in params) > 255
    lsize = 2 if extended else 1
    blob = b"".join(bytes((t,)) + len(v).to_bytes(lsize, "big") + v for t, v in params)
    head = (bytes((msg.version,)) + msg.my_as.to_bytes(2, "big")
            + msg.hold_time.to_bytes(2, "big") + msg.bgp_id.packed)
    if extended:
        return head + b"\xff\xff" + len(blob).to_bytes(2, "big") + blob
    return head + bytes((len(blob),)) + blob


# ============================================================== ROUTE-REFRESH


def decode_route_refresh(body: bytes, whole: bytes = b"") -> RouteRefresh:
    """RFC 2918/7313; a wrong length is 7/1 with the whole message as data (RFC 7313 §5)."""
    if len(body) != 4:
        raise reset(7, 1, f"ROUTE-REFRESH of {len(body)} body bytes, expected 4", whole)
    return RouteRefresh(int.from_bytes(body[0:2], "big"), body[3], body[2])


# ============================================================== UPDATE decode


def _nlri_field(body: bytes, start: int, end: int, addpath: bool
                ) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    try:
        if addpath:
            keys, ids = decode_prefixes_addpath(body, start, end, AFI_IPV4)
            return tuple(keys), tuple(ids)
        return tuple(decode_prefixes(body, start, end, AFI_IPV4)), None
    except NlriError as exc:
        raise reset(UPDATE_MESSAGE_ERROR, UPD_INVALID_NETWORK, f"NLRI field: {exc}") from None


def decode_update(body: bytes, ctx: Context = DEFAULT_CONTEXT) -> Update:
    """UPDATE body (after the header) -> :class:`Update`, RFC 7606 applied."""
    n = len(body)
    if n < 4:
        raise reset(UPDATE_MESSAGE_ERROR, UPD_MALFORMED_ATTR_LIST, "UPDATE body shorter than 4")
    wlen = (body[0] << 8) | body[1]
    if 4 + wlen > n:
        raise reset(UPDATE_MESSAGE_ERROR, UPD_MALFORMED_ATTR_LIST,
                    f"withdrawn routes length {wlen} overruns the message")
    astart = 4 + wlen
    aend = astart + ((body[2 + wlen] << 8) | body[3 + wlen])
    if aend > n:
        raise reset(UPDATE_MESSAGE_ERROR, UPD_MALFORMED_ATTR_LIST,
                    f"total path attribute length {aend - astart} overruns the message")
    ap4 = (AFI_IPV4, SAFI_UNICAST) in ctx.add_path_rx
    withdrawn, wids = _nlri_field(body, 2, 2 + wlen, ap4) if wlen else ((), None)
    nlri, nids = _nlri_field(body, aend, n, ap4) if aend < n else ((), None)

    spans: list[tuple[int, int]] = []
    order: list[int] = []
    seen: set[int] = set()
    verdicts: list[Verdict] = []
    mp_reach: MpReach | None = None
    mp_unreach: MpUnreach | None = None
    next_hop: IPv4Address | None = None
    nh_flags = 0x40
    overrun: str | None = None
    i = astart
    while i < aend:
        if aend - i < 3:
            overrun = "attribute header truncated by the total path attribute length"
            break
        flags = body[i]
        code = body[i + 1]
        if flags & F_EXTLEN:
            if aend - i < 4:
                overrun = f"{attr_name(code)}: extended length truncated"
                break
            ln = (body[i + 2] << 8) | body[i + 3]
            v = i + 4
        else:
            ln = body[i + 2]
            v = i + 3
        e = v + ln
        if e > aend:
            overrun = (f"{attr_name(code)}: length {ln} overruns the path attributes "
                       f"({aend - v} bytes left)")
            break
        if code in seen:
            if code in _MP_CODES:
                raise reset(UPDATE_MESSAGE_ERROR, UPD_MALFORMED_ATTR_LIST,
                            f"{attr_name(code)} appears twice", b"", code)
            verdicts.append(Verdict(Action.ATTRIBUTE_DISCARD,
                                    f"{attr_name(code)} appears twice; later copy ignored", code))
            i = e
            continue
        seen.add(code)
        if code in _MP_CODES:
            if flags & (F_OPTIONAL | F_TRANSITIVE) != F_OPTIONAL:
                raise reset(UPDATE_MESSAGE_ERROR, UPD_ATTR_FLAGS_ERROR,
                            f"{attr_name(code)}: flags 0x{flags:02x} conflict with the type",
                            body[i:e], code)
            try:
                if code == MP_REACH_NLRI:
                    mp_reach = decode_mp_reach(body[v:e], flags, ctx)
                else:
                    mp_unreach = decode_mp_unreach(body[v:e], flags, ctx)
            except MpError as exc:
                if not exc.nlri_only:
                    raise reset(UPDATE_MESSAGE_ERROR, UPD_OPTIONAL_ATTR_ERROR, str(exc),
                                body[i:e], code) from None
                verdicts.append(Verdict(Action.AFI_SAFI_DISABLE, str(exc), code,
                                        UPDATE_MESSAGE_ERROR, UPD_OPTIONAL_ATTR_ERROR,
                                        body[i:e], exc.afi_safi))
            order.append(code)
        elif code == NEXT_HOP:
            if ln != 4 or flags & (F_OPTIONAL | F_TRANSITIVE) != F_TRANSITIVE:
                # RFC 4760 §3: without classic NLRI a NEXT_HOP is ignored anyway
                verdicts.append(Verdict(Action.TREAT_AS_WITHDRAW if nlri
                                        else Action.ATTRIBUTE_DISCARD,
                                        f"NEXT_HOP: length {ln} flags 0x{flags:02x} invalid", code))
            else:
                next_hop = IPv4Address(body[v:e])
                nh_flags = flags
                order.append(code)
        else:
            spans.append((i, e))
            order.append(0)
        i = e

    attrs = None
    if spans:
        s0, e0 = spans[0]
        block = body[s0:e0] if len(spans) == 1 else b"".join(body[s:e] for s, e in spans)
        attrs, averdicts = decode_attributes(block, ctx)
        if averdicts:
            verdicts.extend(averdicts)

    if overrun is not None:
        if not (nlri or withdrawn or mp_reach is not None or mp_unreach is not None):
            raise reset(UPDATE_MESSAGE_ERROR, UPD_MALFORMED_ATTR_LIST, overrun)
        verdicts.append(Verdict(Action.TREAT_AS_WITHDRAW, overrun))

    if nlri or (mp_reach is not None and mp_reach.keys):
        need = [ORIGIN, AS_PATH] + ([NEXT_HOP] if nlri else [])
        missing = [attr_name(c) for c in need if c not in seen]
        if missing:
            verdicts.append(Verdict(Action.TREAT_AS_WITHDRAW,
                                    f"missing well-known attribute {', '.join(missing)}"))

    tw: list[Withdrawal] = []
    if (mp_reach is not None and mp_reach.afi == AFI_IPV4 and mp_reach.next_hop.is_ipv6
            and IPV4_UNICAST_VIA_IPV6 not in ctx.extended_nexthop):
        verdicts.append(Verdict(Action.TREAT_AS_WITHDRAW,
                                "IPv6 next hop for IPv4 NLRI but extended next hop (RFC 8950) "
                                "was not negotiated; routes not installed", MP_REACH_NLRI,
                                afi_safi=(mp_reach.afi, mp_reach.safi)))
        if mp_reach.keys:
            tw.append(Withdrawal(mp_reach.afi, mp_reach.safi, mp_reach.keys, mp_reach.path_ids))
        mp_reach = None

    if verdicts and any(v.action is Action.TREAT_AS_WITHDRAW and v.afi_safi is None
                        for v in verdicts):
        if nlri:
            tw.insert(0, Withdrawal(AFI_IPV4, SAFI_UNICAST, nlri, nids))
        if mp_reach is not None and mp_reach.keys:
            tw.append(Withdrawal(mp_reach.afi, mp_reach.safi, mp_reach.keys, mp_reach.path_ids))
        return Update(withdrawn, None, (), None, None, mp_unreach, tuple(verdicts), tuple(tw),
                      wids, None, nh_flags, None)
    return Update(withdrawn, attrs, nlri, next_hop, mp_reach, mp_unreach, tuple(verdicts),
                  tuple(tw), wids, nids, nh_flags, tuple(order))


# ============================================================== UPDATE encode


def _plain_tlvs(attrs_block: bytes) -> list[tuple[int, bytes]]:
    return [(code, attrs_block[s:e]) for _f, code, s, e in iter_attributes(attrs_block)]


def encode_update_body(u: Update, ctx: Context = DEFAULT_CONTEXT) -> bytes:
    """Update -> body bytes; ``u.order`` (from decoding) reproduces the wire order."""
    ap4 = (AFI_IPV4, SAFI_UNICAST) in ctx.add_path_tx
    wd = encode_prefixes(u.withdrawn, AFI_IPV4,
                         (u.withdrawn_path_ids or (0,) * len(u.withdrawn)) if ap4 else None)
    plain = _plain_tlvs(encode_attributes(u.attrs, ctx)) if u.attrs is not None else []
    special: dict[int, bytes] = {}
    if u.mp_reach is not None:
        special[MP_REACH_NLRI] = encode_attribute(u.mp_reach.flags, MP_REACH_NLRI,
                                                  encode_mp_reach_value(u.mp_reach, ctx))
    if u.mp_unreach is not None:
        special[MP_UNREACH_NLRI] = encode_attribute(u.mp_unreach.flags, MP_UNREACH_NLRI,
                                                    encode_mp_unreach_value(u.mp_unreach, ctx))
    if u.next_hop is not None:
        special[NEXT_HOP] = encode_attribute(u.next_hop_flags, NEXT_HOP, u.next_hop.packed)
    parts: list[bytes] = []
    if u.order is not None:
        it = iter(plain)
        for entry in u.order:
            if entry == 0:
                item = next(it, None)
                if item is not None:
                    parts.append(item[1])
            elif entry in special:
                parts.append(special.pop(entry))
        parts.extend(b for _c, b in it)
        parts.extend(special.values())
    else:
        for code in (MP_UNREACH_NLRI, MP_REACH_NLRI):
            if code in special:
                parts.append(special.pop(code))
        merged = plain + list(special.items())
        merged.sort(key=lambda item: item[0])
        parts.extend(b for _c, b in merged)
    block = b"".join(parts)
    nl = encode_prefixes(u.nlri, AFI_IPV4,
                         (u.nlri_path_ids or (0,) * len(u.nlri)) if ap4 else None)
    return (len(wd).to_bytes(2, "big") + wd + len(block).to_bytes(2, "big") + block + nl)


# IPv4 NLRI bytes of key k with length p: ((k >> _SHIFT_V4[p]) | _HEAD_V4[p]).to_bytes(_STEP_V4[p])
_STEP_V4 = [1 + ((plen + 7) >> 3) for plen in range(33)]
_SHIFT_V4 = [40 - ((plen + 7) >> 3) * 8 for plen in range(33)]
_HEAD_V4 = [plen << (((plen + 7) >> 3) * 8) for plen in range(33)]


def _encoded_prefixes(keys: Sequence[int], ids: Sequence[int] | None, afi: int) -> list[bytes]:
    if afi == AFI_IPV4 and ids is None:
        sh, head, steps = _SHIFT_V4, _HEAD_V4, _STEP_V4
        return [((k >> sh[(p := k & 0xFF)]) | head[p]).to_bytes(steps[p], "big") for k in keys]
    width = 4 if afi == AFI_IPV4 else 16
    parts: list[bytes] = []
    for idx, key in enumerate(keys):
        plen = key & 0xFF
        nb = (plen + 7) >> 3
        b = ((plen << (nb * 8)) | ((key >> 8) >> ((width - nb) * 8))).to_bytes(1 + nb, "big")
        parts.append(b if ids is None else ids[idx].to_bytes(4, "big") + b)
    return parts


def _prefix_chunks(keys: Sequence[int], ids: Sequence[int] | None, afi: int,
                   budget: int) -> Iterator[bytes]:
    """Cut NLRI into runs of at most ``budget`` bytes."""
    if budget < 21:
        raise EncodeError("attributes leave no room for NLRI in one message")
    parts = _encoded_prefixes(keys, ids, afi)
    start = size = 0
    for idx, b in enumerate(parts):
        n = len(b)
        if size + n > budget:
            yield b"".join(parts[start:idx])
            start, size = idx, 0
        size += n
    if start < len(parts):
        yield b"".join(parts[start:])


def encode_updates(announcements: Iterable[Announcement], ctx: Context = DEFAULT_CONTEXT,
                   max_len: int | None = None, ll_style: LinkLocalStyle = "ll-ll"
                   ) -> list[bytes]:
    """Announcements -> whole UPDATE messages, as many prefixes per message as fit.

    IPv4 unicast with an IPv4 next hop uses the classic NLRI field and NEXT_HOP;
    everything else MP_REACH_NLRI. An IPv6 next hop for IPv4 NLRI needs
    ``(1, 1, 2)`` in ``ctx.extended_nexthop`` (else :class:`EncodeError`).
    The attributes are sent as given (export policy is the caller's job).
    """
    limit = min(max_len or ctx.max_len, ctx.max_len)
    out: list[bytes] = []
    for ann in announcements:
        if not ann.keys:
            continue
        block = encode_attributes(ann.attrs, ctx)
        addpath = (ann.afi, ann.safi) in ctx.add_path_tx
        ids = (ann.path_ids or (0,) * len(ann.keys)) if addpath else None
        nh = ann.next_hop
        if ann.afi == AFI_IPV4 and ann.safi == SAFI_UNICAST and not nh.is_ipv6:
            assert isinstance(nh.global_addr, IPv4Address)
            nh_attr = encode_attribute(0x40, NEXT_HOP, nh.global_addr.packed)
            fixed = HEADER_LEN + 4 + len(block) + len(nh_attr)
            attrs_part = block + nh_attr
            head = b"\x00\x00" + len(attrs_part).to_bytes(2, "big") + attrs_part
            for chunk in _prefix_chunks(ann.keys, ids, AFI_IPV4, limit - fixed):
                out.append(header(UPDATE, len(head) + len(chunk)) + head + chunk)
            continue
        if ann.afi == AFI_IPV4 and nh.is_ipv6 and IPV4_UNICAST_VIA_IPV6 not in ctx.extended_nexthop:
            raise EncodeError("IPv6 next hop for IPv4 NLRI needs the extended next hop "
                              "capability (RFC 8950) on this session")
        nh_raw = encode_nexthop(nh, ll_style)
        mp_head = ann.afi.to_bytes(2, "big") + bytes((ann.safi, len(nh_raw))) + nh_raw + b"\x00"
        fixed = HEADER_LEN + 4 + 4 + len(mp_head) + len(block)
        for chunk in _prefix_chunks(ann.keys, ids, ann.afi, limit - fixed):
            value = mp_head + chunk
            mp_attr = bytes((0x90, MP_REACH_NLRI)) + len(value).to_bytes(2, "big") + value
            attrs_part = mp_attr + block
            body = b"\x00\x00" + len(attrs_part).to_bytes(2, "big") + attrs_part
            out.append(header(UPDATE, len(body)) + body)
    return out


def encode_withdrawals(withdrawal: Withdrawal, ctx: Context = DEFAULT_CONTEXT,
                       max_len: int | None = None, use_mp: bool | None = None) -> list[bytes]:
    """Withdrawn prefixes -> whole UPDATE messages (classic field for IPv4 unicast
    unless ``use_mp``; MP_UNREACH_NLRI otherwise)."""
    limit = min(max_len or ctx.max_len, ctx.max_len)
    w = withdrawal
    if not w.keys:
        return []
    addpath = (w.afi, w.safi) in ctx.add_path_tx
    ids = (w.path_ids or (0,) * len(w.keys)) if addpath else None
    classic = w.afi == AFI_IPV4 and w.safi == SAFI_UNICAST and not use_mp
    out: list[bytes] = []
    if classic:
        for chunk in _prefix_chunks(w.keys, ids, AFI_IPV4, limit - HEADER_LEN - 4):
            body = len(chunk).to_bytes(2, "big") + chunk + b"\x00\x00"
            out.append(header(UPDATE, len(body)) + body)
        return out
    head = w.afi.to_bytes(2, "big") + bytes((w.safi,))
    for chunk in _prefix_chunks(w.keys, ids, w.afi, limit - HEADER_LEN - 4 - 4 - 3):
        value = head + chunk
        attr = bytes((0x90, MP_UNREACH_NLRI)) + len(value).to_bytes(2, "big") + value
        body = b"\x00\x00" + len(attr).to_bytes(2, "big") + attr
        out.append(header(UPDATE, len(body)) + body)
    return out


def end_of_rib(afi: int, safi: int) -> bytes:
    """End-of-RIB marker (RFC 4724 §2): empty UPDATE for IPv4 unicast, else empty MP_UNREACH."""
    if (afi, safi) == (AFI_IPV4, SAFI_UNICAST):
        return header(UPDATE, 4) + b"\x00\x00\x00\x00"
    value = afi.to_bytes(2, "big") + bytes((safi,))
    attr = bytes((0x80, MP_UNREACH_NLRI, len(value))) + value
    body = b"\x00\x00" + len(attr).to_bytes(2, "big") + attr
    return header(UPDATE, len(body)) + body
