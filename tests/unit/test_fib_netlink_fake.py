"""NetlinkFib's logic without root: a fake rtnetlink kernel behind the socket.

The fake keeps routes and nexthop objects the way the kernel does (NLM_F_EXCL,
NLM_F_REPLACE that ignores the owner, delete matching the protocol, deleting an
object takes its routes), so the backend's own rules can be checked here: the
bytes it sends, the clash guard, ENODEV before the kernel, object ids and
garbage collection. Route changes are also announced to ``FakeMonitor`` sockets
(route notifications through the attached cBPF program, run by ``run_filter``).
"""

from __future__ import annotations

import ctypes
import errno
import socket
import struct
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pytest

from v4via6.fib import netlink, nlmsg
from v4via6.fib.backend import FibOp, FibUnavailable, OpKind
from v4via6.fib.foreignrefs import ROUTE_GROUPS, SO_ATTACH_FILTER, Insn
from v4via6.fib.netlink import NH_ID_FIRST, NH_ID_LAST, NetlinkFib
from v4via6.fib.nlsocket import NlSocket
from v4via6.model import Hop, NextHop, Route

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

LINKS = {1: "lo", 2: "v0", 3: "v1"}
A = NextHop.parse("fe80::1%v0")
B = NextHop.parse("fe80::2%v1")
RouteKey = tuple[int, bytes, int, int]


def run_filter(program: Sequence[Insn], packet: bytes) -> int:
    """Run a classic BPF socket filter on ``packet`` the way the kernel does: bytes kept (0 = drop).

    Covers loads (absolute W/H/B, big endian like the kernel; length; immediate),
    conditional jumps (JEQ/JGT/JGE/JSET with K), JA and RET K/A. A load past the
    end drops the packet.
    """
    a = 0
    pc = 0
    for _ in range(4096):
        code, jt, jf, k = program[pc]
        cls = code & 0x07
        if cls == 0x00:  # BPF_LD
            mode, size = code & 0xE0, code & 0x18
            if mode == 0x80:  # BPF_LEN
                a = len(packet)
            elif mode == 0x00:  # BPF_IMM
                a = k
            elif mode == 0x20:  # BPF_ABS
                width = {0x00: 4, 0x08: 2, 0x10: 1}[size]
                if k + width > len(packet):
                    return 0
                a = int.from_bytes(packet[k : k + width], "big")
            else:
                raise AssertionError(f"unsupported load {code:#x}")
            pc += 1
        elif cls == 0x05:  # BPF_JMP
            op = code & 0xF0
            if op == 0x00:  # BPF_JA
                pc += 1 + k
                continue
            taken = {0x10: a == k, 0x20: a > k, 0x30: a >= k, 0x40: bool(a & k)}[op]
            pc += 1 + (jt if taken else jf)
        elif cls == 0x06:  # BPF_RET
            return a if code & 0x18 == 0x10 else k
        else:
            raise AssertionError(f"unsupported instruction {code:#x}")
    raise AssertionError("filter did not return")


class FakeMonitor:
    """A subscribed rtnetlink socket: notifications pass the attached filter, then queue."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.queue: deque[bytes] = deque()
        self.program: list[Insn] | None = None
        self.groups = 0
        self.blocking = True
        self.capacity = capacity
        self.overrun = False
        self.closed = False
        self.offered = 0  # notifications the kernel tried to deliver
        self.options: dict[int, int] = {}

    def bind(self, address: tuple[int, int], /) -> None:
        self.groups = address[1]

    def setsockopt(self, level: int, option: int, value: int | bytes, /) -> None:
        if option == SO_ATTACH_FILTER:
            assert isinstance(value, bytes)
            count, addr = struct.unpack("HP", value)
            raw = ctypes.string_at(addr, count * 8)  # the kernel copies from user memory too
            self.program = [struct.unpack_from("=HBBI", raw, i * 8) for i in range(count)]
        else:
            assert isinstance(value, int)
            self.options[option] = value

    def setblocking(self, flag: bool, /) -> None:
        self.blocking = flag

    def recv_into(self, buffer: bytearray, /) -> int:
        if self.overrun:
            self.overrun = False
            raise OSError(errno.ENOBUFS, "No buffer space available")
        if not self.queue:
            assert not self.blocking
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        data = self.queue.popleft()
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.closed = True

    def deliver(self, msg: bytes) -> None:
        if not self.groups & ROUTE_GROUPS or self.closed:
            return
        self.offered += 1
        if self.program is not None and run_filter(self.program, msg) == 0:
            return
        if len(self.queue) >= self.capacity:
            self.overrun = True
            return
        self.queue.append(msg)


class FakeRtnl:
    """Just enough of rtnetlink for NetlinkFib."""

    def __init__(self, nexthops: bool = True) -> None:
        self.nexthops_supported = nexthops
        self.queue: deque[bytes] = deque()
        self.routes: dict[RouteKey, tuple[int, bytes]] = {}  # key -> (protocol, rtmsg+attrs)
        self.objects: dict[int, bytes] = {}  # id -> nhmsg+attrs
        self.requests: list[bytes] = []  # every route/nexthop change request, as sent
        self.monitors: list[FakeMonitor] = []
        self.route_dumps = 0  # RTM_GETROUTE requests

    # socket surface
    def bind(self, address: tuple[int, int], /) -> None:
        pass

    def setsockopt(self, level: int, option: int, value: int, /) -> None:
        pass

    def getsockopt(self, level: int, option: int, /) -> int:
        return 1 << 22 if option == socket.SO_RCVBUF else 1 << 20

    def settimeout(self, value: float | None, /) -> None:
        pass

    def close(self) -> None:
        pass

    def recv_into(self, buffer: bytearray, /) -> int:
        data = self.queue.popleft()
        buffer[: len(data)] = data
        return len(data)

    def send(self, buffer: ReadableBuffer, /) -> int:
        data = bytes(buffer)
        for m in nlmsg.iter_messages(data, len(data)):
            body = data[m.start : m.end]
            code = self._handle(m, data, body)
            if code is not None and (code or m.flags & nlmsg.NLM_F_ACK):
                self._answer(m.seq, code)
        return len(data)

    # kernel behaviour
    def _answer(self, seq: int, code: int) -> None:
        body = struct.pack("=i", -code) + nlmsg.NLMSGHDR.pack(16, 0, 0, seq, 0)
        self.queue.append(nlmsg.NLMSGHDR.pack(16 + len(body), nlmsg.NLMSG_ERROR,
                                              nlmsg.NLM_F_CAPPED, seq, 0) + body)

    def _emit(self, mtype: int, seq: int, body: bytes) -> None:
        self.queue.append(nlmsg.NLMSGHDR.pack(16 + len(body), mtype, nlmsg.NLM_F_MULTI, seq, 0)
                          + body)

    def _done(self, seq: int) -> None:
        self.queue.append(nlmsg.NLMSGHDR.pack(20, nlmsg.NLMSG_DONE, nlmsg.NLM_F_MULTI, seq, 0)
                          + b"\0\0\0\0")

    def _handle(self, m: nlmsg.Message, data: bytes, body: bytes) -> int | None:
        if m.type == nlmsg.NLMSG_NOOP:
            return 0
        if m.type == nlmsg.RTM_GETLINK:
            for index, name in LINKS.items():
                self._emit(nlmsg.RTM_NEWLINK, m.seq, nlmsg.IFINFOMSG.pack(0, 0, 1, index, 0, 0)
                           + nlmsg.rtattr(nlmsg.IFLA_IFNAME, name.encode() + b"\0"))
            self._done(m.seq)
            return None
        if m.type == nlmsg.RTM_GETNEXTHOP:
            if not self.nexthops_supported:
                return errno.EOPNOTSUPP
            for obj in self.objects.values():
                self._emit(nlmsg.RTM_NEWNEXTHOP, m.seq, obj)
            self._done(m.seq)
            return None
        if m.type == nlmsg.RTM_GETROUTE:
            self.route_dumps += 1
            family, want = body[0], body[5]
            for proto, rt in self.routes.values():
                if (not want or want == proto) and (not family or family == rt[0]):
                    self._emit(nlmsg.RTM_NEWROUTE, m.seq, rt)
            self._done(m.seq)
            return None
        self.requests.append(data[m.start - 16 : m.end])
        if m.type in (nlmsg.RTM_NEWROUTE, nlmsg.RTM_DELROUTE):
            rm = nlmsg.parse_route(data, m)
            key = (rm.table, rm.dst, rm.dst_len, rm.metric)
            held = self.routes.get(key)
            if m.type == nlmsg.RTM_DELROUTE:
                if held is None or (rm.protocol and held[0] != rm.protocol):
                    return errno.ESRCH
                del self.routes[key]
                self.notify(nlmsg.RTM_DELROUTE, 0, held[1])
                return 0
            if held is not None and m.flags & nlmsg.NLM_F_EXCL:
                return errno.EEXIST
            if rm.nh_id is not None and rm.nh_id not in self.objects:
                return errno.EINVAL
            if any(h.ifindex not in LINKS for h in rm.hops):
                return errno.ENODEV
            self.routes[key] = (rm.protocol, body)
            self.notify(nlmsg.RTM_NEWROUTE, nlmsg.NLM_F_REPLACE if held else nlmsg.NLM_F_CREATE, body)
            return 0
        if m.type == nlmsg.RTM_NEWNEXTHOP:
            nh = nlmsg.parse_nexthop(data, m)
            if nh.id in self.objects:
                return errno.EEXIST
            self.objects[nh.id] = body
            return 0
        if m.type == nlmsg.RTM_DELNEXTHOP:
            nh_id = struct.unpack_from("=I", body, 12)[0]
            if self.objects.pop(nh_id, None) is None:
                return errno.ENOENT
            for key, (_p, rt) in list(self.routes.items()):
                rm = nlmsg.parse_route(rt, nlmsg.Message(nlmsg.RTM_NEWROUTE, 0, 0, 0, len(rt)))
                if rm.nh_id == nh_id:
                    del self.routes[key]
            return 0
        return errno.EOPNOTSUPP

    def notify(self, mtype: int, flags: int, body: bytes) -> None:
        """Announce a route change to every subscribed monitor socket."""
        msg = nlmsg.NLMSGHDR.pack(16 + len(body), mtype, flags, 0, 0) + body
        for mon in self.monitors:
            mon.deliver(msg)

    def add_foreign(self, dst: bytes, plen: int, protocol: int, nh_id: int | None = None,
                    *, notify: bool = True) -> None:
        tail = nlmsg.nhid_tail(nh_id) if nh_id else nlmsg.u32_attr(nlmsg.RTA_OIF, 2)
        msg = nlmsg.pack_route(nlmsg.RTM_NEWROUTE, 0, 0, dst, plen, 254, 0, protocol, tail)
        self.routes[(254, dst, plen, 0)] = (protocol, msg[16:])
        if notify:
            self.notify(nlmsg.RTM_NEWROUTE, nlmsg.NLM_F_CREATE, msg[16:])

    def del_foreign(self, dst: bytes, plen: int, *, notify: bool = True) -> None:
        _proto, body = self.routes.pop((254, dst, plen, 0))
        if notify:
            self.notify(nlmsg.RTM_DELROUTE, 0, body)

    def add_object(self, nh_id: int, protocol: int) -> None:
        msg = nlmsg.pack_nexthop(0, 0, nh_id, protocol, nlmsg.HopSpec(2, nlmsg.AF_INET6, b"\xfe" * 16))
        self.objects[nh_id] = msg[16:]


def open_fib(
    monkeypatch: pytest.MonkeyPatch, kernel: FakeRtnl, *, monitor: bool = True,
    **kwargs: bool | None,
) -> NetlinkFib:
    """A NetlinkFib on ``kernel``; its route monitor is a FakeMonitor (``monitor=False``: refused)."""
    monkeypatch.setattr(netlink, "has_net_admin", lambda: True)
    monkeypatch.setattr(
        netlink, "NlSocket",
        lambda netns, chunk_bytes: NlSocket(sock=kernel, chunk_bytes=chunk_bytes),
    )

    def open_monitor(netns: str | None) -> FakeMonitor:
        if not monitor:
            raise FibUnavailable("cannot open a netlink socket: Permission denied")
        mon = FakeMonitor()
        kernel.monitors.append(mon)
        return mon

    monkeypatch.setattr(netlink, "open_monitor_socket", open_monitor)
    return NetlinkFib(**kwargs)  # type: ignore[arg-type]


def add(route: Route) -> FibOp:
    return FibOp(OpKind.ADD, route)


def test_inline_requests_are_the_reference_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel = FakeRtnl(nexthops=False)
    fib = open_fib(monkeypatch, kernel)
    assert fib.mode == "inline"
    routes = [
        Route.simple("198.51.100.0/24", A),
        Route(Route.simple("203.0.113.0/24").prefix, (Hop(A, 1), Hop(B, 3)), metric=7,
              table=1000),
        Route.simple("192.0.2.0/25", A, src="192.0.2.129"),
    ]
    res = fib.apply([add(r) for r in routes] + [FibOp(OpKind.DELETE, routes[0])])
    assert (res.ok, res.errors) == (4, [])
    a = nlmsg.HopSpec(2, nlmsg.AF_INET6, A.addr.packed)  # type: ignore[union-attr]
    b = nlmsg.HopSpec(3, nlmsg.AF_INET6, B.addr.packed, 3)  # type: ignore[union-attr]
    flags = nlmsg.NLM_F_REQUEST | nlmsg.NLM_F_CREATE | nlmsg.NLM_F_EXCL
    seqs = [struct.unpack_from("=I", req, 8)[0] for req in kernel.requests]
    assert seqs == list(range(seqs[0], seqs[0] + 4))
    assert kernel.requests == [
        nlmsg.pack_route(24, flags, seqs[0], bytes([198, 51, 100, 0]), 24, 254, 0, 46,
                         nlmsg.nexthop_tail((a,))),
        nlmsg.pack_route(24, flags, seqs[1], bytes([203, 0, 113, 0]), 24, 1000, 7, 46,
                         nlmsg.nexthop_tail((a, b._replace(weight=3)))),
        nlmsg.pack_route(24, flags, seqs[2], bytes([192, 0, 2, 0]), 25, 254, 0, 46,
                         nlmsg.nexthop_tail((a,)), prefsrc=bytes([192, 0, 2, 129])),
        nlmsg.pack_route(25, nlmsg.NLM_F_REQUEST, seqs[3], bytes([198, 51, 100, 0]), 24, 254,
                         0, 46),
    ]


def test_replace_over_foreign_route_never_reaches_the_kernel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kernel = FakeRtnl(nexthops=False)
    kernel.add_foreign(bytes([198, 51, 100, 0]), 24, 186)
    fib = open_fib(monkeypatch, kernel)
    res = fib.apply([FibOp(OpKind.REPLACE, Route.simple("198.51.100.0/24", A)),
                     FibOp(OpKind.REPLACE, Route.simple("203.0.113.0/24", A))])
    assert res.ok == 1
    [failure] = res.errors
    assert failure.errno == errno.EEXIST and "clash with proto bgp" in failure.message
    assert kernel.routes[(254, bytes([198, 51, 100, 0]), 24, 0)][0] == 186
    assert len(kernel.requests) == 1


def test_unknown_interface_fails_before_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel = FakeRtnl()
    fib = open_fib(monkeypatch, kernel)
    res = fib.apply([add(Route.simple("198.51.100.0/24", "fe80::1%eth7")),
                     add(Route.simple("203.0.113.0/24", A))])
    assert res.ok == 1
    [f] = res.errors
    assert f.errno == errno.ENODEV and f.message == "No such device: unknown interface 'eth7'"
    assert fib.check_interfaces([f.op.route]) == ["eth7"]


def test_nexthop_objects_ids_reuse_and_garbage(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel = FakeRtnl()
    kernel.add_object(NH_ID_FIRST, 11)  # zebra's object sits on our first id
    fib = open_fib(monkeypatch, kernel)
    assert fib.mode == "nhobj"
    ecmp = Route(Route.simple("203.0.113.0/24").prefix, (Hop(A, 1), Hop(B, 2)))
    singles = [Route.simple(f"198.51.100.{i}/32", A) for i in range(3)]
    res = fib.apply([add(ecmp), *(add(r) for r in singles)])
    assert (res.ok, res.errors) == (4, [])
    ours = {i for i in kernel.objects if i != NH_ID_FIRST}
    assert len(ours) == 3 and all(NH_ID_FIRST < i <= NH_ID_LAST for i in ours)
    assert all(nlmsg.NHMSG.unpack_from(kernel.objects[i])[2] == 46 for i in ours)
    listed = {kr.route.prefix: kr.route for kr in fib.list_routes()}
    assert listed[ecmp.prefix] == ecmp and listed[singles[0].prefix] == singles[0]
    # Deleting the ECMP route frees the group (its members are still in use or not).
    fib.apply([FibOp(OpKind.DELETE, ecmp)])
    assert len([i for i in kernel.objects if i != NH_ID_FIRST]) == 1  # only A's object
    assert fib.withdraw_nexthop(A) == 3
    assert list(kernel.objects) == [NH_ID_FIRST] and kernel.routes == {}


def test_withdraw_leaves_object_when_a_foreign_route_uses_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kernel = FakeRtnl()
    fib = open_fib(monkeypatch, kernel)
    fib.apply([add(Route.simple("198.51.100.0/24", A))])
    [nh_id] = kernel.objects
    kernel.add_foreign(bytes([192, 0, 2, 0]), 24, 4, nh_id=nh_id)
    assert fib.withdraw_nexthop(A) == 1
    assert nh_id in kernel.objects
    assert [p for p, _ in kernel.routes.values()] == [4]


def test_needs_cap_net_admin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netlink, "has_net_admin", lambda: False)
    with pytest.raises(FibUnavailable, match="needs CAP_NET_ADMIN: run as root") as info:
        NetlinkFib()
    assert "\n" not in str(info.value)


def test_forcing_objects_on_a_kernel_without_them(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FibUnavailable, match=r"no nexthop objects \(needs Linux >= 5.3\)"):
        open_fib(monkeypatch, FakeRtnl(nexthops=False), nexthop_objects=True)
    fib = open_fib(monkeypatch, FakeRtnl(nexthops=True), nexthop_objects=False)
    assert fib.mode == "inline"


def test_runs_of_deletes_go_out_in_reverse() -> None:
    r = Route.simple("198.51.100.0/24", A)
    kinds = "ADDDARDD"
    names = {"A": OpKind.ADD, "D": OpKind.DELETE, "R": OpKind.REPLACE}
    ops = [FibOp(names[k], r) for k in kinds]
    assert list(netlink._send_order(ops)) == [0, 3, 2, 1, 4, 5, 7, 6]
    assert list(netlink._send_order([])) == []


def test_deletes_reach_the_kernel_highest_first_and_errors_keep_op_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kernel = FakeRtnl(nexthops=False)
    fib = open_fib(monkeypatch, kernel)
    routes = [Route.simple(f"198.51.100.{i}/32", A) for i in range(6)]
    fib.apply([add(r) for r in routes[::2]])
    kernel.requests.clear()
    res = fib.apply([FibOp(OpKind.DELETE, r) for r in routes])
    assert [req[35] for req in kernel.requests] == [5, 4, 3, 2, 1, 0]  # last octet of RTA_DST
    assert res.ok == 3
    assert [str(f.op.route.prefix) for f in res.errors] == [
        "198.51.100.1/32", "198.51.100.3/32", "198.51.100.5/32"
    ]
    assert all(f.errno == errno.ESRCH for f in res.errors)
