"""Kernel version parsing, sysctl reading, neighbour states and lookups on fakes."""

from __future__ import annotations

import errno
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

import pytest
from pyroute2.netlink.exceptions import NetlinkError

from v4via6.host.errors import HostError
from v4via6.host.kernel import parse_kernel_release
from v4via6.host.lookup import RTM_F_FIB_MATCH, lookup_route
from v4via6.host.neighbours import nud_state_name
from v4via6.host.snapshot import (
    Address,
    HostSnapshot,
    KernelVersion,
    Neighbour,
    sysctl_display,
)
from v4via6.host.sysctl import read_sysctl, read_sysctls


def test_parse_kernel_release() -> None:
    assert parse_kernel_release("6.18.44-fc-v782") == KernelVersion(6, 18, 44)
    assert parse_kernel_release("5.2") == KernelVersion(5, 2, 0)
    v = parse_kernel_release("5.12.9-arch1")
    assert v.at_least(5, 2) and not v.at_least(5, 13)
    assert str(v) == "5.12.9-arch1"
    assert parse_kernel_release("weird") == KernelVersion(0, 0, 0)


def test_read_sysctls_from_a_tree(tmp_path: Path) -> None:
    conf = tmp_path / "net" / "ipv4" / "conf"
    for name, value in (("all", "2"), ("eth0.100", "1")):
        (conf / name).mkdir(parents=True)
        (conf / name / "rp_filter").write_text(f"{value}\n")
    (tmp_path / "net" / "ipv4" / "ip_forward").write_text("1\n")
    values = read_sysctls(["eth0.100", "missing0"], root=tmp_path)
    assert values["net/ipv4/ip_forward"] == "1"
    assert values["net/ipv4/conf/all/rp_filter"] == "2"
    assert values["net/ipv4/conf/eth0.100/rp_filter"] == "1"
    assert not any("missing0" in key for key in values)
    assert read_sysctl("net/ipv6/conf/all/forwarding", root=tmp_path) is None


def test_sysctl_display_uses_slashes_only_when_a_name_has_a_dot() -> None:
    assert sysctl_display("net/ipv4/conf/eth0/rp_filter") == "net.ipv4.conf.eth0.rp_filter"
    assert sysctl_display("net/ipv4/conf/eth0.100/rp_filter") == (
        "net/ipv4/conf/eth0.100/rp_filter")


def test_nud_state_names() -> None:
    assert nud_state_name(0x02) == "REACHABLE"
    assert nud_state_name(0x20) == "FAILED"
    assert nud_state_name(0) == "NONE"


def test_snapshot_helpers() -> None:
    snap = HostSnapshot(
        KernelVersion(6, 1),
        addresses=(Address("lo", IPv4Address("127.0.0.1"), 8, 254),
                   Address("eth0", IPv6Address("fe80::1"), 64, 253)),
        neighbours=(Neighbour(IPv6Address("fe80::2"), "eth0", "STALE", "02:00:00:00:00:02"),),
        sysctls={"net/ipv4/ip_forward": "1", "bad": "x"},
    )
    assert snap.usable_ipv4() == []
    assert snap.neighbour(IPv6Address("fe80::2"), "eth0") is not None
    assert snap.neighbour(IPv6Address("fe80::2"), "eth1") is None
    assert snap.sysctl_int("net/ipv4/ip_forward") == 1
    assert snap.sysctl_int("bad") is None and snap.sysctl_int("absent") is None


class FakeIpr:
    """Answers ``route("get", ...)`` from a canned reply or raises NetlinkError."""

    def __init__(self, reply: list[dict[str, Any]] | None = None, code: int = 0) -> None:
        self.reply = reply or []
        self.code = code
        self.calls: list[dict[str, Any]] = []

    def route(self, command: str, **kwargs: Any) -> list[dict[str, Any]]:
        assert command == "get"
        self.calls.append(kwargs)
        if self.code:
            raise NetlinkError(self.code)
        return self.reply


NAMES = {1: "lo", 2: "eth0"}
DST = IPv4Address("198.51.100.7")


def test_lookup_passes_src_iif_and_fib_match_flag() -> None:
    reply = [{"family": 2, "dst_len": 24, "proto": 46, "type": 1, "flags": 0, "attrs": [
        ("RTA_DST", "198.51.100.0"), ("RTA_VIA", {"family": 10, "addr": "fe80::1"}),
        ("RTA_OIF", 2)]}]
    ipr = FakeIpr(reply)
    found = lookup_route(ipr, NAMES, DST, src=IPv4Address("203.0.113.1"), iif="eth0",
                         fib_match=True)
    assert ipr.calls == [{"dst": "198.51.100.7", "src": "203.0.113.1", "iif": 2,
                          "flags": RTM_F_FIB_MATCH}]
    assert found.ok and found.entry is not None and found.entry.protocol == 46
    assert found.error is None


def test_lookup_errors_become_data() -> None:
    found = lookup_route(FakeIpr(code=errno.EXDEV), NAMES, DST)
    assert not found.ok
    assert found.errno == errno.EXDEV and found.errno_name == "EXDEV"
    assert found.error == "Invalid cross-device link"


def test_lookup_unknown_interface() -> None:
    with pytest.raises(HostError, match="unknown interface 'eth9'"):
        lookup_route(FakeIpr(), NAMES, DST, iif="eth9")
