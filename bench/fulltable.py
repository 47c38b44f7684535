"""Full-table benchmark: N IPv4 prefixes from a BIRD 2 sender into v4via6, BIRD 2 and FRR (root).

Two namespaces ``v4v6-ft-s`` (sender) and ``v4v6-ft-r`` (receiver) joined by
one veth that carries only the link-local addresses fe80::1 / fe80::2. The
sender is BIRD 2 (``extended next hop on``) originating a synthetic table
(bench/table.py). Each receiver in turn (started fresh for every run) learns
the table and installs it in the receiver namespace's kernel FIB:

* ``v4via6``  ``v4via6 run`` (netlink, nexthop objects);
* ``bird``    BIRD 2 with a kernel protocol exporting to the kernel;
* ``frr``     FRR bgpd + zebra.

Per receiver and run it measures: seconds from session Established to all N
routes in the kernel (``load``), CPU seconds (user + system) and peak RSS
(VmHWM) of the receiving daemon(s), seconds from the sender's session going
down to the kernel holding none of the routes (``down-notify``: ``birdc
disable``, a NOTIFICATION; ``down-freeze``: the sender is frozen with SIGSTOP
and the receiver's hold timer (9 s) must fire; ``after-detect`` excludes the
hold time: from the first route leaving to the last), and v4via6's UPDATE
decode rate (prefixes / time inside the codec). The kernel route count is read
from ``/proc/PID/net/fib_triestat`` of a process in the receiver namespace
(the kernel walks its trie in C: milliseconds even at 1M routes).

Usage: ``python3 bench/fulltable.py`` (1,000,000 prefixes, every mode and
receiver, 3 runs), ``--quick`` (100,000 prefixes, 1 run), ``--n``, ``--runs``,
``--modes packed,unique,realistic``, ``--receivers v4via6,bird,frr``,
``--json FILE`` (raw samples). Everything it starts is stopped by PID and
both namespaces are deleted at the end, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "lab"))

from interop_peers import (  # noqa: E402
    BGPD,
    BIRD,
    BIRDC,
    VTYSH,
    ZEBRA,
    InteropError,
    Processes,
    RunningProcess,
    processes,
    start_v4via6,
    v4via6_config,
    wait_for,
)

import table  # noqa: E402
from v4via6.lab import netns  # noqa: E402

NS_S, NS_R = "v4v6-ft-s", "v4v6-ft-r"
IF_S, IF_R = "ft-r", "ft-s"  # sender's interface faces the receiver and vice versa
LL_S, LL_R = "fe80::1", "fe80::2"
AS_S, AS_R = 65001, 65002
HOLD = 9
RECEIVERS = ("v4via6", "bird", "frr")
#: kernel rtm_protocol names to flush if a receiver left routes behind
LEFTOVER_PROTOS = ("v4via6", "bird", "bgp")


class BenchError(Exception):
    """A step of the benchmark failed (one line)."""


# ---------------------------------------------------------------- kernel route count


def fib_prefixes(pid: int) -> int:
    """IPv4 prefixes in the main FIB trie of the namespace ``pid`` lives in."""
    text = Path(f"/proc/{pid}/net/fib_triestat").read_text()
    main = text.split("Main:", 1)[1]
    found = re.search(r"Prefixes:\s+(\d+)", main)
    if found is None:
        raise BenchError("no 'Prefixes:' in fib_triestat")
    return int(found.group(1))


class FibProbe:
    """Cheap presence test of sample /24 routes in the receiver namespace (RTM_GETROUTE, fib match).

    A /24 is the most specific length in the table, so a lookup of its network
    address that matches a /24 FIB entry means that very route is installed.
    Looking up 1,000 samples costs milliseconds, where a full count
    (``fib_triestat``) costs about 0.3 s of kernel time at 1M routes: the
    harness polls the samples and confirms with one full count.
    """

    CHUNK = 100

    def __init__(self, ns: str, prefixes: Sequence[tuple[int, int]], samples: int = 1000) -> None:
        slash24 = [addr for addr, plen in prefixes if plen == 24]
        step = max(1, len(slash24) // samples)
        self.samples = slash24[::step][:samples]
        with _in_netns(ns):
            self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.sock.settimeout(10)
        self._buf = bytearray(1 << 20)
        self._requests = [
            b"".join(_GETROUTE.pack(36, 26, 1, seq, 0, 2, 32, 0, 0, 0, 0, 0, 0, 0x2000, 8, 1, addr.to_bytes(4, "big"))
                     for seq, addr in enumerate(self.samples[i:i + self.CHUNK], start=i + 1))
            for i in range(0, len(self.samples), self.CHUNK)
        ]

    def present(self) -> int:
        """How many samples are installed now."""
        found = 0
        for chunk in self._requests:
            self.sock.send(chunk)
            want = len(chunk) // 36
            while want:
                size = self.sock.recv_into(self._buf)
                pos = 0
                while pos + 16 <= size and want:
                    length, mtype = _NLHDR.unpack_from(self._buf, pos)
                    if mtype == 24 and self._buf[pos + 17] == 24:  # RTM_NEWROUTE, rtm_dst_len
                        found += 1
                    want -= 1
                    pos += (length + 3) & ~3
        return found

    def close(self) -> None:
        self.sock.close()


_GETROUTE = struct.Struct("=IHHIIBBBBBBBBIHH4s")
_NLHDR = struct.Struct("=IH")


@contextlib.contextmanager
def _in_netns(name: str) -> Iterator[None]:
    """The body runs with this thread inside namespace ``name`` (sockets made there stay there)."""
    libc = ctypes.CDLL(None, use_errno=True)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        if libc.setns(target, 0x40000000) != 0:
            raise BenchError(f"cannot enter namespace {name}: {os.strerror(ctypes.get_errno())}")
        try:
            yield
        finally:
            libc.setns(home, 0x40000000)
    finally:
        os.close(target)
        os.close(home)


class Counter:
    """Waits for the receiver's FIB to hold all routes or none of them, cheaply."""

    def __init__(self, probe: FibProbe, holder: int) -> None:
        self.probe = probe
        self.holder = holder
        self.first_change: float | None = None

    def wait(self, full: bool, target: int, timeout: float, what: str) -> float:
        """Monotonic time at which the FIB held ``target`` prefixes (>= if full, <= if not)."""
        total = len(self.probe.samples)
        self.first_change = None
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            present = self.probe.present()
            if self.first_change is None and present != (0 if full else total):
                self.first_change = now
            if present == (total if full else 0):
                count = fib_prefixes(self.holder)
                if (count >= target) if full else (count <= target):
                    return now
                # a few routes still missing: fall back to full counts
                while True:
                    count = fib_prefixes(self.holder)
                    t = time.monotonic()
                    if (count >= target) if full else (count <= target):
                        return t
                    if t > deadline:
                        raise BenchError(f"timed out after {timeout:g} s waiting for {what} ({count} prefixes)")
                    time.sleep(0.05)
            if now > deadline:
                raise BenchError(f"timed out after {timeout:g} s waiting for {what} "
                                 f"({present}/{total} samples)")
            time.sleep(0.02)


def poll(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> float:
    """Poll ``predicate`` every ``interval`` s; return when it held (monotonic time) or raise."""
    deadline = time.monotonic() + timeout
    while True:
        now = time.monotonic()
        if predicate():
            return now
        if now > deadline:
            raise BenchError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------- process figures


def cpu_seconds(pids: Sequence[int]) -> float:
    """utime + stime of ``pids`` in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def peak_rss_mb(pids: Sequence[int]) -> float:
    """Sum of VmHWM of ``pids`` in MB."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


# ---------------------------------------------------------------- topology


@contextlib.contextmanager
def topology(procs: Processes) -> Iterator[tuple[int, int]]:
    """Both namespaces, the veth with fe80::1/fe80::2 only; yields (sender, receiver) holder PIDs."""
    for ns in (NS_S, NS_R):
        if netns.namespace_exists(ns):
            raise BenchError(f"namespace {ns} already exists (another run?); delete it with: ip netns del {ns}")
    try:
        netns.create_namespace(NS_S)
        netns.create_namespace(NS_R)
        netns.create_veth(NS_S, IF_S, NS_R, IF_R)
        for ns, ifname, addr in ((NS_S, IF_S, LL_S), (NS_R, IF_R, LL_R)):
            netns.set_sysctls(ns, {"net.ipv6.conf.all.forwarding": 1, "net.ipv4.ip_forward": 1,
                                   f"net.ipv6.conf.{ifname}.addr_gen_mode": 1})
            netns.run(["ip", "-n", ns, "addr", "add", f"{addr}/64", "dev", ifname, "nodad"])
            netns.run(["ip", "-n", ns, "link", "set", ifname, "up"])
        netns.wait_until(lambda: netns.link_is_up(NS_S, IF_S) and netns.link_is_up(NS_R, IF_R),
                         timeout=10, what="veth up")
        holders = [procs.start(f"holder-{ns}", ns, ["sleep", "infinity"]).pid for ns in (NS_S, NS_R)]
        yield holders[0], holders[1]
    finally:
        procs.stop_all()
        for ns in (NS_R, NS_S):
            netns.delete_namespace(ns)


# ---------------------------------------------------------------- sender


def sender_config(table_file: Path) -> str:
    return f"""router id 203.0.113.1;
log stderr {{ warning, error, fatal }};
protocol device {{ scan time 10; }}
include "{table_file}";
protocol radv {{
  interface "{IF_S}" {{ min ra interval 3; max ra interval 4; default lifetime 0; }};
}}
protocol bgp feed {{
  local as {AS_S};
  neighbor {LL_R} % '{IF_S}' as {AS_R};
  hold time {HOLD};
  connect retry time 1;
  connect delay time 1;
  error wait time 1, 2;
  disabled;
  ipv4 {{ extended next hop on; import none; export all; }};
}}
"""


class Birdc:
    """``birdc`` against one control socket."""

    def __init__(self, ctl: Path) -> None:
        self.ctl = ctl

    def __call__(self, *args: str) -> str:
        proc = subprocess.run([BIRDC, "-s", str(self.ctl), *args],
                              capture_output=True, text=True, check=False, timeout=30)
        return proc.stdout

    def proto_line(self, name: str) -> str:
        for line in self("show", "protocols", name).splitlines():
            if line.split()[:1] == [name]:
                return line
        return ""

    def established(self, name: str) -> bool:
        return "Established" in self.proto_line(name)


def same_session(now: str, before: str) -> bool:
    """Whether two ``birdc show protocols`` lines show one unbroken Established session.

    BIRD moves the "since" time by a millisecond or so when the channel finishes
    starting, so a drop is a state other than Established or a since-time that
    moved by more than 0.5 s (a new session)."""
    if "Established" not in now:
        return False

    def since(line: str) -> float | None:
        for word in line.split():
            parts = word.split(":")
            if len(parts) == 3:
                try:
                    return int(parts[0]) * 3600 + int(parts[1]) * 60 + float(parts[2])
                except ValueError:
                    continue
        return None

    a, b = since(now), since(before)
    return a is None or b is None or abs(a - b) <= 0.5


def start_bird(procs: Processes, name: str, ns: str, text: str, timeout: float = 120) -> tuple[RunningProcess, Birdc]:
    conf = procs.rundir / f"{name}.conf"
    conf.write_text(text, encoding="utf-8")
    ctl = procs.rundir / f"{name}.ctl"
    proc = procs.start(name, ns, [BIRD, "-f", "-c", str(conf), "-s", str(ctl), "-P", str(procs.rundir / f"{name}.pid")])
    birdc = Birdc(ctl)

    def ready() -> bool:
        if not proc.alive():
            raise BenchError(f"{name}: bird exited\n{proc.log_tail()}")
        return ctl.exists() and "BIRD" in birdc("show", "status")

    wait_for(ready, timeout, f"{name} BIRD control socket", detail=proc.log_tail)
    return proc, birdc


def sender_holds(birdc: Birdc, n: int) -> bool:
    return sender_routes(birdc) >= n


def sender_routes(birdc: Birdc) -> int:
    found = re.search(r"(\d+) of \d+ routes", birdc("show", "route", "count"))
    return int(found.group(1)) if found else 0


# ---------------------------------------------------------------- receivers


@dataclass
class Receiver:
    """A running receiver: its PIDs and how to stop it."""

    name: str
    procs: list[RunningProcess]
    extra: Any = None

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def alive(self) -> bool:
        return all(p.alive() for p in self.procs)

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.stop(timeout=60)


def start_receiver(kind: str, procs: Processes, run_id: str) -> Receiver:
    if kind == "v4via6":
        socket = procs.rundir / f"v4via6-{run_id}.sock"
        cfg = v4via6_config(asn=AS_R, router_id="203.0.113.2", redistribute=(), socket=socket,
                            peers=[{"address": f"{LL_S}%{IF_R}", "remote_as": AS_S, "hold_time": HOLD,
                                    "families": ["ipv4"], "import": "all", "export": "none",
                                    "connect_retry": 1.0}])
        router = start_v4via6(procs, f"v4via6-{run_id}", NS_R, cfg, socket)
        return Receiver(kind, [router.proc], router)
    if kind == "bird":
        text = f"""router id 203.0.113.2;
log stderr {{ warning, error, fatal }};
protocol device {{ scan time 10; }}
protocol kernel kernel4 {{ ipv4 {{ import none; export all; }}; }}
protocol bgp feed {{
  local as {AS_R};
  neighbor {LL_S} % '{IF_R}' as {AS_S};
  hold time {HOLD};
  connect retry time 1;
  error wait time 1, 2;
  ipv4 {{ extended next hop on; import all; export none; }};
}}
"""
        proc, birdc = start_bird(procs, f"bird-{run_id}", NS_R, text)
        return Receiver(kind, [proc], birdc)
    if kind == "frr":
        return start_frr(procs, run_id)
    raise BenchError(f"unknown receiver {kind!r}; expected one of {', '.join(RECEIVERS)}")


def start_frr(procs: Processes, run_id: str) -> Receiver:
    """zebra + bgpd as user frr; bgpd peers by interface (learns fe80::1 from BIRD's RAs)."""
    rundir = procs.rundir / f"frr-{run_id}"
    rundir.mkdir(mode=0o770)
    shutil.chown(rundir, "frr", "frr")
    zconf, bconf = rundir / "zebra.conf", rundir / "bgpd.conf"
    zconf.write_text(f"hostname r\nlog stdout warnings\n!\ninterface {IF_R}\n ipv6 nd ra-interval 3\n"
                     " no ipv6 nd suppress-ra\nexit\n!\n", encoding="utf-8")
    bconf.write_text(
        f"hostname r\nlog stdout warnings\n!\nroute-map NOTHING deny 10\n!\nrouter bgp {AS_R}\n"
        " bgp router-id 203.0.113.2\n no bgp ebgp-requires-policy\n no bgp network import-check\n"
        f" timers bgp 3 {HOLD}\n neighbor {IF_R} interface remote-as {AS_S}\n"
        f" neighbor {IF_R} timers connect 1\n !\n address-family ipv4 unicast\n"
        f"  neighbor {IF_R} route-map NOTHING out\n exit-address-family\nexit\n",
        encoding="utf-8")
    for path in (zconf, bconf):
        shutil.chown(path, "frr", "frr")
    zserv = rundir / "zserv.api"
    common = ["-z", str(zserv), "--vty_socket", str(rundir), "-u", "frr", "-g", "frr", "-P", "0"]
    zebra = procs.start(f"zebra-{run_id}", NS_R,
                        [ZEBRA, "-f", str(zconf), "-i", str(rundir / "zebra.pid"), "-s", str(64 << 20), *common])
    wait_for(lambda: zserv.exists() or not zebra.alive(), 20, "zebra socket", detail=zebra.log_tail)
    if not zebra.alive():
        raise BenchError(f"zebra exited\n{zebra.log_tail()}")
    bgpd = procs.start(f"bgpd-{run_id}", NS_R, [BGPD, "-f", str(bconf), "-i", str(rundir / "bgpd.pid"), *common])

    def ready() -> bool:
        if not bgpd.alive():
            raise BenchError(f"bgpd exited\n{bgpd.log_tail()}")
        out = subprocess.run([VTYSH, "--vty_socket", str(rundir), "-c", "show bgp ipv4 unicast summary json"],
                             capture_output=True, text=True, check=False, timeout=15).stdout
        return '"peers"' in out

    wait_for(ready, 30, "bgpd vty", detail=bgpd.log_tail)
    return Receiver("frr", [zebra, bgpd], rundir)


def v4via6_counters(rx: Receiver) -> dict[str, Any]:
    """The session counters from ``v4via6 show peers --json`` (retried while the daemon is busy)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            peers = rx.extra.peers()
            return dict(peers[0].get("counters", {})) if peers else {}
        except InteropError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def flush_leftovers(rx_holder: int, baseline: int) -> None:
    """Remove routes a stopped receiver left in the kernel (so the next run starts from baseline)."""
    if fib_prefixes(rx_holder) <= baseline:
        return
    for proto in LEFTOVER_PROTOS:
        subprocess.run(["ip", "-n", NS_R, "-4", "route", "flush", "proto", proto],
                       capture_output=True, check=False, timeout=120)


# ---------------------------------------------------------------- one run


@dataclass
class Sample:
    """Figures of one receiver run."""

    receiver: str
    mode: str
    n: int
    load_s: float
    cpu_s: float
    rss_mb: float
    down_notify_s: float
    down_freeze_s: float
    after_detect_s: float
    session_drops: int
    decode_rate: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def one_run(kind: str, mode: str, n: int, run_id: str, procs: Processes, sender: tuple[RunningProcess, Birdc],
            fib: Counter, log: Callable[[str], None]) -> Sample:
    bird_s, birdc = sender
    baseline = fib_prefixes(fib.holder)
    full = baseline + n
    timeout = 120 + n / 1000  # generous: FRR at 1M takes tens of seconds
    rx = start_receiver(kind, procs, run_id)
    try:
        cpu0 = cpu_seconds(rx.pids)
        birdc("enable", "feed")
        t_up = poll(lambda: birdc.established("feed"), 60, "sender session Established", interval=0.01)
        up_line = birdc.proto_line("feed")
        t_full = fib.wait(True, full, timeout, f"{n} routes in the {kind} kernel FIB")
        load = t_full - t_up
        cpu = cpu_seconds(rx.pids) - cpu0
        rss = peak_rss_mb(rx.pids)
        drops = 0 if same_session(birdc.proto_line("feed"), up_line) else 1
        decode_rate = None
        if kind == "v4via6":
            counters = v4via6_counters(rx)
            ns = int(counters.get("update_decode_ns", 0))
            decode_rate = n / (ns / 1e9) if ns else None
            drops += max(0, int(counters.get("established", 1)) - 1)
        log(f"  {kind} {mode} run {run_id}: load {load:.2f} s cpu {cpu:.1f} s rss {rss:.0f} MB drops {drops}")
        if drops:
            log(f"    sender: {birdc.proto_line('feed')} (was: {up_line})")
            for proc in rx.procs:
                log("    " + proc.log_tail(8).replace("\n", "\n    "))
        # session down with a NOTIFICATION
        t0 = time.monotonic()
        birdc("disable", "feed")
        down_notify = fib.wait(False, baseline, timeout, "routes gone (NOTIFICATION)") - t0
        # back up (not timed), then freeze the sender: the receiver's hold timer must fire
        birdc("enable", "feed")
        fib.wait(True, full, timeout, f"{n} routes again")
        bird_s.signal(signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            t_gone = fib.wait(False, baseline, timeout + HOLD, "routes gone (hold timer)")
        finally:
            bird_s.signal(signal.SIGCONT)
        down_freeze = t_gone - t0
        after = t_gone - (fib.first_change or t_gone)
        log(f"  {kind} {mode} run {run_id}: down notify {down_notify:.2f} s, freeze {down_freeze:.2f} s "
            f"({after:.2f} s after detection)")
        birdc("disable", "feed")
        if not rx.alive():
            raise BenchError(f"{kind} died during the run\n" + "\n".join(p.log_tail() for p in rx.procs))
        return Sample(kind, mode, n, load, cpu, rss, down_notify, down_freeze, after, drops, decode_rate)
    finally:
        rx.stop()
        birdc("disable", "feed")
        flush_leftovers(fib.holder, baseline)


# ---------------------------------------------------------------- report

METRICS = (
    ("load_s", "load (s)"),
    ("cpu_s", "CPU (s)"),
    ("rss_mb", "peak RSS (MB)"),
    ("down_notify_s", "down, NOTIFICATION (s)"),
    ("down_freeze_s", "down, frozen sender (s)"),
    ("after_detect_s", "down, after hold expiry (s)"),
)


def summarize(samples: Sequence[Sample]) -> str:
    """A Markdown table: median (min-max) per receiver, mode and metric, ratio to BIRD."""
    lines = ["| mode | receiver | " + " | ".join(title for _, title in METRICS) + " | decode (prefixes/s) | drops |",
             "|---" * (len(METRICS) + 4) + "|"]
    modes = list(dict.fromkeys(s.mode for s in samples))
    for mode in modes:
        per = {r: [s for s in samples if s.mode == mode and s.receiver == r] for r in RECEIVERS}
        bird = per.get("bird") or []
        for receiver, group in per.items():
            if not group:
                continue
            cells = []
            for attr, _ in METRICS:
                values = [float(getattr(s, attr)) for s in group]
                med = statistics.median(values)
                cell = f"{med:.2f}" if len(values) == 1 else f"{med:.2f} ({min(values):.2f}–{max(values):.2f})"
                if bird and receiver != "bird":
                    ref = statistics.median(float(getattr(s, attr)) for s in bird)
                    if ref > 0:
                        cell += f" ×{med / ref:.2f}"
                cells.append(cell)
            rates = [s.decode_rate for s in group if s.decode_rate]
            decode = f"{statistics.median(rates) / 1e6:.2f} M" if rates else "—"
            drops = sum(s.session_drops for s in group)
            lines.append(f"| {mode} | {receiver} | " + " | ".join(cells) + f" | {decode} | {drops} |")
    return "\n".join(lines)


def versions() -> str:
    bird = subprocess.run([BIRD, "--version"], capture_output=True, text=True, check=False)
    frr = subprocess.run([BGPD, "--version"], capture_output=True, text=True, check=False)
    kernel = os.uname().release
    bird_v = (bird.stdout + bird.stderr).strip().splitlines()[:1]
    frr_v = frr.stdout.strip().splitlines()[:1]
    return (f"machine: {os.cpu_count()} cores, kernel {kernel}, Python {sys.version.split()[0]}; "
            f"{bird_v[0] if bird_v else 'BIRD ?'}; FRR {frr_v[0] if frr_v else '?'}")


# ---------------------------------------------------------------- main


def _print(line: str) -> None:
    print(line, flush=True)


def run_bench(n: int, runs: int, modes: Sequence[str], receivers: Sequence[str],
              log: Callable[[str], None] = _print, json_path: Path | None = None) -> list[Sample]:
    """The whole comparison; always cleans up. ``json_path`` gets the samples after each run."""
    samples: list[Sample] = []
    prefixes = table.generate(n)
    with processes() as procs, topology(procs) as (_, rx_holder):
        probe = FibProbe(NS_R, prefixes)
        fib = Counter(probe, rx_holder)
        for mode in modes:
            table_file = procs.rundir / f"table-{mode}.conf"
            started = time.monotonic()
            with open(table_file, "w", encoding="utf-8") as fh:
                table.write_bird_static(fh, prefixes, mode)
            sender = start_bird(procs, f"sender-{mode}", NS_S, sender_config(table_file), timeout=300)
            poll(partial(sender_holds, sender[1], n), 300, f"sender holding {n} routes", interval=0.2)
            log(f"mode {mode}: sender ready with {n} routes in {time.monotonic() - started:.1f} s")
            try:
                for run in range(runs):
                    for kind in receivers:
                        samples.append(one_run(kind, mode, n, f"{mode}-{run}-{kind}", procs, sender,
                                               fib, log))
                        if json_path is not None:
                            json_path.write_text(json.dumps([asdict(s) for s in samples], indent=1),
                                                 encoding="utf-8")
            finally:
                sender[0].stop(timeout=30)
                procs.started.remove(sender[0])
        probe.close()
    return samples


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100,000 prefixes, one run")
    parser.add_argument("--n", type=int, default=None, help="prefixes (default 1,000,000)")
    parser.add_argument("--runs", type=int, default=None, help="runs per receiver and mode (default 3)")
    parser.add_argument("--modes", default="packed,unique,realistic")
    parser.add_argument("--receivers", default=",".join(RECEIVERS))
    parser.add_argument("--json", type=Path, default=None, help="write the raw samples here")
    args = parser.parse_args(argv)
    n = args.n or (100_000 if args.quick else 1_000_000)
    runs = args.runs or (1 if args.quick else 3)
    modes = [m for m in args.modes.split(",") if m]
    receivers = [r for r in args.receivers.split(",") if r]
    bad = [m for m in modes if m not in table.MODES] + [r for r in receivers if r not in RECEIVERS]
    if bad:
        print(f"fulltable.py: unknown mode/receiver {', '.join(bad)}; modes: {', '.join(table.MODES)}; "
              f"receivers: {', '.join(RECEIVERS)}", file=sys.stderr)
        return 2
    if n < 1 or runs < 1:
        print("fulltable.py: --n and --runs must be positive", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("fulltable.py: needs root (network namespaces, daemons)", file=sys.stderr)
        return 2
    missing = [b for b in (BIRD, BIRDC) if not os.access(b, os.X_OK)]
    if "frr" in receivers:
        missing += [b for b in (ZEBRA, BGPD, VTYSH) if not os.access(b, os.X_OK)]
    if missing:
        print(f"fulltable.py: missing {', '.join(missing)} (Debian packages bird2, frr)", file=sys.stderr)
        return 2
    print(versions())
    print(f"command: python3 bench/fulltable.py {' '.join(argv if argv is not None else sys.argv[1:])}",
          flush=True)
    try:
        samples = run_bench(n, runs, modes, receivers, json_path=args.json)
    except (BenchError, InteropError, netns.NetnsError) as exc:
        print(f"fulltable.py: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fulltable.py: interrupted (everything stopped and removed)", file=sys.stderr)
        return 130
    print()
    print(f"{n:,} prefixes, {runs} run(s): median (min–max), ×ratio to BIRD")
    print(summarize(samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
