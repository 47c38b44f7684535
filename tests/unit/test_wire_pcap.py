"""pcap reader and TCP reassembly on synthetic captures: segmentation, reordering,
retransmission, several messages per segment, link types and byte orders."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from v4via6.bgp.pcap import PcapError, bgp_messages, read_packets
from v4via6.bgp.wire import Notification, encode, end_of_rib
from v4via6.bgp.wire.messages import Keepalive

A6, B6 = IPv6Address("fe80::1"), IPv6Address("fe80::2")
A4, B4 = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")


def tcp(sport: int, dport: int, seq: int, payload: bytes, flags: int = 0x18) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 65535, 0, 0) + payload


def ipv6(src: IPv6Address, dst: IPv6Address, seg: bytes) -> bytes:
    return (struct.pack("!IHBB", 6 << 28, len(seg), 6, 64) + src.packed + dst.packed + seg)


def ipv4(src: IPv4Address, dst: IPv4Address, seg: bytes) -> bytes:
    return (struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(seg), 0, 0, 64, 6, 0) + src.packed
            + dst.packed + seg)


def ether(ip: bytes) -> bytes:
    etype = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    return bytes(6) + bytes(6) + etype.to_bytes(2, "big") + ip


def sll(ip: bytes) -> bytes:
    etype = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    return bytes(14) + etype.to_bytes(2, "big") + ip


def pcap(frames: list[bytes], linktype: int = 1, endian: str = "<", nano: bool = False) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for i, f in enumerate(frames):
        out += struct.pack(endian + "IIII", 1000 + i, 0, len(f), len(f)) + f
    return out


def segment(src: object, dst: object, sport: int, dport: int, seq: int, payload: bytes,
            flags: int = 0x18) -> bytes:
    seg = tcp(sport, dport, seq, payload, flags)
    s, d = ip_address(str(src)), ip_address(str(dst))
    if isinstance(s, IPv6Address) and isinstance(d, IPv6Address):
        return ipv6(s, d, seg)
    assert isinstance(s, IPv4Address) and isinstance(d, IPv4Address)
    return ipv4(s, d, seg)


KA = encode(Keepalive())
EOR = end_of_rib(2, 1)
NOTE = encode(Notification(6, 2))


def test_reassembly_reorder_retransmit_and_coalesced() -> None:
    isn = 1000
    stream = KA + EOR + NOTE  # 19 + 30 + 21 bytes
    seq = isn + 1
    frames = [
        ether(segment(A6, B6, 40000, 179, isn, b"", 0x02)),  # SYN
        ether(segment(A6, B6, 40000, 179, seq + 30, stream[30:])),  # arrives early
        ether(segment(A6, B6, 40000, 179, seq, stream[:30])),  # fills the gap
        ether(segment(A6, B6, 40000, 179, seq, stream[:30])),  # retransmission
        ether(segment(B6, A6, 179, 40000, 5000, KA)),  # other direction, mid-stream start
        ether(segment(A6, B6, 40000, 22, 1, KA)),  # not BGP
    ]
    msgs = bgp_messages(read_packets(pcap(frames)))
    assert [m.data for m in msgs] == [KA, EOR, NOTE, KA]
    # a message's frame is where its first byte arrived
    assert [m.frame for m in msgs] == [3, 3, 2, 5]
    assert msgs[0].src == "fe80::1" and msgs[3].sport == 179


@pytest.mark.parametrize(("linktype", "wrap"), [(1, ether), (113, sll), (101, lambda ip: ip)],
                         ids=["ethernet", "sll", "raw"])
@pytest.mark.parametrize(("endian", "nano"), [("<", False), (">", True)], ids=["le-us", "be-ns"])
def test_link_types_and_byte_orders(linktype: int, wrap: object, endian: str,
                                    nano: bool) -> None:
    assert callable(wrap)
    frames = [wrap(segment(A4, B4, 179, 50000, 7, KA + KA[:5])),
              wrap(segment(A4, B4, 179, 50000, 7 + 24, KA[5:]))]
    msgs = bgp_messages(read_packets(pcap(frames, linktype, endian, nano)))
    assert [m.data for m in msgs] == [KA, KA]
    assert [m.frame for m in msgs] == [1, 1]
    assert msgs[0].src == "192.0.2.1"


def test_bad_files() -> None:
    with pytest.raises(PcapError, match="not a pcap"):
        read_packets(b"hello world, this is not a pcap")
    with pytest.raises(PcapError, match="truncated"):
        read_packets(pcap([ether(segment(A6, B6, 1, 179, 1, KA))])[:-3])
    with pytest.raises(PcapError, match="shorter"):
        read_packets(b"\xd4\xc3")
