"""Addresses of transport endpoints: IPv6 address + port + scope (interface).

A link-local address means nothing without its interface, so an
:class:`Endpoint` always carries the scope id and the interface name, and
:func:`parse_peer_address` turns ``"fe80::2%eth0"`` into both.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

#: Well-known BGP port.
BGP_PORT = 179


class AddressError(ValueError):
    """An address or interface given by the operator or the kernel is not usable."""


def ifname_to_index(ifname: str) -> int:
    """Interface index of ``ifname`` in the current network namespace."""
    try:
        return socket.if_nametoindex(ifname)
    except OSError:
        raise AddressError(f"no such interface: {ifname!r}") from None


def index_to_ifname(index: int) -> str | None:
    """Interface name for ``index``, or None if there is none (0 or gone)."""
    if index <= 0:
        return None
    try:
        return socket.if_indextoname(index)
    except OSError:
        return None


@dataclass(frozen=True)
class Endpoint:
    """One end of a TCP connection. ``address`` is plain text without ``%scope``."""

    address: str
    port: int
    scope_id: int = 0
    ifname: str | None = None

    @property
    def is_link_local(self) -> bool:
        """True for fe80::/10 addresses."""
        try:
            return ipaddress.ip_address(self.address).is_link_local
        except ValueError:
            return False

    @property
    def host(self) -> str:
        """``fe80::2%eth0`` for scoped addresses, else the plain address."""
        if self.scope_id and self.ifname:
            return f"{self.address}%{self.ifname}"
        if self.scope_id:
            return f"{self.address}%{self.scope_id}"
        return self.address

    def __str__(self) -> str:
        if ":" in self.address:
            return f"[{self.host}]:{self.port}"
        return f"{self.address}:{self.port}"


def endpoint_from_sockaddr(sockaddr: tuple[object, ...]) -> Endpoint:
    """Build an Endpoint from a Python socket address tuple (v4 or v6).

    IPv4-mapped IPv6 addresses (``::ffff:192.0.2.1``) are shown as IPv4.
    """
    host = str(sockaddr[0]).split("%", 1)[0]
    port = int(str(sockaddr[1]))
    scope_id = int(str(sockaddr[3])) if len(sockaddr) >= 4 else 0
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise AddressError(f"not an IP address: {host!r}") from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return Endpoint(str(ip.ipv4_mapped), port)
    return Endpoint(str(ip), port, scope_id, index_to_ifname(scope_id))


def parse_peer_address(text: str, ifname: str | None = None) -> tuple[str, str | None]:
    """Split ``"fe80::2%eth0"`` into ``("fe80::2", "eth0")`` and validate it.

    ``ifname`` may be given separately instead of ``%ifname``; a link-local
    address without an interface is an error (it would be ambiguous).
    """
    addr_text, _, scope = text.partition("%")
    if scope and ifname and scope != ifname:
        raise AddressError(f"{text!r}: interface {scope!r} does not match {ifname!r}")
    iface = scope or ifname
    try:
        ip = ipaddress.IPv6Address(addr_text)
    except ValueError:
        raise AddressError(f"not an IPv6 address: {text!r}") from None
    if ip.is_link_local and not iface:
        raise AddressError(f"link-local address {text!r} needs an interface (write it as {addr_text}%IFNAME)")
    if ip.is_unspecified or ip.is_multicast:
        raise AddressError(f"not a unicast peer address: {text!r}")
    return str(ip), iface
