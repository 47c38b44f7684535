"""Message framing: the 19-byte header, and splitting a byte stream into messages.

:func:`split_messages` validates marker, length and type as soon as a header is
complete (RFC 4271 §6.1) and raises :class:`~v4via6.bgp.wire.errors.WireError`
with NOTIFICATION 1/1, 1/2 (data: the length field) or 1/3 (data: the type).
"""

from __future__ import annotations

from v4via6.bgp.wire.context import HEADER_LEN, MAX_MESSAGE
from v4via6.bgp.wire.errors import (
    HDR_BAD_LENGTH,
    HDR_BAD_TYPE,
    HDR_NOT_SYNCHRONIZED,
    MESSAGE_HEADER_ERROR,
    reset,
)

MARKER = b"\xff" * 16

#: Per type: (minimum length, maximum length or None for the session maximum).
_LIMITS: dict[int, tuple[int, int | None]] = {
    1: (29, MAX_MESSAGE),  # OPEN: never extended (RFC 8654 §3)
    2: (23, None),  # UPDATE
    3: (21, None),  # NOTIFICATION
    4: (19, 19),  # KEEPALIVE
    5: (23, None),  # ROUTE-REFRESH (23 exactly for RFC 2918; RFC 7313 allows more)
}

Buffer = bytes | bytearray | memoryview


def header(msg_type: int, body_len: int) -> bytes:
    """The 19-byte header for a body of ``body_len`` bytes."""
    return MARKER + (HEADER_LEN + body_len).to_bytes(2, "big") + bytes((msg_type,))


def check_header(buf: Buffer, offset: int, max_len: int) -> tuple[int, int]:
    """Validate the header at ``offset`` (19 bytes must be there): (type, length)."""
    if buf[offset : offset + 16] != MARKER:
        raise reset(MESSAGE_HEADER_ERROR, HDR_NOT_SYNCHRONIZED, "marker is not all ones")
    length = int.from_bytes(buf[offset + 16 : offset + 18], "big")
    mtype = buf[offset + 18]
    limits = _LIMITS.get(mtype)
    if limits is None:
        raise reset(MESSAGE_HEADER_ERROR, HDR_BAD_TYPE, f"message type {mtype} is not 1..5",
                    bytes((mtype,)))
    low, high = limits
    top = max_len if high is None else min(high, max_len)
    if not low <= length <= top:
        raise reset(MESSAGE_HEADER_ERROR, HDR_BAD_LENGTH,
                    f"length {length} is not {low}..{top} for type {mtype}",
                    length.to_bytes(2, "big"))
    return mtype, length


def split_messages(buf: Buffer, max_len: int = MAX_MESSAGE) -> tuple[list[tuple[int, bytes]], int]:
    """Cut complete messages off the front of ``buf``.

    Returns ``([(type, whole message bytes), ...], bytes consumed)``; a partial
    message at the end is left for the next call.
    """
    out: list[tuple[int, bytes]] = []
    i, n = 0, len(buf)
    while n - i >= HEADER_LEN:
        mtype, length = check_header(buf, i, max_len)
        if n - i < length:
            break
        out.append((mtype, bytes(buf[i : i + length])))
        i += length
    return out, i
