"""Which nexthop objects routes of other protocols point at, kept current without route dumps.

Deleting one of v4via6's nexthop objects makes the kernel drop every route using
it, foreign ones included; v4via6 must never remove a route of another protocol.
``ForeignRefs`` answers "which object ids do foreign routes use?" from a map
built by one route dump and then kept up to date from route notifications:

* A second NETLINK_ROUTE socket, non-blocking, subscribed to RTNLGRP_IPV4_ROUTE
  and RTNLGRP_IPV6_ROUTE, with a classic BPF socket filter that drops in the
  kernel every RTM_NEWROUTE/RTM_DELROUTE whose ``rtm_protocol`` is our own, so a
  million own installs never reach Python (each route notification is an skb of
  its own, so the filter sees one message at a time).
* Subscribe first, then dump the foreign routes: changes during the dump are
  queued and applied afterwards. Per route identity (family, table, dst/len,
  src/len, tos, metric, protocol, scope, type, prefsrc) the map holds the set of
  nexthop ids seen; NEW adds, DEL removes, a NEW with NLM_F_REPLACE adds and keeps
  the old id (it cannot tell which one was replaced). Routes without RTA_NH_ID
  are not kept. Replaying a change the dump already shows is harmless with sets.
* The map only errs towards "in use": the kernel removes routes silently (no
  RTM_DELROUTE) when their object or device goes away. Callers confirm a "used"
  answer with :meth:`ForeignRefs.resync` (``reason=confirm``) before acting on it.
* ENOBUFS (the queue overran), a truncated or malformed notification, or a
  receive error marks the map invalid; the next :meth:`ForeignRefs.nh_ids`
  re-dumps (``reason=overrun|parse|error``).

Not thread-safe: one caller at a time (NetlinkFib's).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from v4via6.fib import nlmsg
from v4via6.fib.backend import FibException, FibUnavailable
from v4via6.fib.nlsocket import SO_RCVBUFFORCE, open_route_socket
from v4via6.model import PROTO_NUMBER

log = logging.getLogger(__name__)

SO_ATTACH_FILTER = 26
RTNLGRP_IPV4_ROUTE = 7
RTNLGRP_IPV6_ROUTE = 11
#: bind() group mask for both route groups (bit ``group - 1``).
ROUTE_GROUPS = (1 << (RTNLGRP_IPV4_ROUTE - 1)) | (1 << (RTNLGRP_IPV6_ROUTE - 1))
MONITOR_RCVBUF = 4 << 20
RTA_SRC = 2

# Classic BPF opcodes (<linux/bpf_common.h>).
BPF_LD = 0x00
BPF_JMP = 0x05
BPF_RET = 0x06
BPF_W = 0x00
BPF_B = 0x10
BPF_ABS = 0x20
BPF_LEN = 0x80
BPF_JEQ = 0x10
BPF_JGE = 0x30
BPF_K = 0x00
BPF_ACCEPT = 0xFFFFFFFF

#: Offset of rtmsg.rtm_protocol from the start of a netlink message.
PROTOCOL_OFFSET = nlmsg.NLMSGHDR.size + 5
_TYPE_LO, _TYPE_HI = (4, 5) if sys.byteorder == "little" else (5, 4)
_SOCK_FILTER = struct.Struct("=HBBI")  # struct sock_filter: code, jt, jf, k
_SOCK_FPROG = struct.Struct("HP")  # struct sock_fprog: len, filter pointer (native layout)
_HDR = struct.Struct("=IHH")  # nlmsg_len, type, flags
_U32 = struct.Struct("=I")

Insn = tuple[int, int, int, int]  # code, jt, jf, k
#: What identifies one kernel route (see the module docstring).
RouteId = tuple[int, int, bytes, int, bytes, int, int, int, int, int, int, bytes]


def own_route_filter(own_protocol: int = PROTO_NUMBER) -> tuple[Insn, ...]:
    """The cBPF program: drop RTM_NEWROUTE/RTM_DELROUTE with ``rtm_protocol == own_protocol``.

    Everything else (shorter messages, other types, other protocols) is kept.
    """
    ld_b = BPF_LD | BPF_B | BPF_ABS
    jeq = BPF_JMP | BPF_JEQ | BPF_K
    return (
        (BPF_LD | BPF_W | BPF_LEN, 0, 0, 0),  # 0: A = message length
        (BPF_JMP | BPF_JGE | BPF_K, 0, 7, PROTOCOL_OFFSET + 7),  # 1: shorter than hdr+rtmsg -> keep
        (ld_b, 0, 0, _TYPE_HI),  # 2: nlmsg_type, high byte
        (jeq, 0, 5, 0),  # 3: not 0 -> keep
        (ld_b, 0, 0, _TYPE_LO),  # 4: nlmsg_type, low byte
        (jeq, 1, 0, nlmsg.RTM_NEWROUTE),  # 5: -> 7
        (jeq, 0, 2, nlmsg.RTM_DELROUTE),  # 6: neither -> keep
        (ld_b, 0, 0, PROTOCOL_OFFSET),  # 7: rtm_protocol
        (jeq, 1, 0, own_protocol),  # 8: own -> drop
        (BPF_RET | BPF_K, 0, 0, BPF_ACCEPT),  # 9: keep
        (BPF_RET | BPF_K, 0, 0, 0),  # 10: drop
    )


def pack_filter(program: Iterable[Insn]) -> bytes:
    """The ``struct sock_filter`` array of ``program``."""
    return b"".join(_SOCK_FILTER.pack(*insn) for insn in program)


def attach_filter(sock: MonitorSocket, program: Sequence[Insn]) -> None:
    """SO_ATTACH_FILTER: the kernel copies the program, so the buffer only lives for the call."""
    code = ctypes.create_string_buffer(pack_filter(program))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER,
                    _SOCK_FPROG.pack(len(program), ctypes.addressof(code)))


def parse_route_ref(buf: bytes | bytearray | memoryview, start: int, end: int) -> tuple[RouteId, int]:
    """``(identity, RTA_NH_ID or 0)`` of one route message payload (rtmsg + attributes).

    Raises ValueError on a malformed message.
    """
    if end - start < nlmsg.RTMSG.size:
        raise ValueError(f"route message too short ({end - start} bytes)")
    family, dst_len, src_len, tos, table, protocol, scope, rtype, _flags = nlmsg.RTMSG.unpack_from(buf, start)
    dst = src = prefsrc = b""
    metric = nh_id = 0
    off = start + nlmsg.RTMSG.size
    while off + 4 <= end:
        alen, atype = nlmsg.RTATTR.unpack_from(buf, off)
        if alen < 4 or off + alen > end:
            raise ValueError(f"bad attribute length {alen} at offset {off}")
        atype &= 0x3FFF
        s, e = off + 4, off + alen
        if atype == nlmsg.RTA_DST:
            dst = bytes(buf[s:e])
        elif atype == RTA_SRC:
            src = bytes(buf[s:e])
        elif atype == nlmsg.RTA_PREFSRC:
            prefsrc = bytes(buf[s:e])
        elif atype in (nlmsg.RTA_TABLE, nlmsg.RTA_PRIORITY, nlmsg.RTA_NH_ID):
            if e - s < 4:
                raise ValueError(f"attribute {atype} too short")
            value = _U32.unpack_from(buf, s)[0]
            if atype == nlmsg.RTA_TABLE:
                table = value
            elif atype == nlmsg.RTA_PRIORITY:
                metric = value
            else:
                nh_id = value
        off += (alen + 3) & ~3
    ident = (family, table, dst, dst_len, src, src_len, tos, metric, protocol, scope, rtype, prefsrc)
    return ident, nh_id


class MonitorSocket(Protocol):
    """What ForeignRefs needs from its socket (a real netlink socket, or a fake in tests)."""

    def bind(self, address: tuple[int, int], /) -> None: ...
    def setsockopt(self, level: int, option: int, value: int | bytes, /) -> None: ...
    def setblocking(self, flag: bool, /) -> None: ...
    def recv_into(self, buffer: bytearray, /) -> int: ...
    def close(self) -> None: ...


RouteDump = Callable[[], Iterable[tuple[bytearray, nlmsg.Message]]]


def open_monitor_socket(netns: str | None = None) -> MonitorSocket:
    """The NETLINK_ROUTE socket for a ForeignRefs (raises FibUnavailable)."""
    return open_route_socket(netns)


class ForeignRefs:
    """Foreign routes' nexthop ids, from one dump plus filtered route notifications.

    ``dump()`` yields every route message of other protocols (IPv4 and IPv6,
    buffer reused between messages). The constructor subscribes; the map is
    invalid (``pending`` = ``"initial"``) until the first :meth:`resync`.
    """

    def __init__(
        self,
        sock: MonitorSocket,
        dump: RouteDump,
        *,
        own_protocol: int = PROTO_NUMBER,
        rcvbuf: int = MONITOR_RCVBUF,
    ) -> None:
        self.sock = sock
        self._dump = dump
        self.own_protocol = own_protocol
        self.valid = False
        self.pending = "initial"  # resync reason while invalid
        self.messages = 0  # notifications read (what passed the kernel filter)
        self.resyncs = 0
        self._routes: dict[RouteId, set[int]] = {}
        self._uses: dict[int, int] = {}  # nexthop id -> identities holding it
        self._buf = bytearray(1 << 16)
        try:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            # Filter before subscribing: no own notification is ever queued.
            attach_filter(sock, own_route_filter(own_protocol))
            sock.bind((0, ROUTE_GROUPS))
            sock.setblocking(False)
        except OSError as exc:
            raise FibUnavailable(f"route notifications unavailable: {exc.strerror or exc}") from None

    def close(self) -> None:
        self.sock.close()

    # --- state ------------------------------------------------------------------------------

    def _add(self, ident: RouteId, nh_id: int) -> None:
        ids = self._routes.get(ident)
        if ids is None:
            ids = self._routes[ident] = set()
        if nh_id not in ids:
            ids.add(nh_id)
            self._uses[nh_id] = self._uses.get(nh_id, 0) + 1

    def _remove(self, ident: RouteId, nh_id: int) -> None:
        ids = self._routes.get(ident)
        if ids is None or nh_id not in ids:
            return
        ids.discard(nh_id)
        if not ids:
            del self._routes[ident]
        left = self._uses[nh_id] - 1
        if left:
            self._uses[nh_id] = left
        else:
            del self._uses[nh_id]

    def invalidate(self, reason: str) -> None:
        """Forget the map's trust: the next :meth:`nh_ids` re-dumps."""
        if self.valid:
            log.debug("event=fib_foreign_invalid reason=%s", reason)
            self.valid = False
            self.pending = reason

    @property
    def routes(self) -> int:
        """How many foreign route identities with a nexthop id the map holds."""
        return len(self._routes)

    # --- notifications --------------------------------------------------------------------------

    def drain(self) -> int:
        """Read every queued notification and apply it (dropped while invalid); return how many."""
        buf = self._buf
        size = len(buf)
        unpack = _HDR.unpack_from
        new, delete = nlmsg.RTM_NEWROUTE, nlmsg.RTM_DELROUTE
        count = 0
        while True:
            try:
                n = self.sock.recv_into(buf)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    self.invalidate("overrun")
                    continue  # the error is cleared; the queue still holds messages
                self.invalidate("error")
                break
            if n >= size:  # may be truncated (recv_into does not say)
                self.invalidate("parse")
                continue
            off = 0
            while off + 16 <= n:
                mlen, mtype, mflags = unpack(buf, off)
                if mlen < 16 or off + mlen > n:
                    self.invalidate("parse")
                    break
                count += 1
                if self.valid and mtype in (new, delete):
                    try:
                        self._apply(mtype, mflags, buf, off + 16, off + mlen)
                    except (ValueError, struct.error):
                        self.invalidate("parse")
                off += (mlen + 3) & ~3
        self.messages += count
        return count

    def _apply(self, mtype: int, mflags: int, buf: bytearray, start: int, end: int) -> None:
        if end - start < nlmsg.RTMSG.size:
            raise ValueError("route notification too short")
        if buf[start + 5] == self.own_protocol or buf[start] not in (nlmsg.AF_INET, nlmsg.AF_INET6):
            return
        ident, nh_id = parse_route_ref(buf, start, end)
        if not nh_id:
            return
        if mtype == nlmsg.RTM_NEWROUTE:
            self._add(ident, nh_id)  # with NLM_F_REPLACE the old id stays too: safe side
        else:
            self._remove(ident, nh_id)

    # --- answers -----------------------------------------------------------------------------

    def nh_ids(self) -> set[int]:
        """Nexthop ids foreign routes may use (a superset of the truth); re-dumps if invalid."""
        self.drain()
        if not self.valid:
            self.resync(self.pending)
        return set(self._uses)

    def resync(self, reason: str) -> None:
        """Rebuild the map from a dump (``reason`` goes to the log line)."""
        started = time.monotonic()
        self.valid = False
        self.drain()  # drops what is queued: the dump covers it
        routes: dict[RouteId, set[int]] = {}
        uses: dict[int, int] = {}
        own = self.own_protocol
        for buf, msg in self._dump():
            if msg.type != nlmsg.RTM_NEWROUTE or msg.end - msg.start < nlmsg.RTMSG.size:
                continue
            if buf[msg.start + 5] == own or buf[msg.start] not in (nlmsg.AF_INET, nlmsg.AF_INET6):
                continue
            try:
                ident, nh_id = parse_route_ref(buf, msg.start, msg.end)
            except ValueError as exc:
                raise FibException(f"route dump: {exc}") from None
            if nh_id:
                ids = routes.get(ident)
                if ids is None:
                    ids = routes[ident] = set()
                if nh_id not in ids:
                    ids.add(nh_id)
                    uses[nh_id] = uses.get(nh_id, 0) + 1
        self._routes = routes
        self._uses = uses
        self.valid = True
        self.pending = ""
        self.resyncs += 1
        log.info("event=fib_foreign_resync reason=%s routes=%d nexthops=%d seconds=%.3f",
                 reason, len(routes), len(uses), time.monotonic() - started)


__all__ = ["MONITOR_RCVBUF", "PROTOCOL_OFFSET", "ROUTE_GROUPS", "SO_ATTACH_FILTER", "ForeignRefs",
           "MonitorSocket", "attach_filter", "open_monitor_socket", "own_route_filter", "pack_filter",
           "parse_route_ref"]
