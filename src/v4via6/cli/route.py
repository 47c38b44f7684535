"""CLI: ``v4via6 route get ADDR [--from S] [--iif IF] [--json]``.

Like ``ip route get`` and BSD ``route -n get``: the matched entry, owner
protocol, chosen next hops with their IPv6 neighbour entries, the outgoing
interface, the source addresses for packets and ICMP errors, and a verdict
in plain words when the kernel would drop the packet.

Unit tests may pass ``obj={"probe": fn, "snapshot": reader}`` to click's
runner, with ``fn(dst, src, iif, snapshot) -> RouteProbe``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Any, cast

import click

from v4via6.cli.common import echo_json, fail
from v4via6.cli.show import read_host
from v4via6.diag.route_get import RouteExplanation, explain_route
from v4via6.fib.protos import proto_name
from v4via6.host.errors import HostError
from v4via6.host.probe import RouteProbe, probe_route
from v4via6.host.read import ifname_map, open_netlink
from v4via6.host.snapshot import HostSnapshot

Prober = Callable[[IPv4Address, IPv4Address | None, str | None, HostSnapshot], RouteProbe]

TABLE_NAMES = {255: "local", 254: "main", 253: "default"}


def kernel_probe(
    dst: IPv4Address, src: IPv4Address | None, iif: str | None, snapshot: HostSnapshot
) -> RouteProbe:
    """Ask the running kernel (read-only RTM_GETROUTE lookups and a route dump)."""
    ipr = open_netlink()
    try:
        return probe_route(ipr, ifname_map(snapshot.links), dst, src=src, iif=iif)
    finally:
        ipr.close()


def parse_ipv4(text: str, what: str) -> IPv4Address:
    """An IPv4 address, or a one-line error naming ``what``."""
    try:
        addr = ipaddress.ip_address(text.strip())
    except ValueError:
        fail(f"{what} {text!r} is not an IPv4 address like 198.51.100.7")
    if addr.version != 4:
        fail(f"{what} {text!r} is an IPv6 address; route get explains IPv4 routes "
             "(for IPv6 use: ip -6 route get)")
    assert isinstance(addr, IPv4Address)
    return addr


def _table_name(table: int) -> str:
    return TABLE_NAMES.get(table, str(table))


def render(expl: RouteExplanation) -> list[str]:
    """``route -n get`` style lines: ``key: value``."""
    lines: list[tuple[str, str]] = [("destination", str(expl.dst))]
    if expl.src is not None:
        lines.append(("from", str(expl.src)))
    if expl.iif is not None:
        lines.append(("iif", expl.iif))
    if expl.matched is not None:
        e = expl.matched.entry
        kind = "" if e.kind == "unicast" else f"{e.kind} "
        how = "" if expl.matched.source == "kernel" else " (longest match in the table)"
        metric = f" metric {e.metric}" if e.metric else ""
        lines.append((
            "matched",
            f"{kind}{e.prefix} proto {proto_name(e.protocol)} "
            f"table {_table_name(e.table)}{metric}{how}",
        ))
        if len(e.hops) > 1:
            for path in e.hops:
                lines.append(("  path", f"{path.describe()} weight {path.weight}"))
    else:
        lines.append(("matched", "no route"))
    for hop in expl.nexthops:
        lines.append(("next hop", hop.describe()))
        if hop.via is not None:
            lines.append(("neighbour", hop.describe_neighbour()))
    if expl.dev is not None:
        lines.append(("interface", expl.dev))
    lines.append(("source", str(expl.source) if expl.source is not None else "-"))
    icmp = expl.icmp
    lines.append(("icmp source", f"{icmp.address if icmp.address is not None else '-'}"
                                 f" ({icmp.note})"))
    lines.append(("verdict", f"{'DROP' if expl.drop else 'ok'} {expl.verdict}: "
                             f"{expl.explanation}"))
    if expl.kernel_error is not None and expl.kernel_error.errno is not None:
        lines.append(("kernel says", f"{expl.kernel_error.error} "
                                     f"({expl.kernel_error.errno_name})"))
    if expl.fix:
        lines.append(("fix", expl.fix))
    for note in expl.notes:
        lines.append(("note", note))
    width = max(len(k) for k, _ in lines)
    return [f"{k:>{width}}: {v}" for k, v in lines]


def _obj(ctx: click.Context) -> dict[str, Any]:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, dict) else {}


@click.group("route")
def route_group() -> None:
    """Ask the kernel about IPv4 routes."""


@route_group.command("get")
@click.argument("addr")
@click.option("--from", "src_text", metavar="S", help="Source address of the packet.")
@click.option("--iif", metavar="IF",
              help="Simulate a packet arriving on IF (forwarding path, rp_filter); needs --from.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON with stable keys.")
@click.pass_context
def route_get(
    ctx: click.Context, addr: str, src_text: str | None, iif: str | None, as_json: bool
) -> None:
    """Explain how the kernel routes an IPv4 packet to ADDR, and why it would drop it."""
    dst = parse_ipv4(addr, "destination")
    src = parse_ipv4(src_text, "--from") if src_text is not None else None
    if iif is not None and src is None:
        fail("--iif needs --from S: the source address of the packet arriving on "
             f"{iif} (the kernel checks it against rp_filter)")
    snapshot = read_host(ctx)
    if iif is not None and snapshot.link(iif) is None:
        known = ", ".join(link.name for link in snapshot.links) or "none"
        fail(f"unknown interface {iif!r} (interfaces here: {known})")
    prober = cast(Prober, _obj(ctx).get("probe", kernel_probe))
    try:
        probe = prober(dst, src, iif, snapshot)
    except HostError as exc:
        fail(str(exc))
    expl = explain_route(probe, snapshot)
    if as_json:
        echo_json(expl.to_json())
    else:
        for line in render(expl):
            click.echo(line)
    raise SystemExit(1 if expl.drop else 0)


COMMANDS: list[click.Command] = [route_group]
