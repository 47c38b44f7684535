"""Read BGP messages out of a pcap file: pure-Python pcap reader + TCP reassembly.

Classic libpcap files (either byte order, micro- or nanosecond timestamps) with
Ethernet, Linux cooked (SLL/SLL2), raw IP or BSD loopback link types. Every TCP
stream with port 179 on either side is reassembled per direction by sequence
number (retransmissions and overlaps dropped, out-of-order segments held until
the gap fills) and cut into BGP messages by the header length field.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

BGP_PORT = 179
_MAX_BUFFERED = 1 << 20  # per direction: drop a stream that never fills its gap
_MARKER = b"\xff" * 16


class PcapError(ValueError):
    """A file that is not a readable pcap."""


@dataclass(frozen=True, slots=True)
class Packet:
    frame: int  # 1-based, like tcpdump/wireshark
    time: float
    data: bytes
    linktype: int


@dataclass(frozen=True, slots=True)
class Segment:
    frame: int
    time: float
    src: IPv4Address | IPv6Address
    dst: IPv4Address | IPv6Address
    sport: int
    dport: int
    seq: int
    syn: bool
    fin: bool
    payload: bytes


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """One BGP message found in a capture, with where it came from."""

    frame: int  # frame holding the message's first byte
    time: float
    src: str
    dst: str
    sport: int
    dport: int
    data: bytes

    @property
    def direction(self) -> tuple[str, int, str, int]:
        return (self.src, self.sport, self.dst, self.dport)


def read_packets(raw: bytes) -> list[Packet]:
    """Parse a classic pcap file's records."""
    if len(raw) < 24:
        raise PcapError("file is shorter than a pcap header")
    magic = raw[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        raise PcapError("pcapng is not supported; convert with: tcpdump -r IN -w OUT.pcap")
    formats = {
        b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
        b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9),
    }
    if magic not in formats:
        raise PcapError(f"not a pcap file (magic {magic.hex()})")
    endian, unit = formats[magic]
    linktype = struct.unpack_from(endian + "I", raw, 20)[0] & 0x0FFFFFFF
    rec = struct.Struct(endian + "IIII")
    out: list[Packet] = []
    i, frame = 24, 0
    while i + 16 <= len(raw):
        sec, frac, incl, _orig = rec.unpack_from(raw, i)
        i += 16
        if i + incl > len(raw):
            raise PcapError(f"frame {frame + 1} is truncated (file cut short?)")
        frame += 1
        out.append(Packet(frame, sec + frac * unit, raw[i : i + incl], linktype))
        i += incl
    return out


def _network_payload(pkt: Packet) -> tuple[int, bytes] | None:
    """Link layer -> (ethertype, network-layer bytes)."""
    d, lt = pkt.data, pkt.linktype
    if lt == 1:  # Ethernet
        if len(d) < 14:
            return None
        etype, off = int.from_bytes(d[12:14], "big"), 14
        while etype in (0x8100, 0x88A8) and len(d) >= off + 4:
            etype, off = int.from_bytes(d[off + 2 : off + 4], "big"), off + 4
        return etype, d[off:]
    if lt == 113:  # Linux cooked v1
        return (int.from_bytes(d[14:16], "big"), d[16:]) if len(d) >= 16 else None
    if lt == 276:  # Linux cooked v2
        return (int.from_bytes(d[0:2], "big"), d[20:]) if len(d) >= 20 else None
    if lt in (101, 12, 14):  # raw IP
        if not d:
            return None
        return (0x0800 if d[0] >> 4 == 4 else 0x86DD), d
    if lt == 0:  # BSD loopback
        return (0x0800 if d[4] >> 4 == 4 else 0x86DD, d[4:]) if len(d) > 4 else None
    return None


def _tcp(pkt: Packet) -> Segment | None:
    net = _network_payload(pkt)
    if net is None:
        return None
    etype, d = net
    if etype == 0x0800 and len(d) >= 20 and d[0] >> 4 == 4:
        ihl = (d[0] & 0xF) * 4
        total = int.from_bytes(d[2:4], "big")
        if d[9] != 6 or int.from_bytes(d[6:8], "big") & 0x1FFF:
            return None  # not TCP, or a non-first fragment
        src: IPv4Address | IPv6Address = IPv4Address(d[12:16])
        dst: IPv4Address | IPv6Address = IPv4Address(d[16:20])
        tcp = d[ihl:total] if total >= ihl else d[ihl:]
    elif etype == 0x86DD and len(d) >= 40 and d[0] >> 4 == 6:
        plen = int.from_bytes(d[4:6], "big")
        nxt, off = d[6], 40
        src, dst = IPv6Address(d[8:24]), IPv6Address(d[24:40])
        while nxt in (0, 43, 60) and len(d) >= off + 8:  # hop-by-hop, routing, dest opts
            nxt, off = d[off], off + 8 * (d[off + 1] + 1)
        if nxt != 6:
            return None
        tcp = d[off : 40 + plen]
    else:
        return None
    if len(tcp) < 20:
        return None
    sport, dport, seq = struct.unpack_from("!HHI", tcp, 0)
    doff = (tcp[12] >> 4) * 4
    flags = tcp[13]
    return Segment(pkt.frame, pkt.time, src, dst, sport, dport, seq, bool(flags & 2),
                   bool(flags & 1), bytes(tcp[doff:]))


@dataclass(slots=True)
class _Direction:
    next_seq: int | None = None
    pending: dict[int, tuple[int, float, bytes]] = field(default_factory=dict)
    buf: bytearray = field(default_factory=bytearray)
    origins: list[tuple[int, int, float]] = field(default_factory=list)  # (offset, frame, time)
    offset: int = 0  # stream offset of buf[0]
    broken: bool = False


def _seq_lt(a: int, b: int) -> bool:
    return ((a - b) & 0xFFFFFFFF) > 0x7FFFFFFF


def _feed(st: _Direction, seg: Segment) -> None:
    if st.broken:
        return
    seq = seg.seq
    if seg.syn:
        st.next_seq = (seq + 1) & 0xFFFFFFFF
        return
    if not seg.payload:
        return
    if st.next_seq is None:
        st.next_seq = seq  # capture started mid-stream
    st.pending[seq] = (seg.frame, seg.time, seg.payload)
    progress = True
    while progress:
        progress = False
        for pseq in list(st.pending):
            frame, t, payload = st.pending[pseq]
            assert st.next_seq is not None
            if pseq == st.next_seq or _seq_lt(pseq, st.next_seq):
                del st.pending[pseq]
                skip = (st.next_seq - pseq) & 0xFFFFFFFF
                if skip >= len(payload):
                    continue  # pure retransmission
                new = payload[skip:]
                st.origins.append((st.offset + len(st.buf), frame, t))
                st.buf += new
                st.next_seq = (st.next_seq + len(new)) & 0xFFFFFFFF
                progress = True
    if sum(len(p[2]) for p in st.pending.values()) > _MAX_BUFFERED:
        st.broken = True


def _origin(st: _Direction, offset: int) -> tuple[int, float]:
    frame, t = st.origins[0][1], st.origins[0][2]
    for off, f, tt in st.origins:
        if off > offset:
            break
        frame, t = f, tt
    return frame, t


def _cut(st: _Direction, seg: Segment, out: list[StreamMessage]) -> None:
    buf = st.buf
    i = 0
    while len(buf) - i >= 19:
        if buf[i : i + 16] != _MARKER:
            st.broken = True  # out of sync: report what we have so far
            break
        length = int.from_bytes(buf[i + 16 : i + 18], "big")
        if length < 19:
            st.broken = True
            break
        if len(buf) - i < length:
            break
        frame, t = _origin(st, st.offset + i)
        out.append(StreamMessage(frame, t, str(seg.src), str(seg.dst), seg.sport, seg.dport,
                                 bytes(buf[i : i + length])))
        i += length
    if i:
        del buf[:i]
        st.offset += i
        st.origins = [o for o in st.origins if o[0] >= st.offset] or st.origins[-1:]


def bgp_messages(packets: list[Packet]) -> list[StreamMessage]:
    """All BGP messages of all port-179 TCP streams, in the order they became complete.

    ``frame`` is the frame that carried a message's first byte; within a stream
    the order is always the stream order.
    """
    streams: dict[tuple[str, int, str, int], _Direction] = {}
    out: list[StreamMessage] = []
    for pkt in packets:
        seg = _tcp(pkt)
        if seg is None or BGP_PORT not in (seg.sport, seg.dport):
            continue
        key = (str(seg.src), seg.sport, str(seg.dst), seg.dport)
        st = streams.get(key)
        if st is None or (seg.syn and st.next_seq is not None):
            st = streams[key] = _Direction()  # new connection reusing the 4-tuple
        _feed(st, seg)
        _cut(st, seg, out)
    return out


def read_bgp_messages(path: str | Path) -> list[StreamMessage]:
    """pcap file -> BGP messages (raises OSError, :class:`PcapError`)."""
    return bgp_messages(read_packets(Path(path).read_bytes()))


