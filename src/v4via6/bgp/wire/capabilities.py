"""OPEN capabilities (RFC 5492): raw :class:`Capability` values, builders, parsers.

A capability is kept as ``(code, value bytes)`` so unknown ones pass through and
round trips are exact; ``parse_*`` functions read the known ones, ``cap_*``
functions build them. :func:`negotiate` turns the two sides' capabilities into
the :class:`~v4via6.bgp.wire.context.Context` a session decodes with.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from v4via6.bgp.wire.context import Context, afi_safi_name

MULTIPROTOCOL = 1
ROUTE_REFRESH = 2
EXTENDED_NEXTHOP = 5
EXTENDED_MESSAGE = 6
GRACEFUL_RESTART = 64
FOUR_OCTET_AS = 65
ADD_PATH = 69
ENHANCED_ROUTE_REFRESH = 70
LONG_LIVED_GR = 71
FQDN = 73
ROUTE_REFRESH_OLD = 128

CAPABILITY_NAMES = {
    MULTIPROTOCOL: "multiprotocol",
    ROUTE_REFRESH: "route-refresh",
    EXTENDED_NEXTHOP: "extended-next-hop",
    EXTENDED_MESSAGE: "extended-message",
    GRACEFUL_RESTART: "graceful-restart",
    FOUR_OCTET_AS: "4-octet-as",
    ADD_PATH: "add-path",
    ENHANCED_ROUTE_REFRESH: "enhanced-route-refresh",
    LONG_LIVED_GR: "long-lived-gr",
    FQDN: "fqdn(hostname)",
    ROUTE_REFRESH_OLD: "route-refresh(old cisco)",
}

#: add-path send/receive modes (RFC 7911).
ADD_PATH_RECEIVE = 1
ADD_PATH_SEND = 2


class CapabilityError(ValueError):
    """A known capability whose value has the wrong shape."""


@dataclass(frozen=True, slots=True)
class Capability:
    """One capability: code and raw value."""

    code: int
    value: bytes = b""

    @property
    def name(self) -> str:
        return CAPABILITY_NAMES.get(self.code, f"unknown-{self.code}")

    def details(self) -> dict[str, Any]:
        """Parsed fields of a known capability (empty for unknown ones).

        Raises :class:`CapabilityError` when the value is malformed.
        """
        v = self.value
        if self.code == MULTIPROTOCOL:
            afi, safi = parse_multiprotocol(v)
            return {"afi": afi, "safi": safi, "afi_safi": afi_safi_name(afi, safi)}
        if self.code == EXTENDED_NEXTHOP:
            return {"tuples": [{"afi": a, "safi": s, "nexthop_afi": n}
                               for a, s, n in parse_extended_nexthop(v)]}
        if self.code == FOUR_OCTET_AS:
            return {"asn": parse_four_octet_as(v)}
        if self.code == ADD_PATH:
            return {"families": [{"afi": a, "safi": s, "afi_safi": afi_safi_name(a, s),
                                  "send_receive": {1: "receive", 2: "send", 3: "both"}.get(m, m)}
                                 for a, s, m in parse_add_path(v)]}
        if self.code == GRACEFUL_RESTART:
            flags, time, fams = parse_graceful_restart(v)
            return {"restart_flags": flags, "restart_time": time,
                    "families": [{"afi": a, "safi": s, "afi_safi": afi_safi_name(a, s),
                                  "flags": f} for a, s, f in fams]}
        if self.code == FQDN:
            host, domain = parse_fqdn(v)
            return {"hostname": host, "domain": domain}
        if self.code in (ROUTE_REFRESH, EXTENDED_MESSAGE, ENHANCED_ROUTE_REFRESH,
                         ROUTE_REFRESH_OLD) and v:
            raise CapabilityError(f"{self.name}: length {len(v)}, expected 0")
        return {}


def _u16(v: bytes, i: int) -> int:
    return int.from_bytes(v[i : i + 2], "big")


def parse_multiprotocol(v: bytes) -> tuple[int, int]:
    if len(v) != 4:
        raise CapabilityError(f"multiprotocol: length {len(v)}, expected 4")
    return _u16(v, 0), v[3]


def parse_extended_nexthop(v: bytes) -> tuple[tuple[int, int, int], ...]:
    if not v or len(v) % 6:
        raise CapabilityError(f"extended-next-hop: length {len(v)} is not a multiple of 6")
    return tuple((_u16(v, i), _u16(v, i + 2), _u16(v, i + 4)) for i in range(0, len(v), 6))


def parse_four_octet_as(v: bytes) -> int:
    if len(v) != 4:
        raise CapabilityError(f"4-octet-as: length {len(v)}, expected 4")
    return int.from_bytes(v, "big")


def parse_add_path(v: bytes) -> tuple[tuple[int, int, int], ...]:
    if not v or len(v) % 4:
        raise CapabilityError(f"add-path: length {len(v)} is not a multiple of 4")
    return tuple((_u16(v, i), v[i + 2], v[i + 3]) for i in range(0, len(v), 4))


def parse_graceful_restart(v: bytes) -> tuple[int, int, tuple[tuple[int, int, int], ...]]:
    if len(v) < 2 or (len(v) - 2) % 4:
        raise CapabilityError(f"graceful-restart: length {len(v)} is not 2 + 4n")
    word = _u16(v, 0)
    fams = tuple((_u16(v, i), v[i + 2], v[i + 3]) for i in range(2, len(v), 4))
    return word >> 12, word & 0x0FFF, fams


def parse_fqdn(v: bytes) -> tuple[str, str]:
    """FQDN capability: (hostname, domain); a missing domain length reads as ""."""
    if not v or 1 + v[0] > len(v):
        raise CapabilityError("fqdn: hostname truncated")
    hl = v[0]
    host = v[1 : 1 + hl]
    if 1 + hl == len(v):
        return host.decode("utf-8", "replace"), ""
    dl = v[1 + hl]
    domain = v[2 + hl : 2 + hl + dl]
    if len(domain) != dl:
        raise CapabilityError("fqdn: domain truncated")
    return host.decode("utf-8", "replace"), domain.decode("utf-8", "replace")


# ------------------------------------------------------------------ builders


def cap_multiprotocol(afi: int, safi: int) -> Capability:
    return Capability(MULTIPROTOCOL, afi.to_bytes(2, "big") + bytes((0, safi)))


def cap_route_refresh() -> Capability:
    return Capability(ROUTE_REFRESH)


def cap_enhanced_route_refresh() -> Capability:
    return Capability(ENHANCED_ROUTE_REFRESH)


def cap_extended_message() -> Capability:
    return Capability(EXTENDED_MESSAGE)


def cap_extended_nexthop(tuples: Iterable[tuple[int, int, int]]) -> Capability:
    return Capability(EXTENDED_NEXTHOP, b"".join(
        a.to_bytes(2, "big") + s.to_bytes(2, "big") + n.to_bytes(2, "big") for a, s, n in tuples))


def cap_four_octet_as(asn: int) -> Capability:
    return Capability(FOUR_OCTET_AS, asn.to_bytes(4, "big"))


def cap_add_path(families: Iterable[tuple[int, int, int]]) -> Capability:
    return Capability(ADD_PATH, b"".join(
        a.to_bytes(2, "big") + bytes((s, m)) for a, s, m in families))


def cap_graceful_restart(restart_time: int, flags: int = 0,
                         families: Iterable[tuple[int, int, int]] = ()) -> Capability:
    head = ((flags << 12) | (restart_time & 0x0FFF)).to_bytes(2, "big")
    return Capability(GRACEFUL_RESTART, head + b"".join(
        a.to_bytes(2, "big") + bytes((s, f)) for a, s, f in families))


# ------------------------------------------------------------------ queries


def find(caps: Sequence[Capability], code: int) -> list[Capability]:
    return [c for c in caps if c.code == code]


def _safe(fn: Any, v: bytes) -> Any:
    try:
        return fn(v)
    except CapabilityError:
        return None


def four_octet_asn(caps: Sequence[Capability]) -> int | None:
    for c in find(caps, FOUR_OCTET_AS):
        asn = _safe(parse_four_octet_as, c.value)
        if asn is not None:
            return int(asn)
    return None


def multiprotocol_families(caps: Sequence[Capability]) -> frozenset[tuple[int, int]]:
    out = set()
    for c in find(caps, MULTIPROTOCOL):
        fam = _safe(parse_multiprotocol, c.value)
        if fam is not None:
            out.add(fam)
    return frozenset(out)


def extended_nexthop_tuples(caps: Sequence[Capability]) -> frozenset[tuple[int, int, int]]:
    out: set[tuple[int, int, int]] = set()
    for c in find(caps, EXTENDED_NEXTHOP):
        out.update(_safe(parse_extended_nexthop, c.value) or ())
    return frozenset(out)


def add_path_modes(caps: Sequence[Capability]) -> dict[tuple[int, int], int]:
    out: dict[tuple[int, int], int] = {}
    for c in find(caps, ADD_PATH):
        for a, s, m in _safe(parse_add_path, c.value) or ():
            out[(a, s)] = m
    return out


def negotiate(local: Sequence[Capability], remote: Sequence[Capability]) -> Context:
    """Both sides' capabilities -> the :class:`Context` for this session."""
    lap, rap = add_path_modes(local), add_path_modes(remote)
    rx = frozenset(f for f, m in lap.items() if m & ADD_PATH_RECEIVE
                   and rap.get(f, 0) & ADD_PATH_SEND)
    tx = frozenset(f for f, m in lap.items() if m & ADD_PATH_SEND
                   and rap.get(f, 0) & ADD_PATH_RECEIVE)
    return Context(
        four_octet_as=four_octet_asn(local) is not None and four_octet_asn(remote) is not None,
        extended_message=bool(find(local, EXTENDED_MESSAGE)) and bool(find(remote,
                                                                           EXTENDED_MESSAGE)),
        add_path_rx=rx,
        add_path_tx=tx,
        extended_nexthop=extended_nexthop_tuples(local) & extended_nexthop_tuples(remote),
    )
