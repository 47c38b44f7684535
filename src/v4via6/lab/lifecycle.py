"""Bringing a lab up and down, with every resource recorded before it exists.

``up`` creates one namespace per node (``v4v6-<lab>-<node>``), veth pairs
directly inside them, addresses, sysctls and host default routes, then starts
each router's routing function: ``v4via6 apply FILE`` for static routes, or
``v4via6 run -c FILE --socket PATH`` in the background for BGP (a ``[bgp]``
config, or a generated one when the topology's routing is ``bgp``), and waits
until the daemons have converged. If anything fails or is interrupted
(Ctrl-C), ``up`` removes what it made before re-raising. ``down`` stops the
recorded daemons by PID (SIGTERM, SIGKILL after a deadline) and removes
exactly what the state file lists and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from pathlib import Path

from v4via6.lab import converge, netns
from v4via6.lab.netns import NetnsError, wait_until
from v4via6.lab.routing import RouterPlan, plan_router
from v4via6.lab.state import (
    LabState,
    ProcessRecord,
    StateError,
    load_state,
    ns_name,
    ns_prefix,
    state_file,
    state_root,
)
from v4via6.lab.tomlwrite import dumps
from v4via6.lab.topology import LAB_NAME_RE, ROUTING_MODES, Interface, Node, Topology

Progress = Callable[[str], None]

#: How long a daemon gets to open its control socket, and to exit on SIGTERM.
DAEMON_START_TIMEOUT = 15.0
DAEMON_STOP_TIMEOUT = 5.0
#: How long ``up`` waits for BGP sessions and routes.
CONVERGE_TIMEOUT = 30.0


class LabError(RuntimeError):
    """Bringing a lab up or down failed; the message is one line."""


def _quiet(_: str) -> None:
    return None


def v4via6_command() -> list[str]:
    """How to run this very v4via6 installation as a command."""
    exe = Path(sys.executable).with_name("v4via6")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("v4via6")
    if found:
        return [found]
    return [sys.executable, "-m", "v4via6.cli.main"]


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """Hold off SIGINT/SIGTERM while cleaning up, so a second Ctrl-C can't leave debris."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def check_lab_name(name: str) -> None:
    if not LAB_NAME_RE.match(name):
        raise LabError(f"bad lab name {name!r}: use 1..12 of a-z 0-9")


# ---------------------------------------------------------------- up


def up(
    topo: Topology,
    name: str | None = None,
    *,
    routing: bool = True,
    root: Path | None = None,
    progress: Progress = _quiet,
    converge_timeout: float = CONVERGE_TIMEOUT,
) -> LabState:
    """Create lab ``name`` (default: the topology's name) from ``topo``.

    ``routing=False`` sets up addresses and sysctls but starts no routing, for
    tests that apply their own routes. When routers run BGP daemons, ``up``
    returns once they have converged (LabError after ``converge_timeout`` s).
    Returns the saved state. On any error or interrupt, everything already
    made is removed and the exception re-raised.
    """
    lab = name or topo.name
    check_lab_name(lab)
    base = root or state_root()
    path = state_file(lab, base)
    if path.exists():
        raise LabError(f"lab {lab} is already up (state {path}); run: v4via6 lab down {lab}")
    leftovers = netns.list_namespaces(ns_prefix(lab))
    if leftovers:
        raise LabError(
            f"namespaces {', '.join(leftovers)} exist but lab {lab} has no state file;"
            " they are not this tool's to remove (ip netns del NAME)"
        )
    _check_configs(topo)
    state = LabState(
        name=lab,
        source=topo.source,
        topology_text=topo.text,
        base_dir=str(topo.base_dir) if topo.base_dir else None,
        state_dir=str(base / lab),
        routing=routing,
        routing_mode=topo.routing,
    )
    Path(state.state_dir).mkdir(parents=True, exist_ok=True)
    state.save()
    try:
        _build(topo, state, progress, converge_timeout)
    except BaseException:
        with _no_interrupts():
            progress("cleaning up after a failed or interrupted start")
            _teardown(state, progress)
        raise
    state.phase = "up"
    state.save()
    return state


def _check_configs(topo: Topology) -> None:
    """Validate every router config the topology gives, before anything is created."""
    from v4via6.config.load import ConfigError, parse_config

    for router in topo.routers:
        if not router.config:
            continue
        where = str(router.config_path or f"{topo.source} nodes.{router.name}.config")
        try:
            parse_config(router.config, where)
        except ConfigError as exc:
            raise LabError(f"router {router.name}: " + "; ".join(exc.lines)) from None


def _build(topo: Topology, state: LabState, progress: Progress, converge_timeout: float) -> None:
    lab = state.name
    for node in topo.nodes.values():
        ns = ns_name(lab, node.name)
        state.namespaces.append(ns)
        state.save()
        progress(f"namespace {ns} ({node.kind})")
        netns.create_namespace(ns)
        netns.set_sysctls(ns, _sysctls(node))
    for link in topo.links:
        progress(f"link {link.a.node}:{link.a.ifname} — {link.b.node}:{link.b.ifname}")
        netns.create_veth(
            ns_name(lab, link.a.node),
            link.a.ifname,
            ns_name(lab, link.b.node),
            link.b.ifname,
            mtu=link.a.mtu,
        )
    for node in topo.nodes.values():
        netns.ip_batch(ns_name(lab, node.name), _address_commands(node))
    ends = [(ns_name(lab, e.node), e.ifname) for link in topo.links for e in (link.a, link.b)]
    wait_until(
        lambda: all(netns.link_is_up(ns, ifn) for ns, ifn in ends),
        timeout=10,
        what="all lab links up",
    )
    for host in topo.hosts:
        netns.ip_batch(ns_name(lab, host.name), _host_routes(topo, host))
    if not state.routing:
        return
    plans = [
        (r, plan_router(topo, r, lambda i: link_local_of(lab, i), socket=_socket_path(state, r.name)))
        for r in topo.routers
    ]
    _apply_static([(r, p) for r, p in plans if p.mode == "static"], state, progress)
    started: list[tuple[ProcessRecord, subprocess.Popen[bytes]]] = []
    for router, plan in plans:
        if plan.mode == "bgp":
            cfg_path = _write_config(router, plan, state)
            started.append(_launch_daemon(router.name, cfg_path, state, progress))
        elif plan.mode == "none":
            progress(f"{router.name}: no routes to install")
    for rec, child in started:
        _wait_ready(rec, child)
    if started:
        progress("waiting for BGP sessions and routes")
        try:
            took = converge.wait_converged(state, topo, timeout=converge_timeout, progress=progress)
        except converge.ConvergeError as exc:
            raise LabError(str(exc)) from None
        progress(f"BGP converged in {took:.1f} s")


def _sysctls(node: Node) -> dict[str, str | int]:
    values: dict[str, str | int] = {
        "net.ipv6.conf.all.disable_ipv6": 0,
        "net.ipv6.conf.default.disable_ipv6": 0,
        "net.ipv6.conf.all.accept_dad": 0,
        "net.ipv6.conf.default.accept_dad": 0,
    }
    if node.is_router:
        values["net.ipv4.ip_forward"] = 1
        values["net.ipv6.conf.all.forwarding"] = 1
    values.update(node.sysctls)
    return values


def _address_commands(node: Node) -> list[str]:
    cmds: list[str] = []
    if node.loopback4 is not None:
        cmds.append(f"addr add {node.loopback4} dev lo")
    if node.loopback6 is not None:
        cmds.append(f"addr add {node.loopback6} dev lo")
    for iface in node.interfaces:
        dev = iface.ifname
        if iface.link_local is not None:
            # Only the fixed address: no second, MAC-derived link-local.
            cmds.append(f"link set dev {dev} addrgenmode none")
            cmds.append(f"addr add {iface.link_local}/64 dev {dev} nodad")
        if iface.ipv4 is not None:
            cmds.append(f"addr add {iface.ipv4} dev {dev}")
        if iface.ipv6 is not None:
            cmds.append(f"addr add {iface.ipv6} dev {dev} nodad")
        cmds.append(f"link set dev {dev} up")
    return cmds


def _host_routes(topo: Topology, host: Node) -> list[str]:
    iface = host.interfaces[0]
    gw = topo.interface(iface.peer, host.name)
    cmds: list[str] = []
    if gw.ipv4 is not None:
        cmds.append(f"route add default via {gw.ipv4.ip} dev {iface.ifname}")
    if gw.ipv6 is not None:
        cmds.append(f"-6 route add default via {gw.ipv6.ip} dev {iface.ifname}")
    return cmds


def link_local_of(lab: str, iface: Interface) -> IPv6Address:
    """The link-local address of ``iface``: fixed, or read from the live kernel."""
    if iface.link_local is not None:
        return iface.link_local
    ns = ns_name(lab, iface.node)
    found: list[IPv6Address] = []

    def probe() -> bool:
        proc = netns.run(
            ["ip", "-n", ns, "-j", "-6", "addr", "show", "dev", iface.ifname, "scope", "link"],
            check=False,
        )
        try:
            data = json.loads(proc.stdout or "[]")
        except ValueError:
            return False
        for entry in data:
            for info in entry.get("addr_info", []):
                if "tentative" not in info:
                    found.append(IPv6Address(info["local"]))
        return bool(found)

    wait_until(probe, timeout=10, what=f"link-local address on {iface.ifname} in {ns}")
    return found[0]


def _socket_path(state: LabState, node: str) -> str:
    return str(Path(state.state_dir) / f"{node}.sock")


def _write_config(router: Node, plan: RouterPlan, state: LabState) -> Path:
    """Write (or, for a BGP config given as a file, reuse) the router's config file."""
    cfg_path = Path(state.state_dir) / f"{router.name}.toml"
    if plan.mode == "bgp" and router.config_path is not None:
        cfg_path = router.config_path  # keep relative paths inside it working
    else:
        header = f"# v4via6 config for lab {state.name} router {router.name}"
        config = plan.config
        if plan.generated:
            what = "BGP config" if plan.mode == "bgp" else "static routes"
            header += f" ({what} generated by the lab)"
        elif plan.mode == "bgp" and "control" not in config:
            # so that `v4via6 reload -c FILE` finds this router's daemon
            config = {**config, "control": {"socket": _socket_path(state, router.name)}}
        cfg_path.write_text(header + "\n" + dumps(config), encoding="utf-8")
    state.configs[router.name] = str(cfg_path)
    state.save()
    return cfg_path


def _apply_static(
    plans: list[tuple[Node, RouterPlan]], state: LabState, progress: Progress
) -> None:
    """Run ``v4via6 apply FILE`` in every static router's namespace, all at once."""
    running: list[tuple[str, Path, subprocess.Popen[str]]] = []
    try:
        for router, plan in plans:
            cfg_path = _write_config(router, plan, state)
            progress(f"{router.name}: v4via6 apply {cfg_path}")
            cmd = ["ip", "netns", "exec", ns_name(state.name, router.name),
                   *v4via6_command(), "apply", str(cfg_path)]
            child = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True,
            )
            running.append((router.name, cfg_path, child))
        for name, cfg_path, child in running:
            try:
                out, err = child.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                raise LabError(f"{name}: v4via6 apply {cfg_path} took over 60 s") from None
            if child.returncode != 0:
                detail = (err.strip() or out.strip()).splitlines()
                raise LabError(
                    f"{name}: v4via6 apply {cfg_path} failed (exit {child.returncode}): "
                    + (detail[-1] if detail else "no output")
                )
    finally:
        for _, _, child in running:
            if child.poll() is None:
                child.kill()
                child.wait()


def _launch_daemon(
    node: str, cfg_path: Path, state: LabState, progress: Progress
) -> tuple[ProcessRecord, subprocess.Popen[bytes]]:
    """Start ``v4via6 run -c FILE --socket PATH`` in ``node``'s namespace, record its PID."""
    ns = ns_name(state.name, node)
    sock = _socket_path(state, node)
    log = str(Path(state.state_dir) / f"{node}.log")
    full = ["ip", "netns", "exec", ns, *v4via6_command(), "run", "-c", str(cfg_path),
            "--socket", sock]
    record = ProcessRecord(node=node, namespace=ns, cmd=full, socket=sock, log=log)
    state.processes.append(record)
    state.save()
    progress(f"{node}: v4via6 run -c {cfg_path} (log {log})")
    return record, _spawn(record, state)


def _spawn(record: ProcessRecord, state: LabState) -> subprocess.Popen[bytes]:
    """Run ``record.cmd`` in the background and save its PID in the state file."""
    assert record.log is not None
    if record.socket is not None:  # a socket file left by a killed daemon is not readiness
        with contextlib.suppress(FileNotFoundError):
            os.unlink(record.socket)
    with open(record.log, "ab") as fh:
        # ip netns exec execs the command, so this PID is the daemon's own.
        child = subprocess.Popen(
            record.cmd, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    record.pid = child.pid
    state.save()
    return child


def _wait_ready(record: ProcessRecord, child: subprocess.Popen[bytes]) -> None:
    """Wait until the daemon answers on its control socket; LabError if it exits first."""
    sock = record.socket
    assert sock is not None and record.log is not None
    log = record.log

    def ready() -> bool:
        if child.poll() is not None:
            tail = Path(log).read_text(encoding="utf-8", errors="replace").strip().splitlines()
            raise LabError(
                f"{record.node}: v4via6 run exited with {child.returncode}: "
                + (tail[-1] if tail else "no output")
            )
        return converge.daemon_ready(sock)

    try:
        wait_until(ready, timeout=DAEMON_START_TIMEOUT,
                   what=f"{record.node} daemon control socket {sock}")
    except NetnsError as exc:
        raise LabError(str(exc)) from None


def _record(state: LabState, node: str) -> ProcessRecord:
    for rec in state.processes:
        if rec.node == node:
            return rec
    raise LabError(f"lab {state.name}: {node} runs no daemon")


def stop_daemon(
    state: LabState, node: str, *, sig: signal.Signals = signal.SIGTERM,
    timeout: float = DAEMON_STOP_TIMEOUT,
) -> int | None:
    """Stop ``node``'s daemon by PID with ``sig`` (SIGKILL after ``timeout`` s if it stays).

    SIGTERM is a clean stop (the daemon sends a Cease NOTIFICATION to its peers
    and removes its routes); SIGKILL simulates a crash. Returns the PID stopped,
    or None when it was not running.
    """
    rec = _record(state, node)
    pid = rec.pid
    if pid is None or not _same_netns(pid, rec.namespace):
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    _wait_gone([pid], timeout)
    return pid


def start_daemon(state: LabState, node: str, *, progress: Progress = _quiet) -> int:
    """(Re)start ``node``'s recorded daemon with the same command; returns the new PID.

    Raises LabError when it is still running or does not come up.
    """
    rec = _record(state, node)
    if rec.pid is not None and _alive(rec.pid) and _same_netns(rec.pid, rec.namespace):
        raise LabError(f"{node}: daemon pid {rec.pid} is still running")
    progress(f"{node}: v4via6 run again (log {rec.log})")
    child = _spawn(rec, state)
    _wait_ready(rec, child)
    assert rec.pid is not None
    return rec.pid


# ---------------------------------------------------------------- down


@dataclass
class DownReport:
    """What ``down`` removed."""

    name: str
    namespaces: list[str] = field(default_factory=list)
    processes: list[int] = field(default_factory=list)


def down(name: str, *, root: Path | None = None, progress: Progress = _quiet) -> DownReport:
    """Remove lab ``name``: its recorded processes, namespaces, state dir and state file."""
    check_lab_name(name)
    state = load_state(name, root)
    with _no_interrupts():
        return _teardown(state, progress)


def _same_netns(pid: int, ns: str) -> bool:
    """True when process ``pid`` runs in namespace ``ns`` (guards against PID reuse)."""
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{ns}").st_ino
    except OSError:
        return False


def _wait_gone(pids: list[int], timeout: float) -> None:
    """Wait up to ``timeout`` s for ``pids`` to exit, then SIGKILL the rest and wait for them."""
    with contextlib.suppress(NetnsError):
        wait_until(lambda: not any(_alive(p) for p in pids), timeout=timeout,
                   what="processes to exit")
    stubborn = [p for p in pids if _alive(p)]
    for pid in stubborn:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(NetnsError):
        wait_until(lambda: not any(_alive(p) for p in stubborn), timeout=5,
                   what="killed processes to exit")


def _stop_processes(records: list[ProcessRecord]) -> list[int]:
    """SIGTERM every recorded process still in its namespace, all at once; the PIDs stopped."""
    pids: list[int] = []
    for rec in records:
        pid = rec.pid
        if pid is None or not _same_netns(pid, rec.namespace):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        pids.append(pid)
    _wait_gone(pids, DAEMON_STOP_TIMEOUT)
    return pids


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def _teardown(state: LabState, progress: Progress) -> DownReport:
    report = DownReport(state.name)
    prefix = ns_prefix(state.name)
    stopped = _stop_processes(state.processes)
    for rec in state.processes:
        if rec.pid is not None and rec.pid in stopped:
            progress(f"stopped {rec.node} pid {rec.pid}")
            report.processes.append(rec.pid)
    errors: list[str] = []
    for ns in reversed(state.namespaces):
        if not ns.startswith(prefix):
            errors.append(f"state lists {ns}, not a namespace of lab {state.name}; left alone")
            continue
        try:
            if netns.delete_namespace(ns):
                progress(f"deleted namespace {ns}")
                report.namespaces.append(ns)
        except NetnsError as exc:
            errors.append(str(exc))
    if errors:
        raise LabError(f"lab {state.name}: " + "; ".join(errors))
    sdir = Path(state.state_dir)
    if sdir.name == state.name and sdir.is_dir():
        shutil.rmtree(sdir, ignore_errors=True)
    for path in (state.path, state.path.with_suffix(".json.tmp")):  # a save cut short leaves the second
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return report


def reload_topology(state: LabState) -> Topology:
    """The topology a running lab was built from."""
    from v4via6.lab.topology import TopologyError, parse

    base = Path(state.base_dir) if state.base_dir else None
    try:
        topo = parse(state.topology_text, state.source, base_dir=base)
    except TopologyError as exc:
        raise StateError(f"lab {state.name}: stored topology no longer loads: {exc}") from None
    for mode in ROUTING_MODES:  # the mode it was brought up with (--static / --bgp)
        if state.routing_mode == mode:
            return topo.with_routing(mode)
    return topo
