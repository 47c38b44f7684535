"""Router advertisement / solicitation codec, checksum and raw-socket option layouts."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from v4via6.transport import ra
from v4via6.transport.ra import NdDecodeError, RouterAdvert

MAC = bytes.fromhex("02005e005301")

# An RA as v4via6 sends it: hop limit 64, no flags, router lifetime 0, SLLA option.
RA_BYTES = bytes.fromhex(
    "86 00 0000"  # type 134, code 0, checksum (kernel fills it in)
    "40 00 0000"  # cur hop limit 64, flags 0, router lifetime 0
    "00000000"  # reachable time
    "00000000"  # retrans timer
    "01 01 02005e005301"  # source link-layer address option, 1 x 8 octets
)


def test_encode_router_advert_bytes() -> None:
    assert ra.encode_router_advert(RouterAdvert(cur_hop_limit=64, source_lladdr=MAC)) == RA_BYTES


def test_encode_router_advert_with_mtu_and_lifetime() -> None:
    out = ra.encode_router_advert(RouterAdvert(router_lifetime=1800, mtu=1500))
    assert out[6:8] == b"\x07\x08"
    assert out[16:] == bytes.fromhex("05 01 0000 000005dc")


def test_decode_router_advert_roundtrip_and_fields() -> None:
    adv = ra.decode_router_advert(RA_BYTES)
    assert adv == RouterAdvert(cur_hop_limit=64, source_lladdr=MAC)
    assert ra.format_mac(adv.source_lladdr or b"") == "02:00:5e:00:53:01"


def test_decode_keeps_unknown_options() -> None:
    prefix_opt = bytes([3, 4]) + bytes(30)  # prefix information, 32 octets
    adv = ra.decode_router_advert(RA_BYTES + prefix_opt)
    assert adv.other_options == ((3, bytes(30)),)
    assert ra.encode_router_advert(adv) == RA_BYTES + prefix_opt


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (RA_BYTES[:15], "too short"),
        (b"\x87" + RA_BYTES[1:], "not a router advertisement"),
        (RA_BYTES[:1] + b"\x01" + RA_BYTES[2:], "code 1"),
        (RA_BYTES[:16] + b"\x01\x00" + bytes(6), "length 0"),
        (RA_BYTES[:16] + b"\x01\x02" + bytes(6), "runs past"),
        (RA_BYTES[:16] + b"\x01", "truncated"),
    ],
)
def test_decode_rejects_bad_packets(packet: bytes, reason: str) -> None:
    with pytest.raises(NdDecodeError, match=reason):
        ra.decode_router_advert(packet)


def test_validate_requires_link_local_source_and_hop_limit_255() -> None:
    assert ra.validate_router_advert("fe80::2%eth0", 255, RA_BYTES).source_lladdr == MAC
    assert ra.validate_router_advert("fe80::2", None, RA_BYTES).cur_hop_limit == 64
    with pytest.raises(NdDecodeError, match="not link-local"):
        ra.validate_router_advert("2001:db8::1", 255, RA_BYTES)
    with pytest.raises(NdDecodeError, match="hop limit 64"):
        ra.validate_router_advert("fe80::2", 64, RA_BYTES)


def test_router_solicit_bytes_and_decode() -> None:
    rs = ra.encode_router_solicit(MAC)
    assert rs == bytes.fromhex("85 00 0000 00000000 01 01 02005e005301")
    assert ra.decode_router_solicit(rs).source_lladdr == MAC
    assert ra.encode_router_solicit() == bytes.fromhex("8500000000000000")
    with pytest.raises(NdDecodeError, match="not a router solicitation"):
        ra.decode_router_solicit(RA_BYTES)


def test_icmpv6_checksum_hand_computed_vector() -> None:
    # Echo request 80 00 0000 from ::1 to ::1: 1 + 1 + len 4 + next header 58 + 0x8000 = 0x8040.
    assert ra.icmpv6_checksum("::1", "::1", bytes.fromhex("80000000")) == 0x7FBF


@given(st.binary(min_size=4, max_size=64))
def test_checksum_over_packet_with_its_checksum_is_zero(body: bytes) -> None:
    packet = body[:2] + b"\0\0" + body[4:]
    csum = ra.icmpv6_checksum("fe80::1", "ff02::1", packet)
    filled = packet[:2] + struct.pack("!H", csum) + packet[4:]
    assert ra.icmpv6_checksum("fe80::1", "ff02::1", filled) == 0


@given(st.binary(max_size=64))
def test_decode_never_raises_anything_but_nd_decode_error(data: bytes) -> None:
    for decode in (ra.decode_router_advert, ra.decode_router_solicit):
        with contextlib.suppress(NdDecodeError):
            decode(data)


def test_icmp6_filter_passes_only_given_types() -> None:
    raw = ra.pack_icmp6_filter({133, 134})
    words = struct.unpack("=8I", raw)
    assert len(raw) == 32
    # 133 and 134 are bits 5 and 6 of word 4; every other bit blocks.
    assert words[4] == 0xFFFFFFFF & ~((1 << 5) | (1 << 6))
    assert all(w == 0xFFFFFFFF for i, w in enumerate(words) if i != 4)
    with pytest.raises(ValueError, match="out of range"):
        ra.pack_icmp6_filter({256})


def test_ipv6_mreq_and_pktinfo_layouts() -> None:
    assert ra.pack_ipv6_mreq("ff02::2", 5) == bytes.fromhex("ff020000000000000000000000000002") + struct.pack("=i", 5)
    pktinfo = bytes.fromhex("ff020000000000000000000000000001") + struct.pack("=I", 9)
    assert ra.unpack_in6_pktinfo(pktinfo) == ("ff02::1", 9)
    with pytest.raises(ValueError, match="20 bytes"):
        ra.unpack_in6_pktinfo(b"\0" * 19)


def test_mac_text_roundtrip() -> None:
    assert ra.parse_mac("02:00:5e:00:53:01") == MAC
    with pytest.raises(ValueError, match="MAC"):
        ra.parse_mac("02:00:5e")
