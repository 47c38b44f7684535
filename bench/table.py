"""Synthetic IPv4 full table: N distinct prefixes with a realistic length mix, as BIRD 2 config.

Deterministic (same N and seed -> same table). Length mix: about 60 % /24,
20 % /22-/23, 19 % /16-/21 and under 1 % /8-/15. No prefix overlaps 0/8, 10/8,
100.64/10, 127/8, 169.254/16, 172.16/12, 192.168/16, 198.18/15, the
documentation ranges or 224/3. These routes only ever exist inside isolated
lab namespaces (no packet is ever sent to them).

Attribute modes (how the BIRD sender's UPDATEs look):

* ``packed``    one attribute set: BIRD packs hundreds of prefixes per UPDATE;
* ``unique``    every prefix its own AS_PATH: one prefix per UPDATE;
* ``realistic`` about one attribute set per 4 prefixes, AS paths of 1-8 hops.

Usage: ``python3 bench/table.py --n 1000000 --mode unique > table.conf``
(a ``protocol static`` fragment for a BIRD 2 config), ``--stats`` for the mix.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TextIO

MODES = ("packed", "unique", "realistic")

#: (network, length) ranges no generated prefix may overlap.
FORBIDDEN: tuple[tuple[int, int], ...] = tuple(
    (int.from_bytes(bytes(map(int, net.split("."))), "big"), plen)
    for net, plen in (
        ("0.0.0.0", 8), ("10.0.0.0", 8), ("100.64.0.0", 10), ("127.0.0.0", 8),
        ("169.254.0.0", 16), ("172.16.0.0", 12), ("192.0.2.0", 24), ("192.168.0.0", 16),
        ("198.18.0.0", 15), ("198.51.100.0", 24), ("203.0.113.0", 24), ("224.0.0.0", 3),
    )
)

#: Prefix length -> share of the table (shaped like the public table; the shares add up to 1).
LENGTH_MIX: dict[int, float] = {
    24: 0.600, 23: 0.095, 22: 0.105,
    21: 0.050, 20: 0.045, 19: 0.040, 18: 0.025, 17: 0.017, 16: 0.018,
    15: 0.0018, 14: 0.0014, 13: 0.0008, 12: 0.0004, 11: 0.0002, 10: 0.00012, 9: 0.00004, 8: 0.00004,
}

#: AS-path lengths (before the sender prepends its own AS) and their weights, realistic mode.
PATH_LENGTHS = (1, 2, 3, 4, 5, 6, 7, 8)
PATH_WEIGHTS = (4, 22, 33, 24, 10, 4, 2, 1)

#: Origin ASNs come from the 4-byte private range, transit ASNs from the 2-byte private range
#: (never 65001/65002, which the bench's sender and receivers use).
ORIGIN_BASE = 4_200_000_000
TRANSIT_LOW, TRANSIT_HIGH = 64_600, 64_999
#: prefixes per attribute set in realistic mode
REALISTIC_GROUP = 4


def _mask(plen: int) -> int:
    return (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF


def allowed(addr: int, plen: int) -> bool:
    """True when ``addr/plen`` overlaps none of :data:`FORBIDDEN`."""
    for net, flen in FORBIDDEN:
        shorter = min(plen, flen)
        if (addr ^ net) & _mask(shorter) == 0:
            return False
    return True


def _bad_slash16() -> bytearray:
    """1 for every /16 that overlaps a forbidden range (a fast test for lengths >= 16)."""
    bad = bytearray(1 << 16)
    for hi in range(1 << 16):
        bad[hi] = 0 if allowed(hi << 16, 16) else 1
    return bad


def _lengths(n: int, rng: random.Random) -> list[int]:
    out: list[int] = []
    for plen, share in sorted(LENGTH_MIX.items()):
        if plen != 24:
            out.extend([plen] * round(n * share))
    out.extend([24] * max(0, n - len(out)))
    del out[n:]
    rng.shuffle(out)
    return out


def generate(n: int, seed: int = 1) -> list[tuple[int, int]]:
    """``n`` distinct allowed prefixes ``(address_int, length)``, sorted by address then length."""
    if n < 1:
        raise ValueError(f"table size must be at least 1, got {n}")
    rng = random.Random(seed)
    bits = rng.getrandbits
    bad16 = _bad_slash16()
    seen: set[tuple[int, int]] = set()
    for plen in _lengths(n, rng):
        step = 32 - plen
        for _ in range(1000):
            addr = bits(plen) << step
            if plen >= 16:
                if bad16[addr >> 16]:
                    continue
            elif not allowed(addr, plen):
                continue
            if (addr, plen) in seen:
                continue
            seen.add((addr, plen))
            break
        # else: this length's space is used up (tiny tables); the loop below adds a /24
    while len(seen) < n:
        addr = bits(24) << 8
        if not bad16[addr >> 16]:
            seen.add((addr, 24))
    return sorted(seen)


def dotted(addr: int) -> str:
    return f"{addr >> 24}.{(addr >> 16) & 255}.{(addr >> 8) & 255}.{addr & 255}"


def as_path(mode: str, index: int, seed: int = 1) -> tuple[int, ...]:
    """The AS path (leftmost = nearest) the sender gives prefix number ``index``; () for packed."""
    if mode == "packed":
        return ()
    if mode == "unique":
        return (ORIGIN_BASE + index,)
    if mode == "realistic":
        group = index // REALISTIC_GROUP
        rng = random.Random(group * 7919 + seed)
        length = rng.choices(PATH_LENGTHS, PATH_WEIGHTS)[0]
        transit = tuple(rng.randint(TRANSIT_LOW, TRANSIT_HIGH) for _ in range(length - 1))
        return (*transit, ORIGIN_BASE + group)
    raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")


def bird_static_lines(prefixes: Sequence[tuple[int, int]], mode: str, seed: int = 1) -> Iterator[str]:
    """``route A.B.C.D/L blackhole [{ bgp_path.prepend(...); }];`` lines for a static protocol."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    for index, (addr, plen) in enumerate(prefixes):
        path = as_path(mode, index, seed)
        if path:
            prepends = " ".join(f"bgp_path.prepend({asn});" for asn in reversed(path))
            yield f"  route {dotted(addr)}/{plen} blackhole {{ {prepends} }};\n"
        else:
            yield f"  route {dotted(addr)}/{plen} blackhole;\n"


def write_bird_static(out: TextIO, prefixes: Sequence[tuple[int, int]], mode: str,
                      name: str = "fulltable", seed: int = 1) -> None:
    """A ``protocol static NAME { ipv4; route ...; }`` block."""
    out.write(f"protocol static {name} {{\n  ipv4;\n")
    lines = bird_static_lines(prefixes, mode, seed)
    while chunk := "".join(itertools.islice(lines, 10_000)):
        out.write(chunk)
    out.write("}\n")


def stats(prefixes: Sequence[tuple[int, int]]) -> dict[str, float]:
    """Share of each length bucket (``/24``, ``/22-/23``, ``/16-/21``, ``shorter``, ``longer``)."""
    count = Counter(p for _, p in prefixes)
    total = len(prefixes)
    buckets = {
        "/24": count[24],
        "/22-/23": count[22] + count[23],
        "/16-/21": sum(count[p] for p in range(16, 22)),
        "shorter": sum(count[p] for p in range(0, 16)),
        "longer": sum(count[p] for p in range(25, 33)),
    }
    return {k: round(v / total, 4) for k, v in buckets.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=1_000_000, help="number of prefixes (default 1,000,000)")
    parser.add_argument("--mode", default="packed", help="packed | unique | realistic")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stats", action="store_true", help="print the length mix instead of config")
    args = parser.parse_args(argv)
    if args.mode not in MODES:
        print(f"table.py: --mode {args.mode!r}: expected one of {', '.join(MODES)}", file=sys.stderr)
        return 2
    if args.n < 1:
        print(f"table.py: --n {args.n}: expected a positive number of prefixes", file=sys.stderr)
        return 2
    prefixes = generate(args.n, args.seed)
    if args.stats:
        for key, share in stats(prefixes).items():
            print(f"{key}={share}")
        return 0
    write_bird_static(sys.stdout, prefixes, args.mode, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
