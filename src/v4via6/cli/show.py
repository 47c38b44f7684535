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
from v4via6.cli.run import ask, config_option, socket_option
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
@click.argument("prefix", required=False)
@click.option("--all", "all_routes", is_flag=True,
              help="All IPv4 routes with their owner protocol, not only v4via6's.")
@click.option("--bgp", is_flag=True, help="Ask the running daemon: best path and alternatives, and why.")
@click.option("--peer", default=None, help="With the daemon: only paths from this peer.")
@click.option("--ipv6", is_flag=True, help="With the daemon: the IPv6 unicast table.")
@socket_option
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON with stable keys.")
@click.pass_context
def show_routes(ctx: click.Context, prefix: str | None, all_routes: bool, bgp: bool, peer: str | None,
                ipv6: bool, socket_path: str | None, config_path: str | None, as_json: bool) -> None:
    """List v4via6's routes in the kernel (next hops and neighbour state).

    With PREFIX, --bgp, --peer or --socket: the daemon's RIB instead (best path,
    alternatives, and why the winner won).
    """
    if prefix or bgp or peer or socket_path or ipv6:
        data = ask(socket_path, config_path, "show-routes", prefix=prefix, peer=peer,
                   family="ipv6" if ipv6 else "ipv4")
        if as_json:
            echo_json(data)
        else:
            render_rib(data)
        return
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


def render_rib(data: dict[str, Any]) -> None:
    """Best path first (marked *), alternatives after, with the reason for each."""
    routes = data.get("routes", [])
    if not routes:
        click.echo("no matching routes in the daemon's RIB")
        return
    for route in routes:
        flags = []
        if route.get("installed"):
            flags.append("installed")
        if route.get("static_override"):
            flags.append("static route wins in the kernel")
        click.echo(f"{route['prefix']}" + (f"  ({', '.join(flags)})" if flags else ""))
        for path in route["paths"]:
            mark = {"best": "*", "multipath": "=", "unresolved": "?"}.get(path["state"], " ")
            via = path["installs_via"] or path["nexthop"]
            extra = f"as-path [{path['as_path']}]" if path["as_path"] else "as-path []"
            if path["local_pref"] is not None:
                extra += f" local-pref {path['local_pref']}"
            if path["med"] is not None:
                extra += f" med {path['med']}"
            click.echo(f"  {mark} from {path['peer']:<12} {via}  {extra}  origin {path['origin']}")
            if path["reason"]:
                click.echo(f"      {path['state']}: {path['reason']}")
        for reason in route.get("reasons", []):
            click.echo(f"    winner: {reason}")
    if data.get("total", 0) > len(routes):
        click.echo(f"({len(routes)} of {data['total']} shown)")


@show_group.command("peers")
@socket_option
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON with stable keys.")
def show_peers(socket_path: str | None, config_path: str | None, as_json: bool) -> None:
    """BGP peers of the running daemon: state, uptime, capabilities, prefix counts."""
    data = ask(socket_path, config_path, "show-peers")
    if as_json:
        echo_json(data)
        return
    peers = data.get("peers", [])
    if not peers:
        click.echo("no BGP peers configured")
        return
    table = Table(title="BGP peers", title_justify="left")
    for col in ("peer", "remote", "AS", "state", "up", "ext-nh", "v4 rcvd/acc/inst/sent", "v6 rcvd/acc/sent"):
        table.add_column(col, no_wrap=True)
    for peer in peers:
        v4 = peer["prefixes"]["ipv4"]
        v6 = peer["prefixes"]["ipv6"]
        remote = peer["address"] or "-"
        if peer["interface"]:
            remote += f"%{peer['interface']}"
        uptime = peer["uptime"]
        table.add_row(
            peer["name"], remote, str(peer["remote_as"]), peer["state"],
            _duration(uptime) if uptime is not None else "-",
            "yes" if peer["capabilities"]["extended_nexthop"] else "no",
            f"{v4['received']}/{v4['accepted']}/{v4['installed']}/{v4['sent']}",
            f"{v6['received']}/{v6['accepted']}/{v6['sent']}",
        )
    console().print(table)
    for peer in peers:
        if peer["state"] != "Established" and (peer["last_error"] or peer["last_down_reason"]):
            click.echo(f"{peer['name']}: {peer['last_error'] or peer['last_down_reason']}")


@show_group.command("route")
@click.argument("word", type=click.Choice(["for"]))
@click.argument("address")
@socket_option
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON with stable keys.")
def show_route_for(word: str, address: str, socket_path: str | None, config_path: str | None,
                   as_json: bool) -> None:
    """'show route for ADDR': the daemon's longest-match route for ADDR and why it won."""
    data = ask(socket_path, config_path, "show-route-for", address=address)
    if as_json:
        echo_json(data)
        return
    render_rib(data)


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


COMMANDS: list[click.Command] = [show_group]
