"""Benchmark: bulk route install/delete, NetlinkFib vs ``ip -batch`` (run as root).

Everything happens inside a fresh network namespace ``v4v6-bench-fib`` holding a
veth pair (b0/b1, link-local IPv6 only); it is deleted at the end, also on failure.
Routes are /24s from 240.0.0.0/4 (reserved, never on any wire; 2^20 of them fit),
all via inet6 fe80::1 dev b0 with protocol 46; they live only in the namespace.

Deletes: the route list is ascending; NetlinkFib sends a run of deletes in
reverse (see netlink._send_order: the kernel trie deletes ascending prefixes in
O(n) each). ``ip -batch`` is timed deleting both ascending (the natural file)
and descending (the same order NetlinkFib sends), so the comparison is fair.
Times are wall clock and CPU (user + sys, this process and its children).

    sudo python3 bench/fib.py --quick          # N = 20000
    sudo python3 bench/fib.py                  # N = 100000 and 1000000
    sudo python3 bench/fib.py --n 100000
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from ipaddress import IPv4Network

from v4via6.fib.backend import BatchResult, FibOp, OpKind
from v4via6.fib.netlink import NetlinkFib
from v4via6.model import PROTO_NUMBER, Hop, NextHop, Route

NS = "v4v6-bench-fib"
BASE = 240 << 24
MAX_N = 1 << 20


def sh(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def ns_route_count() -> int:
    out = sh("ip", "-n", NS, "-4", "route", "show", "proto", str(PROTO_NUMBER))
    return out.count("\n")


def prefix(i: int) -> str:
    a = BASE + (i << 8)
    return f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.0/24"


class Clock:
    """Wall time and CPU time (user + sys) of this process and its children."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = _cpu()

    def stop(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, _cpu() - self.cpu


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def time_ip_batch(n: int, verb: str, descending: bool = False) -> tuple[float, float]:
    order = range(n - 1, -1, -1) if descending else range(n)
    with tempfile.NamedTemporaryFile("w", suffix=".batch", delete=False) as f:
        tail = " via inet6 fe80::1 dev b0 proto 46\n" if verb == "add" else " proto 46\n"
        f.writelines(f"route {verb} {prefix(i)}{tail}" for i in order)
        path = f.name
    try:
        clock = Clock()
        sh("ip", "-n", NS, "-batch", path)
        return clock.stop()
    finally:
        os.unlink(path)


def timed(fn: Callable[[], BatchResult]) -> tuple[tuple[float, float], BatchResult]:
    clock = Clock()
    result = fn()
    return clock.stop(), result


def fmt(n: int, t: tuple[float, float], base: tuple[float, float] | None = None) -> str:
    wall, cpu = t
    text = f"{n / wall:>9,.0f}/s wall {wall:6.2f} s cpu {cpu:6.2f} s"
    if base is not None:
        text += f" ({base[0] / wall:.2f}x wall, {base[1] / cpu:.2f}x cpu)"
    return text


def run(n: int, ascending: bool) -> list[str]:
    lines = [f"N = {n}"]
    hops = (Hop(NextHop.parse("fe80::1%b0")),)
    routes = [Route(IPv4Network((BASE + (i << 8), 24)), hops) for i in range(n)]
    adds = [FibOp(OpKind.ADD, r) for r in routes]
    dels = [FibOp(OpKind.DELETE, r) for r in routes]

    t_add = time_ip_batch(n, "add")
    assert ns_route_count() == n, "ip -batch did not install every route"
    t_del_asc: tuple[float, float] | None = None
    if ascending:
        t_del_asc = time_ip_batch(n, "del")
        assert ns_route_count() == 0
        time_ip_batch(n, "add")
    t_del = time_ip_batch(n, "del", descending=True)
    assert ns_route_count() == 0
    lines.append(f"  ip -batch          add      {fmt(n, t_add)}")
    if t_del_asc is not None:
        lines.append(f"  ip -batch          del asc  {fmt(n, t_del_asc)}")
    lines.append(f"  ip -batch          del desc {fmt(n, t_del)}")
    for mode, label in ((True, "NetlinkFib nhobj"), (False, "NetlinkFib inline")):
        fib = NetlinkFib(netns=NS, nexthop_objects=mode)
        try:
            ta, ra = timed(lambda f=fib: f.apply(adds))  # type: ignore[misc]
            assert ra.ok == n and not ra.errors, ra.errors[:3]
            assert ns_route_count() == n
            td, rd = timed(lambda f=fib: f.apply(dels))  # type: ignore[misc]
            assert rd.ok == n and not rd.errors, rd.errors[:3]
            assert ns_route_count() == 0
            fib.flush()
        finally:
            fib.close()
        lines.append(f"  {label:<18} add      {fmt(n, ta, t_add)}")
        lines.append(f"  {label:<18} del      {fmt(n, td, t_del)}  vs del desc")
        if t_del_asc is not None:
            lines.append(f"  {'':<18}          {'':<38} ({t_del_asc[0] / td[0]:.2f}x wall, "
                         f"{t_del_asc[1] / td[1]:.2f}x cpu vs del asc)")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, action="append", help="route count (repeatable)")
    parser.add_argument("--quick", action="store_true", help="one small run (N = 20000)")
    parser.add_argument("--no-ascending", action="store_true",
                        help="skip ip -batch delete in ascending order (slow at 1M)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/fib.py: needs root (creates network namespace v4v6-bench-fib)",
              file=sys.stderr)
        return 2
    sizes = [20000] if args.quick else (args.n or [100000, 1000000])
    if any(not 1 <= s <= MAX_N for s in sizes):
        print(f"bench/fib.py: --n must be in 1..{MAX_N}", file=sys.stderr)
        return 2
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        sh("ip", "-n", NS, "link", "add", "b0", "type", "veth", "peer", "name", "b1")
        sh("ip", "-n", NS, "link", "set", "b0", "up")
        sh("ip", "-n", NS, "link", "set", "b1", "up")
        print(f"kernel {os.uname().release}, python {sys.version.split()[0]}")
        for n in sizes:
            for line in run(n, not args.no_ascending):
                print(line, flush=True)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  peak RSS {rss:.0f} MB (includes the benchmark's own route list)")
    finally:
        subprocess.run(["ip", "netns", "del", NS], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
