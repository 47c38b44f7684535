"""NetlinkFib's own-route index (nexthop mode) on the fake kernel: cheap and right.

The index keeps, per (family, table, metric), prefix key -> nexthop id. With a
full table it must cost no int object per route beyond its dict: ``apply_runs``
stores the caller's own key objects and every route on one object references
the one id object the nexthop registry holds. These tests check that, and that
replace, delete, ``withdraw_nexthop``, the rebuild from a dump, the EEXIST retry
and separate tables/metrics keep it (and the object refcounts) right.
"""

from __future__ import annotations

import errno
import random
import struct
from collections import Counter
from ipaddress import IPv4Network, IPv6Network

import pytest
from test_fib_netlink_fake import A, B, FakeRtnl, open_fib

from v4via6.fib import netlink, nlmsg
from v4via6.fib.backend import FibOp, OpKind
from v4via6.fib.netlink import IP6_RT_PRIO_USER, NetlinkFib
from v4via6.model import PROTO_NUMBER, Hop, Route

HOPS_A = (Hop(A),)
HOPS_B = (Hop(B),)
F_EXCL = nlmsg.NLM_F_CREATE | nlmsg.NLM_F_EXCL
F_REPLACE = nlmsg.NLM_F_CREATE | nlmsg.NLM_F_REPLACE


def keys_of(prefixes: list[str]) -> list[int]:
    """RIB keys, each a fresh int object (none of them is a small cached int)."""
    return [(int(IPv4Network(p).network_address) << 8) | IPv4Network(p).prefixlen for p in prefixes]


def fresh(key: int) -> int:
    """An int equal to ``key`` but a different object."""
    copy = int.from_bytes(key.to_bytes(8, "big"), "big")
    assert copy == key and copy is not key
    return copy


def slash30s(n: int) -> list[str]:
    return [f"198.51.100.{i * 4}/30" for i in range(n)]


def own(fib: NetlinkFib, family: int = 4, table: int = 254, metric: int = 0) -> dict[int, int]:
    """The index of one (family, table, metric) as one dict (a copy: read it again after changes)."""
    index = fib._index
    assert index is not None
    return index.merged(family, table, metric)


def object_of(fib: NetlinkFib, hops: tuple[Hop, ...]) -> int:
    """The registry's int object for the single object of ``hops`` (one hop)."""
    [hop] = hops
    nh = hop.nexthop
    assert nh.addr is not None and nh.ifname is not None
    ifindex = {"v0": 2, "v1": 3}[nh.ifname]
    return fib._nh.single[(ifindex, nlmsg.AF_INET6, nh.addr.packed)]


def holds_objects(index: dict[int, int], keys: list[int]) -> bool:
    """Whether ``index`` holds these very key objects (not just equal ints)."""
    stored = {id(k) for k in index}
    return all(id(k) in stored for k in keys)


def assert_refs_match(fib: NetlinkFib) -> None:
    """Route counts per object agree with the index (objects with 0 routes may linger as 0)."""
    index = fib._index
    assert index is not None
    counted: Counter[int] = Counter()
    for d in index.dicts():
        counted.update(d.values())
    assert {k: v for k, v in fib._refs.items() if v} == dict(counted)


def request_flags(kernel: FakeRtnl) -> list[int]:
    return [struct.unpack_from("=H", req, 6)[0] & (F_EXCL | F_REPLACE) for req in kernel.requests
            if struct.unpack_from("=H", req, 4)[0] in (nlmsg.RTM_NEWROUTE, nlmsg.RTM_DELROUTE)]


@pytest.fixture
def kernel() -> FakeRtnl:
    return FakeRtnl()


@pytest.fixture
def fib(monkeypatch: pytest.MonkeyPatch, kernel: FakeRtnl) -> NetlinkFib:
    backend = open_fib(monkeypatch, kernel)
    assert backend.mode == "nhobj"
    return backend


def test_apply_runs_stores_the_callers_key_objects_and_one_id_object(fib: NetlinkFib) -> None:
    keys_a = keys_of(slash30s(40))
    keys_b = keys_of(["203.0.113.0/24", "192.0.2.0/25"])
    res = fib.apply_runs([(OpKind.ADD, HOPS_A, keys_a), (OpKind.REPLACE, HOPS_B, keys_b)])
    assert (res.ok, res.failed) == (42, {})
    index = own(fib)
    assert len(index) == 42 and holds_objects(index, keys_a + keys_b)
    id_a, id_b = object_of(fib, HOPS_A), object_of(fib, HOPS_B)
    assert id_a != id_b
    assert all(index[k] is id_a for k in keys_a)
    assert all(index[k] is id_b for k in keys_b)
    assert len({id(v) for v in index.values()}) == 2
    assert fib._refs == {id_a: 40, id_b: 2}


def test_replace_keeps_new_key_objects_and_frees_the_old_object(fib: NetlinkFib, kernel: FakeRtnl) -> None:
    keys = keys_of(slash30s(10))
    fib.apply_runs([(OpKind.ADD, HOPS_A, keys)])
    id_a = object_of(fib, HOPS_A)
    kernel.requests.clear()
    again = [fresh(k) for k in keys]  # what a RIB that re-made its keys would hand in
    res = fib.apply_runs([(OpKind.REPLACE, HOPS_B, again)])
    assert (res.ok, res.failed) == (10, {})
    assert request_flags(kernel) == [F_REPLACE] * 10  # own routes: REPLACE, not CREATE|EXCL
    index = own(fib)
    assert holds_objects(index, again) and not holds_objects(index, keys[:1])
    id_b = object_of(fib, HOPS_B)
    assert all(v is id_b for v in index.values())
    assert fib._refs.get(id_b) == 10 and not fib._refs.get(id_a)
    assert id_a not in kernel.objects  # nothing uses A's object: collected
    assert_refs_match(fib)


def test_delete_removes_entries_and_skips_what_the_index_says_is_gone(
    fib: NetlinkFib, kernel: FakeRtnl,
) -> None:
    keys = keys_of(slash30s(8))
    fib.apply_runs([(OpKind.ADD, HOPS_A, keys)])
    kernel.requests.clear()
    unknown = keys_of(["203.0.113.0/24"])
    res = fib.apply_runs([(OpKind.DELETE, HOPS_A, keys[:3] + unknown)])
    assert (res.ok, res.skipped, res.failed) == (3, 1, {})
    assert len(kernel.requests) == 3
    index = own(fib)
    assert set(index) == set(keys[3:]) and holds_objects(index, keys[3:])
    assert_refs_match(fib)
    fib.apply_runs([(OpKind.DELETE, HOPS_A, keys[3:])])
    assert own(fib) == {} and not any(fib._refs.values())
    assert kernel.routes == {} and kernel.objects == {}


def test_duplicate_keys_in_one_run_count_once(fib: NetlinkFib, kernel: FakeRtnl) -> None:
    [key] = keys_of(["198.51.100.0/24"])
    res = fib.apply_runs([(OpKind.REPLACE, HOPS_A, [key, key])])
    assert res.failed == {}  # the second ADD hits EEXIST and is retried as an own REPLACE
    assert list(own(fib)) == [key]
    assert_refs_match(fib)
    fib.apply_runs([(OpKind.DELETE, HOPS_A, [key])])
    assert kernel.routes == {} and kernel.objects == {}


def test_tables_and_metrics_do_not_collide(fib: NetlinkFib, kernel: FakeRtnl) -> None:
    [k1] = keys_of(["198.51.100.0/24"])
    k2, k3 = fresh(k1), fresh(k1)
    assert fib.apply_runs([(OpKind.ADD, HOPS_A, [k1])]).ok == 1
    kernel.requests.clear()
    assert fib.apply_runs([(OpKind.ADD, HOPS_B, [k2])], metric=7).ok == 1
    assert fib.apply_runs([(OpKind.ADD, HOPS_B, [k3])], table=1000).ok == 1
    # Each was new in its own (table, metric): CREATE|EXCL, nothing replaced.
    assert request_flags(kernel) == [F_EXCL, F_EXCL]
    assert len(kernel.routes) == 3
    assert list(own(fib)) == [k1] and list(own(fib, metric=7)) == [k2] and list(own(fib, table=1000)) == [k3]
    assert own(fib)[k1] is object_of(fib, HOPS_A)
    assert own(fib, metric=7)[k2] is own(fib, table=1000)[k3] is object_of(fib, HOPS_B)
    assert_refs_match(fib)
    # Deleting in one table leaves the others.
    res = fib.apply_runs([(OpKind.DELETE, HOPS_B, [k2])], metric=7)
    assert (res.ok, res.skipped) == (1, 0)
    assert own(fib, metric=7) == {} and k1 in own(fib) and k3 in own(fib, table=1000)
    assert sorted((t, m) for t, _d, _l, m in kernel.routes) == [(254, 0), (1000, 0)]
    # A delete in a table where the prefix is not held is skipped, not sent.
    kernel.requests.clear()
    res = fib.apply_runs([(OpKind.DELETE, HOPS_B, [k2])], metric=7)
    assert (res.ok, res.skipped) == (0, 1) and kernel.requests == []
    assert_refs_match(fib)


def test_withdraw_nexthop_drops_index_entries_in_every_table(fib: NetlinkFib, kernel: FakeRtnl) -> None:
    keys_a = keys_of(slash30s(6))
    keys_a7 = [fresh(k) for k in keys_a[:2]]
    keys_b = keys_of(["203.0.113.0/24"])
    fib.apply_runs([(OpKind.ADD, HOPS_A, keys_a), (OpKind.ADD, HOPS_B, keys_b)])
    fib.apply_runs([(OpKind.ADD, HOPS_A, keys_a7)], metric=7)
    ecmp = Route(IPv4Network("192.0.2.0/24"), (Hop(A, 1), Hop(B, 2)))
    assert fib.apply([FibOp(OpKind.ADD, ecmp)]).ok == 1
    assert_refs_match(fib)
    assert fib.withdraw_nexthop(A) == 8  # the ECMP route keeps B (its group shrinks)
    assert own(fib, metric=7) == {}
    assert set(own(fib)) == {*keys_b, (int(ecmp.prefix.network_address) << 8) | 24}
    assert holds_objects(own(fib), keys_b)
    assert_refs_match(fib)
    assert len(kernel.routes) == 2
    # The skipped deletes afterwards: nothing left to send for A's prefixes.
    kernel.requests.clear()
    res = fib.apply_runs([(OpKind.DELETE, HOPS_A, keys_a)])
    assert (res.ok, res.skipped) == (0, 6) and kernel.requests == []


def test_rebuild_from_dump_interns_ids_and_takes_over_callers_keys(
    monkeypatch: pytest.MonkeyPatch, kernel: FakeRtnl,
) -> None:
    first = open_fib(monkeypatch, kernel)
    first.apply_runs([(OpKind.ADD, HOPS_A, keys_of(slash30s(12)))])
    first.apply_runs([(OpKind.ADD, HOPS_B, keys_of(["203.0.113.0/24"]))], metric=5)
    first.close()
    fib = open_fib(monkeypatch, kernel)  # a restart: the routes are still in the kernel
    index = fib._ensure_index()
    assert len(index) == 13 and set(index.tables) == {(4, 254, 0), (4, 254, 5)}
    id_a, id_b = object_of(fib, HOPS_A), object_of(fib, HOPS_B)
    assert all(v is id_a for v in own(fib).values())
    assert all(v is id_b for v in own(fib, metric=5).values())
    assert fib._refs == {id_a: 12, id_b: 1}
    # The RIB installs the same table again: REPLACE, and the index now holds its keys.
    kernel.requests.clear()
    keys = keys_of(slash30s(12))
    assert fib.apply_runs([(OpKind.REPLACE, HOPS_A, keys)]).ok == 12
    assert request_flags(kernel) == [F_REPLACE] * 12
    assert holds_objects(own(fib), keys)
    assert_refs_match(fib)


def test_eexist_retry_clash_and_own_leftover(fib: NetlinkFib, kernel: FakeRtnl) -> None:
    fib.apply_runs([(OpKind.ADD, HOPS_A, keys_of(["192.0.2.0/24"]))])  # index built
    kernel.add_foreign(bytes([198, 51, 100, 0]), 24, 186)  # bgp holds this one
    # An own route the index does not know (e.g. left by a crashed instance).
    rt = nlmsg.pack_route(nlmsg.RTM_NEWROUTE, 0, 0, bytes([203, 0, 113, 0]), 24, 254, 0, PROTO_NUMBER,
                          nlmsg.u32_attr(nlmsg.RTA_OIF, 2))
    kernel.routes[(254, bytes([203, 0, 113, 0]), 24, 0)] = (PROTO_NUMBER, rt[16:])
    clash, leftover = keys_of(["198.51.100.0/24", "203.0.113.0/24"])
    res = fib.apply_runs([(OpKind.ADD, HOPS_B, [clash, leftover])])
    assert res.ok == 1 and list(res.failed) == [clash]
    assert res.failed[clash][0] == errno.EEXIST and "clash with proto bgp" in res.failed[clash][1]
    assert kernel.routes[(254, bytes([198, 51, 100, 0]), 24, 0)][0] == 186
    assert clash not in own(fib) and own(fib)[leftover] is object_of(fib, HOPS_B)
    assert holds_objects(own(fib), [leftover])  # the retry went through apply(), the key is still ours
    assert_refs_match(fib)


def test_apply_and_ipv6_share_the_interned_ids(fib: NetlinkFib, kernel: FakeRtnl) -> None:
    v4 = [Route.simple(p, A) for p in slash30s(5)]
    v6 = [Route.simple(IPv6Network(f"2001:db8:{i}::/48"), A) for i in range(3)]
    tabled = Route(IPv4Network("203.0.113.0/24"), HOPS_A, metric=9, table=1000)
    res = fib.apply([FibOp(OpKind.ADD, r) for r in [*v4, *v6, tabled]])
    assert (res.ok, res.errors) == (9, [])
    id_a = object_of(fib, HOPS_A)
    assert len(own(fib)) == 5 and all(v is id_a for v in own(fib).values())
    six = own(fib, 6, 254, IP6_RT_PRIO_USER)
    assert len(six) == 3 and all(v is id_a for v in six.values())
    assert own(fib, 4, 1000, 9) == {(int(tabled.prefix.network_address) << 8) | 24: id_a}
    assert fib._refs == {id_a: 9}
    res = fib.apply([FibOp(OpKind.DELETE, r) for r in [v4[0], v6[0], tabled]])
    assert (res.ok, res.errors) == (3, [])
    six = own(fib, 6, 254, IP6_RT_PRIO_USER)
    assert len(own(fib)) == 4 and len(six) == 2 and own(fib, 4, 1000, 9) == {}
    assert_refs_match(fib)
    assert fib.withdraw_nexthop(A) == 6
    assert len(fib._ensure_index()) == 0 and kernel.routes == {} and kernel.objects == {}


def test_flush_forgets_the_index_and_inline_mode_has_none(
    monkeypatch: pytest.MonkeyPatch, fib: NetlinkFib, kernel: FakeRtnl,
) -> None:
    fib.apply_runs([(OpKind.ADD, HOPS_A, keys_of(slash30s(4)))])
    assert fib.flush().ok == 4
    assert fib._index is None and fib._refs == {} and kernel.routes == {}
    assert len(fib._ensure_index()) == 0
    inline = open_fib(monkeypatch, FakeRtnl(nexthops=False))
    keys = keys_of(slash30s(3))
    assert inline.apply_runs([(OpKind.ADD, HOPS_A, keys)]).ok == 3
    res = inline.apply_runs([(OpKind.DELETE, HOPS_A, [*keys, *keys_of(["192.0.2.0/24"])])])
    assert (res.ok, res.skipped, res.failed) == (4, 0, {})  # every delete sent; ESRCH counts as done
    assert inline._index is None


def test_index_is_split_by_the_top_byte_of_the_network(fib: NetlinkFib) -> None:
    """Each (table, metric) is 256 dicts, so no single dict of a full table grows at once."""
    prefixes = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/25", "203.0.113.128/25"]
    fib.apply_runs([(OpKind.ADD, HOPS_A, keys_of(prefixes))])
    index = fib._index
    assert index is not None
    shards = index.tables[(4, 254, 0)]
    assert len(shards) == 256
    assert {i: len(d) for i, d in enumerate(shards) if d} == {192: 1, 198: 1, 203: 2}
    assert len(index) == 4
    fib.apply_runs([(OpKind.DELETE, HOPS_A, keys_of(prefixes[2:]))])
    assert {i: len(d) for i, d in enumerate(shards) if d} == {192: 1, 198: 1}
    assert_refs_match(fib)


def test_install_runs_go_to_the_kernel_in_key_order(fib: NetlinkFib, kernel: FakeRtnl) -> None:
    """A peer's order (BIRD: hash order) is not the kernel's: each install run is sent
    sorted (the FIB trie then deletes faster); runs keep their order, deletes stay
    highest first, and the index holds the caller's key objects either way. A
    prefix installed and withdrawn within one batch (a flap while the FIB lags a
    load) is deleted too, though the index learns of the install only after it."""
    shuffled = [f"{net}.{i}/32" for i in range(0, 256, 8) for net in ("203.0.113", "192.0.2", "198.51.100")]
    random.Random(3).shuffle(shuffled)
    keys = keys_of(shuffled)
    later = keys_of(["192.0.2.1/32"])
    kernel.requests.clear()
    fib.apply_runs([(OpKind.ADD, HOPS_A, keys), (OpKind.DELETE, HOPS_A, keys[:5]), (OpKind.ADD, HOPS_B, later)])
    sent = [(struct.unpack_from("=H", req, 4)[0], int.from_bytes(req[32:36], "big"))
            for req in kernel.requests
            if struct.unpack_from("=H", req, 4)[0] in (nlmsg.RTM_NEWROUTE, nlmsg.RTM_DELROUTE)]
    first = [addr for kind, addr in sent[: len(keys)]]
    assert all(kind == nlmsg.RTM_NEWROUTE for kind, _ in sent[: len(keys)])
    assert first == sorted(k >> 8 for k in keys)
    deletes = [addr for kind, addr in sent[len(keys): len(keys) + 5]]
    assert deletes == sorted((k >> 8 for k in keys[:5]), reverse=True)
    assert sent[-1] == (nlmsg.RTM_NEWROUTE, later[0] >> 8)
    assert holds_objects(own(fib), keys[5:] + later)
    assert_refs_match(fib)


def test_route_blocks_are_the_requests_packed_one_at_a_time() -> None:
    """The column-wise packer writes each request's flags, sequence number, prefix length
    and destination exactly where packing the request whole puts them."""
    rng = random.Random(7)
    keys = []
    for plen in list(range(33)) * 20:
        addr = rng.getrandbits(32) & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)
        keys.append((addr << 8) | plen)
    rng.shuffle(keys)
    tail = nlmsg.RTATTR.pack(8, nlmsg.RTA_NH_ID) + struct.pack("=I", 77)
    size = nlmsg.ROUTE_HEAD.size + len(tail)
    flags = [rng.choice([F_EXCL, F_REPLACE]) | nlmsg.NLM_F_REQUEST for _ in keys]

    def whole(flag: int, seq: int, key: int) -> bytes:
        return nlmsg.ROUTE_HEAD.pack(size, nlmsg.RTM_NEWROUTE, flag, seq, 0, nlmsg.AF_INET, key & 0xFF, 0, 0, 254,
                                     PROTO_NUMBER, 0, nlmsg.RTN_UNICAST, 0, 8, nlmsg.RTA_DST,
                                     (key >> 8).to_bytes(4, "big"), 8, nlmsg.RTA_TABLE, 254, 8,
                                     nlmsg.RTA_PRIORITY, 0) + tail

    template = whole(flags[0], 0, 0)
    for seq, given in ((1, flags), (0x3FFFFF00, flags), (5, None)):
        expected = b"".join(whole(flags[i] if given else flags[0], seq + i, k) for i, k in enumerate(keys))
        assert bytes(netlink._route_block_portable(template, keys, seq, given)) == expected
        if netlink._LITTLE_ENDIAN:
            assert bytes(netlink._route_block(template, keys, seq, given)) == expected
    assert netlink._route_block(template, [], 1, None) == b""


def test_a_run_mixing_held_and_new_prefixes(fib: NetlinkFib, kernel: FakeRtnl) -> None:
    """Prefixes already ours are replaced, the others added with CREATE|EXCL, in key order;
    the old object's routes are released, the index holds the new key objects."""
    keys = keys_of(slash30s(12))
    fib.apply_runs([(OpKind.ADD, HOPS_A, keys[::3])])
    kernel.requests.clear()
    again = [fresh(k) for k in reversed(keys)]
    res = fib.apply_runs([(OpKind.REPLACE, HOPS_B, again)])
    assert (res.ok, res.failed) == (12, {})
    held = set(keys[::3])
    assert request_flags(kernel) == [F_REPLACE if k in held else F_EXCL for k in sorted(keys)]
    index = own(fib)
    assert holds_objects(index, again) and set(index) == set(keys)
    assert all(v is object_of(fib, HOPS_B) for v in index.values())
    assert_refs_match(fib)
    assert len(kernel.objects) == 1  # A's object: no route left, collected


def test_index_insert_reports_entries_it_overwrites() -> None:
    """The index insert of a segment is one update per shard; should it meet a key the index
    still holds (an add the kernel accepted though the index had it), it says so, and
    the caller recounts the objects' routes instead of losing a release."""
    shards: list[dict[int, int]] = [{} for _ in range(256)]
    [a, b, c] = keys_of(["192.0.2.0/24", "192.0.2.128/25", "203.0.113.0/24"])
    shards[192][b] = 5
    assert netlink._insert_sorted(shards, sorted([a, b, c]), 9) == (3, 1)
    assert shards[192] == {a: 9, b: 9} and shards[203] == {c: 9}
    assert netlink._present_sorted(shards, sorted(keys_of(["192.0.2.0/24", "198.51.100.0/24"]))) == {a}


def test_an_overwritten_index_entry_is_recounted(fib: NetlinkFib, kernel: FakeRtnl,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Should the kernel accept an add for a key the index holds (here: the held check is
    made to miss them, and the routes vanished behind v4via6's back), the route counts
    come from the index again and the object no route uses is collected."""
    keys = keys_of(slash30s(4))
    fib.apply_runs([(OpKind.ADD, HOPS_A, keys)])
    kernel.routes.clear()
    monkeypatch.setattr(netlink, "_present_sorted", lambda shards, ks: set())
    res = fib.apply_runs([(OpKind.REPLACE, HOPS_B, keys)])
    assert (res.ok, res.failed) == (4, {})
    assert all(v is object_of(fib, HOPS_B) for v in own(fib).values())
    assert_refs_match(fib)
    assert list(kernel.objects) == [object_of(fib, HOPS_B)]
