"""CLI: ``v4via6 lab ...`` (namespace labs) and ``v4via6 demo``.

``lab up/down/status/exec/ping/trace/draw`` manage labs built from topology
files (see docs/lab.md); ``demo`` brings the built-in lab up (BGP daemons with
unnumbered peering, or static routes with ``--static``), proves IPv4 crosses
an IPv6-only core, draws it and tears it down.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from v4via6.cli.common import echo_json, fail, need_root
from v4via6.daemon.control import ControlError
from v4via6.lab import lifecycle, netns, prereq
from v4via6.lab.demo import PingResult, ping, resolve_target, trace
from v4via6.lab.draw import Picture, TraceHop, render
from v4via6.lab.handle import Lab
from v4via6.lab.routeview import RouteLine, live_routes, planned_routes
from v4via6.lab.state import StateError, list_labs, load_state, ns_prefix
from v4via6.lab.topology import Topology, TopologyError, load_default, load_file

DEMO_LAB = "demo"


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _check_machine(*tools: str) -> None:
    for problem in prereq.problems(tools):
        fail(problem)


def _load_topology(path: str | None) -> Topology:
    try:
        return load_default() if path is None else load_file(path)
    except TopologyError as exc:
        fail(str(exc))


def _pick_lab(name: str | None) -> str:
    if name is not None:
        return name
    labs = list_labs()
    if not labs:
        fail("no lab is up; start one with: v4via6 lab up")
    if len(labs) > 1:
        fail(f"several labs are up ({', '.join(labs)}); choose one with --lab NAME")
    return labs[0]


def _open_lab(name: str | None) -> Lab:
    lab_name = _pick_lab(name)
    try:
        return Lab.open(lab_name)
    except StateError as exc:
        fail(str(exc))


def _check_node(lab: Lab, node: str) -> None:
    if node not in lab.topology.nodes:
        fail(f"lab {lab.name} has no node {node!r} (nodes: {', '.join(lab.nodes)})")


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C, so both clean up the same way."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


lab_option = click.option("--lab", "lab_name", metavar="NAME", help="Lab to use (default: the only one up).")


@click.group("lab")
def lab_group() -> None:
    """Network-namespace labs: IPv4 hosts across an IPv6-only core."""


@lab_group.command("up")
@click.argument("topology", required=False, type=click.Path(dir_okay=False))
@click.option("--name", metavar="NAME", help="Lab name (default: the topology's name).")
@click.option("--no-routes", is_flag=True, help="Addresses and sysctls only; start no routing.")
@click.option("--static", "static", is_flag=True,
              help="Routers without a config of their own get static routes, not BGP.")
@click.option("--bgp", "bgp", is_flag=True,
              help="Routers without a config of their own run the BGP daemon.")
def up_command(topology: str | None, name: str | None, no_routes: bool, static: bool,
               bgp: bool) -> None:
    """Bring a lab up from TOPOLOGY (default: the built-in h1 — r1 — r2 — r3 — h2)."""
    if static and bgp:
        fail("lab up: choose one of --static and --bgp")
    topo = _load_topology(topology)
    if static or bgp:
        topo = topo.with_routing("static" if static else "bgp")
    need_root("lab up")
    _check_machine("ip")
    console = _console()
    lab_name = name or topo.name
    start = time.monotonic()
    try:
        with _sigterm_as_interrupt():
            lifecycle.up(
                topo, lab_name, routing=not no_routes,
                progress=lambda msg: console.print(f"  {escape(msg)}"),
            )
    except KeyboardInterrupt:
        console.print(f"interrupted: lab {lab_name} removed")
        raise SystemExit(130) from None
    except (lifecycle.LabError, netns.NetnsError, StateError) as exc:
        fail(str(exc))
    took = time.monotonic() - start
    console.print(
        f"lab [bold]{lab_name}[/] is up ({len(topo.nodes)} namespaces {ns_prefix(lab_name)}*,"
        f" {len(topo.links)} links) in {took:.1f} s"
    )
    hosts = [h.name for h in topo.hosts]
    if len(hosts) >= 2:
        console.print(f"  try: v4via6 lab ping {hosts[0]} {hosts[-1]}")
    console.print(f"  draw: v4via6 lab draw --out {lab_name}.svg    stop: v4via6 lab down {lab_name}")


@lab_group.command("down")
@click.argument("name", required=False)
def down_command(name: str | None) -> None:
    """Remove lab NAME: exactly the namespaces and processes its state file lists."""
    need_root("lab down")
    lab_name = _pick_lab(name)
    console = _console()
    try:
        report = lifecycle.down(lab_name, progress=lambda msg: console.print(f"  {escape(msg)}"))
    except (lifecycle.LabError, StateError, netns.NetnsError) as exc:
        fail(str(exc))
    console.print(
        f"lab {lab_name} is down ({len(report.namespaces)} namespaces,"
        f" {len(report.processes)} processes removed)"
    )


def _status(name: str) -> dict[str, Any]:
    state = load_state(name)
    try:
        topo = lifecycle.reload_topology(state)
        kinds = {n.name: n.kind for n in topo.nodes.values()}
    except StateError:
        kinds = {}
    prefix = ns_prefix(name)
    namespaces = [
        {
            "name": ns,
            "node": ns[len(prefix):],
            "kind": kinds.get(ns[len(prefix):], "?"),
            "present": netns.namespace_exists(ns),
        }
        for ns in state.namespaces
    ]
    processes = [
        {
            "node": p.node,
            "pid": p.pid,
            "running": p.pid is not None and Path(f"/proc/{p.pid}").exists(),
            "socket": p.socket,
            "log": p.log,
        }
        for p in state.processes
    ]
    return {
        "name": name,
        "phase": state.phase,
        "topology": state.source,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(state.created)),
        "state_file": str(state.path),
        "routing": state.routing,
        "routing_mode": state.routing_mode,
        "namespaces": namespaces,
        "processes": processes,
        "configs": dict(state.configs),
    }


@lab_group.command("status")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status_command(name: str | None, as_json: bool) -> None:
    """Show the labs that are up (or lab NAME): namespaces, processes, configs."""
    names = [name] if name else list_labs()
    labs: list[dict[str, Any]] = []
    for lab_name in names:
        try:
            labs.append(_status(lab_name))
        except StateError as exc:
            fail(str(exc))
    if as_json:
        echo_json({"labs": labs})
        return
    if not labs:
        click.echo("no lab is up (start one with: v4via6 lab up)")
        return
    for lab in labs:
        present = sum(1 for n in lab["namespaces"] if n["present"])
        click.echo(
            f"lab {lab['name']}: {lab['phase']}, topology {lab['topology']},"
            f" routing {lab['routing_mode'] if lab['routing'] else 'none'},"
            f" created {lab['created']}, {present}/{len(lab['namespaces'])} namespaces"
        )
        for ns in lab["namespaces"]:
            mark = "" if ns["present"] else "  (missing)"
            click.echo(f"  {ns['node']:<10} {ns['kind']:<7} {ns['name']}{mark}")
        for proc in lab["processes"]:
            state = "running" if proc["running"] else "not running"
            click.echo(f"  process {proc['node']} pid {proc['pid']} {state} log {proc['log']}")


@lab_group.command(
    "exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@lab_option
@click.argument("node")
@click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_command(lab_name: str | None, node: str, cmd: tuple[str, ...]) -> None:
    """Run CMD inside NODE's namespace: v4via6 lab exec r1 -- ip -4 route."""
    need_root("lab exec")
    lab = _open_lab(lab_name)
    _check_node(lab, node)
    args = list(cmd[1:] if cmd and cmd[0] == "--" else cmd)
    if not args:
        fail("lab exec: no command given (example: v4via6 lab exec r1 -- ip -4 route)")
    try:
        proc = subprocess.run(["ip", "netns", "exec", lab.ns(node), *args], check=False)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    raise SystemExit(proc.returncode)


@lab_group.command("ping")
@lab_option
@click.argument("src")
@click.argument("dst")
@click.option("-c", "--count", default=3, show_default=True, type=click.IntRange(1, 100))
def ping_command(lab_name: str | None, src: str, dst: str, count: int) -> None:
    """Ping DST (node or IPv4 address) from node SRC."""
    need_root("lab ping")
    _check_machine("ip", "ping")
    lab = _open_lab(lab_name)
    _check_node(lab, src)
    try:
        result = ping(lab, src, dst, count=count)
    except KeyError as exc:
        fail(str(exc.args[0]))
    click.echo(result.output.rstrip())
    raise SystemExit(0 if result.ok else 1)


def _print_trace(console: Console, hops: list[TraceHop]) -> None:
    for hop in hops:
        style = "yellow" if hop.address == "192.0.0.8" else ""
        line = f"  {hop.hop:>2}  {hop.address:<15} {hop.node or '?':<6} {hop.note}"
        console.print(f"[{style}]{escape(line)}[/]" if style else escape(line))


@lab_group.command("trace")
@lab_option
@click.argument("src")
@click.argument("dst")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def trace_command(lab_name: str | None, src: str, dst: str, as_json: bool) -> None:
    """traceroute -n from node SRC to DST, saying which node answered each hop and why."""
    need_root("lab trace")
    _check_machine("ip", "traceroute")
    lab = _open_lab(lab_name)
    _check_node(lab, src)
    try:
        address = resolve_target(lab, dst)
        hops, raw = trace(lab, src, dst)
    except KeyError as exc:
        fail(str(exc.args[0]))
    reached = bool(hops) and hops[-1].address == address
    if as_json:
        echo_json({
            "src": src,
            "dst": dst,
            "address": address,
            "reached": reached,
            "hops": [
                {"hop": h.hop, "address": h.address, "node": h.node, "note": h.note}
                for h in hops
            ],
        })
    else:
        console = _console()
        console.print(f"traceroute -n {src} -> {dst} ({address})")
        _print_trace(console, hops)
        if not hops:
            console.print(escape(raw.strip()))
    raise SystemExit(0 if reached else 1)


def _picture(
    topo: Topology, lab: str | None, *, trace_hops: list[TraceHop] | None = None,
    trace_title: str = "",
) -> Picture:
    routes: dict[str, list[RouteLine]] = {}
    if lab is not None:
        for node in topo.nodes:
            routes[node] = live_routes(lab, topo, node)
        source = "live kernel"
    else:
        for node in topo.nodes:
            routes[node] = planned_routes(topo, node)
        source = "config"
    return Picture(topo, routes, source, lab, trace_hops or [], trace_title)


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")


@lab_group.command("draw")
@click.argument("topology", required=False, type=click.Path(dir_okay=False))
@lab_option
@click.option("--out", "out", metavar="FILE.svg", help="Where to write (default: LAB.svg).")
def draw_command(topology: str | None, lab_name: str | None, out: str | None) -> None:
    """Draw a lab as SVG: nodes, links, addresses and each router's IPv4 routes.

    With a running lab, routes are read from its kernels; with TOPOLOGY (or no lab
    up) they come from the config and the routes the lab would generate.
    """
    live: str | None = None
    if topology is None and (lab_name is not None or list_labs()):
        lab = _open_lab(lab_name)
        topo = lab.topology
        need_root("lab draw (reading a running lab's routes)")
        live = lab.name
    else:
        topo = _load_topology(topology)
    try:
        pic = _picture(topo, live)
    except netns.NetnsError as exc:
        fail(str(exc))
    target = out or f"{live or topo.name}.svg"
    _write(target, render(pic))
    click.echo(f"wrote {target} (routes from the {pic.routes_from})")


# ---------------------------------------------------------------- demo


class _Demo:
    """The demo's steps, printing progress as it goes."""

    def __init__(self, console: Console, name: str, out: str, *, static: bool = False) -> None:
        self.console = console
        self.name = name
        self.out = out
        self.topo = load_default().with_routing("static" if static else "bgp")
        self.lab: Lab | None = None
        self.t0 = time.monotonic()
        self.bgp_started: float | None = None
        self.converged_in: float | None = None

    @property
    def bgp(self) -> bool:
        return self.topo.routing == "bgp"

    def _progress(self, status: Any, msg: str) -> None:
        if msg.startswith("waiting for BGP sessions"):
            self.bgp_started = time.monotonic()
        elif msg.startswith("BGP converged") and self.bgp_started is not None:
            self.converged_in = time.monotonic() - self.bgp_started
        status.update(escape(msg))

    def say(self, ok: bool, text: str) -> None:
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        self.console.print(f"{mark} {text}  [dim]({time.monotonic() - self.t0:.1f} s)[/]")

    def up(self) -> Lab:
        with self.console.status("bringing the lab up ...") as status:
            state = lifecycle.up(
                self.topo, self.name,
                progress=lambda msg: self._progress(status, msg),
            )
        self.lab = Lab(state, self.topo)
        if not self.bgp:
            self.say(True, f"lab {self.name} up: namespaces {ns_prefix(self.name)}h1 ... h2, "
                     "routes installed with `v4via6 apply` on r1, r2, r3")
            return self.lab
        self.say(True, f"lab {self.name} up: namespaces {ns_prefix(self.name)}h1 ... h2, "
                 "`v4via6 run` (BGP) on r1 (AS 65001), r2 (AS 65002), r3 (AS 65003),"
                 " unnumbered peering on the core links")
        took = f" in {self.converged_in:.1f} s" if self.converged_in is not None else ""
        self.say(True, f"BGP converged{took}: every session Established, routes installed")
        return self.lab

    def peers(self, lab: Lab) -> bool:
        """Print every router's `show peers`; True when all sessions are Established."""
        table = Table(title="show peers (each router's BGP daemon)", title_justify="left",
                      box=box.SIMPLE_HEAD, pad_edge=False)
        for col in ("router", "peer", "neighbour", "AS", "state", "up", "ext-nh",
                    "v4 r/a/i/s"):
            table.add_column(col, no_wrap=True)
        all_up = True
        for router in lab.routers:
            try:
                peers = lab.peers(router)
            except (KeyError, ControlError, OSError, ValueError) as exc:
                self.say(False, f"{router}: show peers failed: {exc}")
                all_up = False
                continue
            for peer in peers:
                v4 = _as_dict(_as_dict(peer.get("prefixes")).get("ipv4"))
                caps = _as_dict(peer.get("capabilities"))
                uptime = peer.get("uptime")
                all_up = all_up and peer.get("state") == "Established"
                table.add_row(
                    router, str(peer.get("name")), str(peer.get("address") or "-"),
                    str(peer.get("remote_as")),
                    str(peer.get("state")),
                    f"{uptime:.0f}s" if isinstance(uptime, int | float) else "-",
                    "yes" if caps.get("extended_nexthop") else "no",
                    "/".join(str(v4.get(k, "-")) for k in ("received", "accepted", "installed",
                                                            "sent")),
                )
        self.console.print(table)
        self.console.print(f"  [dim](one router: v4via6 show peers --socket {lab.socket('r1')})[/]")
        return all_up

    def tables(self, lab: Lab) -> None:
        for router in lab.routers:
            self.console.print(f"  [bold]{router}[/] ip -4 route:")
            for line in lab.routes4(router):
                text = escape(line).replace("via inet6", "[magenta]via inet6[/]")
                self.console.print(f"      {text}")

    def core_has_no_ipv4(self, lab: Lab) -> bool:
        """True when no router-router interface holds an IPv4 address."""
        bare: list[str] = []
        for link in lab.topology.links:
            if link.kind != "core":
                continue
            for end in (link.a, link.b):
                out = lab.exec(end.node, "ip", "-4", "-o", "addr", "show", "dev", end.ifname)
                if out.stdout.strip():
                    return False
                bare.append(f"{end.node}:{end.ifname}")
        self.say(True, "core links carry no IPv4 address: " + ", ".join(bare))
        return True

    def ping(self, lab: Lab) -> PingResult:
        result = ping(lab, "h1", "h2", count=3)
        rtt = f", avg {result.avg_ms:.3f} ms" if result.avg_ms is not None else ""
        self.say(result.ok, f"ping h1 ({lab.ipv4('h1')}) -> h2 ({result.address}):"
                 f" {result.received}/{result.sent} replies{rtt}")
        return result

    def trace(self, lab: Lab) -> list[TraceHop]:
        hops, raw = trace(lab, "h1", "h2")
        reached = bool(hops) and hops[-1].node == "h2"
        self.say(reached, f"traceroute -n h1 -> h2 ({lab.ipv4('h2')}): who answered each hop")
        _print_trace(self.console, hops)
        if not hops:
            self.console.print(escape(raw.strip()))
        return hops

    def picture(self, lab: Lab, hops: list[TraceHop]) -> None:
        pic = _picture(self.topo, lab.name, trace_hops=hops,
                       trace_title="traceroute -n h1 -> h2: source address of each answer")
        _write(self.out, render(pic))
        self.say(True, f"picture written: {self.out} (open it in a browser)")


def _as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _summary(console: Console, result: PingResult | None, hops: list[TraceHop],
             core_ok: bool, *, bgp: bool = False) -> bool:
    crossed = result is not None and result.ok and core_ok
    r2 = next((h for h in hops if h.node == "r2"), None)
    r3 = next((h for h in hops if h.node == "r3"), None)
    console.print("[bold]Summary[/]")
    if crossed and result is not None:
        console.print(
            f"  [green]PASS[/]: IPv4 crossed an IPv6-only core: h1 -> h2 ({result.address}),"
            f" {result.received}/{result.sent} pings answered;"
            " r1, r2 and r3 route IPv4 via IPv6 link-local next hops"
            + (" learned over BGP (RFC 8950, unnumbered sessions)." if bgp else
               " (static routes).")
        )
    else:
        console.print("  [red]FAIL[/]: IPv4 did not get from h1 to h2 across the core.")
    if r2 is not None:
        console.print(f"  r2 has no IPv4 address: its time-exceeded came from {r2.address}"
                      " (RFC 7600), which many networks filter.")
    if r3 is not None:
        console.print(f"  r3 has a loopback /32: its time-exceeded came from {r3.address}.")
    return crossed


@click.command("demo")
@click.option("--keep", is_flag=True, help="Leave the lab up afterwards (remove: v4via6 lab down demo).")
@click.option("--out", default="v4via6-demo.svg", show_default=True, metavar="FILE.svg",
              help="Where to write the picture.")
@click.option("--static", "static", is_flag=True,
              help="Static routes (v4via6 apply) instead of the BGP daemon.")
@click.option("--name", default=DEMO_LAB, show_default=True, hidden=True, help="Lab name.")
def demo_command(keep: bool, out: str, static: bool, name: str) -> None:
    """IPv4 hosts talk across a core with no IPv4: bring up, prove, draw, tear down."""
    need_root("demo")
    _check_machine("ip", "ping", "traceroute")
    console = _console()
    console.print("[bold]v4via6 demo[/]: h1 — r1 — r2 — r3 — h2; the r1—r2—r3 links carry"
                  " only IPv6 link-local addresses; r2 has no IPv4 address at all.")
    demo = _Demo(console, name, out, static=static)
    result: PingResult | None = None
    hops: list[TraceHop] = []
    core_ok = False
    peers_ok = False
    try:
        with _sigterm_as_interrupt():
            try:
                lab = demo.up()
                peers_ok = demo.peers(lab) if demo.bgp else True
                demo.tables(lab)
                core_ok = demo.core_has_no_ipv4(lab)
                result = demo.ping(lab)
                hops = demo.trace(lab)
                demo.picture(lab, hops)
            finally:
                if demo.lab is not None and not keep:
                    lifecycle.down(name)
                    left = netns.list_namespaces(ns_prefix(name))
                    demo.say(not left, f"lab {name} removed"
                             + (f"; left behind: {', '.join(left)}" if left else ""))
    except KeyboardInterrupt:
        console.print(f"interrupted: lab {name} removed")
        raise SystemExit(130) from None
    except (lifecycle.LabError, netns.NetnsError, StateError) as exc:
        fail(str(exc))
    if keep:
        console.print(f"lab {name} left up: v4via6 lab exec --lab {name} h1 -- ping"
                      f" {demo.topo.address_of('h2')};  remove with: v4via6 lab down {name}")
    ok = _summary(console, result, hops, core_ok and peers_ok, bgp=demo.bgp)
    sys.exit(0 if ok else 1)


COMMANDS: list[click.Command] = [lab_group, demo_command]
