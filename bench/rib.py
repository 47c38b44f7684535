"""RIB speed: adj-in insert + best path for N prefix keys from one peer.

Usage: python bench/rib.py [--n 1000000] [--chunk 1000] [--mode packed|realistic]
Times are CPU seconds of this process (the machine is shared), wall in brackets.

Simulates what the BGP receive path does after decoding: ``Channel.announce``
with a list of int keys and one attribute set per UPDATE, into a Loc-RIB with a
FIB channel following it; then a session loss (``withdraw_all``). Prints
routes/s for each phase and the peak RSS. No sockets, no kernel.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import time
from ipaddress import IPv6Address

from v4via6.rib.channel import Channel, FibChannel
from v4via6.rib.loc_rib import LocRib
from v4via6.rib.path import PeerInfo, PeerKind
from v4via6.rib.plain_attrs import PlainAttrs, PlainNextHop


def table_keys(n: int, seed: int = 1) -> list[int]:
    """N distinct IPv4 prefix keys, random but deterministic, realistic length mix
    (about 60% /24, 20% /22-/23, 20% /16-/21), in random order as a peer sends them."""
    rng = random.Random(seed)
    lengths = [24, 23, 22, 21, 20, 19, 18, 17, 16]
    weights = [60, 10, 10, 4, 4, 3, 3, 3, 3]
    seen: set[int] = set()
    out: list[int] = []
    while len(out) < n:
        for plen in rng.choices(lengths, weights, k=n - len(out)):
            net = rng.getrandbits(plen) << (32 - plen)
            if net >> 24 in (0, 10, 127) or net >> 29 == 7:  # skip 0/8, 10/8, 127/8, 224/3
                continue
            key = (net << 8) | plen
            if key not in seen:
                seen.add(key)
                out.append(key)
    return out


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Phase:
    """CPU and wall seconds of a block."""

    def __enter__(self) -> Phase:
        self.cpu = time.process_time()
        self.wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = time.process_time() - self.cpu
        self.wall = time.perf_counter() - self.wall

    def show(self, what: str, n: int) -> str:
        return f"{what:44s} {self.cpu:6.2f} s CPU [{self.wall:5.2f} s] = {n / self.cpu:>9,.0f} routes/s"


def run(keys: list[int], attr_sets: list[PlainAttrs], chunk: int, with_fib: bool, first: bool = True) -> None:
    nh = PlainNextHop(None, IPv6Address("fe80::1"))
    rib = LocRib()
    fib = FibChannel(rib) if with_fib else None
    if not first:  # a second peer already holds the same table (with a longer AS path)
        other = PeerInfo("other", PeerKind.EBGP, IPv6Address("fe80::2"), 2, 65003, "eth1")
        longer = PlainAttrs.with_path(65003, 65004, 65005, 65006)
        Channel(rib, other).announce(keys, longer, PlainNextHop(None, IPv6Address("fe80::2")))
        if fib is not None:
            fib.take_batch()
    peer = PeerInfo("bench", PeerKind.EBGP, IPv6Address("fe80::1"), 1, 65001, "eth0")
    ch = Channel(rib, peer)
    n = len(keys)
    label = "+ fib channel" if with_fib else "rib only"
    if not first:
        label += ", 2nd full table"
    with Phase() as load:
        for u, i in enumerate(range(0, n, chunk)):
            ch.announce(keys[i : i + chunk], attr_sets[u % len(attr_sets)], nh)
        if fib is not None:
            assert len(fib.take_batch()) == n
    assert len(rib) == n
    print(load.show(f"announce ({label})", n))
    print(f"  distinct attrs stored: {len({id(p.attrs) for p in ch.adj_in.routes.values()})}")
    with Phase() as down:
        ch.withdraw_all()
        if fib is not None:
            assert len(fib.take_batch()) == n
    assert len(rib) == (0 if first else n)
    print(down.show(f"withdraw_all ({label})", n))


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=500, help="prefixes per UPDATE (packed mode)")
    ap.add_argument("--mode", choices=("packed", "realistic"), default="packed")
    ap.add_argument("--second-table", action="store_true", help="also: load while another peer holds it")
    args = ap.parse_args()
    rss0 = rss_mb()
    keys = table_keys(args.n)
    if args.mode == "packed":
        chunk, attr_sets = args.chunk, [PlainAttrs.with_path(65001, 65002)]
    else:  # about one attribute set per four prefixes
        chunk = 4
        attr_sets = [PlainAttrs.with_path(65001, 64512 + i % 1000, i) for i in range(args.n // 4)]
    print(f"mode={args.mode} n={args.n} prefixes/update={chunk} attr_sets={len(attr_sets)}")
    run(keys, attr_sets, chunk, with_fib=False)
    gc.collect()
    run(keys, attr_sets, chunk, with_fib=True)
    if args.second_table:
        gc.collect()
        run(keys, attr_sets, chunk, with_fib=True, first=False)
    print(f"peak RSS {rss_mb():.0f} MB (at start {rss0:.0f} MB; includes the key list)")


if __name__ == "__main__":
    main()
