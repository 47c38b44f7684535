"""The FIB backend interface: what every kernel-route writer offers.

Two implementations: ``memory.MemoryFib`` (a fake for unit tests) and
``netlink.NetlinkFib`` (Linux, batched netlink). Reconcile, the CLI and the
daemon only talk to this Protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network
from typing import Protocol

from v4via6.model import MAIN_TABLE, Hop, NextHop, Route


class OpKind(StrEnum):
    ADD = "add"
    REPLACE = "replace"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class FibOp:
    """One change to the kernel FIB."""

    kind: OpKind
    route: Route

    def describe(self) -> str:
        return f"{self.kind.value} {self.route.describe()}"


@dataclass(frozen=True, slots=True)
class KernelRoute:
    """A route as the kernel holds it, with its owner protocol number."""

    route: Route
    protocol: int
    protocol_name: str

    @property
    def own(self) -> bool:
        from v4via6.model import PROTO_NUMBER

        return self.protocol == PROTO_NUMBER


@dataclass(frozen=True, slots=True)
class OpFailure:
    """One failed operation: the kernel's errno and what it means."""

    op: FibOp
    errno: int
    message: str

    def describe(self) -> str:
        return f"{self.op.kind.value} {self.op.route.prefix}: {self.message} (errno {self.errno})"


@dataclass(slots=True)
class BatchResult:
    """Outcome of ``FibBackend.apply``: how many succeeded, and every error."""

    ok: int = 0
    errors: list[OpFailure] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.errors)


@dataclass(slots=True)
class RunsResult:
    """Outcome of ``FibBackend.apply_runs``: requests done, skipped, and prefix key -> (errno, message)."""

    ok: int = 0
    skipped: int = 0
    failed: dict[int, tuple[int, str]] = field(default_factory=dict)


#: ``(kind, hops, keys)``: one next-hop set for many IPv4 prefixes, keys as the RIB holds them
#: (``(network_int << 8) | prefix_len``). ADD and REPLACE both mean "install with these hops".
Run = tuple[OpKind, tuple[Hop, ...], Sequence[int]]


def key_to_prefix(key: int) -> IPv4Network:
    """An IPv4 prefix key ``(network_int << 8) | prefix_len`` as a network."""
    return IPv4Network((key >> 8, key & 0xFF))


class FibException(Exception):
    """Raised for problems that stop a backend from working at all."""


class FibUnavailable(FibException):
    """The backend cannot be used here (no permission, no kernel support)."""


class UnknownInterface(FibException):
    """A next hop names an interface that does not exist."""

    def __init__(self, ifname: str) -> None:
        super().__init__(f"unknown interface {ifname!r}")
        self.ifname = ifname


class FibBackend(Protocol):
    """A place IPv4 routes can be installed into and listed from."""

    def list_routes(
        self, *, own_only: bool = True, table: int | None = None, family: int = 4
    ) -> list[KernelRoute]:
        """Unicast routes of ``family`` (4 or 6); only v4via6's own protocol unless ``own_only`` is False."""
        ...

    def check_interfaces(self, routes: Sequence[Route]) -> list[str]:
        """Names of interfaces used by ``routes`` that do not exist (empty when all do)."""
        ...

    def apply(self, ops: Sequence[FibOp]) -> BatchResult:
        """Apply every op; never stops at the first error; never touches foreign routes."""
        ...

    def apply_runs(
        self, runs: Sequence[Run], *, metric: int = 0, src: IPv4Address | None = None, table: int = MAIN_TABLE
    ) -> RunsResult:
        """Bulk IPv4 changes straight from prefix keys (the daemon's FIB path): install or
        delete; never overwrites a foreign route; a delete of a route already gone is skipped."""
        ...

    def withdraw_nexthop(self, nh: NextHop) -> int:
        """Remove every own route through ``nh`` at once (with nexthop objects: one delete);
        returns how many own routes went."""
        ...

    def flush(self) -> BatchResult:
        """Remove every route (and nexthop object) with v4via6's protocol number."""
        ...

    def close(self) -> None:
        ...
