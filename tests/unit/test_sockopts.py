"""Socket option packing, byte for byte, and the appliers on real (unprivileged) sockets."""

from __future__ import annotations

import socket
import struct

import pytest

from v4via6.transport import sockopts
from v4via6.transport.sockopts import SockoptError

FE80_1 = bytes.fromhex("fe800000000000000000000000000001")


def test_sockaddr_in6_layout() -> None:
    raw = sockopts.pack_sockaddr_in6("fe80::1", port=179, scope_id=3, flowinfo=0x12345)
    assert len(raw) == 28
    assert raw[:2] == b"\x0a\x00"  # AF_INET6 = 10, host order (little endian here)
    assert raw[2:4] == b"\x00\xb3"  # port 179, network order
    assert raw[4:8] == b"\x00\x01\x23\x45"  # flowinfo, network order
    assert raw[8:24] == FE80_1
    assert raw[24:28] == b"\x03\x00\x00\x00"  # scope id, host order


def test_sockaddr_in6_accepts_scoped_text_and_rejects_garbage() -> None:
    assert sockopts.pack_sockaddr_in6("fe80::1%eth0")[8:24] == FE80_1
    with pytest.raises(SockoptError, match="not an IPv6 address"):
        sockopts.pack_sockaddr_in6("192.0.2.1")
    with pytest.raises(SockoptError, match="port"):
        sockopts.pack_sockaddr_in6("::1", port=70000)


def test_tcp_md5sig_link_local_with_scope() -> None:
    raw = sockopts.pack_tcp_md5sig("fe80::1", b"secret", scope_id=3)
    assert len(raw) == 216 == sockopts.TCP_MD5SIG_SIZE
    expected_sa = b"\x0a\x00" + b"\x00\x00" + b"\x00" * 4 + FE80_1 + b"\x03\x00\x00\x00"
    assert raw[:128] == expected_sa + b"\x00" * 100
    assert raw[128] == 0  # flags
    assert raw[129] == 0  # prefixlen
    assert raw[130:132] == b"\x06\x00"  # keylen 6, host order
    assert raw[132:136] == b"\x00\x00\x00\x00"  # ifindex
    assert raw[136:] == b"secret" + b"\x00" * 74


def test_tcp_md5sig_prefix_and_vrf_set_flags_and_ext_option() -> None:
    raw = sockopts.pack_tcp_md5sig("2001:db8::", b"k", prefixlen=32, l3_ifindex=7)
    assert raw[128] == sockopts.TCP_MD5SIG_FLAG_PREFIX | sockopts.TCP_MD5SIG_FLAG_IFINDEX
    assert raw[129] == 32
    assert struct.unpack("=i", raw[132:136])[0] == 7
    assert sockopts.md5_option_name(prefixlen=32) == sockopts.TCP_MD5SIG_EXT == 32
    assert sockopts.md5_option_name() == sockopts.TCP_MD5SIG == 14


def test_tcp_md5sig_empty_key_deletes_and_long_key_rejected() -> None:
    assert sockopts.pack_tcp_md5sig("2001:db8::1", b"")[130:132] == b"\x00\x00"
    with pytest.raises(SockoptError, match="at most 80"):
        sockopts.pack_tcp_md5sig("2001:db8::1", b"x" * 81)
    with pytest.raises(SockoptError, match="prefix length"):
        sockopts.pack_tcp_md5sig("2001:db8::1", b"k", prefixlen=129)


def test_gtsm_min_hops() -> None:
    assert sockopts.gtsm_min_hops(1) == 255
    assert sockopts.gtsm_min_hops(2) == 254
    assert sockopts.gtsm_min_hops(255) == 1
    for bad in (0, 256):
        with pytest.raises(SockoptError, match=r"1\.\.255"):
            sockopts.gtsm_min_hops(bad)


def test_bindtodevice_and_int_packing() -> None:
    assert sockopts.pack_bindtodevice("eth0") == b"eth0\x00"
    assert sockopts.pack_bindtodevice("") == b"\x00"
    with pytest.raises(SockoptError):
        sockopts.pack_bindtodevice("a" * 16)
    with pytest.raises(SockoptError):
        sockopts.pack_bindtodevice("a/b")
    assert sockopts.pack_int(255) == struct.pack("=i", 255)


def test_appliers_on_real_sockets() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        sockopts.set_gtsm(s, hops=1)
        assert s.getsockopt(sockopts.IPPROTO_IPV6, sockopts.IPV6_UNICAST_HOPS) == 255
        assert s.getsockopt(sockopts.IPPROTO_IPV6, sockopts.IPV6_MINHOPCOUNT) == 255
        sockopts.set_unicast_hops(s, 7)
        assert s.getsockopt(sockopts.IPPROTO_IPV6, sockopts.IPV6_UNICAST_HOPS) == 7
        sockopts.set_min_hop_count(s, 0)
        assert s.getsockopt(sockopts.IPPROTO_IPV6, sockopts.IPV6_MINHOPCOUNT) == 0
        sockopts.set_nodelay(s)
        assert s.getsockopt(sockopts.IPPROTO_TCP, sockopts.TCP_NODELAY) == 1
        sockopts.set_tcp_md5sig(s, "2001:db8::1", b"secret")  # kernel accepts the struct
        sockopts.set_tcp_md5sig(s, "2001:db8::1", b"")  # and deletes the key again
        sockopts.set_bindtodevice(s, "lo")
        assert s.getsockopt(sockopts.SOL_SOCKET, sockopts.SO_BINDTODEVICE, 16).rstrip(b"\0") == b"lo"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s4:
        sockopts.set_gtsm(s4, hops=2)
        assert s4.getsockopt(sockopts.IPPROTO_IP, sockopts.IP_TTL) == 255
        assert s4.getsockopt(sockopts.IPPROTO_IP, sockopts.IP_MINTTL) == 254


def test_appliers_reject_out_of_range() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        with pytest.raises(SockoptError):
            sockopts.set_unicast_hops(s, 256)
        with pytest.raises(SockoptError):
            sockopts.set_min_hop_count(s, -1)
