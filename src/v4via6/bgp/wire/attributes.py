"""Path attributes: one descriptor table, and interned :class:`PathAttributes`.

``ATTRIBUTES`` maps each attribute type code to an :class:`AttrSpec`: its name,
the optional/transitive flags it must carry, how to decode and encode its value,
and the RFC 7606 action when it is malformed. NEXT_HOP, MP_REACH_NLRI and
MP_UNREACH_NLRI are listed too, but the UPDATE codec handles them itself: they
carry next hops and NLRI, which are not part of an attribute set.

Every other attribute of an UPDATE is decoded into ONE immutable, hashable
:class:`PathAttributes` per distinct attribute block; the intern table maps the
raw bytes of the block to the object, so a million prefixes sharing a hundred
attribute sets make a hundred objects. ``wire`` keeps the bytes (minus anything
discarded) so encode(decode(b)) == b.

With a path per prefix (a full table of one-prefix UPDATEs) every prefix has its own
attribute set, so the object is kept small: the AS path is one canonical bytes object
(a received four-octet AS_PATH value as it is; ``as_path`` decodes it on access) and the
rarely present attributes share one tuple slot. About 205 bytes per plain set (object,
AS path, wire bytes) instead of about 470.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from dataclasses import FrozenInstanceError, dataclass
from ipaddress import IPv4Address
from typing import Any, ClassVar, cast

from v4via6.bgp.wire.context import Context
from v4via6.bgp.wire.errors import (
    UPD_UNRECOGNIZED_WELL_KNOWN,
    UPDATE_MESSAGE_ERROR,
    Action,
    Verdict,
    reset,
)

# Attribute type codes.
ORIGIN = 1
AS_PATH = 2
NEXT_HOP = 3
MED = 4
LOCAL_PREF = 5
ATOMIC_AGGREGATE = 6
AGGREGATOR = 7
COMMUNITIES = 8
ORIGINATOR_ID = 9
CLUSTER_LIST = 10
MP_REACH_NLRI = 14
MP_UNREACH_NLRI = 15
EXTENDED_COMMUNITIES = 16
AS4_PATH = 17
AS4_AGGREGATOR = 18
LARGE_COMMUNITY = 32

# Flag bits.
F_OPTIONAL = 0x80
F_TRANSITIVE = 0x40
F_PARTIAL = 0x20
F_EXTLEN = 0x10

WELL_KNOWN = F_TRANSITIVE
OPT_NONTRANS = F_OPTIONAL
OPT_TRANS = F_OPTIONAL | F_TRANSITIVE

# AS_PATH segment types.
AS_SET = 1
AS_SEQUENCE = 2
AS_CONFED_SEQUENCE = 3
AS_CONFED_SET = 4
SEGMENT_NAMES = {AS_SET: "SET", AS_SEQUENCE: "SEQUENCE", AS_CONFED_SEQUENCE: "CONFED_SEQUENCE",
                 AS_CONFED_SET: "CONFED_SET"}

AS_TRANS = 23456
ORIGIN_NAMES = {0: "IGP", 1: "EGP", 2: "INCOMPLETE"}

AsPath = tuple[tuple[int, tuple[int, ...]], ...]


class AttrError(ValueError):
    """A malformed attribute value (the descriptor says what to do about it)."""


# --------------------------------------------------------------------------- values


def _u32(value: bytes, _ctx: Context) -> int:
    if len(value) != 4:
        raise AttrError(f"length {len(value)}, expected 4")
    return int.from_bytes(value, "big")


def _enc_u32(v: Any, _ctx: Context) -> bytes:
    return int(v).to_bytes(4, "big")


def _origin(value: bytes, _ctx: Context) -> int:
    if len(value) != 1:
        raise AttrError(f"length {len(value)}, expected 1")
    if value[0] > 2:
        raise AttrError(f"value {value[0]} is not IGP(0), EGP(1) or INCOMPLETE(2)")
    return value[0]


def _enc_origin(v: Any, _ctx: Context) -> bytes:
    return bytes((int(v),))


def decode_as_path(value: bytes, asn_size: int) -> AsPath:
    """AS_PATH/AS4_PATH value -> ((segment type, (asn, ...)), ...)."""
    segs: list[tuple[int, tuple[int, ...]]] = []
    unpack = (_ASN4 if asn_size == 4 else _ASN2)
    i, n = 0, len(value)
    while i < n:
        if i + 2 > n:
            raise AttrError("segment header overruns the attribute")
        stype, count = value[i], value[i + 1]
        if stype not in SEGMENT_NAMES:
            raise AttrError(f"segment type {stype} is not 1..4")
        if count == 0:
            raise AttrError("segment of zero length")
        j = i + 2 + count * asn_size
        if j > n:
            raise AttrError(f"segment of {count} ASNs overruns the attribute")
        segs.append((stype, unpack[count](value, i + 2)))
        i = j
    return tuple(segs)


@functools.lru_cache(maxsize=64)
def _asn_bytes(asn: int) -> bytes:
    """An ASN as 4 big-endian bytes: a canonical AS path holds it so wherever it is."""
    return asn.to_bytes(4, "big")


#: ``_asn_bytes`` of the ASNs ``contains_asn`` is asked about (the local AS, mostly).
_NEEDLES: dict[int, bytes] = {}


#: ``_ASN4[count](buf, offset)`` unpacks ``count`` big-endian 4-byte (or 2-byte) ASNs.
_ASN4 = [struct.Struct(f"!{c}I").unpack_from for c in range(256)]
_ASN2 = [struct.Struct(f"!{c}H").unpack_from for c in range(256)]


def encode_as_path(path: AsPath, asn_size: int) -> bytes:
    out = bytearray()
    for stype, asns in path:
        for start in range(0, len(asns), 255):
            chunk = asns[start : start + 255]
            out += bytes((stype, len(chunk)))
            for asn in chunk:
                out += (asn if asn_size == 4 or asn <= 0xFFFF else AS_TRANS).to_bytes(asn_size, "big")
    return bytes(out)


def _as_path(value: bytes, ctx: Context) -> AsPath:
    return decode_as_path(value, 4 if ctx.four_octet_as else 2)


def _enc_as_path(v: Any, ctx: Context) -> bytes:
    return encode_as_path(v, 4 if ctx.four_octet_as else 2)


def _as4_path(value: bytes, _ctx: Context) -> AsPath:
    return decode_as_path(value, 4)


def _enc_as4_path(v: Any, _ctx: Context) -> bytes:
    return encode_as_path(v, 4)


def _nexthop4(value: bytes, _ctx: Context) -> IPv4Address:
    if len(value) != 4:
        raise AttrError(f"length {len(value)}, expected 4")
    return IPv4Address(value)


def _enc_addr(v: Any, _ctx: Context) -> bytes:
    return bytes(IPv4Address(v).packed)


def _atomic(value: bytes, _ctx: Context) -> bool:
    if value:
        raise AttrError(f"length {len(value)}, expected 0")
    return True


def _enc_atomic(_v: Any, _ctx: Context) -> bytes:
    return b""


def _aggregator(value: bytes, ctx: Context) -> tuple[int, IPv4Address]:
    size = 4 if ctx.four_octet_as else 2
    if len(value) != size + 4:
        raise AttrError(f"length {len(value)}, expected {size + 4}")
    return int.from_bytes(value[:size], "big"), IPv4Address(value[size:])


def _enc_aggregator(v: Any, ctx: Context) -> bytes:
    asn, addr = v
    if ctx.four_octet_as:
        return int(asn).to_bytes(4, "big") + IPv4Address(addr).packed
    return (asn if asn <= 0xFFFF else AS_TRANS).to_bytes(2, "big") + IPv4Address(addr).packed


def _as4_aggregator(value: bytes, _ctx: Context) -> tuple[int, IPv4Address]:
    if len(value) != 8:
        raise AttrError(f"length {len(value)}, expected 8")
    return int.from_bytes(value[:4], "big"), IPv4Address(value[4:])


def _enc_as4_aggregator(v: Any, _ctx: Context) -> bytes:
    return int(v[0]).to_bytes(4, "big") + IPv4Address(v[1]).packed


def _ints(size: int) -> Callable[[bytes, Context], tuple[int, ...]]:
    def dec(value: bytes, _ctx: Context) -> tuple[int, ...]:
        if not value or len(value) % size:
            raise AttrError(f"length {len(value)} is not a non-zero multiple of {size}")
        return tuple(int.from_bytes(value[i : i + size], "big") for i in range(0, len(value), size))
    return dec


def _enc_ints(size: int) -> Callable[[Any, Context], bytes]:
    def enc(v: Any, _ctx: Context) -> bytes:
        return b"".join(int(x).to_bytes(size, "big") for x in v)
    return enc


def _cluster_list(value: bytes, ctx: Context) -> tuple[IPv4Address, ...]:
    return tuple(IPv4Address(x) for x in _ints(4)(value, ctx))


def _enc_cluster_list(v: Any, _ctx: Context) -> bytes:
    return b"".join(IPv4Address(x).packed for x in v)


def _originator(value: bytes, _ctx: Context) -> IPv4Address:
    if len(value) != 4:
        raise AttrError(f"length {len(value)}, expected 4")
    return IPv4Address(value)


def _large(value: bytes, _ctx: Context) -> tuple[tuple[int, int, int], ...]:
    if not value or len(value) % 12:
        raise AttrError(f"length {len(value)} is not a non-zero multiple of 12")
    fb = int.from_bytes
    return tuple((fb(value[i : i + 4], "big"), fb(value[i + 4 : i + 8], "big"),
                  fb(value[i + 8 : i + 12], "big")) for i in range(0, len(value), 12))


def _enc_large(v: Any, _ctx: Context) -> bytes:
    return b"".join(a.to_bytes(4, "big") + b.to_bytes(4, "big") + c.to_bytes(4, "big")
                    for a, b, c in v)


def _handled_by_update(_value: bytes, _ctx: Context) -> Any:
    raise AssertionError("decoded by the UPDATE codec")


# --------------------------------------------------------------------------- table


@dataclass(frozen=True, slots=True)
class AttrSpec:
    """How one attribute type is flagged, decoded, encoded and error-handled.

    ``slot`` is the :class:`PathAttributes` field the decoded value goes to
    (None for NEXT_HOP/MP_*, which the UPDATE codec handles).
    """

    code: int
    name: str
    flags: int
    action: Action
    decode: Callable[[bytes, Context], Any]
    encode: Callable[[Any, Context], bytes]
    slot: str | None


ATTRIBUTES: dict[int, AttrSpec] = {s.code: s for s in (
    AttrSpec(ORIGIN, "ORIGIN", WELL_KNOWN, Action.TREAT_AS_WITHDRAW, _origin, _enc_origin,
             "origin"),
    AttrSpec(AS_PATH, "AS_PATH", WELL_KNOWN, Action.TREAT_AS_WITHDRAW, _as_path, _enc_as_path,
             "as_path"),
    AttrSpec(NEXT_HOP, "NEXT_HOP", WELL_KNOWN, Action.TREAT_AS_WITHDRAW, _nexthop4, _enc_addr,
             None),
    AttrSpec(MED, "MULTI_EXIT_DISC", OPT_NONTRANS, Action.TREAT_AS_WITHDRAW, _u32, _enc_u32,
             "med"),
    AttrSpec(LOCAL_PREF, "LOCAL_PREF", WELL_KNOWN, Action.TREAT_AS_WITHDRAW, _u32, _enc_u32,
             "local_pref"),
    AttrSpec(ATOMIC_AGGREGATE, "ATOMIC_AGGREGATE", WELL_KNOWN, Action.ATTRIBUTE_DISCARD, _atomic,
             _enc_atomic, "atomic_aggregate"),
    AttrSpec(AGGREGATOR, "AGGREGATOR", OPT_TRANS, Action.ATTRIBUTE_DISCARD, _aggregator,
             _enc_aggregator, "aggregator"),
    AttrSpec(COMMUNITIES, "COMMUNITIES", OPT_TRANS, Action.TREAT_AS_WITHDRAW, _ints(4),
             _enc_ints(4), "communities"),
    AttrSpec(ORIGINATOR_ID, "ORIGINATOR_ID", OPT_NONTRANS, Action.TREAT_AS_WITHDRAW, _originator,
             _enc_addr, "originator_id"),
    AttrSpec(CLUSTER_LIST, "CLUSTER_LIST", OPT_NONTRANS, Action.TREAT_AS_WITHDRAW, _cluster_list,
             _enc_cluster_list, "cluster_list"),
    AttrSpec(MP_REACH_NLRI, "MP_REACH_NLRI", OPT_NONTRANS, Action.SESSION_RESET,
             _handled_by_update, _handled_by_update, None),
    AttrSpec(MP_UNREACH_NLRI, "MP_UNREACH_NLRI", OPT_NONTRANS, Action.SESSION_RESET,
             _handled_by_update, _handled_by_update, None),
    AttrSpec(EXTENDED_COMMUNITIES, "EXTENDED_COMMUNITIES", OPT_TRANS, Action.TREAT_AS_WITHDRAW,
             _ints(8), _enc_ints(8), "ext_communities"),
    AttrSpec(AS4_PATH, "AS4_PATH", OPT_TRANS, Action.ATTRIBUTE_DISCARD, _as4_path, _enc_as4_path,
             "as4_path"),
    AttrSpec(AS4_AGGREGATOR, "AS4_AGGREGATOR", OPT_TRANS, Action.ATTRIBUTE_DISCARD,
             _as4_aggregator, _enc_as4_aggregator, "as4_aggregator"),
    AttrSpec(LARGE_COMMUNITY, "LARGE_COMMUNITY", OPT_TRANS, Action.TREAT_AS_WITHDRAW, _large,
             _enc_large, "large_communities"),
)}


def attr_name(code: int) -> str:
    spec = ATTRIBUTES.get(code)
    return spec.name if spec is not None else f"UNKNOWN_{code}"


# --------------------------------------------------------------------------- object


def path_length(path: AsPath) -> int:
    """RFC 4271 §9.1.2.2: AS_SET counts 1, confederation segments 0."""
    n = 0
    for stype, asns in path:
        if stype == AS_SEQUENCE:
            n += len(asns)
        elif stype == AS_SET:
            n += 1
    return n


# The AS path of an attribute set is kept as one canonical bytes object (``_asp``), not as
# tuples (a tuple of tuples of ints is four or more objects per path; with a path per prefix
# that was most of an attribute set's memory). Per segment: type (1 byte), ASN count
# (1 byte), the ASNs as 4-byte big-endian numbers; i.e. a four-octet AS_PATH value, so a
# received one is used as it is. A segment of 0 or more than 255 ASNs (only a hand-built
# path has one: the wire splits long segments) is written with count byte 0 and the real
# count in 4 more bytes. Every AsPath tuple thus has exactly one encoding, and equal bytes
# mean equal paths, so equality and hashing use the bytes.

_PACK4 = [struct.Struct(f"!{c}I").pack for c in range(256)]


def _canon_as_path(path: AsPath) -> bytes:
    """AsPath tuple -> canonical bytes. ValueError for a segment type outside 0..255 or an
    ASN outside 0..2**32-1 (neither can be sent)."""
    try:
        if len(path) == 1:  # the common case, without the join
            stype, asns = path[0]
            count = len(asns)
            if 0 < count < 256:
                return bytes((stype, count)) + _PACK4[count](*asns)
        out = bytearray()
        for stype, asns in path:
            count = len(asns)
            if 0 < count < 256:
                out += bytes((stype, count))
            else:
                out += bytes((stype, 0)) + count.to_bytes(4, "big")
            out += struct.pack(f"!{count}I", *asns)
        return bytes(out)
    except (struct.error, ValueError, OverflowError) as exc:
        raise ValueError(f"AS path {path!r}: segment types must be 0..255 and ASNs "
                         f"0..4294967295 ({exc})") from None


def _segments(asp: bytes) -> list[tuple[int, int, int]]:
    """Canonical bytes -> [(segment type, ASN count, offset of the first ASN)]."""
    out: list[tuple[int, int, int]] = []
    i, n = 0, len(asp)
    while i < n:
        stype, count = asp[i], asp[i + 1]
        i += 2
        if count == 0:
            count = int.from_bytes(asp[i : i + 4], "big")
            i += 4
        out.append((stype, count, i))
        i += 4 * count
    return out


def _as_path_of(asp: bytes) -> AsPath:
    """Canonical bytes -> AsPath tuple (the inverse of :func:`_canon_as_path`)."""
    n = len(asp)
    if n > 2 and n == 2 + 4 * asp[1]:  # one segment (count >= 1): the common case
        return ((asp[0], _ASN4[asp[1]](asp, 2)),)
    return tuple((stype, _ASN4[count](asp, at) if count < 256
                  else struct.unpack_from(f"!{count}I", asp, at))
                 for stype, count, at in _segments(asp))


#: Shared int objects for neighbour ASNs, MEDs and LOCAL_PREFs decoded on the fast path: the
#: AS path no longer holds the neighbour AS as an int, and a fresh int per attribute set costs
#: 28-32 bytes, while the values are few (the peers' ASNs, a handful of MEDs). Bounded.
_INTS: dict[int, int] = {}
INTS_MAX = 65_536


def _shared_int(value: int) -> int:
    got = _INTS.get(value)
    if got is None:
        if len(_INTS) >= INTS_MAX:
            _INTS.clear()
        _INTS[value] = got = value
    return got


def _length_and_neighbor(asp: bytes) -> tuple[int, int | None]:
    """(RFC 4271 §9.1.2.2 path length, first AS of the first non-empty AS_SEQUENCE)."""
    n = len(asp)
    if n > 2 and n == 2 + 4 * asp[1]:  # one segment (count >= 1): the common case
        if asp[0] == AS_SEQUENCE:
            return asp[1], _shared_int(int.from_bytes(asp[2:6], "big"))
        return (1 if asp[0] == AS_SET else 0), None
    length = 0
    neighbor: int | None = None
    for stype, count, at in _segments(asp):
        if stype == AS_SEQUENCE:
            length += count
            if neighbor is None and count:
                neighbor = _shared_int(int.from_bytes(asp[at : at + 4], "big"))
        elif stype == AS_SET:
            length += 1
    return length, neighbor


def _scan_as_path4(value: bytes) -> tuple[int, int | None] | None:
    """A received four-octet AS_PATH value, checked as :func:`decode_as_path` checks it:
    (path length, neighbour AS), or None where that would raise AttrError. A valid value is
    already in canonical form (no segment on the wire has 0 or more than 255 ASNs)."""
    n = len(value)
    if n > 2 and n == 2 + 4 * value[1]:  # one segment (count >= 1): the common case
        stype = value[0]
        if stype == AS_SEQUENCE:
            return value[1], _shared_int(int.from_bytes(value[2:6], "big"))
        if stype == AS_SET:
            return 1, None
        return (0, None) if stype in SEGMENT_NAMES else None
    length = 0
    neighbor: int | None = None
    i = 0
    while i < n:
        if i + 2 > n:
            return None
        stype, count = value[i], value[i + 1]
        if count == 0 or stype not in SEGMENT_NAMES:
            return None
        j = i + 2 + 4 * count
        if j > n:
            return None
        if stype == AS_SEQUENCE:
            length += count
            if neighbor is None:
                neighbor = _shared_int(int.from_bytes(value[i + 2 : i + 6], "big"))
        elif stype == AS_SET:
            length += 1
        i = j
    return length, neighbor


#: The rarely present fields, in this order, live in one tuple (``_extra``); attribute sets
#: without any share the one constant ``_NO_EXTRA``.
_EXTRA_FIELDS = ("communities", "large_communities", "ext_communities", "originator_id",
                 "cluster_list", "atomic_aggregate", "aggregator", "unknown")
_NO_EXTRA: tuple[Any, ...] = ((), (), (), None, (), False, None, ())

_FIELDS = ("origin", "as_path", "med", "local_pref", *_EXTRA_FIELDS)
_REPR_FIELDS = (*_FIELDS, "as_path_len", "neighbor_as")


class PathAttributes:
    """One attribute set (everything but NEXT_HOP/MP_REACH/MP_UNREACH), immutable.

    ``as_path`` is after AS4_PATH merging (RFC 6793). ``unknown`` holds the
    unrecognised optional attributes as ``(flags, type, value)``. ``wire``
    is the attribute bytes as received (or as built) for a session with
    ``wire_as4`` four-octet ASNs; it does not take part in equality.

    Built like the frozen dataclass it was (same fields, order and defaults) and
    compared, hashed, printed and replaced the same way, but stored compactly:
    the AS path as canonical bytes (``as_path`` decodes it on access), the rarely
    present fields in one shared tuple behind read-only properties.
    """

    __slots__ = ("_asp", "_extra", "as_path_len", "local_pref", "med", "neighbor_as",
                 "origin", "wire", "wire_as4")
    __match_args__ = ("origin", "as_path", "med", "local_pref", "communities", "large_communities",
                      "ext_communities", "originator_id", "cluster_list", "atomic_aggregate",
                      "aggregator", "unknown", "wire", "wire_as4")

    origin: int
    med: int | None
    local_pref: int | None
    as_path_len: int
    neighbor_as: int | None
    wire: bytes | None
    wire_as4: bool
    #: the AS path, canonical bytes
    _asp: bytes
    #: the ``_EXTRA_FIELDS`` values, or the shared ``_NO_EXTRA``
    _extra: tuple[Any, ...]
    #: What the codec hands out is already one object per distinct attribute block
    #: (``decode_attributes`` keeps them by their bytes), so the RIB does not look each
    #: one up again by value (hashing a set per UPDATE of a table where each prefix has
    #: its own path). Equality stays by value.
    CODEC_INTERNED: ClassVar[bool] = True

    def __init__(
        self,
        origin: int = 0,
        as_path: AsPath = (),
        med: int | None = None,
        local_pref: int | None = None,
        communities: tuple[int, ...] = (),
        large_communities: tuple[tuple[int, int, int], ...] = (),
        ext_communities: tuple[int, ...] = (),
        originator_id: IPv4Address | None = None,
        cluster_list: tuple[IPv4Address, ...] = (),
        atomic_aggregate: bool = False,
        aggregator: tuple[int, IPv4Address] | None = None,
        unknown: tuple[tuple[int, int, bytes], ...] = (),
        wire: bytes | None = None,
        wire_as4: bool = True,
    ) -> None:
        asp = _canon_as_path(as_path)
        length, neighbor = _length_and_neighbor(asp)
        extra = (communities, large_communities, ext_communities, originator_id, cluster_list,
                 atomic_aggregate, aggregator, unknown)
        _fill(self, origin, asp, length, neighbor, med, local_pref,
              _NO_EXTRA if extra == _NO_EXTRA else extra, wire, wire_as4)

    @classmethod
    def plain(cls, origin: int, as_path: AsPath, med: int | None, local_pref: int | None,
              wire: bytes, wire_as4: bool) -> PathAttributes:
        """``PathAttributes(origin, as_path, med, local_pref, wire=..., wire_as4=...)``."""
        asp = _canon_as_path(as_path)
        length, neighbor = _length_and_neighbor(asp)
        return _plain(origin, asp, length, neighbor, med, local_pref, wire, wire_as4)

    # The rarely present fields, read-only.
    @property
    def communities(self) -> tuple[int, ...]:
        return self._extra[0]  # type: ignore[no-any-return]

    @property
    def large_communities(self) -> tuple[tuple[int, int, int], ...]:
        return self._extra[1]  # type: ignore[no-any-return]

    @property
    def ext_communities(self) -> tuple[int, ...]:
        return self._extra[2]  # type: ignore[no-any-return]

    @property
    def originator_id(self) -> IPv4Address | None:
        return self._extra[3]  # type: ignore[no-any-return]

    @property
    def cluster_list(self) -> tuple[IPv4Address, ...]:
        return self._extra[4]  # type: ignore[no-any-return]

    @property
    def atomic_aggregate(self) -> bool:
        return self._extra[5]  # type: ignore[no-any-return]

    @property
    def aggregator(self) -> tuple[int, IPv4Address] | None:
        return self._extra[6]  # type: ignore[no-any-return]

    @property
    def unknown(self) -> tuple[tuple[int, int, bytes], ...]:
        return self._extra[7]  # type: ignore[no-any-return]

    @property
    def as_path(self) -> AsPath:
        """``((segment type, (asn, ...)), ...)``, decoded on each access."""
        return _as_path_of(self._asp)

    @property
    def as_path_bytes(self) -> bytes:
        """The canonical AS path: per segment type, count, 4-byte ASNs (see ``_canon_as_path``)."""
        return self._asp

    def contains_asn(self, asn: int) -> bool:
        """Whether ``asn`` is anywhere in the AS path (AS-loop detection, RFC 4271 §9.1.2).

        Compares unpacked ints (never raw bytes), so a match cannot straddle a segment
        header or two ASNs; a one-segment path is unpacked without building the AsPath.
        """
        asp = self._asp
        needle = _NEEDLES.get(asn)  # asked once per distinct path: the local AS, always
        if needle is None:
            try:
                needle = _asn_bytes(asn)
            except OverflowError:  # not a 32-bit ASN: in no AS path
                return False
            if len(_NEEDLES) >= 64:
                _NEEDLES.clear()
            _NEEDLES[asn] = needle
        if needle not in asp:  # the common answer, without unpacking anything
            return False
        n = len(asp)
        if n > 2 and n == 2 + 4 * asp[1]:  # one segment (count >= 1): ASNs from offset 2
            return asn in _ASN4[asp[1]](asp, 2)
        return any(asn in asns for _t, asns in _as_path_of(asp))

    def replace(self, **changes: Any) -> PathAttributes:
        """A copy with some fields changed, re-encoded and interned."""
        values = {name: getattr(self, name) for name in _FIELDS}
        values.update(changes)
        return make_attributes(**values)

    def __hash__(self) -> int:
        # Computed on each call, nothing kept per set: the receive path never hashes a
        # set (the codec keeps them by their bytes, the RIB does not look them up again).
        return hash((self._asp, self.origin, self.med, self.local_pref, self._extra))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PathAttributes):
            return NotImplemented
        return (self._asp == other._asp and self.origin == other.origin
                and self.med == other.med and self.local_pref == other.local_pref
                and self._extra == other._extra)

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in _REPR_FIELDS)
        return f"PathAttributes({inner})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (PathAttributes, (self.origin, self.as_path, self.med, self.local_pref,
                                 *self._extra, self.wire, self.wire_as4))


def _setter(name: str) -> Callable[[PathAttributes, Any], None]:
    return getattr(PathAttributes, name).__set__  # type: ignore[no-any-return]


# The slots' member-descriptor setters: instances are immutable (``__setattr__`` raises),
# so they are filled through these, which is also the cheapest way to do it.
_set_origin = _setter("origin")
_set_asp = _setter("_asp")
_set_len = _setter("as_path_len")
_set_neighbor = _setter("neighbor_as")
_set_med = _setter("med")
_set_local_pref = _setter("local_pref")
_set_extra = _setter("_extra")
_set_wire = _setter("wire")
_set_wire_as4 = _setter("wire_as4")


def _fill(self: PathAttributes, origin: int, asp: bytes, length: int, neighbor: int | None,
          med: int | None, local_pref: int | None, extra: tuple[Any, ...], wire: bytes | None,
          wire_as4: bool) -> None:
    """Set every slot; ``extra`` must be ``_NO_EXTRA`` when all its values are defaults."""
    _set_origin(self, origin)
    _set_asp(self, asp)
    _set_len(self, length)
    _set_neighbor(self, neighbor)
    _set_med(self, med)
    _set_local_pref(self, local_pref)
    _set_extra(self, extra)
    _set_wire(self, wire)
    _set_wire_as4(self, wire_as4)


class _Filled:
    """``_Filled(origin, asp, length, neighbor, med, local_pref, extra, wire, wire_as4)``
    is a PathAttributes with those slot values, made in one call.

    It has PathAttributes' slots, so its ``__init__`` sets them with plain stores
    (PathAttributes itself refuses assignment) and then makes the object a
    PathAttributes (same slots, same layout: CPython allows the class change). About
    half the cost of nine descriptor calls; a table where every prefix has its own
    path makes one attribute set per UPDATE.
    """

    __slots__ = PathAttributes.__slots__

    def __init__(self, origin: int, asp: bytes, length: int, neighbor: int | None, med: int | None,
                 local_pref: int | None, extra: tuple[Any, ...], wire: bytes | None, wire_as4: bool) -> None:
        self.origin = origin
        self._asp = asp
        self.as_path_len = length
        self.neighbor_as = neighbor
        self.med = med
        self.local_pref = local_pref
        self._extra = extra
        self.wire = wire
        self.wire_as4 = wire_as4
        self.__class__ = PathAttributes  # type: ignore[assignment]


#: Make a PathAttributes from its slot values (see ``_Filled``).
filled = cast(
    Callable[[int, bytes, int, "int | None", "int | None", "int | None", tuple[Any, ...], "bytes | None", bool],
             PathAttributes],
    _Filled,
)


def _plain(origin: int, asp: bytes, length: int, neighbor: int | None, med: int | None,
           local_pref: int | None, wire: bytes, wire_as4: bool) -> PathAttributes:
    """An attribute set without extras, from a canonical AS path and its derived values."""
    return filled(origin, asp, length, neighbor, med, local_pref, _NO_EXTRA, wire, wire_as4)


# --------------------------------------------------------------------------- block codec


def _attr_bytes(flags: int, code: int, value: bytes) -> bytes:
    n = len(value)
    if n > 255:
        flags |= F_EXTLEN
    if flags & F_EXTLEN:
        return bytes((flags, code)) + n.to_bytes(2, "big") + value
    return bytes((flags, code, n)) + value


def encode_attribute(flags: int, code: int, value: bytes) -> bytes:
    """One attribute TLV; the extended-length flag is set when needed (or if given)."""
    return _attr_bytes(flags, code, value)


def iter_attributes(block: bytes) -> list[tuple[int, int, int, int]]:
    """Split a well-formed attribute block: [(flags, type, start, end-of-value)]."""
    out: list[tuple[int, int, int, int]] = []
    i, n = 0, len(block)
    while i < n:
        flags, code = block[i], block[i + 1]
        if flags & F_EXTLEN:
            ln, hdr = int.from_bytes(block[i + 2 : i + 4], "big"), 4
        else:
            ln, hdr = block[i + 2], 3
        out.append((flags, code, i, i + hdr + ln))
        i += hdr + ln
    return out


def _merge_as4(path: AsPath, as4: AsPath) -> AsPath:
    """RFC 6793 §4.2.3: rebuild the real path from AS_PATH and AS4_PATH."""
    n, m = path_length(path), path_length(as4)
    if m > n:
        return path
    keep = n - m
    lead: list[tuple[int, tuple[int, ...]]] = []
    for stype, asns in path:
        if keep <= 0:
            break
        if stype == AS_SEQUENCE:
            take = asns[:keep]
            lead.append((stype, take))
            keep -= len(take)
        elif stype == AS_SET:
            lead.append((stype, asns))
            keep -= 1
        else:
            lead.append((stype, asns))
    return tuple(lead) + as4


def _decode_block(block: bytes, ctx: Context) -> tuple[PathAttributes, tuple[Verdict, ...]]:
    """Decode a block of attributes (no NEXT_HOP/MP_*): the slow path behind the intern."""
    values: dict[str, Any] = {}
    unknown: list[tuple[int, int, bytes]] = []
    verdicts: list[Verdict] = []
    kept: list[bytes] = []
    dropped = False
    for flags, code, start, end in iter_attributes(block):
        raw = block[start:end]
        hdr = 4 if flags & F_EXTLEN else 3
        value = raw[hdr:]
        spec = ATTRIBUTES.get(code)
        if spec is None:
            if not flags & F_OPTIONAL:
                raise reset(UPDATE_MESSAGE_ERROR, UPD_UNRECOGNIZED_WELL_KNOWN,
                            f"unrecognized well-known attribute {code}", raw, code)
            unknown.append((flags, code, bytes(value)))
            kept.append(raw)
            continue
        assert spec.slot is not None
        if (flags & OPT_TRANS) != spec.flags:
            problem = f"{spec.name}: flags 0x{flags:02x} conflict with the attribute type"
        else:
            try:
                values[spec.slot] = spec.decode(value, ctx)
                kept.append(raw)
                continue
            except AttrError as exc:
                problem = f"{spec.name}: {exc}"
        verdicts.append(Verdict(spec.action, problem, code))
        dropped = True
    as4_path = values.pop("as4_path", None)
    as4_agg = values.pop("as4_aggregator", None)
    if ctx.four_octet_as and (as4_path is not None or as4_agg is not None):
        # RFC 6793 §3: discarded between NEW speakers, and not passed on
        verdicts.append(Verdict(Action.ATTRIBUTE_DISCARD,
                                "AS4_PATH/AS4_AGGREGATOR between four-octet speakers", AS4_PATH))
        kept = [k for k in kept if k[1] not in (AS4_PATH, AS4_AGGREGATOR)]
        dropped = True
    elif not ctx.four_octet_as:
        agg = values.get("aggregator")
        usable = agg is None or agg[0] == AS_TRANS
        if as4_agg is not None and agg is not None and agg[0] == AS_TRANS:
            values["aggregator"] = as4_agg
        if as4_path is not None and usable and "as_path" in values:
            values["as_path"] = _merge_as4(values["as_path"], as4_path)
    wire = bytes(block) if not dropped else b"".join(bytes(k) for k in kept)
    pa = PathAttributes(**values, unknown=tuple(unknown), wire=wire, wire_as4=ctx.four_octet_as)
    return pa, tuple(verdicts)


_INTERN: dict[tuple[bool, bytes], tuple[PathAttributes, tuple[Verdict, ...]]] = {}
INTERN_MAX = 65_536


def _decode_plain(block: bytes, four: bool) -> PathAttributes | None:
    """The commonest block, quickly: ORIGIN and AS_PATH, optionally MED and LOCAL_PREF,
    each once, well-formed, right flags. None for anything else (the general decoder
    then runs and reports what it finds); for the blocks it accepts the result equals
    :func:`_decode_block`'s. A four-octet AS_PATH is checked but not unpacked: its value
    is the canonical AS path bytes as it is."""
    origin: int | None = None
    asp: bytes | None = None
    length = 0
    neighbor: int | None = None
    med: int | None = None
    local_pref: int | None = None
    i, n = 0, len(block)
    while i < n:
        if n - i < 4:
            return None
        flags, code = block[i], block[i + 1]
        if flags & F_EXTLEN:
            v = i + 4
            e = v + ((block[i + 2] << 8) | block[i + 3])
        else:
            v = i + 3
            e = v + block[i + 2]
        if e > n:
            return None
        kind = flags & OPT_TRANS
        if code == AS_PATH:
            if kind != WELL_KNOWN or asp is not None:
                return None
            asp = block[v:e]
            if four:
                scanned = _scan_as_path4(asp)
                if scanned is None:
                    return None
                length, neighbor = scanned
            else:  # two-octet ASNs: unpack and widen (rare)
                try:
                    asp = _canon_as_path(decode_as_path(asp, 2))
                except AttrError:
                    return None
                length, neighbor = _length_and_neighbor(asp)
        elif code == ORIGIN:
            if kind != WELL_KNOWN or origin is not None or e - v != 1 or block[v] > 2:
                return None
            origin = block[v]
        elif code == MED:
            if kind != OPT_NONTRANS or med is not None or e - v != 4:
                return None
            med = _shared_int(int.from_bytes(block[v:e], "big"))
        elif code == LOCAL_PREF:
            if kind != WELL_KNOWN or local_pref is not None or e - v != 4:
                return None
            local_pref = _shared_int(int.from_bytes(block[v:e], "big"))
        else:
            return None
        i = e
    if origin is None or asp is None:
        return None
    return _plain(origin, asp, length, neighbor, med, local_pref, bytes(block), four)


def decode_attributes(block: bytes, ctx: Context) -> tuple[PathAttributes, tuple[Verdict, ...]]:
    """Attribute block bytes -> (interned PathAttributes, verdicts). Raises WireError."""
    key = (ctx.four_octet_as, block)
    hit = _INTERN.get(key)
    if hit is not None:
        return hit
    plain = _decode_plain(block, ctx.four_octet_as)
    result = (plain, ()) if plain is not None else _decode_block(block, ctx)
    if len(_INTERN) >= INTERN_MAX:
        _INTERN.clear()
    _INTERN[key] = result
    return result


def intern_size() -> int:
    """Distinct attribute blocks currently interned (bounded by INTERN_MAX)."""
    return len(_INTERN)


def encode_attributes(attrs: PathAttributes, ctx: Context, *, propagate: bool = False) -> bytes:
    """PathAttributes -> attribute block bytes for a session with ``ctx``.

    With ``propagate`` (sending to another peer than it came from), unknown
    optional transitive attributes get the partial bit and unknown
    non-transitive ones are dropped (RFC 4271 §5).
    """
    if not propagate and attrs.wire is not None and attrs.wire_as4 == ctx.four_octet_as:
        return attrs.wire
    return _encode_fields(attrs, ctx, propagate)


def _encode_fields(attrs: PathAttributes, ctx: Context, propagate: bool) -> bytes:
    out: list[tuple[int, bytes]] = []

    def add(code: int, v: Any, flags: int | None = None) -> None:
        spec = ATTRIBUTES[code]
        out.append((code, _attr_bytes(spec.flags if flags is None else flags, code,
                                      spec.encode(v, ctx))))

    add(ORIGIN, attrs.origin)
    add(AS_PATH, attrs.as_path)
    if attrs.med is not None:
        add(MED, attrs.med)
    if attrs.local_pref is not None:
        add(LOCAL_PREF, attrs.local_pref)
    if attrs.atomic_aggregate:
        add(ATOMIC_AGGREGATE, True)
    if attrs.aggregator is not None:
        add(AGGREGATOR, attrs.aggregator, OPT_TRANS)
    if attrs.communities:
        add(COMMUNITIES, attrs.communities, OPT_TRANS)
    if attrs.originator_id is not None:
        add(ORIGINATOR_ID, attrs.originator_id)
    if attrs.cluster_list:
        add(CLUSTER_LIST, attrs.cluster_list)
    if attrs.ext_communities:
        add(EXTENDED_COMMUNITIES, attrs.ext_communities, OPT_TRANS)
    if not ctx.four_octet_as:
        if any(a > 0xFFFF for _t, asns in attrs.as_path for a in asns):
            add(AS4_PATH, tuple(s for s in attrs.as_path
                                if s[0] in (AS_SEQUENCE, AS_SET)), OPT_TRANS)
        if attrs.aggregator is not None and attrs.aggregator[0] > 0xFFFF:
            add(AS4_AGGREGATOR, attrs.aggregator, OPT_TRANS)
    if attrs.large_communities:
        add(LARGE_COMMUNITY, attrs.large_communities, OPT_TRANS)
    for flags, code, value in attrs.unknown:
        if propagate:
            if not flags & F_TRANSITIVE:
                continue
            flags |= F_PARTIAL
        out.append((code, _attr_bytes(flags, code, value)))
    out.sort(key=lambda item: item[0])
    return b"".join(b for _c, b in out)


def make_attributes(*, four_octet_as: bool = True, **fields: Any) -> PathAttributes:
    """Build an interned PathAttributes from field values (``origin=0, as_path=...``)."""
    ctx = Context(four_octet_as=four_octet_as)
    proto = PathAttributes(**fields)
    block = _encode_fields(proto, ctx, False)
    attrs, verdicts = decode_attributes(block, ctx)
    if verdicts:
        raise ValueError(f"attributes do not encode cleanly: {verdicts[0].reason}")
    return attrs
