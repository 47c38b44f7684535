"""Interop helpers: write BIRD 2, FRR and v4via6 configs and run those daemons in lab namespaces.

Every daemon runs in the foreground as a direct child (``ip netns exec`` execs
it), so its PID is ours: ``Processes`` records each one and stops it by PID
(SIGTERM, then SIGKILL after a deadline), never by name. Runtime files (control
sockets, pid files, vty sockets, logs) live in a per-test directory. Waiting is
always polling with a deadline (:func:`wait_for`), never a bare sleep.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from v4via6.lab.lifecycle import v4via6_command
from v4via6.lab.tomlwrite import dumps

BIRD = "/usr/sbin/bird"
BIRDC = "/usr/sbin/birdc"
ZEBRA = "/usr/lib/frr/zebra"
BGPD = "/usr/lib/frr/bgpd"
VTYSH = "/usr/bin/vtysh"

#: Kernel route protocol names as ``ip -j route`` prints them.
PROTO_V4VIA6 = "v4via6"
PROTO_BIRD = "bird"
PROTO_FRR = "bgp"


def need(*binaries: str) -> None:
    """Skip the calling test when a peer daemon is not installed (CI installs bird2 and frr)."""
    missing = [b for b in binaries if not os.access(b, os.X_OK)]
    if missing:
        pytest.skip(f"interop test needs {', '.join(missing)} (Debian packages bird2, frr)")


class InteropError(AssertionError):
    """A daemon did not start or a condition was not reached in time (test failure)."""


def wait_for(
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    *,
    detail: Callable[[], str] | None = None,
) -> float:
    """Poll ``predicate`` until true; return the seconds it took or raise InteropError."""
    start = time.monotonic()
    deadline = start + timeout
    delay = 0.05
    while True:
        if predicate():
            return time.monotonic() - start
        now = time.monotonic()
        if now >= deadline:
            extra = ""
            if detail is not None:
                try:
                    extra = "\n" + detail()
                except Exception as exc:  # diagnostics must not hide the timeout
                    extra = f"\n(no detail: {exc})"
            raise InteropError(f"timed out after {timeout:g}s waiting for {what}{extra}")
        time.sleep(min(delay, deadline - now))
        delay = min(delay * 1.5, 0.25)


# ---------------------------------------------------------------- processes


@dataclass
class RunningProcess:
    """A daemon we started in a namespace, known by PID."""

    name: str
    namespace: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        """Send ``sig`` to this PID (Popen never signals a reaped PID)."""
        if self.alive():
            self.popen.send_signal(sig)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM (and SIGCONT, in case a test froze it), wait up to ``timeout``, then SIGKILL."""
        self.signal(signal.SIGTERM)
        self.signal(signal.SIGCONT)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait(5.0)

    def kill(self) -> None:
        """SIGKILL and reap."""
        self.signal(signal.SIGKILL)
        self.popen.wait(5.0)

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return f"[{self.name}: no log]"
        tail = text.strip().splitlines()[-lines:]
        return f"[{self.name} log {self.log}]\n" + "\n".join(tail)


@contextlib.contextmanager
def processes() -> Iterator[Processes]:
    """A fresh run directory (``/tmp/v4v6-io-*``, traversable by the frr user) and its daemons.

    On exit every daemon started through it is stopped by PID and the directory removed.
    """
    rundir = Path(tempfile.mkdtemp(prefix="v4v6-io-"))
    os.chmod(rundir, 0o711)
    procs = Processes(rundir)
    try:
        yield procs
    finally:
        try:
            procs.stop_all()
        finally:
            shutil.rmtree(rundir, ignore_errors=True)


@dataclass
class Processes:
    """Every daemon a test started; ``stop_all`` stops them newest first."""

    rundir: Path
    started: list[RunningProcess] = field(default_factory=list)

    def start(self, name: str, namespace: str, cmd: Sequence[str]) -> RunningProcess:
        log = self.rundir / f"{name}.log"
        full = ["ip", "netns", "exec", namespace, *cmd]
        with open(log, "ab") as fh:
            popen = subprocess.Popen(
                full, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = RunningProcess(name, namespace, popen, log)
        self.started.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(p.log_tail() for p in self.started)

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            proc.stop()
        self.started.clear()


# ---------------------------------------------------------------- kernel routes


@dataclass(frozen=True)
class KernelHop:
    """One next hop of a kernel IPv4 route: ``via inet6 GATEWAY dev DEV``."""

    family: str
    gateway: str
    dev: str


def _hop(entry: dict[str, Any]) -> KernelHop | None:
    via = entry.get("via")
    if isinstance(via, dict):
        return KernelHop(str(via.get("family", "")), str(via.get("host", "")), str(entry.get("dev", "")))
    gateway = entry.get("gateway")
    if gateway is not None:
        return KernelHop("inet", str(gateway), str(entry.get("dev", "")))
    return None


def routes4(namespace: str) -> list[dict[str, Any]]:
    """``ip -j -4 route show`` in ``namespace``, parsed."""
    proc = subprocess.run(
        ["ip", "-n", namespace, "-j", "-4", "route", "show"],
        capture_output=True, text=True, check=True, timeout=10,
    )
    data = json.loads(proc.stdout or "[]")
    return data if isinstance(data, list) else []


def route4(namespace: str, prefix: str) -> dict[str, Any] | None:
    """The main-table route for ``prefix`` (``"203.0.113.2/32"`` or ``"192.0.2.0/24"``)."""
    want = prefix[:-3] if prefix.endswith("/32") else prefix
    for entry in routes4(namespace):
        if entry.get("dst") in (prefix, want):
            return entry
    return None


def hops(route: dict[str, Any]) -> list[KernelHop]:
    """The next hops of a parsed route (one, or each of a multipath route)."""
    multi = route.get("nexthops")
    if isinstance(multi, list):
        return [h for h in (_hop(x) for x in multi) if h is not None]
    one = _hop(route)
    return [one] if one is not None else []


def installed_via_inet6(namespace: str, prefix: str, proto: str, dev: str | None = None) -> bool:
    """True when ``prefix`` is in the kernel by ``proto`` with an IPv6 link-local gateway."""
    route = route4(namespace, prefix)
    if route is None or str(route.get("protocol")) != proto:
        return False
    found = hops(route)
    return bool(found) and all(
        h.family == "inet6" and h.gateway.startswith("fe80:") and (dev is None or h.dev == dev)
        for h in found
    )


def route_text(namespace: str) -> str:
    proc = subprocess.run(["ip", "-n", namespace, "-4", "route", "show"],
                          capture_output=True, text=True, check=False, timeout=10)
    return f"[ip -4 route in {namespace}]\n{proc.stdout.strip()}"


# ---------------------------------------------------------------- v4via6


def v4via6_config(
    *,
    asn: int,
    router_id: str,
    peers: Iterable[dict[str, Any]],
    socket: Path,
    redistribute: Sequence[str] = ("connected",),
    networks: Sequence[str] = (),
) -> str:
    """A v4via6 TOML config with a ``[bgp]`` section and a control socket."""
    bgp: dict[str, Any] = {"asn": asn, "router_id": router_id, "redistribute": list(redistribute)}
    if networks:
        bgp["networks"] = list(networks)
    bgp["peer"] = [dict(p) for p in peers]
    return dumps({"bgp": bgp, "control": {"socket": str(socket)}})


@dataclass
class V4via6Router:
    """A running ``v4via6 run`` with its control socket."""

    proc: RunningProcess
    socket: Path
    config: Path

    def show(self, *args: str) -> Any:
        """``v4via6 show ARGS --socket S --json``, parsed."""
        proc = subprocess.run(
            [*v4via6_command(), "show", *args, "--socket", str(self.socket), "--json"],
            capture_output=True, text=True, check=False, timeout=20,
        )
        if proc.returncode != 0:
            raise InteropError(f"v4via6 show {' '.join(args)} failed: {proc.stderr.strip()}")
        return json.loads(proc.stdout)

    def peers(self) -> list[dict[str, Any]]:
        data = self.show("peers")
        peers = data.get("peers", data) if isinstance(data, dict) else data
        return list(peers)

    def peer(self, name: str) -> dict[str, Any]:
        for p in self.peers():
            if p.get("name") == name:
                return p
        raise InteropError(f"v4via6 has no peer {name!r}")

    def established(self, name: str) -> bool:
        try:
            return self.peer(name).get("state") == "Established"
        except (InteropError, ValueError):
            return False


def start_v4via6(procs: Processes, name: str, namespace: str, config_text: str,
                 socket: Path) -> V4via6Router:
    """Write ``config_text`` and run ``v4via6 run -c FILE --socket S`` in ``namespace``."""
    cfg = procs.rundir / f"{name}.toml"
    cfg.write_text(config_text, encoding="utf-8")
    proc = procs.start(name, namespace, [*v4via6_command(), "run", "-c", str(cfg), "--socket", str(socket)])

    def ready() -> bool:
        if not proc.alive():
            raise InteropError(f"{name}: v4via6 run exited with {proc.popen.returncode}\n{proc.log_tail()}")
        return socket.exists()

    wait_for(ready, 15, f"{name} control socket {socket}", detail=proc.log_tail)
    return V4via6Router(proc, socket, cfg)


# ---------------------------------------------------------------- BIRD 2


@dataclass(frozen=True)
class BirdNeighbor:
    """One ``protocol bgp`` of a BIRD config, over a link-local address."""

    name: str
    address: str
    ifname: str
    remote_as: int
    hold_time: int = 90


def bird_config(
    *,
    router_id: str,
    asn: int,
    neighbors: Sequence[BirdNeighbor],
    direct: Sequence[str],
    radv: Sequence[str] = (),
    merge_paths: bool = False,
) -> str:
    """A BIRD 2 config: eBGP link-local peers with extended next hop, kernel sync, direct routes."""
    names = ", ".join(f'"{d}"' for d in direct)
    merge = " merge paths on;" if merge_paths else ""
    parts = [
        f"router id {router_id};",
        "log stderr all;",
        "protocol device { scan time 2; }",
        f"protocol direct {{ ipv4; interface {names}; }}",
        f"protocol kernel kernel4 {{ ipv4 {{ import none; export where source = RTS_BGP; }};{merge} }}",
    ]
    if radv:
        ifs = "\n".join(
            f'  interface "{i}" {{ min ra interval 3; max ra interval 4; default lifetime 0; }};'
            for i in radv
        )
        parts.append(f"protocol radv {{\n{ifs}\n}}")
    for n in neighbors:
        parts.append(
            f"protocol bgp {n.name} {{\n"
            f"  local as {asn};\n"
            f"  neighbor {n.address} % '{n.ifname}' as {n.remote_as};\n"
            f"  hold time {n.hold_time};\n"
            f"  connect retry time 2;\n"
            f"  error wait time 1, 5;\n"
            f"  ipv4 {{ extended next hop on; import all; export all; }};\n"
            f"}}"
        )
    return "\n".join(parts) + "\n"


@dataclass
class BirdRouter:
    """A running BIRD with its control socket."""

    proc: RunningProcess
    ctl: Path

    def birdc(self, *args: str) -> str:
        proc = subprocess.run([BIRDC, "-s", str(self.ctl), *args],
                              capture_output=True, text=True, check=False, timeout=10)
        return proc.stdout

    def protocol_info(self, proto: str) -> str:
        """The ``show protocols`` line of ``proto`` (empty if absent)."""
        for line in self.birdc("show", "protocols").splitlines():
            fields = line.split()
            if fields and fields[0] == proto:
                return line
        return ""

    def established(self, proto: str) -> bool:
        return "Established" in self.protocol_info(proto)


def start_bird(procs: Processes, name: str, namespace: str, config_text: str) -> BirdRouter:
    """Run ``bird -f -c CONF -s CTL`` in ``namespace`` and wait for its control socket."""
    conf = procs.rundir / f"{name}.conf"
    conf.write_text(config_text, encoding="utf-8")
    ctl = procs.rundir / f"{name}.ctl"
    proc = procs.start(name, namespace, [BIRD, "-f", "-c", str(conf), "-s", str(ctl),
                                         "-P", str(procs.rundir / f"{name}.pid")])
    router = BirdRouter(proc, ctl)

    def ready() -> bool:
        if not proc.alive():
            raise InteropError(f"{name}: bird exited with {proc.popen.returncode}\n{proc.log_tail()}")
        return ctl.exists() and "BIRD" in router.birdc("show", "status")

    wait_for(ready, 15, f"{name} BIRD control socket", detail=proc.log_tail)
    return router


# ---------------------------------------------------------------- FRR


def frr_zebra_config(hostname: str, ra_interfaces: Sequence[str]) -> str:
    """zebra: router advertisements on the unnumbered interfaces (FRR learns peers from RAs)."""
    lines = [f"hostname {hostname}", "log stdout informational", "!"]
    for ifname in ra_interfaces:
        lines += [f"interface {ifname}", " ipv6 nd ra-interval 3", " no ipv6 nd suppress-ra", "exit", "!"]
    return "\n".join(lines) + "\n"


def frr_bgpd_config(
    hostname: str,
    *,
    asn: int,
    router_id: str,
    interfaces: Sequence[str],
    hold_time: int = 90,
) -> str:
    """bgpd: ``neighbor IF interface remote-as external`` per interface, connected routes out."""
    keepalive = max(1, hold_time // 3)
    lines = [
        f"hostname {hostname}",
        "log stdout informational",
        "!",
        f"router bgp {asn}",
        f" bgp router-id {router_id}",
        " no bgp ebgp-requires-policy",
        f" timers bgp {keepalive} {hold_time}",
    ]
    for ifname in interfaces:
        lines.append(f" neighbor {ifname} interface remote-as external")
        lines.append(f" neighbor {ifname} timers connect 2")
    lines += [
        " !",
        " address-family ipv4 unicast",
        "  redistribute connected",
        " exit-address-family",
        "exit",
    ]
    return "\n".join(lines) + "\n"


@dataclass
class FrrRouter:
    """Running zebra + bgpd with their vty socket directory."""

    zebra: RunningProcess
    bgpd: RunningProcess
    vty_dir: Path

    def vtysh(self, command: str) -> str:
        proc = subprocess.run([VTYSH, "--vty_socket", str(self.vty_dir), "-c", command],
                              capture_output=True, text=True, check=False, timeout=15)
        return proc.stdout

    def vtysh_config(self, lines: Sequence[str]) -> str:
        """Run ``configure terminal`` then ``lines`` in one vtysh call."""
        args = [VTYSH, "--vty_socket", str(self.vty_dir), "-c", "configure terminal"]
        for line in lines:
            args += ["-c", line]
        proc = subprocess.run(args, capture_output=True, text=True, check=False, timeout=15)
        if proc.returncode != 0:
            raise InteropError(f"vtysh {lines} failed: {proc.stdout.strip()} {proc.stderr.strip()}")
        return proc.stdout

    def summary(self) -> dict[str, Any]:
        """``show bgp ipv4 unicast summary json`` parsed ({} while bgpd is not ready)."""
        try:
            data = json.loads(self.vtysh("show bgp ipv4 unicast summary json") or "{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def peer_state(self, ifname: str) -> str:
        peer = self.summary().get("peers", {}).get(ifname, {})
        return str(peer.get("state", ""))

    def established(self, ifname: str) -> bool:
        return self.peer_state(ifname) == "Established"

    def logs(self) -> str:
        return self.zebra.log_tail() + "\n" + self.bgpd.log_tail()


def start_frr(procs: Processes, name: str, namespace: str, zebra_conf: str, bgpd_conf: str) -> FrrRouter:
    """Run zebra and bgpd (as user frr) in ``namespace``; files in a frr-owned directory."""
    rundir = procs.rundir / name
    rundir.mkdir(mode=0o770, exist_ok=True)
    shutil.chown(rundir, "frr", "frr")
    zconf, bconf = rundir / "zebra.conf", rundir / "bgpd.conf"
    zconf.write_text(zebra_conf, encoding="utf-8")
    bconf.write_text(bgpd_conf, encoding="utf-8")
    for path in (zconf, bconf):
        shutil.chown(path, "frr", "frr")
    zserv = rundir / "zserv.api"
    common = ["-z", str(zserv), "--vty_socket", str(rundir), "-u", "frr", "-g", "frr", "-P", "0"]
    zebra = procs.start(f"{name}-zebra", namespace,
                        [ZEBRA, "-f", str(zconf), "-i", str(rundir / "zebra.pid"), *common])
    wait_for(lambda: zserv.exists() or not zebra.alive(), 15, f"{name} zebra socket", detail=zebra.log_tail)
    if not zebra.alive():
        raise InteropError(f"{name}: zebra exited\n{zebra.log_tail()}")
    bgpd = procs.start(f"{name}-bgpd", namespace,
                       [BGPD, "-f", str(bconf), "-i", str(rundir / "bgpd.pid"), *common])
    router = FrrRouter(zebra, bgpd, rundir)

    def ready() -> bool:
        if not bgpd.alive():
            raise InteropError(f"{name}: bgpd exited\n{bgpd.log_tail()}")
        return "peers" in router.summary()

    wait_for(ready, 20, f"{name} bgpd vty", detail=router.logs)
    return router


def routes_both_ways(r1: str, r2: str, peer_proto: str) -> bool:
    """r1 (v4via6) and r2 (the peer daemon, ``peer_proto``) hold each other's prefixes via inet6.

    The two-router topology (tests/data/two-routers.toml): r1 serves 192.0.2.0/24 and
    203.0.113.1/32, r2 serves 198.51.100.0/24 and 203.0.113.2/32; the core link is to-r1/to-r2.
    """
    return (
        installed_via_inet6(r1, "198.51.100.0/24", PROTO_V4VIA6, "to-r2")
        and installed_via_inet6(r1, "203.0.113.2/32", PROTO_V4VIA6, "to-r2")
        and installed_via_inet6(r2, "192.0.2.0/24", peer_proto, "to-r1")
        and installed_via_inet6(r2, "203.0.113.1/32", peer_proto, "to-r1")
    )
