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
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

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


@dataclass(frozen=True, slots=True)
class PathAttributes:
    """One attribute set (everything but NEXT_HOP/MP_REACH/MP_UNREACH), immutable.

    ``as_path`` is after AS4_PATH merging (RFC 6793). ``unknown`` holds the
    unrecognised optional attributes as ``(flags, type, value)``. ``wire``
    is the attribute bytes as received (or as built) for a session with
    ``wire_as4`` four-octet ASNs; it does not take part in equality.
    """

    origin: int = 0
    as_path: AsPath = ()
    med: int | None = None
    local_pref: int | None = None
    communities: tuple[int, ...] = ()
    large_communities: tuple[tuple[int, int, int], ...] = ()
    ext_communities: tuple[int, ...] = ()
    originator_id: IPv4Address | None = None
    cluster_list: tuple[IPv4Address, ...] = ()
    atomic_aggregate: bool = False
    aggregator: tuple[int, IPv4Address] | None = None
    unknown: tuple[tuple[int, int, bytes], ...] = ()
    as_path_len: int = field(init=False, compare=False)
    neighbor_as: int | None = field(init=False, compare=False)
    wire: bytes | None = field(default=None, compare=False, repr=False)
    wire_as4: bool = field(default=True, compare=False, repr=False)
    _hash: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        compared = (self.origin, self.as_path, self.med, self.local_pref, self.communities,
                    self.large_communities, self.ext_communities, self.originator_id,
                    self.cluster_list, self.atomic_aggregate, self.aggregator, self.unknown)
        length, neighbor, hashed = _derived(compared)
        object.__setattr__(self, "as_path_len", length)
        object.__setattr__(self, "neighbor_as", neighbor)
        object.__setattr__(self, "_hash", hashed)

    def __hash__(self) -> int:
        return self._hash

    @classmethod
    def plain(cls, origin: int, as_path: AsPath, med: int | None, local_pref: int | None,
              wire: bytes, wire_as4: bool) -> PathAttributes:
        """``PathAttributes(origin, as_path, med, local_pref, wire=..., wire_as4=...)``, built
        without the frozen dataclass's per-field ``object.__setattr__`` calls (a full table
        of one-prefix UPDATEs builds a million of these)."""
        self = object.__new__(cls)
        compared = (origin, as_path, med, local_pref, (), (), (), None, (), False, None, ())
        length, neighbor, hashed = _derived(compared)
        values = (*compared, length, neighbor, wire, wire_as4, hashed)
        for put, value in zip(_SLOT_SETTERS, values, strict=True):
            put(self, value)
        return self

    def replace(self, **changes: Any) -> PathAttributes:
        """A copy with some fields changed, re-encoded and interned."""
        values = {name: getattr(self, name) for name in _FIELDS}
        values.update(changes)
        return make_attributes(**values)


def _derived(compared: tuple[Any, ...]) -> tuple[int, int | None, int]:
    """(AS path length, neighbour AS, hash) of an attribute set from its compared fields
    (``as_path`` second). Hashed once: attribute sets are dict keys on every intern and
    path lookup."""
    as_path: AsPath = compared[1]
    neighbor = next((asns[0] for stype, asns in as_path if stype == AS_SEQUENCE and asns), None)
    return path_length(as_path), neighbor, hash(compared)


#: Member-descriptor setters of every slot, in the order ``PathAttributes.plain`` fills them.
_SLOT_SETTERS = tuple(getattr(PathAttributes, name).__set__ for name in (
    "origin", "as_path", "med", "local_pref", "communities", "large_communities", "ext_communities",
    "originator_id", "cluster_list", "atomic_aggregate", "aggregator", "unknown", "as_path_len",
    "neighbor_as", "wire", "wire_as4", "_hash"))

_FIELDS = ("origin", "as_path", "med", "local_pref", "communities", "large_communities",
           "ext_communities", "originator_id", "cluster_list", "atomic_aggregate", "aggregator",
           "unknown")


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
    :func:`_decode_block`'s."""
    origin: int | None = None
    as_path: AsPath | None = None
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
            if kind != WELL_KNOWN or as_path is not None:
                return None
            try:
                as_path = decode_as_path(block[v:e], 4 if four else 2)
            except AttrError:
                return None
        elif code == ORIGIN:
            if kind != WELL_KNOWN or origin is not None or e - v != 1 or block[v] > 2:
                return None
            origin = block[v]
        elif code == MED:
            if kind != OPT_NONTRANS or med is not None or e - v != 4:
                return None
            med = int.from_bytes(block[v:e], "big")
        elif code == LOCAL_PREF:
            if kind != WELL_KNOWN or local_pref is not None or e - v != 4:
                return None
            local_pref = int.from_bytes(block[v:e], "big")
        else:
            return None
        i = e
    if origin is None or as_path is None:
        return None
    return PathAttributes.plain(origin, as_path, med, local_pref, bytes(block), four)


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
