"""Benchmark the BGP wire codec: full UPDATEs of IPv4 NLRI with an IPv6 next hop.

Builds N distinct IPv4 prefixes (a realistic length mix, mostly /24) spread over
A attribute sets, encodes them with ``encode_updates`` (4096-byte messages,
32-byte [LL, LL] next hop as FRR sends on unnumbered links), then decodes every
message with ``decode_message`` and collects ``announcements()`` — the form the
RIB stores: int prefix keys plus one interned PathAttributes per set.

Then the other extreme, one prefix per UPDATE with an AS path of its own (what BIRD
sends in the full-table bench's ``unique`` mode): N such messages as one byte
stream, read in 64 KiB pieces the way a session reads them, decoded by the
session's fast path (``fastupdate.decode_run``) and, as the reference in the same
run, by the general decoder (``decode_message`` + ``announcements()``).

    python3 bench/codec.py [--prefixes 1000000] [--attr-sets 100] [--one-per-update 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from ipaddress import IPv6Address

from v4via6.bgp.wire import (
    Announcement,
    BgpNextHop,
    Context,
    PathAttributes,
    Update,
    attributes,
    decode_message,
    encode,
    encode_updates,
    fastupdate,
    make_attributes,
)
from v4via6.bgp.wire.mp import MpReach


def make_prefixes(n: int, rng: random.Random) -> list[int]:
    lengths = [24] * 60 + [23] * 8 + [22] * 10 + [21] * 5 + [20] * 5 + [19] * 4 + [16] * 4 \
        + [32] * 4
    seen: set[int] = set()
    while len(seen) < n:
        plen = rng.choice(lengths)
        addr = rng.getrandbits(32) & (((1 << plen) - 1) << (32 - plen))
        seen.add((addr << 8) | plen)
    return list(seen)


def make_attr_sets(count: int, rng: random.Random) -> list[PathAttributes]:
    out = []
    for i in range(count):
        path = (65000 + i % 50, *(rng.randrange(1, 4_200_000_000) for _ in range(rng.randint(1, 5))))
        out.append(make_attributes(origin=i % 3, as_path=((2, path),),
                                   med=rng.choice([None, 0, 100]),
                                   communities=tuple(rng.getrandbits(32) for _ in range(i % 4)),
                                   large_communities=((65001, i, 1),) if i % 5 == 0 else ()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prefixes", type=int, default=1_000_000)
    ap.add_argument("--attr-sets", type=int, default=100)
    ap.add_argument("--one-per-update", type=int, default=200_000, metavar="N",
                    help="one-prefix UPDATEs for the second part (0: skip it)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = random.Random(4)
    keys = make_prefixes(args.prefixes, rng)
    sets = make_attr_sets(args.attr_sets, rng)
    nh = BgpNextHop(None, IPv6Address("fe80::12:2"))
    ctx = Context(extended_nexthop=frozenset({(1, 1, 2)}))
    per = len(keys) // len(sets) + 1
    anns = [Announcement(1, 1, nh, a, tuple(keys[i * per : (i + 1) * per]))
            for i, a in enumerate(sets)]

    enc_best = dec_best = enc_cpu = dec_cpu = float("inf")
    msgs: list[bytes] = []
    for _ in range(args.repeat):
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        msgs = encode_updates(anns, ctx)
        enc_best = min(enc_best, time.perf_counter() - t0)
        enc_cpu = min(enc_cpu, time.process_time() - c0)
    total_bytes = sum(len(m) for m in msgs)

    decoded = 0
    objects: set[int] = set()
    for _ in range(args.repeat):
        gc.collect()
        rib: list[Announcement] = []
        t0, c0 = time.perf_counter(), time.process_time()
        for m in msgs:
            u = decode_message(m, ctx)
            assert isinstance(u, Update)
            rib.extend(u.announcements())
        dec_best = min(dec_best, time.perf_counter() - t0)
        dec_cpu = min(dec_cpu, time.process_time() - c0)
        decoded = sum(len(a.keys) for a in rib)
        objects = {id(a.attrs) for a in rib}
    assert decoded == len(keys)
    print(f"prefixes {len(keys):,} in {len(msgs):,} UPDATEs of <= 4096 bytes "
          f"({total_bytes / len(msgs):,.0f} bytes avg, {len(keys) / len(msgs):,.0f} prefixes/msg), "
          f"{len(sets)} attribute sets -> {len(objects)} PathAttributes objects after decode")
    n = len(keys)
    print(f"best of {args.repeat}; wall clock, and CPU time of this one process (one core):")
    print(f"encode: {enc_best:.3f} s  {n / enc_best:,.0f} prefixes/s   "
          f"cpu {enc_cpu:.3f} s  {n / enc_cpu:,.0f} prefixes/s")
    print(f"decode: {dec_best:.3f} s  {n / dec_best:,.0f} prefixes/s   "
          f"cpu {dec_cpu:.3f} s  {n / dec_cpu:,.0f} prefixes/s")
    if args.one_per_update:
        one_per_update(keys[: args.one_per_update], nh, ctx, args.repeat)


def one_per_update(keys: list[int], nh: BgpNextHop, ctx: Context, repeat: int) -> None:
    """One prefix per UPDATE, each with its own AS path: the fast path against the general decoder."""
    msgs = [encode(Update(attrs=make_attributes(origin=0, as_path=((2, (65001, 4_200_000_000 + i)),)),
                          mp_reach=MpReach(1, 1, nh, (key,))), ctx)
            for i, key in enumerate(keys)]
    reads: list[bytes] = []  # whole messages, up to 64 KiB per read
    start = size = 0
    for at, m in enumerate(msgs):
        if size + len(m) > 65536:
            reads.append(b"".join(msgs[start:at]))
            start, size = at, 0
        size += len(m)
    reads.append(b"".join(msgs[start:]))
    n = len(msgs)
    fast_cpu = general_cpu = float("inf")
    for _ in range(repeat):
        attributes._INTERN.clear()  # every attribute set new, as in a first full table
        fastupdate._LAYOUTS.clear()
        gc.collect()
        fast: list[tuple[tuple[int, ...], PathAttributes, BgpNextHop]] = []
        c0 = time.process_time()
        for data in reads:
            at, _count = fastupdate.decode_run(data, 0, ctx, 4096, fast)
            assert at == len(data)
        fast_cpu = min(fast_cpu, time.process_time() - c0)
        attributes._INTERN.clear()
        gc.collect()
        general: list[Announcement] = []
        c0 = time.process_time()
        for m in msgs:
            u = decode_message(m, ctx)
            assert isinstance(u, Update)
            general.extend(u.announcements())
        general_cpu = min(general_cpu, time.process_time() - c0)
        assert [(a.keys, a.attrs, a.next_hop) for a in general] == fast
    print(f"one prefix per UPDATE: {n:,} messages of {len(msgs[0])} bytes with an AS path each, "
          f"read 64 KiB at a time; CPU time, best of {repeat}:")
    print(f"fast path (decode_run): {fast_cpu:.3f} s  {n / fast_cpu:,.0f} messages/s  "
          f"{1e6 * fast_cpu / n:.2f} us/message")
    print(f"general decoder:        {general_cpu:.3f} s  {n / general_cpu:,.0f} messages/s  "
          f"{1e6 * general_cpu / n:.2f} us/message")
    print(f"fast path / general: x{fast_cpu / general_cpu:.2f} of the time")


if __name__ == "__main__":
    main()
