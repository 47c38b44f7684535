"""Fast path for the commonest UPDATE: IPv4 prefixes announced in MP_REACH_NLRI with an IPv6 next hop.

A full table from a peer that packs one prefix per UPDATE (every prefix with its
own AS_PATH) is a million of these messages, so the general decoder's cost per
message (verdict lists, ``Update``/``MpReach``/``Announcement`` objects, the FSM)
dominates the load. :func:`decode_run` walks a read's consecutive UPDATEs of the
well-formed shape only: no withdrawn routes, no classic NLRI, MP_REACH_NLRI for
IPv4 unicast with a 16- or 32-byte next hop (RFC 8950), and plain attributes
that decode without any RFC 7606 finding. For those it yields exactly what the
general path produces (same interned attributes, next hop and keys); it stops
at the first message of any other shape, which the caller hands to the general
decoder, which does the error handling. :func:`decode_ipv4_via_ipv6` is the same
for one message. Neither raises.
"""

from __future__ import annotations

from v4via6.bgp.wire import attributes as _attributes
from v4via6.bgp.wire import nexthop as _nexthop
from v4via6.bgp.wire.attributes import F_EXTLEN, PathAttributes, decode_attributes, iter_attributes
from v4via6.bgp.wire.context import IPV4_UNICAST_VIA_IPV6, Context
from v4via6.bgp.wire.framing import MARKER
from v4via6.bgp.wire.nexthop import BgpNextHop, decode_nexthop
from v4via6.bgp.wire.prefixes import _MASK4_8, _STEP4, _U32, _decode_v4

#: One decoded UPDATE as :func:`decode_run` reports it: (prefix keys, attributes, next hop).
Announced = tuple[tuple[int, ...], PathAttributes, BgpNextHop]

#: Attribute codes the fast path takes as plain attributes (the attribute-block
#: decoder's); any other code (NEXT_HOP, MP_UNREACH_NLRI, unknown ones) sends the
#: message to the general path.
_PLAIN = frozenset({1, 2, 4, 5, 6, 7, 8, 9, 10, 16, 32})
_AFI_IPV4 = 1

_shared_int = _attributes._shared_int
_INTS = _attributes._INTS
_ATTRS = _attributes._INTERN
_ATTRS_MAX = _attributes.INTERN_MAX
_NEXTHOPS = _nexthop._CACHE
_NO_EXTRA = _attributes._NO_EXTRA
_SEGMENT_TYPES = frozenset(_attributes.SEGMENT_NAMES)
_FILLED = _attributes.filled
_from_bytes = int.from_bytes
#: Prefix length -> bytes of its NLRI entry (0: not an IPv4 length).
_STEPS = _STEP4 + [0] * (256 - len(_STEP4))

#: The byte layout of a one-prefix UPDATE decoded lately, by message length (see
#: :func:`_layout`): (mask, masked bytes, offsets of the prefix, ORIGIN, AS_PATH, MED,
#: LOCAL_PREF and of the plain attribute runs, the next hop object). A peer sending
#: one prefix per UPDATE sends a handful of layouts (one per prefix byte count).
Layout = tuple[int, int, int, int, int, int, int, int, int, int, int, int, int, BgpNextHop]
_LAYOUTS: dict[int, Layout] = {}
_NO_LAYOUTS: dict[int, Layout] = {}
_LAYOUTS_MAX = 64


def fast_path_usable(ctx: Context) -> bool:
    """Whether a session with this context may use :func:`decode_run`."""
    return IPV4_UNICAST_VIA_IPV6 in ctx.extended_nexthop and (_AFI_IPV4, 1) not in ctx.add_path_rx


def decode_ipv4_via_ipv6(
    raw: bytes, ctx: Context
) -> tuple[PathAttributes, BgpNextHop, tuple[int, ...]] | None:
    """A whole UPDATE message (header checked) -> (attributes, next hop, prefix keys), or None.

    ``ctx`` must pass :func:`fast_path_usable`.
    """
    out: list[Announced] = []
    decode_run(raw, 0, ctx, len(raw), out)
    if not out:
        return None
    keys, attrs, nh = out[0]
    return attrs, nh, keys


def decode_run(data: bytes, i: int, ctx: Context, max_len: int, out: list[Announced]) -> tuple[int, int]:
    """Decode consecutive fast-path UPDATEs of ``data`` from offset ``i`` into ``out``.

    Returns (the offset of the first message it leaves, prefixes decoded); the
    message left (incomplete, not an UPDATE, or not of the fast shape) is the
    general path's. Each entry of ``out`` is (keys, attributes, next hop).

    One walk per message over the bytes of the read, without copying it; the
    commonest attribute block (ORIGIN, a one-segment four-octet AS_PATH,
    optionally MED and LOCAL_PREF) is built from the values taken during the
    walk, any other goes to :func:`~v4via6.bgp.wire.attributes.decode_attributes`.
    A one-prefix UPDATE with the byte layout of one decoded before (same length,
    same bytes everywhere but the prefix, the ORIGIN value, the AS numbers, MED
    and LOCAL_PREF) needs no walk: one masked comparison of the whole message
    stands for every check of the walk (see :func:`_layout`). Attribute sets and
    next hops are found by their bytes first. ``ctx`` must pass
    :func:`fast_path_usable`. A full table sent one prefix per UPDATE is a million
    messages, so this loop is written for speed, not beauty.
    """
    n = len(data)
    four = ctx.four_octet_as
    startswith = data.startswith
    append = out.append
    plain = _PLAIN
    u32 = _U32
    masks = _MASK4_8
    steps = _STEP4
    steps0 = _STEPS
    layouts = _LAYOUTS
    layout_of = layouts.get if four else _NO_LAYOUTS.get  # layouts are made for four-octet sessions only
    from_bytes = _from_bytes
    attrs_cache = _ATTRS
    nh_cache = _NEXTHOPS
    segment_types = _SEGMENT_TYPES
    filled = _FILLED
    no_extra = _NO_EXTRA
    shared = _shared_int
    ints_get = _INTS.get
    decode_v4 = _decode_v4
    prefixes = 0
    while n - i >= 23:
        length = (data[i + 16] << 8) | data[i + 17]
        end = i + length
        if end > n or length > max_len:
            break  # incomplete, or too long
        try:
            lay = layout_of(length)
            if (lay is not None and from_bytes(data[i:end]) & lay[0] == lay[1]
                    and steps0[data[i + lay[2]]] == lay[3] and data[i + lay[4]] <= 2 and i + lay[2] + 5 <= n):
                # --- a layout seen before: every fixed byte is as in a message the walk accepted
                _, _, p, _, o, a, ae, mo, lo, s1, e1, s2, e2, nh = lay
                p += i
                plen = data[p]
                keys: tuple[int, ...] = (((u32(data, p + 1)[0] << 8) & masks[plen]) | plen,)
                origin = data[i + o]
                asp: bytes | None = data[i + a:i + ae]
                med: int | None = shared(u32(data, i + mo)[0]) if mo else None
                local_pref: int | None = shared(u32(data, i + lo)[0]) if lo else None
                block = data[i + s1:i + e1] if not s2 else data[i + s1:i + e1] + data[i + s2:i + e2]
                simple = single = True
                walked = False
            else:
                if data[i + 18] != 2 or not startswith(MARKER, i) or data[i + 19] or data[i + 20]:
                    break  # not an UPDATE, or withdrawn routes present
                j = i + 23
                if j + ((data[i + 21] << 8) | data[i + 22]) != end:
                    break  # classic NLRI, or lengths that do not add up
                # --- the attributes: MP_REACH_NLRI and plain ones, each at most once
                origin = -1
                asp = None
                med = None
                local_pref = None
                mp = mp_end = 0
                s1 = e1 = s2 = e2 = 0  # the plain attributes: at most two runs around MP_REACH_NLRI
                seen = 0
                simple = True  # only ORIGIN, AS_PATH, MED, LOCAL_PREF, well-formed: built here
                while j < end:
                    if end - j < 4:
                        break
                    flags = data[j]
                    code = data[j + 1]
                    if flags & 0x10:
                        v = j + 4
                        e = v + ((data[j + 2] << 8) | data[j + 3])
                    else:
                        v = j + 3
                        e = v + data[j + 2]
                    bit = 1 << code
                    if e > end or seen & bit:
                        break  # overrun, or a repeated attribute: the general path reports it
                    seen |= bit
                    kind = flags & 0xC0
                    if code == 14:
                        if kind != 0x80:
                            break
                        mp, mp_end = v, e
                    elif code in plain:
                        if code == 2:
                            asp = data[v:e]
                            simple = simple and kind == 0x40
                        elif code == 1:
                            if kind == 0x40 and e - v == 1 and data[v] <= 2:
                                origin = data[v]
                            else:
                                simple = False
                        elif code == 4:
                            if kind == 0x80 and e - v == 4:
                                med = shared(u32(data, v)[0])
                            else:
                                simple = False
                        elif code == 5:
                            if kind == 0x40 and e - v == 4:
                                local_pref = shared(u32(data, v)[0])
                            else:
                                simple = False
                        else:
                            simple = False
                        if not s1:
                            s1, e1 = j, e
                        elif e1 == j:
                            e1 = e
                        elif not s2:
                            s2, e2 = j, e
                        else:
                            e2 = e  # only MP_REACH_NLRI splits the plain ones: e2 == j here
                    else:
                        break  # NEXT_HOP, MP_UNREACH_NLRI, unknown: the general path
                    j = e
                if j != end or not mp or seen & 0b110 != 0b110:  # ORIGIN and AS_PATH are required
                    break
                # --- MP_REACH_NLRI: IPv4 unicast, an IPv6 next hop, at least one prefix
                if mp_end - mp < 5 or data[mp] or data[mp + 1] != _AFI_IPV4 or data[mp + 2] != 1:
                    break
                nhlen = data[mp + 3]
                p = mp + 5 + nhlen
                if (nhlen != 16 and nhlen != 32) or p >= mp_end:
                    break
                raw_nh = data[mp + 4 : p - 1]
                cached = nh_cache.get(raw_nh)
                nh = decode_nexthop(raw_nh) if cached is None else cached  # NextHopError: the general path
                plen = data[p]
                single = plen <= 32 and p + steps[plen] == mp_end and p + 5 <= n
                if single:  # one prefix: the commonest
                    keys = (((u32(data, p + 1)[0] << 8) & masks[plen]) | plen,)
                else:
                    keys = tuple(decode_v4(data, p, mp_end))  # NlriError: the general path
                    single = False  # (layouts are of one-prefix messages)
                block = data[s1:e1] if not s2 else data[s1:e1] + data[s2:e2]
                walked = True
            # --- the attribute set, found by its bytes or built
            hit = attrs_cache.get((four, block))
            if hit is not None:
                if hit[1]:
                    break  # an RFC 7606 finding: the general path reports it
                attrs = hit[0]
            elif (simple and four and asp is not None and len(asp) > 2 and len(asp) == 2 + 4 * asp[1]
                    and asp[0] in segment_types):
                if asp[0] == 2:  # AS_SEQUENCE: length and neighbour AS (one int object per value)
                    value = u32(asp, 2)[0]
                    neighbor = ints_get(value)
                    attrs = filled(origin, asp, asp[1], shared(value) if neighbor is None else neighbor, med,
                                   local_pref, no_extra, block, True)
                else:  # AS_SET counts 1, a confederation segment 0
                    attrs = filled(origin, asp, 1 if asp[0] == 1 else 0, None, med, local_pref, no_extra, block,
                                   True)
                if len(attrs_cache) >= _ATTRS_MAX:
                    attrs_cache.clear()
                attrs_cache[(True, block)] = (attrs, ())
            else:
                attrs, verdicts = decode_attributes(block, ctx)
                if verdicts:
                    break
                simple = False
            if walked and simple and single and four:
                made = _layout(data, i, end, nh, (s1, e1, s2, e2))
                if made is not None:
                    if len(layouts) >= _LAYOUTS_MAX:
                        layouts.clear()
                    layouts[length] = made
        except Exception:  # malformed, or a fast-path bug: the general path decides
            break
        append((keys, attrs, nh))
        prefixes += len(keys)
        i = end
    return i, prefixes


def _layout(data: bytes, i: int, end: int, nh: BgpNextHop, runs: tuple[int, int, int, int]) -> Layout | None:
    """The layout of the one-prefix UPDATE ``data[i:end]``, which :func:`decode_run`'s walk
    has just accepted with an attribute block it builds itself (ORIGIN, one-segment
    AS_PATH, MED, LOCAL_PREF; four-octet AS numbers), or None.

    A message of the same length whose bytes equal this one's everywhere except the
    prefix (its length byte within the same byte count), the ORIGIN value, the AS
    numbers and the MED and LOCAL_PREF values passes every check of the walk the same
    way; the loop then still checks the ORIGIN value (at most 2) and the prefix length,
    and takes the values from the offsets kept here. ``runs``: the walk's (start, end)
    of the plain attributes before and after MP_REACH_NLRI.
    """
    base = i + 23  # the attribute block, well-formed: the walk accepted it
    variable = bytearray(end - i)  # 1: a byte that may differ
    p = o = a = ae = mo = lo = 0
    for flags, code, start, stop in iter_attributes(data[base:end]):
        v, e = base + start + (4 if flags & F_EXTLEN else 3), base + stop
        if code == 14:
            p = v + 5 + data[v + 3]
            step = _STEPS[data[p]]
            if not step or p + step != e:
                return None
            variable[p - i:e - i] = b"\x01" * step
        else:
            if code == 1 and e - v == 1:
                o = v
            elif code == 2 and e - v > 2:
                a, ae = v, e
                variable[v + 2 - i:e - i] = b"\x01" * (e - v - 2)
            elif code == 4 and e - v == 4:
                mo = v
            elif code == 5 and e - v == 4:
                lo = v
            else:
                return None
            if code != 2:
                variable[v - i:e - i] = b"\x01" * (e - v)
    if not p or not o or not a:
        return None
    s1, e1, s2, e2 = runs
    mask = _from_bytes(bytes(0 if b else 0xFF for b in variable))
    return (mask, _from_bytes(data[i:end]) & mask, p - i, _STEPS[data[p]], o - i, a - i, ae - i,
            mo - i if mo else 0, lo - i if lo else 0, s1 - i, e1 - i, s2 - i if s2 else 0,
            e2 - i if s2 else 0, nh)
