"""RIB speed: adj-in insert + best path for N prefix keys from one peer.

Usage: python bench/rib.py [--n 1000000] [--chunk 1000] [--mode packed|realistic]

Simulates what the BGP receive path does after decoding: ``Channel.announce``
with a list of int keys and one attribute set per UPDATE, into a Loc-RIB with a
FIB channel following it; then a session loss (``withdraw_all``). Prints
routes/s for each phase and the peak RSS. No sockets, no kernel.
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
from ipaddress import IPv6Address

from v4via6.rib.channel import Channel, FibChannel
from v4via6.rib.loc_rib import LocRib
from v4via6.rib.path import PeerInfo, PeerKind
from v4via6.rib.plain_attrs import PlainAttrs, PlainNextHop


def table_keys(n: int) -> list[int]:
    """N distinct /24 keys starting at 1.0.0.0 (deterministic)."""
    base = 1 << 16  # 1.0.0.0 as a /24 index
    return [((base + i) << 16) | 24 for i in range(n)]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=1000, help="prefixes per simulated UPDATE")
    ap.add_argument("--mode", choices=("packed", "realistic"), default="packed")
    args = ap.parse_args()
    keys = table_keys(args.n)
    chunk = args.chunk if args.mode == "packed" else 4
    if args.mode == "packed":
        attr_sets = [PlainAttrs.with_path(65001, 65002)]
    else:
        attr_sets = [PlainAttrs.with_path(65001, 64512 + i % 1000, i) for i in range(args.n // 4)]
    nh = PlainNextHop(None, IPv6Address("fe80::1"))
    rib = LocRib()
    fib = FibChannel(rib)
    ch = Channel(rib, PeerInfo("bench", PeerKind.EBGP, IPv6Address("fe80::1"), 1, 65001, "eth0"))
    rss0 = rss_mb()
    gc.collect()
    gc.disable()
    t0 = time.perf_counter()
    for n, i in enumerate(range(0, args.n, chunk)):
        ch.announce(keys[i : i + chunk], attr_sets[n % len(attr_sets)], nh)
    t1 = time.perf_counter()
    batch = fib.take_batch()
    t2 = time.perf_counter()
    gc.enable()
    assert len(rib) == args.n and len(batch) == args.n
    rss1 = rss_mb()
    t3 = time.perf_counter()
    ch.withdraw_all()
    removed = fib.take_batch()
    t4 = time.perf_counter()
    assert len(rib) == 0 and len(removed) == args.n
    n = args.n
    print(f"mode={args.mode} n={n} chunk={chunk} distinct_attrs={len(attr_sets)}")
    print(f"announce (adj-in + policy + best path + fib delta): {t1 - t0:.2f} s = {n / (t1 - t0):,.0f} routes/s")
    print(f"fib take_batch (group by next-hop set):             {t2 - t1:.2f} s")
    print(f"withdraw_all + fib removal batch:                    {t4 - t3:.2f} s = {n / (t4 - t3):,.0f} routes/s")
    print(f"peak RSS {rss1:.0f} MB (before load {rss0:.0f} MB, keys list included)")


if __name__ == "__main__":
    main()
