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

from v4via6.bgp.wire.attributes import MP_REACH_NLRI, PathAttributes, decode_attributes
from v4via6.bgp.wire.context import IPV4_UNICAST_VIA_IPV6, Context
from v4via6.bgp.wire.nexthop import BgpNextHop, NextHopError, decode_nexthop
from v4via6.bgp.wire.prefixes import NlriError, decode_prefixes

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
