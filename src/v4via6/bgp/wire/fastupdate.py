"""Fast path for the commonest UPDATE: IPv4 prefixes announced in MP_REACH_NLRI with an IPv6 next hop.

A full table from a peer that packs one prefix per UPDATE (every prefix with its
own AS_PATH) is a million of these messages, so the general decoder's cost per
message (verdict lists, ``Update``/``MpReach``/``Announcement`` objects, the FSM)
dominates the load. :func:`decode_ipv4_via_ipv6` recognises the well-formed
shape only: no withdrawn routes, no classic NLRI, MP_REACH_NLRI for IPv4 unicast
with a 16- or 32-byte next hop (RFC 8950), and plain attributes that decode
without any RFC 7606 finding. For that shape it returns exactly what the general
path produces (same interned attributes, next hop and keys); for anything else
it returns None and the caller runs the general decoder, which does the error
handling. It never raises.
"""

from __future__ import annotations

from v4via6.bgp.wire import attributes as _attributes
from v4via6.bgp.wire import nexthop as _nexthop
from v4via6.bgp.wire.attributes import MP_REACH_NLRI, PathAttributes, decode_attributes
from v4via6.bgp.wire.context import IPV4_UNICAST_VIA_IPV6, Context
from v4via6.bgp.wire.framing import MARKER
from v4via6.bgp.wire.nexthop import BgpNextHop, NextHopError, decode_nexthop
from v4via6.bgp.wire.prefixes import _MASK4_8, _STEP4, _U32, NlriError, _decode_v4, decode_prefixes

#: One decoded UPDATE as :func:`decode_run` reports it: (prefix keys, attributes, next hop).
Announced = tuple[tuple[int, ...], PathAttributes, BgpNextHop]

#: Attribute codes the fast path hands to the attribute-block decoder; any other
#: code (NEXT_HOP, MP_UNREACH_NLRI, unknown ones) sends the message to the general path.
_PLAIN = frozenset({1, 2, 4, 5, 6, 7, 8, 9, 10, 16, 32})
_HEADER = 19
_AFI_IPV4 = 1


def fast_path_usable(ctx: Context) -> bool:
    """Whether a session with this context may use :func:`decode_ipv4_via_ipv6`."""
    return IPV4_UNICAST_VIA_IPV6 in ctx.extended_nexthop and (_AFI_IPV4, 1) not in ctx.add_path_rx


def decode_ipv4_via_ipv6(
    raw: bytes, ctx: Context
) -> tuple[PathAttributes, BgpNextHop, tuple[int, ...]] | None:
    """A whole UPDATE message (header checked) -> (attributes, next hop, prefix keys), or None.

    ``ctx`` must pass :func:`fast_path_usable`.
    """
    n = len(raw)
    if n < _HEADER + 4 or raw[_HEADER] or raw[_HEADER + 1]:
        return None  # withdrawn routes present (or truncated): general path
    aend = _HEADER + 4 + ((raw[_HEADER + 2] << 8) | raw[_HEADER + 3])
    if aend != n:
        return None  # classic NLRI, or a length that does not add up
    i = _HEADER + 4
    mp_start = mp_end = 0
    spans: list[tuple[int, int]] = []
    seen = 0
    while i < aend:
        if aend - i < 4:
            return None
        flags = raw[i]
        code = raw[i + 1]
        if flags & 0x10:
            v = i + 4
            e = v + ((raw[i + 2] << 8) | raw[i + 3])
        else:
            v = i + 3
            e = v + raw[i + 2]
        if e > aend:
            return None
        bit = 1 << code
        if seen & bit:
            return None  # a repeated attribute: the general path reports it
        seen |= bit
        if code == MP_REACH_NLRI:
            if flags & 0xC0 != 0x80:
                return None
            mp_start, mp_end = v, e
        elif code in _PLAIN:
            if spans and spans[-1][1] == i:  # contiguous with the previous one: one slice
                spans[-1] = (spans[-1][0], e)
            else:
                spans.append((i, e))
        else:
            return None
        i = e
    if not mp_end or seen & 0b110 != 0b110:  # MP_REACH_NLRI, ORIGIN and AS_PATH are required
        return None
    v = mp_start
    if mp_end - v < 5 or raw[v] or raw[v + 1] != _AFI_IPV4 or raw[v + 2] != 1:
        return None
    nhlen = raw[v + 3]
    if nhlen != 16 and nhlen != 32:
        return None
    nstart = v + 5 + nhlen
    if nstart >= mp_end:
        return None  # no prefixes (or the next hop overruns): general path
    try:
        nh = decode_nexthop(raw[v + 4 : v + 4 + nhlen])
        keys = decode_prefixes(raw, nstart, mp_end, _AFI_IPV4)
    except (NextHopError, NlriError):
        return None
    if len(spans) == 1:
        s, e = spans[0]
        block = raw[s:e]
    else:
        block = b"".join(raw[s:e] for s, e in spans)
    try:
        attrs, verdicts = decode_attributes(block, ctx)
    except Exception:  # a session-reset error: the general path raises it properly
        return None
    if verdicts:
        return None
    return attrs, nh, tuple(keys)


_new = object.__new__
_shared_int = _attributes._shared_int
_ATTRS = _attributes._INTERN
_ATTRS_MAX = _attributes.INTERN_MAX
_NEXTHOPS = _nexthop._CACHE
_NO_EXTRA = _attributes._NO_EXTRA
_SEGMENT_TYPES = frozenset(_attributes.SEGMENT_NAMES)


def decode_run(data: bytes, i: int, ctx: Context, max_len: int, out: list[Announced]) -> tuple[int, int]:
    """Decode consecutive fast-path UPDATEs of ``data`` from offset ``i`` into ``out``.

    Returns (the offset of the first message it leaves, prefixes decoded); the
    message left (incomplete, not an UPDATE, or not of the fast shape) is the
    general path's. Each entry of ``out`` is what :func:`decode_ipv4_via_ipv6`
    returns for its message, as (keys, attributes, next hop).

    The commonest shape (ORIGIN, a one-segment four-octet AS_PATH, optionally MED
    and LOCAL_PREF, and MP_REACH_NLRI, each once) is decoded here
    in one walk over the message, without copying it or calling anything per
    attribute; any other shape is passed to :func:`decode_ipv4_via_ipv6`. ``ctx``
    must pass :func:`fast_path_usable`. A full table sent one prefix per UPDATE
    is a million messages, so this loop is written for speed, not beauty.
    """
    n = len(data)
    four = ctx.four_octet_as
    startswith = data.startswith
    append = out.append
    u32 = _U32
    masks = _MASK4_8
    steps = _STEP4
    attrs_cache = _ATTRS
    nh_cache = _NEXTHOPS
    segment_types = _SEGMENT_TYPES
    new = _new
    cls = PathAttributes
    set_origin, set_asp, set_len, set_neighbor = _SET_ORIGIN, _SET_ASP, _SET_LEN, _SET_NEIGHBOR
    set_med, set_lp, set_extra, set_wire, set_as4 = _SET_MED, _SET_LP, _SET_EXTRA, _SET_WIRE, _SET_AS4
    no_extra = _NO_EXTRA
    shared = _shared_int
    decode_v4 = _decode_v4
    prefixes = 0
    while n - i >= 23:
        if data[i + 18] != 2 or not startswith(MARKER, i):
            break
        end = i + ((data[i + 16] << 8) | data[i + 17])
        if end > n or end - i > max_len or data[i + 19] or data[i + 20]:
            break  # incomplete, too long, or withdrawn routes present
        j = i + 23
        if j + ((data[i + 21] << 8) | data[i + 22]) != end:
            break  # classic NLRI, or lengths that do not add up
        try:
            origin = -1
            asp: bytes | None = None
            med: int | None = None
            local_pref: int | None = None
            mp = mp_end = 0
            s1 = e1 = s2 = e2 = 0  # the plain attributes: at most two runs around MP_REACH_NLRI
            simple = True
            while j < end:
                if end - j < 4:
                    simple = False
                    break
                flags = data[j]
                code = data[j + 1]
                if flags & 0x10:
                    v = j + 4
                    e = v + ((data[j + 2] << 8) | data[j + 3])
                else:
                    v = j + 3
                    e = v + data[j + 2]
                if e > end:
                    simple = False
                    break
                kind = flags & 0xC0
                if code == 14:
                    if mp or kind != 0x80:
                        simple = False
                        break
                    mp, mp_end = v, e
                else:
                    if code == 2:
                        if asp is not None or kind != 0x40:
                            simple = False
                            break
                        asp = data[v:e]
                    elif code == 1:
                        if origin >= 0 or kind != 0x40 or e - v != 1 or data[v] > 2:
                            simple = False
                            break
                        origin = data[v]
                    elif code == 4:
                        if med is not None or kind != 0x80 or e - v != 4:
                            simple = False
                            break
                        med = shared(u32(data, v)[0])
                    elif code == 5:
                        if local_pref is not None or kind != 0x40 or e - v != 4:
                            simple = False
                            break
                        local_pref = shared(u32(data, v)[0])
                    else:
                        simple = False
                        break
                    if not s1:
                        s1, e1 = j, e
                    elif e1 == j:
                        e1 = e
                    elif not s2:
                        s2, e2 = j, e
                    elif e2 == j:
                        e2 = e
                    else:
                        simple = False
                        break
                j = e
            got: Announced | None = None
            # The commonest shape: one prefix, a known next hop, a one-segment AS path.
            if (simple and mp and four and asp and origin >= 0 and mp_end - mp >= 6
                    and not data[mp] and data[mp + 1] == _AFI_IPV4 and data[mp + 2] == 1):
                nhlen = data[mp + 3]
                p = mp + 5 + nhlen
                plen = data[p] if p < mp_end else 255
                nh = nh_cache.get(data[mp + 4 : p - 1]) if nhlen == 16 or nhlen == 32 else None
                keys: tuple[int, ...] | None = None
                if (nh is not None and plen <= 32
                        and len(asp) > 2 and len(asp) == 2 + 4 * asp[1] and asp[0] in segment_types):
                    if p + steps[plen] == mp_end and p + 5 <= n:  # one prefix: the commonest
                        keys = (((u32(data, p + 1)[0] << 8) & masks[plen]) | plen,)
                    else:
                        try:
                            keys = tuple(decode_v4(data, p, mp_end))
                        except NlriError:
                            keys = None
                if keys is not None and nh is not None:
                    block = data[s1:e1] if not s2 else data[s1:e1] + data[s2:e2]
                    hit = attrs_cache.get((True, block))
                    if hit is None:
                        attrs = new(cls)
                        set_origin(attrs, origin)
                        set_asp(attrs, asp)
                        if asp[0] == 2:  # AS_SEQUENCE: length and neighbour AS
                            set_len(attrs, asp[1])
                            set_neighbor(attrs, shared(u32(asp, 2)[0]))
                        else:  # AS_SET counts 1, a confederation segment 0
                            set_len(attrs, 1 if asp[0] == 1 else 0)
                            set_neighbor(attrs, None)
                        set_med(attrs, med)
                        set_lp(attrs, local_pref)
                        set_extra(attrs, no_extra)
                        set_wire(attrs, block)
                        set_as4(attrs, True)
                        if len(attrs_cache) >= _ATTRS_MAX:
                            attrs_cache.clear()
                        attrs_cache[(True, block)] = (attrs, ())
                        got = (keys, attrs, nh)
                    elif not hit[1]:
                        got = (keys, hit[0], nh)
        except Exception:  # a fast-path bug: the general path decides
            break
        if got is None:
            try:
                slow = decode_ipv4_via_ipv6(data[i:end], ctx)
            except Exception:  # a fast-path bug: the general path decides
                slow = None
            if slow is None:
                break
            got = (slow[2], slow[0], slow[1])
        append(got)
        prefixes += len(got[0])
        i = end
    return i, prefixes


_SET_ORIGIN = _attributes._set_origin
_SET_ASP = _attributes._set_asp
_SET_LEN = _attributes._set_len
_SET_NEIGHBOR = _attributes._set_neighbor
_SET_MED = _attributes._set_med
_SET_LP = _attributes._set_local_pref
_SET_EXTRA = _attributes._set_extra
_SET_WIRE = _attributes._set_wire
_SET_AS4 = _attributes._set_wire_as4
