"""Exact bytes of packed rtnetlink messages, and parsing of crafted kernel answers.

Expected encodings were worked out by hand from <linux/netlink.h>,
<linux/rtnetlink.h> and <linux/nexthop.h> (little-endian hosts); each line of
hex below is one header or attribute.
"""

from __future__ import annotations

import errno

import pytest

from v4via6.fib import nlmsg
from v4via6.fib.nlmsg import AF_INET, AF_INET6, AF_UNSPEC, HopSpec

FE80_1 = bytes.fromhex("fe800000000000000000000000000001")
FE80_2 = bytes.fromhex("fe800000000000000000000000000002")
NET = bytes([198, 51, 100, 0])


def h(*lines: str) -> bytes:
    return bytes.fromhex("".join(line.split("#")[0] for line in lines).replace(" ", ""))


def one_message(data: bytes) -> nlmsg.Message:
    msgs = list(nlmsg.iter_messages(data, len(data)))
    assert len(msgs) == 1
    return msgs[0]


def test_add_single_via_inet6() -> None:
    tail = nlmsg.nexthop_tail((HopSpec(3, AF_INET6, FE80_1),))
    got = nlmsg.pack_route(
        nlmsg.RTM_NEWROUTE, 0x601, 7, NET, 24, 254, 0, 46, tail
    )
    assert got == h(
        "54000000 1800 0106 07000000 00000000",  # nlmsghdr: len 84, NEWROUTE, REQ|EXCL|CREATE
        "02 18 00 00 fe 2e 00 01 00000000",  # rtmsg: inet /24 table 254 proto 46 universe unicast
        "0800 0100 c6336400",  # RTA_DST 198.51.100.0
        "0800 0f00 fe000000",  # RTA_TABLE 254
        "0800 0600 00000000",  # RTA_PRIORITY 0
        "0800 0400 03000000",  # RTA_OIF 3
        "1600 1200 0a00 fe800000000000000000000000000001 0000",  # RTA_VIA inet6 fe80::1 + pad
    )


def test_single_ipv4_gateway_uses_rta_gateway() -> None:
    tail = nlmsg.nexthop_tail((HopSpec(2, AF_INET, bytes([192, 0, 2, 1])),))
    assert tail == h("0800 0400 02000000", "0800 0500 c0000201")


def test_multipath_with_weights() -> None:
    tail = nlmsg.nexthop_tail(
        (HopSpec(3, AF_INET6, FE80_1, 1), HopSpec(4, AF_INET6, FE80_2, 3))
    )
    assert tail == h(
        "4400 0900",  # RTA_MULTIPATH, len 68
        "2000 00 00 03000000",  # rtnexthop len 32, hops 0 (weight 1), ifindex 3
        "1600 1200 0a00 fe800000000000000000000000000001 0000",
        "2000 00 02 04000000",  # rtnexthop len 32, hops 2 (weight 3), ifindex 4
        "1600 1200 0a00 fe800000000000000000000000000002 0000",
    )


def test_prefsrc_table_metric() -> None:
    got = nlmsg.pack_route(
        nlmsg.RTM_NEWROUTE, 0x501, 1, NET, 24, 1000, 100, 46,
        nlmsg.nhid_tail(0x46000000), prefsrc=bytes([192, 0, 2, 1]),
    )
    assert got == h(
        "44000000 1800 0105 01000000 00000000",  # len 68, REQ|REPLACE|CREATE
        "02 18 00 00 00 2e 00 01 00000000",  # rtm_table 0: table >= 256 lives in RTA_TABLE
        "0800 0100 c6336400",
        "0800 0f00 e8030000",  # RTA_TABLE 1000
        "0800 0600 64000000",  # RTA_PRIORITY 100
        "0800 0700 c0000201",  # RTA_PREFSRC 192.0.2.1
        "0800 1e00 00000046",  # RTA_NH_ID 0x46000000
    )


def test_delete_names_protocol_and_matches_any_scope() -> None:
    got = nlmsg.pack_route(nlmsg.RTM_DELROUTE, 0x1, 9, NET, 24, 254, 5, 46)
    assert got == h(
        "34000000 1900 0100 09000000 00000000",  # len 52, DELROUTE, REQUEST
        "02 18 00 00 fe 2e ff 00 00000000",  # proto 46, scope NOWHERE, type UNSPEC
        "0800 0100 c6336400",
        "0800 0f00 fe000000",
        "0800 0600 05000000",
    )


def test_nexthop_object() -> None:
    got = nlmsg.pack_nexthop(2, 0x601, 0x46000001, 46, HopSpec(3, AF_INET6, FE80_1))
    assert got == h(
        "3c000000 6800 0106 02000000 00000000",  # len 60, RTM_NEWNEXTHOP
        "0a 00 2e 00 00000000",  # nhmsg: inet6, proto 46
        "0800 0100 01000046",  # NHA_ID
        "0800 0500 03000000",  # NHA_OIF 3
        "1400 0600 fe800000000000000000000000000001",  # NHA_GATEWAY
    )


def test_nexthop_group_with_weights() -> None:
    got = nlmsg.pack_nexthop_group(3, 0x601, 0x46000009, 46, ((0x46000001, 1), (0x46000002, 3)))
    assert got == h(
        "3c000000 6800 0106 03000000 00000000",
        "00 00 2e 00 00000000",  # nhmsg: AF_UNSPEC for a group
        "0800 0100 09000046",
        "1400 0200",  # NHA_GROUP, two nexthop_grp entries
        "01000046 00 00 0000",  # id, weight-1 = 0
        "02000046 02 00 0000",  # id, weight-1 = 2
        "0600 0300 0000 0000",  # NHA_GROUP_TYPE mpath + pad
    )


def test_delete_nexthop() -> None:
    assert nlmsg.pack_del_nexthop(4, 0x5, 0x46000001) == h(
        "20000000 6900 0500 04000000 00000000", "00 00 00 00 00000000", "0800 0100 01000046"
    )


def test_route_dump_request_filters_protocol_and_table() -> None:
    assert nlmsg.pack_route_dump(5, 46, 1000) == h(
        "24000000 1a00 0103 05000000 00000000",  # GETROUTE, REQUEST|DUMP
        "02 00 00 00 00 2e 00 00 00000000",
        "0800 0f00 e8030000",
    )


# --- parsing ------------------------------------------------------------------------------

DUMPED_MULTIPATH = h(
    "90000000 1800 0200 2a000000 00000000",  # NEWROUTE, MULTI, seq 42, len 144
    "02 18 00 00 fe 2e 00 01 00000000",
    "0800 0f00 fe000000",
    "0800 0100 cb007100",  # 203.0.113.0
    "0800 0600 0a000000",  # metric 10
    "0800 0700 c0000201",  # prefsrc
    "0800 1e00 05000046",  # RTA_NH_ID
    "0500 1900 07 000000",  # an attribute we do not know (type 25), len 5 + pad
    "4400 0900",
    "2000 00 00 03000000",
    "1600 1200 0a00 fe800000000000000000000000000001 0000",
    "2000 00 04 04000000",
    "1600 1200 0a00 fe800000000000000000000000000002 0000",
)


def test_parse_dumped_multipath_route() -> None:
    msg = one_message(DUMPED_MULTIPATH)
    assert (msg.type, msg.seq) == (nlmsg.RTM_NEWROUTE, 42)
    assert nlmsg.route_protocol(DUMPED_MULTIPATH, msg) == 46
    rm = nlmsg.parse_route(DUMPED_MULTIPATH, msg)
    assert rm.dst == bytes([203, 0, 113, 0]) and rm.dst_len == 24
    assert (rm.table, rm.metric, rm.protocol, rm.type) == (254, 10, 46, 1)
    assert rm.prefsrc == bytes([192, 0, 2, 1])
    assert rm.nh_id == 0x46000005
    assert rm.hops == (HopSpec(3, AF_INET6, FE80_1, 1), HopSpec(4, AF_INET6, FE80_2, 5))


def test_parse_single_hop_route_and_foreign_gateway() -> None:
    data = h(
        "3c000000 1800 0200 01000000 00000000",
        "02 10 00 00 fe 04 00 01 00000000",  # proto static, /16
        "0800 0f00 fe000000",
        "0800 0100 c6120000",
        "0800 0500 c0000201",  # RTA_GATEWAY 192.0.2.1
        "0800 0400 07000000",
    )
    rm = nlmsg.parse_route(data, one_message(data))
    assert rm.protocol == 4 and rm.nh_id is None and rm.metric == 0
    assert rm.hops == (HopSpec(7, AF_INET, bytes([192, 0, 2, 1]), 1),)


def test_parse_device_only_route_default_destination() -> None:
    data = h(
        "2c000000 1800 0200 01000000 00000000",
        "02 00 00 00 fe 03 fd 01 00000000",  # default route, proto boot, scope link
        "0800 0f00 fe000000",
        "0800 0400 02000000",
    )
    rm = nlmsg.parse_route(data, one_message(data))
    assert rm.dst == b"\0\0\0\0" and rm.dst_len == 0
    assert rm.hops == (HopSpec(2, AF_UNSPEC, b"", 1),)


def test_parse_truncated_message_is_an_error() -> None:
    with pytest.raises(ValueError, match="truncated"):
        list(nlmsg.iter_messages(DUMPED_MULTIPATH, 100))


def test_parse_error_with_extended_ack_text() -> None:
    data = h(
        "40000000 0200 0003 0b000000 00000000",  # NLMSG_ERROR len 64, CAPPED|ACK_TLVS, seq 11
        "edffffff",  # -19 ENODEV
        "34000000 1800 0106 0b000000 00000000",  # original header only (capped)
        "1b00 0100", "4e657874686f702064657669636520697320646f776e00 00",  # MSG + pad
    )
    ans = nlmsg.parse_error(data, one_message(data))
    assert ans == nlmsg.ErrorAnswer(11, errno.ENODEV, "Nexthop device is down")


def test_parse_ack() -> None:
    data = h("24000000 0200 0001 0c000000 00000000", "00000000", "34000000 1800 0106 0c000000 00000000")
    assert nlmsg.parse_error(data, one_message(data)) == nlmsg.ErrorAnswer(12, 0, "")


def test_parse_nexthop_single_and_group() -> None:
    single = h(
        "3c000000 6800 0200 01000000 00000000",
        "0a 00 2e 00 00000000",
        "0800 0100 01000046",
        "0800 0500 03000000",
        "1400 0600 fe800000000000000000000000000001",
    )
    nh = nlmsg.parse_nexthop(single, one_message(single))
    assert nh == nlmsg.NexthopMsg(0x46000001, 46, HopSpec(3, AF_INET6, FE80_1), (), False)
    group = h(
        "3c000000 6800 0200 01000000 00000000",
        "00 00 0b 00 00000000",  # proto zebra
        "0800 0100 09000000",
        "1400 0200", "01000046 00 00 0000", "02000046 ff 00 0000",
        "0600 0300 0000 0000",
    )
    g = nlmsg.parse_nexthop(group, one_message(group))
    assert g.protocol == 11 and g.hop is None
    assert g.group == ((0x46000001, 1), (0x46000002, 256))


def test_parse_link() -> None:
    data = h(
        "34000000 1000 0200 01000000 00000000",  # RTM_NEWLINK, len 52
        "00 00 0100 05000000 43100100 00000000",  # ifinfomsg: ether, index 5
        "0900 0300 6574683000 000000",  # IFLA_IFNAME "eth0\0" (len 9) + pad
        "0800 0400 dc050000",  # IFLA_MTU
    )
    assert nlmsg.parse_link(data, one_message(data)) == (5, "eth0")


def test_parse_route_key_reads_only_the_identity() -> None:
    msg = one_message(DUMPED_MULTIPATH)
    assert nlmsg.parse_route_key(DUMPED_MULTIPATH, msg) == (
        254, bytes([203, 0, 113, 0]), 24, 10, 0x46000005
    )
    big_table = nlmsg.pack_route(nlmsg.RTM_NEWROUTE, 0, 1, NET, 24, 1000, 7, 46)
    assert nlmsg.parse_route_key(big_table, one_message(big_table)) == (1000, NET, 24, 7, 0)
