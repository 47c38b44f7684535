"""Socket options a BGP speaker needs on Linux: pure byte packing, then thin appliers.

The ``pack_*`` functions return the exact bytes the kernel expects and are
unit-tested byte for byte; the ``set_*`` functions apply them to a socket:

* TCP MD5 signatures (RFC 2385): ``struct tcp_md5sig`` with an IPv6 peer
  address (``sockaddr_in6`` incl. scope id) in its ``sockaddr_storage``.
* GTSM (RFC 5082): send with TTL / hop limit 255, accept only segments that
  arrived with at least ``256 - hops`` (``IP_MINTTL`` / ``IPV6_MINHOPCOUNT``).
* ``IPV6_UNICAST_HOPS``, ``SO_BINDTODEVICE``, ``TCP_NODELAY``.

Constants Python's :mod:`socket` lacks are defined here from the Linux uapi
headers (``linux/in.h``, ``linux/in6.h``, ``linux/tcp.h``).
"""

from __future__ import annotations

import ipaddress
import socket
import struct

# --- Linux uapi constants ---------------------------------------------------------
IPPROTO_TCP = 6
IPPROTO_IP = 0
IPPROTO_IPV6 = 41
TCP_NODELAY = 1
TCP_MD5SIG = 14
TCP_MD5SIG_EXT = 32
TCP_MD5SIG_MAXKEYLEN = 80
TCP_MD5SIG_FLAG_PREFIX = 0x1
TCP_MD5SIG_FLAG_IFINDEX = 0x2
IP_TTL = 2
IP_MINTTL = 21
IPV6_UNICAST_HOPS = 16
IPV6_MINHOPCOUNT = 73
SOL_SOCKET = 1
SO_BINDTODEVICE = 25
AF_INET6 = 10
IFNAMSIZ = 16

#: ``struct sockaddr_storage`` is 128 bytes on Linux.
SOCKADDR_STORAGE_SIZE = 128
#: ``sizeof(struct tcp_md5sig)``: 128 + 1 + 1 + 2 + 4 + 80.
TCP_MD5SIG_SIZE = SOCKADDR_STORAGE_SIZE + 8 + TCP_MD5SIG_MAXKEYLEN

#: GTSM: the TTL / hop limit every packet is sent with.
GTSM_SEND_HOPS = 255


class SockoptError(ValueError):
    """A socket option was asked for with a value the kernel cannot take."""


def pack_sockaddr_in6(address: str, port: int = 0, scope_id: int = 0, flowinfo: int = 0) -> bytes:
    """``struct sockaddr_in6`` (28 bytes): family (host order), port and flowinfo
    (network order), 16 address bytes, scope id (host order)."""
    try:
        addr = ipaddress.IPv6Address(address.split("%", 1)[0])
    except ValueError:
        raise SockoptError(f"not an IPv6 address: {address!r}") from None
    if not 0 <= port <= 0xFFFF:
        raise SockoptError(f"port out of range: {port}")
    return struct.pack("=H", AF_INET6) + struct.pack("!HI", port, flowinfo) + addr.packed + struct.pack("=I", scope_id)


def pack_tcp_md5sig(
    address: str,
    key: bytes,
    *,
    scope_id: int = 0,
    prefixlen: int | None = None,
    l3_ifindex: int | None = None,
) -> bytes:
    """``struct tcp_md5sig`` for an IPv6 peer (``key`` empty = delete the key).

    ``scope_id`` goes into the ``sockaddr_in6`` (the kernel matches MD5 keys on
    the address only, so a link-local key applies on every interface);
    ``prefixlen`` and ``l3_ifindex`` (a VRF device, *not* an ordinary interface)
    need ``TCP_MD5SIG_EXT`` and set the matching flags.
    """
    if len(key) > TCP_MD5SIG_MAXKEYLEN:
        raise SockoptError(f"TCP MD5 key is {len(key)} bytes; the kernel takes at most {TCP_MD5SIG_MAXKEYLEN}")
    flags = 0
    plen = 0
    if prefixlen is not None:
        if not 0 <= prefixlen <= 128:
            raise SockoptError(f"IPv6 prefix length out of range: {prefixlen}")
        flags |= TCP_MD5SIG_FLAG_PREFIX
        plen = prefixlen
    ifindex = 0
    if l3_ifindex is not None:
        flags |= TCP_MD5SIG_FLAG_IFINDEX
        ifindex = l3_ifindex
    sa = pack_sockaddr_in6(address, 0, scope_id).ljust(SOCKADDR_STORAGE_SIZE, b"\0")
    return sa + struct.pack("=BBHi", flags, plen, len(key), ifindex) + key.ljust(TCP_MD5SIG_MAXKEYLEN, b"\0")


def md5_option_name(*, prefixlen: int | None = None, l3_ifindex: int | None = None) -> int:
    """``TCP_MD5SIG_EXT`` when prefix or VRF matching is used, else ``TCP_MD5SIG``."""
    return TCP_MD5SIG_EXT if prefixlen is not None or l3_ifindex is not None else TCP_MD5SIG


def pack_int(value: int) -> bytes:
    """A C ``int`` in host byte order, as every integer socket option takes."""
    return struct.pack("=i", value)


def gtsm_min_hops(hops: int) -> int:
    """Lowest TTL / hop limit a GTSM peer ``hops`` away arrives with (RFC 5082 §3).

    The peer sends with 255 and each router on the way takes one off, so a
    directly connected peer (``hops=1``) arrives with 255.
    """
    if not 1 <= hops <= 255:
        raise SockoptError(f"GTSM hop count must be 1..255, got {hops}")
    return 256 - hops


def pack_bindtodevice(ifname: str) -> bytes:
    """Interface name for ``SO_BINDTODEVICE`` (NUL-terminated, < 16 bytes; '' unbinds)."""
    raw = ifname.encode()
    if len(raw) >= IFNAMSIZ or b"\0" in raw or b"/" in raw:
        raise SockoptError(f"not a valid interface name: {ifname!r}")
    return raw + b"\0"


# --- appliers ------------------------------------------------------------------------


def set_tcp_md5sig(
    sock: socket.socket,
    address: str,
    key: bytes,
    *,
    scope_id: int = 0,
    prefixlen: int | None = None,
    l3_ifindex: int | None = None,
) -> None:
    """Install (or with an empty key remove) the MD5 key for ``address`` on ``sock``.

    On a listening socket this sets the key for connections from that peer.
    """
    opt = md5_option_name(prefixlen=prefixlen, l3_ifindex=l3_ifindex)
    data = pack_tcp_md5sig(address, key, scope_id=scope_id, prefixlen=prefixlen, l3_ifindex=l3_ifindex)
    sock.setsockopt(IPPROTO_TCP, opt, data)


def set_gtsm(sock: socket.socket, hops: int = 1) -> None:
    """Enable GTSM on a TCP socket for a peer ``hops`` away."""
    minimum = gtsm_min_hops(hops)
    if sock.family == socket.AF_INET6:
        sock.setsockopt(IPPROTO_IPV6, IPV6_UNICAST_HOPS, pack_int(GTSM_SEND_HOPS))
        sock.setsockopt(IPPROTO_IPV6, IPV6_MINHOPCOUNT, pack_int(minimum))
    else:
        sock.setsockopt(IPPROTO_IP, IP_TTL, pack_int(GTSM_SEND_HOPS))
        sock.setsockopt(IPPROTO_IP, IP_MINTTL, pack_int(minimum))


def set_unicast_hops(sock: socket.socket, hops: int) -> None:
    """Hop limit for unicast packets sent on ``sock`` (-1 = system default)."""
    if not -1 <= hops <= 255:
        raise SockoptError(f"hop limit must be -1..255, got {hops}")
    sock.setsockopt(IPPROTO_IPV6, IPV6_UNICAST_HOPS, pack_int(hops))


def set_min_hop_count(sock: socket.socket, minimum: int) -> None:
    """Drop IPv6 segments that arrive with a hop limit below ``minimum`` (0 = off)."""
    if not 0 <= minimum <= 255:
        raise SockoptError(f"minimum hop count must be 0..255, got {minimum}")
    sock.setsockopt(IPPROTO_IPV6, IPV6_MINHOPCOUNT, pack_int(minimum))


def set_bindtodevice(sock: socket.socket, ifname: str) -> None:
    """Send and receive only through interface ``ifname``."""
    sock.setsockopt(SOL_SOCKET, SO_BINDTODEVICE, pack_bindtodevice(ifname))


def set_nodelay(sock: socket.socket, enabled: bool = True) -> None:
    """Disable Nagle so small BGP messages (KEEPALIVE) leave at once."""
    sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, pack_int(1 if enabled else 0))
