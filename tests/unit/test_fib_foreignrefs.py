"""ForeignRefs without root: the cBPF filter, notifications into the map, overrun and resync.

The filter is run by a small cBPF interpreter (``run_filter``); sockets and the
kernel are the fakes of ``test_fib_netlink_fake``.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Iterator

import pytest
from test_fib_netlink_fake import A, FakeMonitor, FakeRtnl, open_fib, run_filter

from v4via6.fib import nlmsg
from v4via6.fib.backend import FibOp, OpKind
from v4via6.fib.foreignrefs import (
    MONITOR_RCVBUF,
    PROTOCOL_OFFSET,
    ROUTE_GROUPS,
    ForeignRefs,
    own_route_filter,
    pack_filter,
    parse_route_ref,
)
from v4via6.fib.netlink import NetlinkFib
from v4via6.fib.nlsocket import SO_RCVBUFFORCE
from v4via6.model import PROTO_NUMBER, Route

NH = 0x46000001
NH2 = 0x46000002


def route_msg(mtype: int, dst: str, protocol: int, nh_id: int | None = None, *, metric: int = 0,
              flags: int = 0, family: int = 4) -> bytes:
    """A route notification as the kernel sends it (nlmsghdr + rtmsg + attributes)."""
    addr = socket.inet_pton(socket.AF_INET6 if family == 6 else socket.AF_INET, dst.split("/")[0])
    plen = int(dst.split("/")[1])
    tail = nlmsg.nhid_tail(nh_id) if nh_id else nlmsg.u32_attr(nlmsg.RTA_OIF, 2)
    # Packed as a NEW (scope, type of the route), then retyped: a DEL describes the route too.
    msg = nlmsg.pack_route(nlmsg.RTM_NEWROUTE, flags, 0, addr, plen, 254, metric, protocol, tail)
    msg = msg[:4] + mtype.to_bytes(2, "little") + msg[6:]
    if family == 6:  # pack_route writes AF_INET into rtm_family
        msg = msg[:16] + bytes([nlmsg.AF_INET6]) + msg[17:]
    return msg


def as_dump(*msgs: bytes) -> list[tuple[bytearray, nlmsg.Message]]:
    out = []
    for raw in msgs:
        buf = bytearray(raw)
        [m] = nlmsg.iter_messages(buf, len(buf))
        out.append((buf, m))
    return out


class Dump:
    """A route dump callable that counts its calls; ``routes`` is what the kernel holds."""

    def __init__(self, *routes: bytes) -> None:
        self.routes = list(routes)
        self.calls = 0

    def __call__(self) -> Iterator[tuple[bytearray, nlmsg.Message]]:
        self.calls += 1
        yield from as_dump(*self.routes)


def make(*routes: bytes) -> tuple[ForeignRefs, FakeMonitor, Dump]:
    sock = FakeMonitor()
    dump = Dump(*routes)
    refs = ForeignRefs(sock, dump)
    refs.resync("initial")
    return refs, sock, dump


# --- the filter ---------------------------------------------------------------------------------


def test_filter_drops_own_route_notifications_and_keeps_the_rest() -> None:
    prog = own_route_filter()
    new, delete = nlmsg.RTM_NEWROUTE, nlmsg.RTM_DELROUTE
    own_new = route_msg(new, "198.51.100.0/24", PROTO_NUMBER, NH)
    assert own_new[PROTOCOL_OFFSET] == PROTO_NUMBER == 46 and PROTOCOL_OFFSET == 21
    assert run_filter(prog, own_new) == 0
    assert run_filter(prog, route_msg(delete, "198.51.100.0/24", PROTO_NUMBER)) == 0
    assert run_filter(prog, route_msg(new, "2001:db8::/64", PROTO_NUMBER, NH, family=6)) == 0
    keep = 0xFFFFFFFF
    assert run_filter(prog, route_msg(new, "198.51.100.0/24", 4, NH)) == keep  # proto static
    assert run_filter(prog, route_msg(delete, "203.0.113.0/24", 186)) == keep
    assert run_filter(prog, route_msg(new, "2001:db8::/64", 4, NH, family=6)) == keep
    # Not a route message, even with 46 at byte 21: kept (type 16 = RTM_NEWLINK, 0x118 = 280).
    link = bytearray(own_new)
    link[4:6] = (16).to_bytes(2, "little")
    assert run_filter(prog, bytes(link)) == keep
    link[4:6] = (0x118).to_bytes(2, "little")
    assert run_filter(prog, bytes(link)) == keep
    # Too short to hold rtm_protocol: kept (the kernel would fault the load and drop it).
    assert run_filter(prog, own_new[:21]) == keep
    assert run_filter(own_route_filter(7), own_new) == keep
    assert run_filter(own_route_filter(7), route_msg(new, "198.51.100.0/24", 7)) == 0


def test_filter_is_packed_as_struct_sock_filter() -> None:
    prog = own_route_filter()
    raw = pack_filter(prog)
    assert len(raw) == 8 * len(prog) == 88
    # ldb [21]; jeq #46 -> drop; ret #-1; ret #0
    assert raw[7 * 8 : 8 * 8] == bytes([0x30, 0, 0, 0]) + (21).to_bytes(4, "little")
    assert raw[8 * 8 : 9 * 8] == bytes([0x15, 0, 1, 0]) + (46).to_bytes(4, "little")
    assert raw[-16:] == bytes([6, 0, 0, 0, 255, 255, 255, 255, 6, 0, 0, 0, 0, 0, 0, 0])


def test_socket_is_filtered_before_it_subscribes() -> None:
    sock = FakeMonitor()
    order: list[str] = []
    attach, bind = sock.setsockopt, sock.bind

    def setsockopt(level: int, option: int, value: int | bytes, /) -> None:
        order.append(f"opt{option}")
        attach(level, option, value)

    def do_bind(address: tuple[int, int], /) -> None:
        order.append("bind")
        bind(address)

    sock.setsockopt = setsockopt  # type: ignore[method-assign]
    sock.bind = do_bind  # type: ignore[method-assign]
    ForeignRefs(sock, Dump())
    assert order == [f"opt{SO_RCVBUFFORCE}", "opt26", "bind"]
    assert sock.program == list(own_route_filter())  # what the kernel read through the pointer
    assert sock.groups == ROUTE_GROUPS == 0x440 and not sock.blocking
    assert sock.options[SO_RCVBUFFORCE] == MONITOR_RCVBUF


# --- notifications into the map ----------------------------------------------------------------------


def test_parse_route_ref_identity_and_nexthop() -> None:
    a = route_msg(nlmsg.RTM_NEWROUTE, "203.0.113.0/24", 4, NH)
    b = route_msg(nlmsg.RTM_DELROUTE, "203.0.113.0/24", 4, NH, flags=nlmsg.NLM_F_REPLACE)
    c = route_msg(nlmsg.RTM_NEWROUTE, "203.0.113.0/24", 4, NH, metric=5)
    ida, nha = parse_route_ref(a, 16, len(a))
    idb, _ = parse_route_ref(b, 16, len(b))
    idc, _ = parse_route_ref(c, 16, len(c))
    assert nha == NH and ida == idb and ida != idc  # header flags are no part of it; metric is
    no_nh = route_msg(nlmsg.RTM_NEWROUTE, "203.0.113.0/24", 4)
    assert parse_route_ref(no_nh, 16, len(no_nh))[1] == 0
    with pytest.raises(ValueError):
        parse_route_ref(a, 16, 24)
    with pytest.raises(ValueError):
        parse_route_ref(a[:-2], 16, len(a) - 2)


def test_new_adds_del_removes_routes_without_nh_id_ignored() -> None:
    refs, sock, dump = make(route_msg(nlmsg.RTM_NEWROUTE, "192.0.2.0/24", 4, NH2))
    assert refs.nh_ids() == {NH2} and dump.calls == 1
    new, delete = nlmsg.RTM_NEWROUTE, nlmsg.RTM_DELROUTE
    sock.deliver(route_msg(new, "203.0.113.0/24", 4, NH))
    sock.deliver(route_msg(new, "198.51.100.0/24", 4))  # no RTA_NH_ID
    sock.deliver(route_msg(new, "2001:db8::/64", 186, NH, family=6))
    sock.deliver(route_msg(new, "198.51.100.0/25", PROTO_NUMBER, NH))  # filtered in the "kernel"
    assert sock.offered == 4 and len(sock.queue) == 3
    assert refs.nh_ids() == {NH, NH2} and refs.routes == 3 and refs.messages == 3
    sock.deliver(route_msg(delete, "203.0.113.0/24", 4, NH))
    assert refs.nh_ids() == {NH, NH2}  # the IPv6 route still uses NH
    sock.deliver(route_msg(delete, "2001:db8::/64", 186, NH, family=6))
    sock.deliver(route_msg(delete, "192.0.2.0/24", 4, NH2))
    sock.deliver(route_msg(delete, "198.51.100.0/24", 4))
    assert refs.nh_ids() == set() and refs.routes == 0
    assert dump.calls == 1 and refs.valid


def test_replace_keeps_the_old_id_until_a_resync() -> None:
    refs, sock, dump = make(route_msg(nlmsg.RTM_NEWROUTE, "203.0.113.0/24", 4, NH))
    replaced = route_msg(nlmsg.RTM_NEWROUTE, "203.0.113.0/24", 4, NH2, flags=nlmsg.NLM_F_REPLACE)
    sock.deliver(replaced)
    assert refs.nh_ids() == {NH, NH2}  # cannot tell what was replaced: both count as used
    dump.routes = [replaced]
    refs.resync("confirm")
    assert refs.nh_ids() == {NH2}


def test_changes_queued_during_the_initial_dump_are_replayed_safely() -> None:
    sock = FakeMonitor()
    new, delete = nlmsg.RTM_NEWROUTE, nlmsg.RTM_DELROUTE
    x = route_msg(new, "203.0.113.0/24", 4, NH)
    y = route_msg(new, "192.0.2.0/24", 4, NH2)
    dump = Dump(x)  # the dump already shows x, and y is gone again

    def racing_dump() -> Iterator[tuple[bytearray, nlmsg.Message]]:
        sock.deliver(x)
        sock.deliver(y)
        sock.deliver(route_msg(delete, "192.0.2.0/24", 4, NH2))
        yield from dump()

    refs = ForeignRefs(sock, racing_dump)
    refs.resync("initial")
    assert refs.nh_ids() == {NH}


# --- overrun, parse doubt, resync -------------------------------------------------------------------------


def test_overrun_marks_invalid_and_the_next_answer_resyncs(caplog: pytest.LogCaptureFixture) -> None:
    refs, sock, dump = make()
    sock.capacity = 2
    for i in range(3):
        sock.deliver(route_msg(nlmsg.RTM_NEWROUTE, f"198.51.100.{i}/32", 4, NH))
    assert sock.overrun
    refs.drain()
    assert not refs.valid and refs.pending == "overrun" and dump.calls == 1
    refs.drain()  # still invalid: nothing is applied, nothing is dumped
    assert dump.calls == 1
    dump.routes = [route_msg(nlmsg.RTM_NEWROUTE, f"198.51.100.{i}/32", 4, NH) for i in range(3)]
    with caplog.at_level(logging.INFO, logger="v4via6.fib.foreignrefs"):
        assert refs.nh_ids() == {NH}
    assert dump.calls == 2 and refs.valid and refs.routes == 3
    [line] = [r.getMessage() for r in caplog.records if "fib_foreign_resync" in r.getMessage()]
    assert line.startswith("event=fib_foreign_resync reason=overrun routes=3 nexthops=1 seconds=")
    assert "\n" not in line


def test_malformed_notification_means_resync() -> None:
    refs, sock, dump = make()
    bad = bytearray(route_msg(nlmsg.RTM_NEWROUTE, "203.0.113.0/24", 4, NH))
    bad[16 + 12 : 16 + 14] = (200).to_bytes(2, "little")  # first attribute longer than the message
    sock.queue.append(bytes(bad))
    refs.drain()
    assert not refs.valid and refs.pending == "parse"
    refs.nh_ids()
    assert dump.calls == 2 and refs.valid


def test_receive_error_means_resync() -> None:
    refs, sock, dump = make()

    def broken(buffer: bytearray, /) -> int:
        raise OSError(errno.EIO, "I/O error")

    sock.recv_into = broken  # type: ignore[method-assign]
    refs.drain()
    assert not refs.valid and refs.pending == "error"
    del sock.recv_into  # the socket works again
    refs.nh_ids()
    assert dump.calls == 2 and refs.valid


# --- NetlinkFib on the fake kernel ------------------------------------------------------------------------


def one_route_on_a(monkeypatch: pytest.MonkeyPatch, **kw: bool) -> tuple[FakeRtnl, int, NetlinkFib]:
    kernel = FakeRtnl()
    fib = open_fib(monkeypatch, kernel, **kw)
    assert fib.apply([FibOp(OpKind.ADD, Route.simple("198.51.100.0/24", A))]).ok == 1
    [nh_id] = kernel.objects
    return kernel, nh_id, fib


def test_withdraw_without_foreign_routes_needs_no_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel, _nh_id, fib = one_route_on_a(monkeypatch)
    dumps = kernel.route_dumps
    assert fib.withdraw_nexthop(A) == 1
    assert kernel.route_dumps == dumps and kernel.routes == {} and kernel.objects == {}
    [mon] = kernel.monitors
    assert mon.offered == 1 and not mon.queue and fib._monitor is not None  # own add: filtered
    assert fib._monitor.messages == 0  # (deleting the object drops its routes silently)
    fib.close()
    assert mon.closed


def test_foreign_route_added_after_open_keeps_the_object(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel, nh_id, fib = one_route_on_a(monkeypatch)
    kernel.add_foreign(bytes([192, 0, 2, 0]), 24, 4, nh_id=nh_id)
    assert fib.withdraw_nexthop(A) == 1
    assert nh_id in kernel.objects
    assert [p for p, _ in kernel.routes.values()] == [4]


def test_stale_foreign_entry_costs_one_confirming_dump(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    kernel, nh_id, fib = one_route_on_a(monkeypatch)
    kernel.add_foreign(bytes([192, 0, 2, 0]), 24, 4, nh_id=nh_id)
    fib.apply([])  # nothing to do
    kernel.del_foreign(bytes([192, 0, 2, 0]), 24, notify=False)  # gone silently
    dumps = kernel.route_dumps
    with caplog.at_level(logging.INFO):
        assert fib.withdraw_nexthop(A) == 1
    assert kernel.objects == {} and kernel.routes == {}
    assert kernel.route_dumps == dumps + 2  # IPv4 and IPv6: one confirming resync
    assert any("event=fib_foreign_resync reason=confirm" in r.getMessage() for r in caplog.records)


def test_without_a_monitor_socket_the_dump_guards_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel, nh_id, fib = one_route_on_a(monkeypatch, monitor=False)
    assert kernel.monitors == []
    kernel.add_foreign(bytes([192, 0, 2, 0]), 24, 4, nh_id=nh_id)
    dumps = kernel.route_dumps
    assert fib.withdraw_nexthop(A) == 1
    assert kernel.route_dumps > dumps and nh_id in kernel.objects


def test_readonly_fib_opens_no_monitor(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel = FakeRtnl()
    open_fib(monkeypatch, kernel, readonly=True).close()
    open_fib(monkeypatch, FakeRtnl(nexthops=False)).close()  # inline mode: nothing to guard
    assert kernel.monitors == []

