"""Reconcile: the minimal change from what the kernel holds to what we want.

Only routes with v4via6's own protocol number are ever added to the plan's
replace/delete lists. A desired route whose kernel key (table, prefix, metric)
is held by another protocol is a *clash*: reported, never touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from v4via6.fib.backend import FibOp, KernelRoute, OpKind
from v4via6.model import Route


@dataclass(frozen=True, slots=True)
class Clash:
    """A desired route whose key another protocol already holds."""

    wanted: Route
    holder: KernelRoute

    def describe(self) -> str:
        return (
            f"clash {self.wanted.prefix}: the kernel already has "
            f"'{self.holder.route.describe()}' owned by proto {self.holder.protocol_name}; "
            "left alone (v4via6 never changes another protocol's routes)"
        )


@dataclass(frozen=True, slots=True)
class Shadow:
    """A desired route that a foreign route with a lower metric will beat."""

    wanted: Route
    winner: KernelRoute

    def describe(self) -> str:
        return (
            f"note {self.wanted.prefix}: proto {self.winner.protocol_name} has the same prefix "
            f"with metric {self.winner.route.metric} < {self.wanted.metric}, so the kernel "
            "prefers it"
        )


@dataclass(slots=True)
class Plan:
    """The changes to make, in order: deletes, replaces, adds."""

    adds: list[FibOp] = field(default_factory=list)
    replaces: list[tuple[FibOp, Route]] = field(default_factory=list)
    deletes: list[FibOp] = field(default_factory=list)
    clashes: list[Clash] = field(default_factory=list)
    shadows: list[Shadow] = field(default_factory=list)
    unchanged: int = 0

    @property
    def ops(self) -> list[FibOp]:
        return [*self.deletes, *(op for op, _ in self.replaces), *self.adds]

    @property
    def empty(self) -> bool:
        return not (self.adds or self.replaces or self.deletes)

    def lines(self) -> list[str]:
        """One line per change, ``ip route`` style, for the operator."""
        out = [f"- delete {op.route.describe()}" for op in self.deletes]
        for op, old in self.replaces:
            out.append(f"~ replace {op.route.describe()}  (was: {old.describe()})")
        out += [f"+ add {op.route.describe()}" for op in self.adds]
        out += [f"! {c.describe()}" for c in self.clashes]
        out += [f"  {s.describe()}" for s in self.shadows]
        return out


def plan(desired: Iterable[Route], kernel: Sequence[KernelRoute], *, tables: set[int] | None = None) -> Plan:
    """Compute the minimal change.

    ``kernel`` is the kernel's IPv4 routes (own and foreign). Own routes in
    ``tables`` (default: every table a desired route uses, plus main) that are not
    desired are deleted.
    """
    result = Plan()
    own: dict[tuple[int, object, int], KernelRoute] = {}
    foreign: dict[tuple[int, object, int], KernelRoute] = {}
    foreign_by_prefix: dict[tuple[int, object], list[KernelRoute]] = {}
    for kr in kernel:
        if kr.own:
            own[kr.route.key] = kr
        else:
            foreign[kr.route.key] = kr
            foreign_by_prefix.setdefault((kr.route.table, kr.route.prefix), []).append(kr)

    wanted: dict[tuple[int, object, int], Route] = {}
    for route in desired:
        wanted[route.key] = route

    for key, route in wanted.items():
        holder = foreign.get(key)
        if holder is not None:
            result.clashes.append(Clash(route, holder))
            continue
        for other in foreign_by_prefix.get((route.table, route.prefix), []):
            if other.route.metric < route.metric:
                result.shadows.append(Shadow(route, other))
        current = own.get(key)
        if current is None:
            result.adds.append(FibOp(OpKind.ADD, route))
        elif _same(current.route, route):
            result.unchanged += 1
        else:
            result.replaces.append((FibOp(OpKind.REPLACE, route), current.route))

    for key, kr in own.items():
        if key not in wanted and (tables is None or kr.route.table in tables):
            result.deletes.append(FibOp(OpKind.DELETE, kr.route))

    result.adds.sort(key=lambda op: op.route.key)
    result.replaces.sort(key=lambda pair: pair[0].route.key)
    result.deletes.sort(key=lambda op: op.route.key)
    return result


def _same(have: Route, want: Route) -> bool:
    return have.hops == want.hops and have.src == want.src and have.kind == want.kind
