"""Property: after any sequence of announces, withdrawals, session losses and policy
changes, the incremental Loc-RIB equals a from-scratch decision, and replaying the
FIB channel's deltas and a peer channel's exports gives exactly the current state."""

from __future__ import annotations

from ipaddress import IPv6Address

from hypothesis import given, settings
from hypothesis import strategies as st

from v4via6.fib.backend import OpKind
from v4via6.model import Hop
from v4via6.rib import bestpath
from v4via6.rib.channel import Channel, FibChannel
from v4via6.rib.keys import prefix_key
from v4via6.rib.loc_rib import REBASE_MIN, LocRib
from v4via6.rib.path import PathRef, PeerInfo, PeerKind
from v4via6.rib.plain_attrs import PlainAttrs, PlainNextHop
from v4via6.rib.policy import parse_policy

KEYS = [
    prefix_key(p) for p in ("198.51.100.0/24", "198.51.100.0/25", "203.0.113.0/24", "192.0.2.0/24", "192.0.2.128/25")
]
POLICIES = [
    parse_policy("all"),
    parse_policy({"prefix": ["198.51.100.0/24 le 25"]}),
    parse_policy({"set_local_pref": 300}),
    parse_policy({"as_path_len_max": 1}),
]
PEERS = [
    PeerInfo("a", PeerKind.EBGP, IPv6Address("fe80::1"), 1, 65001, "eth0", multipath=True),
    PeerInfo("b", PeerKind.EBGP, IPv6Address("fe80::1"), 2, 65002, "eth1", multipath=True),
    PeerInfo("c", PeerKind.IBGP, IPv6Address("2001:db8::3"), 3, 65000, None),
]
OUT = PeerInfo("out", PeerKind.EBGP, IPv6Address("fe80::9"), 9, 65009, "eth9")

op = st.one_of(
    st.tuples(
        st.just("announce"),
        st.integers(0, 2),
        st.lists(st.sampled_from(KEYS), min_size=1, max_size=5),
        st.integers(1, 3),  # AS path length
        st.sampled_from([None, 50, 200]),  # local-pref (ignored from eBGP)
    ),
    st.tuples(st.just("withdraw"), st.integers(0, 2), st.lists(st.sampled_from(KEYS), max_size=5)),
    st.tuples(st.just("down"), st.integers(0, 2)),
    st.tuples(st.just("policy"), st.integers(0, 2), st.integers(0, len(POLICIES) - 1)),
    st.tuples(st.just("drain")),
)


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(op, max_size=25), n_peers=st.integers(1, 3), rebase_min=st.sampled_from([0, 1, 2, REBASE_MIN]))
def test_deltas_replay_to_current_state(ops: list[tuple[object, ...]], n_peers: int, rebase_min: int) -> None:
    """``rebase_min`` small: a source becomes dominant (stores nothing per prefix) at
    once; REBASE_MIN: with these few prefixes every best set is stored."""
    rib = LocRib(rebase_min=rebase_min)
    fib = FibChannel(rib)
    chans = [Channel(rib, p, import_policy=POLICIES[0]) for p in PEERS[:n_peers]]
    out = Channel(rib, OUT)
    out.start_export()
    kernel: dict[int, tuple[Hop, ...]] = {}
    sent: dict[int, PathRef] = {}

    def drain() -> None:
        for kind, hops, keys in fib.take_batch().runs:
            for k in keys:
                if kind is OpKind.DELETE:
                    assert kernel.pop(k) == hops  # delete carries the installed hops
                else:
                    kernel[k] = hops
        batch = out.take_export()
        for k in batch.withdraw:
            del sent[k]
        for path, keys in batch.announce.items():
            for k in keys:
                sent[k] = path

    nh = PlainNextHop(None, IPv6Address("fe80::1"))
    for item in ops:
        match item:
            case ("announce" | "withdraw" | "down" | "policy", int(i), *_) if i >= n_peers:
                pass
            case ("announce", int(i), list(keys), int(n), lp):
                attrs = PlainAttrs.with_path(*range(65001, 65001 + n), local_pref=lp)
                chans[i].announce(keys, attrs, PlainNextHop(IPv6Address("2001:db8::1"), None) if i == 2 else nh)
            case ("withdraw", int(i), list(keys)):
                chans[i].withdraw(keys)
            case ("down", int(i)):
                chans[i].withdraw_all()
            case ("policy", int(i), int(j)):
                chans[i].set_import_policy(POLICIES[j])
            case _:
                drain()
    drain()
    for k in KEYS:
        expected = bestpath.select((p, rib.resolution(p)) for p in rib.candidates(k))
        got = rib.get(k) or ()
        assert got == expected
    assert kernel == {r_key: hops for r_key, hops in _desired(fib)}
    want_sent = {k: b[0][0] for k, b in rib.best.items() if b[0][0].peer != OUT}
    assert sent == want_sent
    assert fib.counters.exported == len(kernel)
    assert out.counters.exported == len(sent)
    assert len(rib) == len(rib.best) == sum(1 for _ in rib.best.items())


def _desired(fib: FibChannel) -> list[tuple[int, tuple[Hop, ...]]]:
    out = []
    for route in fib.desired():
        key = prefix_key(route.prefix)
        out.append((key, route.hops))
    return out
