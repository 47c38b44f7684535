"""CLI: ``v4via6 show ...``; ``show routes`` lists routes with next-hop neighbour state.

``show_group`` is a click group; other modules add commands to it (``show peers``
from the daemon work) with ``show_group.add_command(...)``.

Unit tests may pass ``obj={"fib": factory, "snapshot": reader}`` to click's
runner: ``factory()`` returns a FibBackend, ``reader()`` a HostSnapshot.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, cast

import click
from rich.console import Console
from rich.table import Table

from v4via6.cli.common import echo_json, fail
from v4via6.diag.route_rows import RouteRow, build_rows, rows_to_json
from v4via6.fib.backend import FibBackend, FibException, KernelRoute
from v4via6.host.errors import HostError
from v4via6.host.read import read_snapshot
from v4via6.host.snapshot import HostSnapshot
from v4via6.model import MAIN_TABLE

FibFactory = Callable[[], FibBackend]
SnapshotReader = Callable[[], HostSnapshot]


def default_fib() -> FibBackend:
    """The kernel FIB backend, read-only (listing routes needs no privileges)."""
    from v4via6.fib.netlink import NetlinkFib

    return NetlinkFib(readonly=True)


def _obj(ctx: click.Context) -> dict[str, Any]:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, dict) else {}


def fib_factory(ctx: click.Context) -> FibFactory:
    return cast(FibFactory, _obj(ctx).get("fib", default_fib))


def snapshot_reader(ctx: click.Context) -> SnapshotReader:
    return cast(SnapshotReader, _obj(ctx).get("snapshot", read_snapshot))


def read_host(ctx: click.Context) -> HostSnapshot:
    """The host snapshot, or a one-line error."""
    try:
        return snapshot_reader(ctx)()
    except HostError as exc:
        fail(str(exc))


def list_kernel_routes(ctx: click.Context, *, own_only: bool) -> list[KernelRoute]:
    """Routes through the FibBackend; a one-line error when it cannot be used."""
    try:
        backend = fib_factory(ctx)()
    except (FibException, OSError, ImportError) as exc:
        fail(f"cannot read the routing table: {exc}")
    try:
        return backend.list_routes(own_only=own_only)
    except (FibException, OSError) as exc:
        fail(f"cannot list routes: {exc}")
    finally:
        backend.close()


def console() -> Console:
    """A rich console; wide when output is not a terminal, so lines never wrap."""
    return Console(width=None if sys.stdout.isatty() else 200, soft_wrap=False)


def _extra(row: RouteRow) -> str:
    route = row.kernel.route
    extra = []
    if route.src is not None:
        extra.append(f"src {route.src}")
    if route.metric:
        extra.append(f"metric {route.metric}")
    if route.table != MAIN_TABLE:
        extra.append(f"table {route.table}")
    return " ".join(extra)


def render_routes(rows: list[RouteRow], *, all_routes: bool) -> Table:
    """A table with one line per next hop; prefix, proto and extras on the first."""
    with_extra = any(_extra(row) for row in rows)
    table = Table(title="IPv4 routes" if all_routes else "v4via6 routes", title_justify="left")
    table.add_column("prefix", no_wrap=True)
    if all_routes:
        table.add_column("proto", no_wrap=True)
    table.add_column("next hop", no_wrap=True)
    table.add_column("weight", justify="right")
    table.add_column("neighbour", no_wrap=True)
    if with_extra:
        table.add_column("extra", no_wrap=True)
    for row in rows:
        route = row.kernel.route
        prefix = str(route.prefix) if route.kind == "unicast" else f"{route.kind} {route.prefix}"
        lines = [(h.describe(), str(h.weight) if len(row.hops) > 1 else "",
                  h.describe_neighbour()) for h in row.hops] or [("-", "", "")]
        for i, (hop, weight, neighbour) in enumerate(lines):
            first = i == 0
            cells = [prefix if first else ""]
            if all_routes:
                cells.append(row.kernel.protocol_name if first else "")
            cells += [hop, weight, neighbour]
            if with_extra:
                cells.append(_extra(row) if first else "")
            table.add_row(*cells)
    return table


@click.group("show")
def show_group() -> None:
    """Show state: routes (and, with the daemon, peers)."""


@show_group.command("routes")
@click.option("--all", "all_routes", is_flag=True,
              help="All IPv4 routes with their owner protocol, not only v4via6's.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON with stable keys.")
@click.pass_context
def show_routes(ctx: click.Context, all_routes: bool, as_json: bool) -> None:
    """List v4via6's routes: next hops as 'via inet6 ADDR dev IF' and their neighbour state."""
    routes = list_kernel_routes(ctx, own_only=not all_routes)
    snapshot = read_host(ctx)
    rows = build_rows(routes, snapshot)
    if as_json:
        echo_json(rows_to_json(rows, all_routes=all_routes))
        return
    if not rows:
        click.echo("no IPv4 routes" if all_routes else "no v4via6 routes installed")
        return
    console().print(render_routes(rows, all_routes=all_routes))


COMMANDS: list[click.Command] = [show_group]
