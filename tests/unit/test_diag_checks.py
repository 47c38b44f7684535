"""Each preflight check on hand-built host snapshots: ok, warn and fail."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from v4via6.diag.checks import (
    check_icmp_source,
    check_ipv4_forwarding,
    check_ipv6_enabled,
    check_ipv6_forwarding,
    check_kernel,
    check_neighbours,
    check_rp_filter,
    run_checks,
)
from v4via6.diag.status import CheckResult, Status, exit_code
from v4via6.host.snapshot import (
    SCOPE_HOST,
    SCOPE_LINK,
    Address,
    HostSnapshot,
    KernelVersion,
    Link,
    Neighbour,
)
from v4via6.model import Route

LL_ETH0 = Address("eth0", IPv6Address("fe80::10"), 64, SCOPE_LINK)
LOOP4 = Address("lo", IPv4Address("127.0.0.1"), 8, SCOPE_HOST)
ROUTER_ID = Address("lo", IPv4Address("192.0.2.1"), 32)


def snapshot(
    *,
    kernel: tuple[int, int] = (6, 1),
    links: Sequence[Link] = (Link(1, "lo", loopback=True), Link(2, "eth0")),
    addresses: Sequence[Address] = (LOOP4, ROUTER_ID, LL_ETH0),
    neighbours: Sequence[Neighbour] = (),
    sysctls: dict[str, str] | None = None,
) -> HostSnapshot:
    values = {
        "net/ipv4/ip_forward": "1",
        "net/ipv4/conf/all/forwarding": "1",
        "net/ipv4/conf/all/rp_filter": "0",
        "net/ipv6/conf/all/forwarding": "1",
        "net/ipv6/conf/all/disable_ipv6": "0",
    }
    for link in links:
        values[f"net/ipv4/conf/{link.name}/rp_filter"] = "0"
        values[f"net/ipv4/conf/{link.name}/forwarding"] = "1"
        values[f"net/ipv6/conf/{link.name}/disable_ipv6"] = "0"
    values.update(sysctls or {})
    return HostSnapshot(
        KernelVersion(*kernel), tuple(links), tuple(addresses), tuple(neighbours), values
    )


ROUTES = [Route.simple("198.51.100.0/24", "fe80::1%eth0")]


def statuses(results: list[CheckResult]) -> list[Status]:
    return [r.status for r in results]


def test_kernel_new_enough_is_ok() -> None:
    results = check_kernel(snapshot(kernel=(6, 18)))
    assert statuses(results) == [Status.OK, Status.OK]


def test_kernel_between_5_2_and_5_13_warns_about_icmp_source() -> None:
    results = check_kernel(snapshot(kernel=(5, 10)))
    assert statuses(results) == [Status.OK, Status.WARN]
    assert "0.0.0.0" in results[1].message
    assert results[1].fix is not None


def test_kernel_older_than_5_2_fails() -> None:
    results = check_kernel(snapshot(kernel=(4, 19)))
    assert results[0].status is Status.FAIL
    assert results[0].fix is not None and "5.2" in results[0].fix


def test_ipv4_forwarding_off_fails_with_sysctl_fix() -> None:
    results = check_ipv4_forwarding(snapshot(sysctls={"net/ipv4/ip_forward": "0"}))
    assert statuses(results) == [Status.FAIL]
    assert results[0].fix == "sysctl -w net.ipv4.ip_forward=1"


def test_ipv4_forwarding_off_on_one_interface_warns() -> None:
    results = check_ipv4_forwarding(snapshot(sysctls={"net/ipv4/conf/eth0/forwarding": "0"}))
    assert statuses(results) == [Status.WARN]
    assert results[0].subject == "eth0"
    assert results[0].fix == "sysctl -w net.ipv4.conf.eth0.forwarding=1"


def test_ipv4_forwarding_on_is_ok() -> None:
    assert statuses(check_ipv4_forwarding(snapshot())) == [Status.OK]


def test_ipv6_forwarding() -> None:
    assert statuses(check_ipv6_forwarding(snapshot())) == [Status.OK]
    off = check_ipv6_forwarding(snapshot(sysctls={"net/ipv6/conf/all/forwarding": "0"}))
    assert statuses(off) == [Status.FAIL]
    assert off[0].fix == "sysctl -w net.ipv6.conf.all.forwarding=1"


def test_kernel_without_ipv6_fails() -> None:
    snap = snapshot()
    values = {k: v for k, v in snap.sysctls.items() if not k.startswith("net/ipv6")}
    bare = HostSnapshot(snap.kernel, snap.links, snap.addresses, snap.neighbours, values)
    results = check_ipv6_forwarding(bare)
    assert statuses(results) == [Status.FAIL] and "no IPv6" in results[0].message


def test_ipv6_enabled_ok_on_nexthop_interface() -> None:
    results = check_ipv6_enabled(snapshot(), ROUTES)
    assert statuses(results) == [Status.OK]
    assert results[0].subject == "eth0"


def test_ipv6_disabled_on_nexthop_interface_fails() -> None:
    snap = snapshot(sysctls={"net/ipv6/conf/eth0/disable_ipv6": "1"})
    results = check_ipv6_enabled(snap, ROUTES)
    assert statuses(results) == [Status.FAIL]
    assert results[0].fix == "sysctl -w net.ipv6.conf.eth0.disable_ipv6=0"


def test_ipv6_disabled_everywhere_names_conf_all() -> None:
    snap = snapshot(sysctls={"net/ipv6/conf/all/disable_ipv6": "1"})
    results = check_ipv6_enabled(snap, ROUTES)
    assert results[0].fix == "sysctl -w net.ipv6.conf.all.disable_ipv6=0"


def test_nexthop_interface_missing_or_down_fails() -> None:
    routes = [Route.simple("198.51.100.0/24", "fe80::1%eth9")]
    assert statuses(check_ipv6_enabled(snapshot(), routes)) == [Status.FAIL]
    down = snapshot(links=(Link(1, "lo", loopback=True), Link(2, "eth0", up=False)))
    results = check_ipv6_enabled(down, ROUTES)
    assert statuses(results) == [Status.FAIL]
    assert results[0].fix == "ip link set eth0 up"


def test_nexthop_interface_without_ipv6_address_fails() -> None:
    results = check_ipv6_enabled(snapshot(addresses=(LOOP4, ROUTER_ID)), ROUTES)
    assert statuses(results) == [Status.FAIL]
    assert "no IPv6 address" in results[0].message


def test_no_routes_is_ok_for_route_checks() -> None:
    assert statuses(check_ipv6_enabled(snapshot(), [])) == [Status.OK]
    assert statuses(check_neighbours(snapshot(), [])) == [Status.OK]


def test_rp_filter_trap_warns_on_interface_without_ipv4() -> None:
    snap = snapshot(sysctls={"net/ipv4/conf/all/rp_filter": "2"})
    results = check_rp_filter(snap)
    assert statuses(results) == [Status.WARN]
    assert results[0].subject == "eth0"
    assert "Invalid cross-device link" in results[0].message
    assert results[0].fix is not None
    assert "net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0" in results[0].fix


def test_rp_filter_effective_value_is_max_of_all_and_interface() -> None:
    snap = snapshot(sysctls={"net/ipv4/conf/eth0/rp_filter": "1"})
    results = check_rp_filter(snap)
    assert statuses(results) == [Status.WARN]
    assert "strict" in results[0].message


def test_rp_filter_off_or_interface_with_ipv4_is_ok() -> None:
    assert statuses(check_rp_filter(snapshot())) == [Status.OK]
    with_v4 = snapshot(
        addresses=(LOOP4, LL_ETH0, Address("eth0", IPv4Address("192.0.2.9"), 24)),
        sysctls={"net/ipv4/conf/all/rp_filter": "1"},
    )
    assert statuses(check_rp_filter(with_v4)) == [Status.OK]


def test_icmp_source_without_ipv4_address_warns_192_0_0_8() -> None:
    results = check_icmp_source(snapshot(kernel=(6, 1), addresses=(LOOP4, LL_ETH0)))
    assert statuses(results) == [Status.WARN]
    assert "192.0.0.8" in results[0].message
    assert results[0].fix is not None and "/32 dev lo" in results[0].fix


def test_icmp_source_on_old_kernel_names_0_0_0_0() -> None:
    results = check_icmp_source(snapshot(kernel=(5, 10), addresses=(LOOP4, LL_ETH0)))
    assert "0.0.0.0" in results[0].message


def test_icmp_source_with_loopback_32_is_ok() -> None:
    results = check_icmp_source(snapshot())
    assert statuses(results) == [Status.OK]
    assert "192.0.2.1" in results[0].message


def neighbour(state: str, mac: str | None = "02:00:00:00:00:01") -> Neighbour:
    return Neighbour(ip_address("fe80::1"), "eth0", state, mac)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("REACHABLE", Status.OK),
        ("STALE", Status.OK),
        ("PERMANENT", Status.OK),
        ("INCOMPLETE", Status.WARN),
        ("FAILED", Status.FAIL),
    ],
)
def test_neighbour_states(state: str, expected: Status) -> None:
    results = check_neighbours(snapshot(neighbours=(neighbour(state),)), ROUTES)
    assert statuses(results) == [expected]
    assert results[0].subject == "fe80::1%eth0"
    assert (results[0].fix is None) == (expected is Status.OK)


def test_missing_neighbour_warns() -> None:
    results = check_neighbours(snapshot(), ROUTES)
    assert statuses(results) == [Status.WARN]
    assert results[0].fix is not None and "ping -6 -c1 fe80::1%eth0" in results[0].fix


def test_neighbour_on_other_interface_does_not_count() -> None:
    other = Neighbour(ip_address("fe80::1"), "eth1", "REACHABLE", "02:00:00:00:00:01")
    assert statuses(check_neighbours(snapshot(neighbours=(other,)), ROUTES)) == [Status.WARN]


def test_run_checks_healthy_box_exits_0() -> None:
    results = run_checks(snapshot(neighbours=(neighbour("REACHABLE"),)), ROUTES)
    assert all(r.status is Status.OK for r in results)
    assert exit_code(results) == 0
    assert {r.check for r in results} >= {
        "kernel-ipv4-via-ipv6", "kernel-icmp-source", "ipv4-forwarding", "ipv6-forwarding",
        "rp-filter", "icmp-source", "nexthop-interfaces", "nexthop-neighbours",
    }


def test_run_checks_exit_codes() -> None:
    warn = run_checks(snapshot(), ROUTES)  # neighbour missing
    assert exit_code(warn) == 1
    fail = run_checks(snapshot(sysctls={"net/ipv4/ip_forward": "0"}), ROUTES)
    assert exit_code(fail) == 2


def test_run_checks_without_routes_warns_and_still_checks_host() -> None:
    results = run_checks(snapshot(), None, "permission denied")
    assert results[-1].check == "own-routes"
    assert results[-1].status is Status.WARN
    assert "permission denied" in results[-1].message
    assert any(r.check == "ipv4-forwarding" for r in results)


def test_every_problem_has_a_one_line_fix() -> None:
    snap = snapshot(
        kernel=(4, 19),
        addresses=(LOOP4,),
        sysctls={
            "net/ipv4/ip_forward": "0",
            "net/ipv6/conf/all/forwarding": "0",
            "net/ipv4/conf/all/rp_filter": "1",
            "net/ipv6/conf/eth0/disable_ipv6": "1",
        },
        neighbours=(neighbour("FAILED"),),
    )
    results = run_checks(snap, ROUTES)
    problems = [r for r in results if r.status is not Status.OK]
    assert len(problems) >= 6
    for r in problems:
        assert r.fix and "\n" not in r.fix and "\n" not in r.message
    assert r.to_json().keys() == {"check", "status", "subject", "message", "fix"}
