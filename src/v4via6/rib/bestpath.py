"""The RFC 4271 §9.1 decision process, with the reason the winner won.

Steps, in order (each removes every candidate worse than the best at that step,
so the result does not depend on the order candidates arrive in):

 1. preference      highest source preference (local sources 200, BGP 100; BIRD-style)
 2. local-pref      highest LOCAL_PREF (missing = 100)
 3. as-path         shortest AS_PATH
 4. origin          lowest ORIGIN (igp < egp < incomplete)
 5. med             lowest MED, compared only among paths from the same neighbour AS
                    (missing MED = 0)
 6. peer-type       eBGP (and local) over iBGP
 7. igp-cost        lowest IGP cost to the next hop
    -- paths still equal here form the ECMP group when their peers allow multipath
 8. router-id       lowest BGP identifier (ORIGINATOR_ID when the path carries one)
 9. peer-address    lowest peer address
10. peer-name       lowest peer name (determinism only)

Paths whose next hop cannot be resolved are kept but take no part.
``select`` is the hot-path form; ``explain`` also says why, for ``show routes``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

from v4via6.model import NextHop
from v4via6.rib.attrs import DEFAULT_LOCAL_PREF, ORIGIN_NAMES
from v4via6.rib.path import PathRef, PeerKind, Resolution

Cand = tuple[PathRef, Resolution]

BEST = "best"
MULTIPATH = "multipath"
LOST = "lost"
UNRESOLVED = "unresolved"


@dataclass(frozen=True, slots=True)
class CandidateResult:
    """One candidate's outcome: state is best | multipath | lost | unresolved."""

    path: PathRef
    resolution: Resolution | None
    state: str
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    """Winner first in ``best`` (then ECMP partners); ``reasons``: why the winner won."""

    best: tuple[PathRef, ...]
    reasons: tuple[str, ...]
    candidates: tuple[CandidateResult, ...]


def _router_id(c: Cand) -> int:
    originator = getattr(c[0].attrs, "originator_id", None)
    if isinstance(originator, int):
        return originator
    if isinstance(originator, IPv4Address):
        return int(originator)
    return c[0].peer.router_id


def _peer_addr_key(c: Cand) -> tuple[int, int]:
    addr = c[0].peer.address
    return (0, 0) if addr is None else (addr.version, int(addr))


def _med(c: Cand) -> int:
    med = c[0].attrs.med
    return 0 if med is None else med


@dataclass(frozen=True, slots=True)
class _Step:
    name: str
    key: Callable[[Cand], Any]  # lower is better
    show: Callable[[Cand], str]
    higher_wins: bool  # only for wording: "200 > 100" instead of "1 < 3"


_BEFORE_MED = (
    _Step("preference", lambda c: -c[0].peer.preference, lambda c: str(c[0].peer.preference), True),
    _Step(
        "local-pref",
        lambda c: -(DEFAULT_LOCAL_PREF if c[0].attrs.local_pref is None else c[0].attrs.local_pref),
        lambda c: str(DEFAULT_LOCAL_PREF if c[0].attrs.local_pref is None else c[0].attrs.local_pref),
        True,
    ),
    _Step("as-path", lambda c: c[0].attrs.as_path_len, lambda c: str(c[0].attrs.as_path_len), False),
    _Step(
        "origin",
        lambda c: c[0].attrs.origin,
        lambda c: ORIGIN_NAMES.get(c[0].attrs.origin, str(c[0].attrs.origin)),
        False,
    ),
)
_AFTER_MED = (
    _Step(
        "peer-type",
        lambda c: 1 if c[0].peer.kind is PeerKind.IBGP else 0,
        lambda c: c[0].peer.kind.value,
        True,
    ),
    _Step("igp-cost", lambda c: c[1].igp_cost, lambda c: str(c[1].igp_cost), False),
)
_TIE_BREAK = (
    _Step("router-id", _router_id, lambda c: str(IPv4Address(_router_id(c))), False),
    _Step("peer-address", _peer_addr_key, lambda c: str(c[0].peer.address or "none"), False),
    _Step("peer-name", lambda c: c[0].peer.name, lambda c: c[0].peer.name, False),
    _Step("path", lambda c: repr(c[0]), lambda c: "(identical)", False),
)


class _Trace:
    """Collects who lost where (only when explaining)."""

    def __init__(self) -> None:
        self.lost: dict[int, str] = {}
        self.steps: list[tuple[_Step | None, list[Cand]]] = []


def _apply(step: _Step, alive: list[Cand], trace: _Trace | None) -> list[Cand]:
    key = step.key
    values = [key(c) for c in alive]
    best = min(values)
    if trace is None:
        return [c for c, v in zip(alive, values, strict=True) if v == best]
    survivors = [c for c, v in zip(alive, values, strict=True) if v == best]
    losers = [c for c, v in zip(alive, values, strict=True) if v != best]
    if losers:
        ref = survivors[0]
        for c in losers:
            op = "<" if step.higher_wins else ">"
            trace.lost[id(c)] = f"{step.name} {step.show(c)} {op} {step.show(ref)}"
        trace.steps.append((step, losers))
    return survivors


def _apply_med(alive: list[Cand], trace: _Trace | None) -> list[Cand]:
    lowest: dict[int | None, int] = {}
    for c in alive:
        asn = c[0].attrs.neighbor_as
        med = _med(c)
        if asn not in lowest or med < lowest[asn]:
            lowest[asn] = med
    survivors = [c for c in alive if _med(c) == lowest[c[0].attrs.neighbor_as]]
    if trace is not None and len(survivors) != len(alive):
        losers = [c for c in alive if _med(c) != lowest[c[0].attrs.neighbor_as]]
        for c in losers:
            asn = c[0].attrs.neighbor_as
            trace.lost[id(c)] = f"med {_med(c)} > {lowest[asn]} (neighbour-as {asn})"
        trace.steps.append((None, losers))
    return survivors


def _winner_reason(step: _Step | None, winner: Cand, losers: list[Cand]) -> str:
    if step is None:
        asn = winner[0].attrs.neighbor_as
        same = [c for c in losers if c[0].attrs.neighbor_as == asn]
        if same:
            return f"med {_med(winner)} < {min(_med(c) for c in same)} (neighbour-as {asn})"
        ases = sorted({str(c[0].attrs.neighbor_as) for c in losers})
        return f"med removed higher-med paths from neighbour-as {', '.join(ases)}"
    best_loser = min(losers, key=step.key)
    op = ">" if step.higher_wins else "<"
    return f"{step.name} {step.show(winner)} {op} {step.show(best_loser)}"


def _distinct_hops(group: list[Cand]) -> tuple[list[Cand], list[Cand]]:
    """Keep one path per installable next hop (addr, interface); return (kept, dropped)."""
    seen: set[NextHop | None] = set()
    kept: list[Cand] = []
    dropped: list[Cand] = []
    for c in group:
        nh = c[1].nexthop
        if nh in seen:
            dropped.append(c)
        else:
            seen.add(nh)
            kept.append(c)
    return kept, dropped


def _decide(cands: list[Cand], trace: _Trace | None) -> list[Cand]:
    alive = cands
    for step in _BEFORE_MED:
        if len(alive) == 1:
            break
        alive = _apply(step, alive, trace)
    if len(alive) > 1:
        alive = _apply_med(alive, trace)
    for step in _AFTER_MED:
        if len(alive) == 1:
            break
        alive = _apply(step, alive, trace)
    equal = alive
    for step in _TIE_BREAK:
        if len(alive) == 1:
            break
        alive = _apply(step, alive, trace)
    winner = alive[0]
    if len(equal) == 1 or not winner[0].peer.multipath:
        return [winner]
    rest = [c for c in equal if c is not winner and c[0].peer.multipath]
    rest.sort(key=lambda c: tuple(s.key(c) for s in _TIE_BREAK))
    group, dropped = _distinct_hops([winner, *rest])
    if trace is not None:
        for c in dropped:
            trace.lost[id(c)] = "same next hop as an ECMP path"
    return group


Rank = tuple[int, int, int, int]


def rank(path: PathRef) -> Rank:
    """Steps 1-4 as one sort key, lower is better (total orders: lexicographic = stepwise)."""
    attrs = path.attrs
    lp = attrs.local_pref
    return (
        -path.peer.preference,
        -(DEFAULT_LOCAL_PREF if lp is None else lp),
        attrs.as_path_len,
        attrs.origin,
    )


def select(cands: Iterable[tuple[PathRef, Resolution | None]]) -> tuple[Cand, ...]:
    """The best (path, resolution) pairs, winner first; empty when none is usable."""
    usable = [(p, r) for p, r in cands if r is not None]
    if len(usable) <= 1:
        return tuple(usable)
    # Hot path: most contests are decided by steps 1-4; only ties take the full walk.
    ranks = [rank(c[0]) for c in usable]
    top = min(ranks)
    usable = [c for c, r in zip(usable, ranks, strict=True) if r == top]
    if len(usable) == 1:
        return (usable[0],)
    return tuple(_decide(usable, None))


def explain(cands: Iterable[tuple[PathRef, Resolution | None]]) -> Decision:
    """Like ``select``, plus each candidate's state and the winner's reasons."""
    all_cands = list(cands)
    usable: list[Cand] = [(p, r) for p, r in all_cands if r is not None]
    if not usable:
        return Decision(
            (),
            (),
            tuple(CandidateResult(p, r, UNRESOLVED, "next hop unresolvable") for p, r in all_cands),
        )
    trace = _Trace()
    group = _decide(usable, trace)
    winner = group[0]
    if len(usable) == 1:
        reasons: tuple[str, ...] = ("only path",)
    else:
        reasons = tuple(_winner_reason(step, winner, losers) for step, losers in trace.steps)
    in_group = {id(c) for c in group}
    results: list[CandidateResult] = []
    for p, r in all_cands:
        if r is None:
            results.append(CandidateResult(p, r, UNRESOLVED, "next hop unresolvable"))
            continue
        cand = next(c for c in usable if c[0] is p and c[1] is r)
        if cand is winner:
            results.append(CandidateResult(p, r, BEST, ""))
        elif id(cand) in in_group:
            results.append(CandidateResult(p, r, MULTIPATH, "equal up to igp-cost"))
        else:
            reason = trace.lost.get(id(cand), "same next hop as best")
            results.append(CandidateResult(p, r, LOST, reason))
    return Decision(tuple(c[0] for c in group), reasons, tuple(results))
