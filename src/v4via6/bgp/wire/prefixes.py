"""NLRI prefixes as ints: key = (network_address_int << 8) | prefix_len.

The same encoding is used for IPv4 and IPv6 (the AFI tells which). Decoding is
the hot path of the codec (a full table is a million prefixes), so the loops
here are written for speed: table lookups, one ``int.from_bytes`` per prefix.
Host bits beyond the prefix length are cleared (RFC 4271: they are irrelevant).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_network

from v4via6.bgp.wire.context import AFI_IPV4


class NlriError(ValueError):
    """An NLRI field that cannot be parsed (bad prefix length, overrun)."""


def _table(width: int) -> list[tuple[int, int, int]]:
    """Per prefix length: (bytes incl. length octet, shift, mask), both pre-shifted by 8."""
    bits = width * 8
    full = (1 << bits) - 1
    out = []
    for plen in range(bits + 1):
        nb = (plen + 7) >> 3
        mask = ((full << (bits - plen)) & full) << 8
        out.append((1 + nb, (width - nb) * 8 + 8, mask))
    return out


_TAB4 = _table(4)
_TAB16 = _table(16)


def addr_width(afi: int) -> int:
    """Address bytes of an AFI (4 for IPv4, 16 otherwise)."""
    return 4 if afi == AFI_IPV4 else 16


_U32 = struct.Struct(">I").unpack_from
_MASK4_8 = [t[2] for t in _TAB4]
_STEP4 = [t[0] for t in _TAB4]
_PAD = b"\x00\x00\x00\x00"


def decode_prefixes(data: bytes, start: int, end: int, afi: int) -> list[int]:
    """Decode ``data[start:end]`` as a run of (length, prefix) NLRI into keys."""
    if afi == AFI_IPV4:
        return _decode_v4(data, start, end)
    tab = _TAB16
    out: list[int] = []
    append = out.append
    frombytes = int.from_bytes
    i = start
    try:
        while i < end:
            plen = data[i]
            step, shift, mask = tab[plen]
            j = i + step
            append(((frombytes(data[i + 1 : j], "big") << shift) & mask) | plen)
            i = j
    except IndexError:
        raise NlriError(f"prefix length {data[i]} > 128") from None
    if i != end:
        raise NlriError(f"prefix /{out[-1] & 0xFF} overruns the NLRI field")
    return out


def _decode_v4(data: bytes, start: int, end: int) -> list[int]:
    """IPv4 fast path: read a 4-byte window per prefix and mask what is not the prefix."""
    padded = data + _PAD if end + 4 > len(data) else data
    out: list[int] = []
    append = out.append
    u32 = _U32
    masks = _MASK4_8
    steps = _STEP4
    i = start
    try:
        while i < end:
            plen = padded[i]
            append(((u32(padded, i + 1)[0] << 8) & masks[plen]) | plen)
            i += steps[plen]
    except IndexError:
        raise NlriError(f"prefix length {padded[i]} > 32") from None
    if i != end:
        raise NlriError(f"prefix /{out[-1] & 0xFF} overruns the NLRI field")
    return out


def decode_prefixes_addpath(
    data: bytes, start: int, end: int, afi: int
) -> tuple[list[int], list[int]]:
    """Decode NLRI with RFC 7911 path identifiers: (keys, path_ids)."""
    tab = _TAB4 if afi == AFI_IPV4 else _TAB16
    maxlen = len(tab) - 1
    keys: list[int] = []
    ids: list[int] = []
    frombytes = int.from_bytes
    i = start
    while i < end:
        if i + 5 > end:
            raise NlriError("path identifier overruns the NLRI field")
        ids.append(frombytes(data[i : i + 4], "big"))
        plen = data[i + 4]
        if plen > maxlen:
            raise NlriError(f"prefix length {plen} > {maxlen}")
        step, shift, mask = tab[plen]
        j = i + 4 + step
        if j > end:
            raise NlriError(f"prefix /{plen} overruns the NLRI field")
        keys.append(((frombytes(data[i + 5 : j], "big") << shift) & mask) | plen)
        i = j
    return keys, ids


def encode_prefix(key: int, afi: int) -> bytes:
    """One key -> its NLRI bytes (length octet + significant address octets)."""
    width = 4 if afi == AFI_IPV4 else 16
    plen = key & 0xFF
    nb = (plen + 7) >> 3
    return ((plen << (nb * 8)) | ((key >> 8) >> ((width - nb) * 8))).to_bytes(1 + nb, "big")


def encode_prefixes(keys: Iterable[int], afi: int, path_ids: Sequence[int] | None = None) -> bytes:
    """Keys (and optional path ids, same order) -> an NLRI field."""
    width = 4 if afi == AFI_IPV4 else 16
    parts: list[bytes] = []
    append = parts.append
    if path_ids is None:
        for key in keys:
            plen = key & 0xFF
            nb = (plen + 7) >> 3
            append(((plen << (nb * 8)) | ((key >> 8) >> ((width - nb) * 8))).to_bytes(1 + nb, "big"))
    else:
        for key, pid in zip(keys, path_ids, strict=True):
            plen = key & 0xFF
            nb = (plen + 7) >> 3
            append(pid.to_bytes(4, "big"))
            append(((plen << (nb * 8)) | ((key >> 8) >> ((width - nb) * 8))).to_bytes(1 + nb, "big"))
    return b"".join(parts)


def prefix_size(key: int) -> int:
    """Bytes the key takes in an NLRI field (without a path id)."""
    return 1 + (((key & 0xFF) + 7) >> 3)


def key_of(net: IPv4Network | IPv6Network | str) -> int:
    """``198.51.100.0/24`` -> key (host bits set is a ValueError)."""
    network = ip_network(net, strict=True) if isinstance(net, str) else net
    return (int(network.network_address) << 8) | network.prefixlen


def network_of(key: int, afi: int) -> IPv4Network | IPv6Network:
    """Key -> network object, for display."""
    if afi == AFI_IPV4:
        return IPv4Network((key >> 8, key & 0xFF))
    return IPv6Network((key >> 8, key & 0xFF))


def format_key(key: int, afi: int) -> str:
    return str(network_of(key, afi))
