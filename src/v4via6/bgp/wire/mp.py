"""MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4760) values and their codecs.

These two attributes carry NLRI, so they are not part of the interned
:class:`~v4via6.bgp.wire.attributes.PathAttributes`; an Update holds them
directly. ``nh_raw`` keeps the next-hop bytes as received so that encoding a
decoded message gives back the same bytes (``[LL, LL]`` stays ``[LL, LL]``).
"""

from __future__ import annotations

from dataclasses import dataclass

from v4via6.bgp.wire.context import AFI_IPV4, AFI_IPV6, SAFI_UNICAST, Context
from v4via6.bgp.wire.nexthop import BgpNextHop, NextHopError, decode_nexthop, encode_nexthop
from v4via6.bgp.wire.prefixes import (
    NlriError,
    decode_prefixes,
    decode_prefixes_addpath,
    encode_prefixes,
)

FLAGS_OPTIONAL_EXTLEN = 0x90

#: Next-hop lengths accepted per (afi, safi).
NEXTHOP_LENGTHS: dict[tuple[int, int], tuple[int, ...]] = {
    (AFI_IPV4, SAFI_UNICAST): (4, 16, 32),
    (AFI_IPV6, SAFI_UNICAST): (16, 32),
}


@dataclass(frozen=True, slots=True)
class MpReach:
    """MP_REACH_NLRI: one (afi, safi), one next hop, many prefixes."""

    afi: int
    safi: int
    next_hop: BgpNextHop
    keys: tuple[int, ...]
    path_ids: tuple[int, ...] | None = None
    nh_raw: bytes | None = None
    reserved: int = 0
    flags: int = FLAGS_OPTIONAL_EXTLEN


@dataclass(frozen=True, slots=True)
class MpUnreach:
    """MP_UNREACH_NLRI: withdrawn prefixes of one (afi, safi); empty = End-of-RIB."""

    afi: int
    safi: int
    keys: tuple[int, ...] = ()
    path_ids: tuple[int, ...] | None = None
    flags: int = FLAGS_OPTIONAL_EXTLEN


class MpError(ValueError):
    """Malformed MP attribute. ``nlri_only`` is True when AFI/SAFI and next hop parsed."""

    def __init__(self, message: str, afi_safi: tuple[int, int] | None, nlri_only: bool) -> None:
        super().__init__(message)
        self.afi_safi = afi_safi
        self.nlri_only = nlri_only


def _nlri(value: bytes, start: int, afi: int, safi: int, ctx: Context
          ) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    if (afi, safi) in ctx.add_path_rx:
        keys, ids = decode_prefixes_addpath(value, start, len(value), afi)
        return tuple(keys), tuple(ids)
    return tuple(decode_prefixes(value, start, len(value), afi)), None


def decode_mp_reach(value: bytes, flags: int, ctx: Context) -> MpReach:
    """Value bytes of attribute 14 -> :class:`MpReach` (raises :class:`MpError`)."""
    if len(value) < 5:
        raise MpError(f"MP_REACH_NLRI too short ({len(value)} bytes)", None, False)
    afi = int.from_bytes(value[0:2], "big")
    safi = value[2]
    nhlen = value[3]
    fam = (afi, safi)
    if fam not in NEXTHOP_LENGTHS:
        raise MpError(f"MP_REACH_NLRI for unsupported afi {afi}/safi {safi}", fam, False)
    if nhlen not in NEXTHOP_LENGTHS[fam]:
        raise MpError(f"MP_REACH_NLRI next-hop length {nhlen} is invalid for afi {afi}/safi {safi}",
                      fam, False)
    if 4 + nhlen + 1 > len(value):
        raise MpError(f"MP_REACH_NLRI next hop ({nhlen} bytes) overruns the attribute", fam, False)
    raw = bytes(value[4 : 4 + nhlen])
    try:
        nh = decode_nexthop(raw)
    except NextHopError as exc:
        raise MpError(f"MP_REACH_NLRI: {exc}", fam, False) from None
    if afi == AFI_IPV6 and not nh.is_ipv6:
        raise MpError("MP_REACH_NLRI: IPv4 next hop for IPv6 NLRI", fam, False)
    reserved = value[4 + nhlen]
    try:
        keys, ids = _nlri(value, 5 + nhlen, afi, safi, ctx)
    except NlriError as exc:
        raise MpError(f"MP_REACH_NLRI NLRI: {exc}", fam, True) from None
    return MpReach(afi, safi, nh, keys, ids, raw, reserved, flags)


def decode_mp_unreach(value: bytes, flags: int, ctx: Context) -> MpUnreach:
    """Value bytes of attribute 15 -> :class:`MpUnreach` (raises :class:`MpError`)."""
    if len(value) < 3:
        raise MpError(f"MP_UNREACH_NLRI too short ({len(value)} bytes)", None, False)
    afi = int.from_bytes(value[0:2], "big")
    safi = value[2]
    fam = (afi, safi)
    if fam not in NEXTHOP_LENGTHS:
        raise MpError(f"MP_UNREACH_NLRI for unsupported afi {afi}/safi {safi}", fam, False)
    try:
        keys, ids = _nlri(value, 3, afi, safi, ctx)
    except NlriError as exc:
        raise MpError(f"MP_UNREACH_NLRI NLRI: {exc}", fam, True) from None
    return MpUnreach(afi, safi, keys, ids, flags)


def _path_ids(afi: int, safi: int, ids: tuple[int, ...] | None, n: int, ctx: Context
              ) -> tuple[int, ...] | None:
    if (afi, safi) not in ctx.add_path_tx:
        return None
    return ids if ids is not None else (0,) * n


def encode_mp_reach_value(mp: MpReach, ctx: Context) -> bytes:
    nh = mp.nh_raw if mp.nh_raw is not None else encode_nexthop(mp.next_hop)
    ids = _path_ids(mp.afi, mp.safi, mp.path_ids, len(mp.keys), ctx)
    return b"".join((
        mp.afi.to_bytes(2, "big"), bytes((mp.safi, len(nh))), nh, bytes((mp.reserved,)),
        encode_prefixes(mp.keys, mp.afi, ids),
    ))


def encode_mp_unreach_value(mp: MpUnreach, ctx: Context) -> bytes:
    ids = _path_ids(mp.afi, mp.safi, mp.path_ids, len(mp.keys), ctx)
    return mp.afi.to_bytes(2, "big") + bytes((mp.safi,)) + encode_prefixes(mp.keys, mp.afi, ids)
