"""Wire codec unit tests: framing, OPEN/UPDATE/NOTIFICATION codecs, next hops, packing."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from v4via6.bgp.wire import (
    Announcement,
    BgpNextHop,
    Capability,
    Context,
    EncodeError,
    Keepalive,
    Notification,
    Open,
    RouteRefresh,
    Update,
    WireError,
    Withdrawal,
    cap_extended_message,
    cap_extended_nexthop,
    cap_four_octet_as,
    cap_multiprotocol,
    cap_route_refresh,
    decode_message,
    decode_nexthop,
    encode,
    encode_nexthop,
    encode_updates,
    encode_withdrawals,
    end_of_rib,
    key_of,
    make_attributes,
    negotiate,
    split_messages,
)
from v4via6.bgp.wire.capabilities import cap_add_path
from v4via6.bgp.wire.prefixes import decode_prefixes, encode_prefixes, format_key

V6CTX = Context(extended_nexthop=frozenset({(1, 1, 2)}))
LL = IPv6Address("fe80::12:1")
GLOBAL = IPv6Address("2001:db8:1:1::1")


def test_prefix_keys_roundtrip_and_mask_host_bits() -> None:
    keys = [key_of("0.0.0.0/0"), key_of("192.0.2.0/24"), key_of("198.51.100.128/25"),
            key_of("203.0.113.7/32")]
    data = encode_prefixes(keys, 1)
    assert data.hex() == "0018c0000219c6336480" "20cb007107"
    assert decode_prefixes(data, 0, len(data), 1) == keys
    # host bits beyond the length are irrelevant (RFC 4271) and cleared
    assert decode_prefixes(bytes.fromhex("18c00002"), 0, 4, 1) == [key_of("192.0.2.0/24")]
    assert format_key(key_of("2001:db8::/32"), 2) == "2001:db8::/32"


@pytest.mark.parametrize(
    ("raw", "global_addr", "link_local"),
    [
        ("c0000201", "192.0.2.1", None),
        ("fe800000000000000000000000120001", None, "fe80::12:1"),
        ("20010db8000100010000000000000001", "2001:db8:1:1::1", None),
        ("20010db8000100010000000000000001" "fe800000000000000000000000120001",
         "2001:db8:1:1::1", "fe80::12:1"),
        ("00000000000000000000000000000000" "fe800000000000000000000000120001",
         None, "fe80::12:1"),
        ("fe800000000000000000000000120001" "fe800000000000000000000000120001",
         None, "fe80::12:1"),
    ],
    ids=["v4", "LL", "global", "global+LL", "zero+LL(bird)", "LL+LL(frr)"],
)
def test_every_nexthop_shape(raw: str, global_addr: str | None, link_local: str | None) -> None:
    nh = decode_nexthop(bytes.fromhex(raw))
    assert (str(nh.global_addr) if nh.global_addr else None) == global_addr
    assert (str(nh.link_local) if nh.link_local else None) == link_local


def test_nexthop_encode_styles() -> None:
    nh = BgpNextHop(None, LL)
    assert encode_nexthop(nh, "ll") == LL.packed
    assert encode_nexthop(nh, "ll-ll") == LL.packed * 2
    assert encode_nexthop(nh, "zero-ll") == bytes(16) + LL.packed
    assert encode_nexthop(BgpNextHop(GLOBAL, LL)) == GLOBAL.packed + LL.packed
    assert nh.address == LL and BgpNextHop(GLOBAL).address == GLOBAL


def test_split_messages_keeps_partial_tail() -> None:
    ka = encode(Keepalive())
    stream = ka + ka + ka[:7]
    msgs, used = split_messages(stream, 4096)
    assert [t for t, _ in msgs] == [4, 4]
    assert used == 38


@pytest.mark.parametrize(
    ("data", "code", "subcode", "payload"),
    [
        (b"\x00" * 16 + b"\x00\x13\x04", 1, 1, b""),
        (b"\xff" * 16 + b"\x00\x12\x04", 1, 2, b"\x00\x12"),
        (b"\xff" * 16 + b"\x00\x14\x04", 1, 2, b"\x00\x14"),  # KEEPALIVE must be 19
        (b"\xff" * 16 + b"\x10\x01\x02", 1, 2, b"\x10\x01"),  # 4097 > 4096
        (b"\xff" * 16 + b"\x00\x13\x09", 1, 3, b"\x09"),
    ],
    ids=["marker", "short", "keepalive-len", "too-long", "type"],
)
def test_header_errors(data: bytes, code: int, subcode: int, payload: bytes) -> None:
    with pytest.raises(WireError) as exc:
        split_messages(data, 4096)
    assert (exc.value.code, exc.value.subcode, exc.value.data) == (code, subcode, payload)


def test_extended_message_raises_the_limit() -> None:
    attrs = make_attributes(origin=0, as_path=((2, (65001,)),))
    keys = tuple(key_of(f"10.{i >> 8}.{i & 255}.0/24") for i in range(5000))
    big = Context(extended_message=True)
    msgs = encode_updates([Announcement(1, 1, BgpNextHop(IPv4Address("192.0.2.1")), attrs,
                                        keys)], big)
    assert len(msgs) == 1 and len(msgs[0]) > 4096
    with pytest.raises(WireError):
        split_messages(msgs[0], 4096)
    assert split_messages(msgs[0], 65535)[1] == len(msgs[0])


def test_open_roundtrip_and_queries() -> None:
    caps = (cap_multiprotocol(1, 1), cap_route_refresh(), cap_extended_nexthop([(1, 1, 2)]),
            cap_four_octet_as(4200000001), cap_extended_message())
    msg = Open(23456, 90, IPv4Address("203.0.113.1"), caps)
    data = encode(msg)
    back = decode_message(data)
    assert isinstance(back, Open)
    assert back.asn == 4200000001
    assert back.extended_nexthop == frozenset({(1, 1, 2)})
    assert back.families == frozenset({(1, 1)})
    assert encode(back) == data


def test_open_rfc9072_extended_parameters() -> None:
    caps = tuple(Capability(200, bytes(100)) for _ in range(4))
    msg = Open(65001, 90, IPv4Address("192.0.2.1"), caps)
    data = encode(msg)
    body = data[19:]
    assert body[9] == 255 and body[10] == 255  # non-ext length 255, type 255
    back = decode_message(data)
    assert isinstance(back, Open) and back.extended_params and back.capabilities == caps
    assert encode(back) == data


def test_open_bad_version_is_2_1_with_supported_version() -> None:
    data = bytearray(encode(Open(65001, 90, IPv4Address("192.0.2.1"))))
    data[19] = 3
    with pytest.raises(WireError) as exc:
        decode_message(bytes(data))
    assert (exc.value.code, exc.value.subcode, exc.value.data) == (2, 1, b"\x00\x04")


def test_negotiate_intersects() -> None:
    a = (cap_four_octet_as(65001), cap_extended_nexthop([(1, 1, 2)]), cap_extended_message(),
         cap_add_path([(1, 1, 3)]))
    b = (cap_four_octet_as(65002), cap_extended_nexthop([(1, 1, 2), (1, 2, 2)]),
         cap_add_path([(1, 1, 1)]))
    ctx = negotiate(a, b)
    assert ctx.four_octet_as and not ctx.extended_message
    assert ctx.extended_nexthop == frozenset({(1, 1, 2)})
    assert ctx.add_path_tx == frozenset({(1, 1)}) and ctx.add_path_rx == frozenset()
    assert not negotiate((), b).four_octet_as


def test_simple_messages_roundtrip() -> None:
    for msg in (Keepalive(), Notification(6, 2, b"\x03bye"), RouteRefresh(1, 1, 2)):
        assert decode_message(encode(msg)) == msg


def test_encode_updates_packs_and_decodes_back() -> None:
    attrs = make_attributes(origin=0, as_path=((2, (65001, 65002)),), med=5,
                            communities=(65001 << 16 | 1,))
    keys = tuple(key_of(f"10.{i >> 8}.{i & 255}.0/24") for i in range(3000))
    ann = Announcement(1, 1, BgpNextHop(None, LL), attrs, keys)
    msgs = encode_updates([ann], V6CTX)
    assert 3 <= len(msgs) <= 4  # ~1000 /24s per 4096-byte message
    got: list[int] = []
    for m in msgs:
        assert len(m) <= 4096
        u = decode_message(m, V6CTX)
        assert isinstance(u, Update)
        (a,) = u.announcements()
        assert a.attrs is attrs  # interned: one object per attribute set
        assert a.next_hop == BgpNextHop(None, LL)
        got.extend(a.keys)
    assert tuple(got) == keys


def test_encode_updates_classic_ipv4_nexthop() -> None:
    attrs = make_attributes(origin=2, as_path=((2, (65001,)),))
    ann = Announcement(1, 1, BgpNextHop(IPv4Address("192.0.2.1")), attrs,
                       (key_of("198.51.100.0/24"),))
    (m,) = encode_updates([ann], Context())
    u = decode_message(m)
    assert isinstance(u, Update)
    assert u.next_hop == IPv4Address("192.0.2.1") and u.mp_reach is None
    assert u.announcements()[0].keys == (key_of("198.51.100.0/24"),)


def test_ipv6_nexthop_for_ipv4_needs_capability() -> None:
    attrs = make_attributes(origin=0, as_path=())
    ann = Announcement(1, 1, BgpNextHop(GLOBAL), attrs, (key_of("198.51.100.0/24"),))
    with pytest.raises(EncodeError):
        encode_updates([ann], Context())


def test_withdrawals_and_end_of_rib() -> None:
    keys = tuple(key_of(f"10.0.{i}.0/24") for i in range(256))
    for use_mp in (False, True):
        msgs = encode_withdrawals(Withdrawal(1, 1, keys), V6CTX, use_mp=use_mp)
        got = []
        for m in msgs:
            u = decode_message(m, V6CTX)
            assert isinstance(u, Update)
            for w in u.withdrawals():
                got.extend(w.keys)
        assert tuple(got) == keys
    eor4 = decode_message(end_of_rib(1, 1))
    eor6 = decode_message(end_of_rib(2, 1))
    assert isinstance(eor4, Update) and eor4.end_of_rib == (1, 1)
    assert isinstance(eor6, Update) and eor6.end_of_rib == (2, 1)


def test_add_path_nlri_roundtrip() -> None:
    ctx = Context(add_path_rx=frozenset({(1, 1)}), add_path_tx=frozenset({(1, 1)}))
    attrs = make_attributes(origin=0, as_path=((2, (65001,)),))
    ann = Announcement(1, 1, BgpNextHop(IPv4Address("192.0.2.1")), attrs,
                       (key_of("198.51.100.0/24"), key_of("198.51.100.0/24")), (1, 2))
    (m,) = encode_updates([ann], ctx)
    u = decode_message(m, ctx)
    assert isinstance(u, Update)
    assert u.announcements()[0].path_ids == (1, 2)
    assert encode(u, ctx) == m
    assert cap_add_path([(1, 1, 3)]).details()["families"][0]["send_receive"] == "both"


def test_as4_path_merge_on_two_octet_session() -> None:
    """RFC 6793 §4.2.3: AS_TRANS in AS_PATH, the real ASNs in AS4_PATH."""
    two = Context(four_octet_as=False)
    attrs = make_attributes(origin=0, as_path=((2, (65001, 4200000001, 65003)),),
                            aggregator=(4200000001, IPv4Address("192.0.2.9")),
                            four_octet_as=True)
    ann = Announcement(1, 1, BgpNextHop(IPv4Address("192.0.2.1")), attrs,
                       (key_of("198.51.100.0/24"),))
    (m,) = encode_updates([ann], two)
    assert (23456).to_bytes(2, "big") in m
    u = decode_message(m, two)
    assert isinstance(u, Update) and u.attrs is not None
    assert u.attrs.as_path == ((2, (65001, 4200000001, 65003)),)
    assert u.attrs.aggregator == (4200000001, IPv4Address("192.0.2.9"))
    assert u.attrs.as_path_len == 3 and u.attrs.neighbor_as == 65001
    assert encode(u, two) == m


def test_path_attributes_fields_and_interning() -> None:
    a = make_attributes(origin=1, as_path=((2, (65001, 65002)), (1, (65003, 65004)),
                                           (3, (64512,))),
                        med=10, local_pref=200, communities=(1, 2),
                        large_communities=((65001, 1, 2),), ext_communities=(0x0002FDE900000001,),
                        originator_id=IPv4Address("192.0.2.7"),
                        cluster_list=(IPv4Address("192.0.2.8"),), atomic_aggregate=True,
                        unknown=((0xC0, 99, b"\x01\x02"),))
    assert a.as_path_len == 3  # SEQ 2 + SET 1 + CONFED 0
    assert a.neighbor_as == 65001
    b = make_attributes(origin=1, as_path=a.as_path, med=10, local_pref=200,
                        communities=(1, 2), large_communities=((65001, 1, 2),),
                        ext_communities=(0x0002FDE900000001,),
                        originator_id=IPv4Address("192.0.2.7"),
                        cluster_list=(IPv4Address("192.0.2.8"),), atomic_aggregate=True,
                        unknown=((0xC0, 99, b"\x01\x02"),))
    assert a is b
    assert hash(a) == hash(b)
    c = a.replace(med=11)
    assert c.med == 11 and c.local_pref == 200 and c != a


def test_unknown_transitive_gets_partial_bit_when_propagated() -> None:
    from v4via6.bgp.wire import encode_attributes

    a = make_attributes(origin=0, as_path=(), unknown=((0xC0, 99, b"\x01"), (0x80, 98, b"\x02")))
    own = encode_attributes(a, Context())
    assert bytes((0xC0, 99, 1, 1)) in own and bytes((0x80, 98, 1, 2)) in own
    out = encode_attributes(a, Context(), propagate=True)
    assert bytes((0xE0, 99, 1, 1)) in out  # partial bit set
    assert bytes((0x80, 98)) not in out  # optional non-transitive not propagated

