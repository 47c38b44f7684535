"""Prefix keys: a prefix as one int, ``(network_address_int << 8) | prefix_len``.

This is the form the BGP wire codec decodes NLRI into; the RIB stores routes in
``dict[int, ...]`` keyed by it. IPv4 and IPv6 keys live in separate tables, so
the family is always known from context.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network

FAMILY_BITS = {4: 32, 6: 128}


def prefix_key(net: IPv4Network | IPv6Network | str) -> int:
    """``198.51.100.0/24`` -> key. Host bits set is a ValueError."""
    network = ip_network(net, strict=True) if isinstance(net, str) else net
    return (int(network.network_address) << 8) | network.prefixlen


def key_len(key: int) -> int:
    return key & 0xFF


def key_addr(key: int) -> int:
    return key >> 8


def key_to_ipv4(key: int) -> IPv4Network:
    return IPv4Network((key >> 8, key & 0xFF))


def key_to_network(key: int, family: int = 4) -> IPv4Network | IPv6Network:
    if family == 4:
        return IPv4Network((key >> 8, key & 0xFF))
    return IPv6Network((key >> 8, key & 0xFF))


def format_key(key: int, family: int = 4) -> str:
    return str(key_to_network(key, family))
