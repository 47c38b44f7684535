"""The preflight checks of ``v4via6 check``, as pure functions over a host snapshot.

Each check returns one or more ``CheckResult`` lines (ok / warn / fail) and every
warn or fail carries a one-line fix. ``run_checks`` runs them all in a fixed order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from ipaddress import IPv6Address

from v4via6.diag.icmp_source import DUMMY_SOURCE_KERNEL, LOOPBACK_FIX, fallback_source
from v4via6.diag.rpfilter import describe_setting, effective_rp_filter, trap_fix
from v4via6.diag.status import CheckResult, Status
from v4via6.host.neighbours import USABLE_STATES
from v4via6.host.snapshot import HostSnapshot, sysctl_display, sysctl_path
from v4via6.model import NextHop, Route

#: Linux release that accepts IPv4 routes with an IPv6 gateway (RTA_VIA).
VIA_KERNEL = (5, 2)

IP_FORWARD = sysctl_path("net", "ipv4", "ip_forward")
IPV4_ALL_FORWARDING = sysctl_path("net", "ipv4", "conf", "all", "forwarding")
IPV6_ALL_FORWARDING = sysctl_path("net", "ipv6", "conf", "all", "forwarding")
IPV6_ALL_DISABLE = sysctl_path("net", "ipv6", "conf", "all", "disable_ipv6")


def check_kernel(snapshot: HostSnapshot) -> list[CheckResult]:
    """Kernel >= 5.2 for IPv4 via IPv6 (fail), >= 5.13 for a non-zero ICMP source (warn)."""
    kernel = snapshot.kernel
    results = []
    if kernel.at_least(*VIA_KERNEL):
        results.append(CheckResult(
            "kernel-ipv4-via-ipv6", Status.OK,
            f"Linux {kernel} supports IPv4 routes via IPv6 next hops (needs 5.2)",
        ))
    else:
        results.append(CheckResult(
            "kernel-ipv4-via-ipv6", Status.FAIL,
            f"Linux {kernel} cannot install IPv4 routes via IPv6 next hops (needs 5.2)",
            "upgrade the kernel to Linux 5.2 or newer",
        ))
    if kernel.at_least(*DUMMY_SOURCE_KERNEL):
        results.append(CheckResult(
            "kernel-icmp-source", Status.OK,
            f"Linux {kernel} sends ICMPv4 errors from 192.0.0.8 when it has no IPv4 "
            "address, not 0.0.0.0 (needs 5.13)",
        ))
    else:
        results.append(CheckResult(
            "kernel-icmp-source", Status.WARN,
            f"Linux {kernel} sends ICMPv4 errors from 0.0.0.0 when the box has no IPv4 "
            "address (5.13 uses 192.0.0.8)",
            f"upgrade to Linux 5.13 or newer, or {LOOPBACK_FIX}",
        ))
    return results


def check_ipv4_forwarding(snapshot: HostSnapshot) -> list[CheckResult]:
    """net.ipv4.ip_forward (same switch as conf.all.forwarding), then per interface."""
    value = snapshot.sysctl_int(IP_FORWARD)
    if value is None:
        value = snapshot.sysctl_int(IPV4_ALL_FORWARDING)
    if not value:
        return [CheckResult(
            "ipv4-forwarding", Status.FAIL,
            f"IPv4 forwarding is off ({sysctl_display(IP_FORWARD)}={value}): "
            "this box will not route IPv4",
            f"sysctl -w {sysctl_display(IP_FORWARD)}=1",
        )]
    results = []
    for link in snapshot.links:
        if link.loopback or not link.up:
            continue
        key = sysctl_path("net", "ipv4", "conf", link.name, "forwarding")
        if snapshot.sysctl_int(key) == 0:
            results.append(CheckResult(
                "ipv4-forwarding", Status.WARN,
                f"IPv4 forwarding is off on {link.name}: packets arriving there are not routed",
                f"sysctl -w {sysctl_display(key)}=1",
                subject=link.name,
            ))
    if not results:
        results.append(CheckResult(
            "ipv4-forwarding", Status.OK, f"IPv4 forwarding is on ({sysctl_display(IP_FORWARD)}=1)"
        ))
    return results


def check_ipv6_forwarding(snapshot: HostSnapshot) -> list[CheckResult]:
    value = snapshot.sysctl_int(IPV6_ALL_FORWARDING)
    if value is None:
        return [CheckResult(
            "ipv6-forwarding", Status.FAIL,
            "this kernel has no IPv6 (no net.ipv6 sysctls): IPv6 next hops cannot work",
            "boot without ipv6.disable=1 (or load the ipv6 module)",
        )]
    if value:
        return [CheckResult(
            "ipv6-forwarding", Status.OK,
            f"IPv6 forwarding is on ({sysctl_display(IPV6_ALL_FORWARDING)}=1)",
        )]
    return [CheckResult(
        "ipv6-forwarding", Status.FAIL,
        f"IPv6 forwarding is off ({sysctl_display(IPV6_ALL_FORWARDING)}={value}): "
        "this box will not route the IPv6 core",
        f"sysctl -w {sysctl_display(IPV6_ALL_FORWARDING)}=1",
    )]


def _nexthop_interfaces(routes: Sequence[Route]) -> list[str]:
    names: set[str] = set()
    for route in routes:
        for nh in route.nexthops:
            if nh.ifname and isinstance(nh.addr, IPv6Address):
                names.add(nh.ifname)
    return sorted(names)


def check_ipv6_enabled(snapshot: HostSnapshot, routes: Sequence[Route]) -> list[CheckResult]:
    """Interfaces that next hops use exist, are up, and run IPv6 with an address."""
    ifnames = _nexthop_interfaces(routes)
    if not ifnames:
        return [CheckResult(
            "nexthop-interfaces", Status.OK, "no own routes with IPv6 next hops to check"
        )]
    all_disabled = snapshot.sysctl_int(IPV6_ALL_DISABLE) == 1
    results = []
    for name in ifnames:
        link = snapshot.link(name)
        if link is None:
            results.append(CheckResult(
                "nexthop-interfaces", Status.FAIL,
                f"next hops use interface {name}, which does not exist",
                f"create {name} or change the routes that use it",
                subject=name,
            ))
            continue
        key = sysctl_path("net", "ipv6", "conf", name, "disable_ipv6")
        if all_disabled or snapshot.sysctl_int(key) == 1:
            which = IPV6_ALL_DISABLE if all_disabled else key
            results.append(CheckResult(
                "nexthop-interfaces", Status.FAIL,
                f"IPv6 is disabled on {name} ({sysctl_display(which)}=1): its IPv6 next hops "
                "cannot be resolved",
                f"sysctl -w {sysctl_display(which)}=0",
                subject=name,
            ))
            continue
        if not link.up:
            results.append(CheckResult(
                "nexthop-interfaces", Status.FAIL,
                f"{name} is down: routes via next hops on it do not forward",
                f"ip link set {name} up",
                subject=name,
            ))
            continue
        if not snapshot.addresses_of(name, 6):
            results.append(CheckResult(
                "nexthop-interfaces", Status.FAIL,
                f"{name} has no IPv6 address (not even link-local): neighbour discovery "
                "cannot run",
                f"check {sysctl_display(sysctl_path('net', 'ipv6', 'conf', name, 'addr_gen_mode'))}"
                f" and that {name} is up",
                subject=name,
            ))
            continue
        results.append(CheckResult(
            "nexthop-interfaces", Status.OK, f"{name} is up with IPv6 enabled", subject=name
        ))
    return results


def check_rp_filter(snapshot: HostSnapshot) -> list[CheckResult]:
    """The rp_filter trap on up interfaces that have no IPv4 address."""
    results = []
    for link in snapshot.links:
        if link.loopback or not link.up or snapshot.addresses_of(link.name, 4):
            continue
        if effective_rp_filter(snapshot, link.name) > 0:
            results.append(CheckResult(
                "rp-filter", Status.WARN,
                f"rp_filter is {describe_setting(snapshot, link.name)} on {link.name}, which "
                "has no IPv4 address: IPv4 packets arriving there whose route back leaves by "
                "another interface are dropped (\"Invalid cross-device link\")",
                trap_fix(link.name),
                subject=link.name,
            ))
    if not results:
        results.append(CheckResult(
            "rp-filter", Status.OK,
            "no interface without IPv4 addresses has rp_filter on",
        ))
    return results


def check_icmp_source(snapshot: HostSnapshot) -> list[CheckResult]:
    usable = snapshot.usable_ipv4()
    if usable:
        return [CheckResult(
            "icmp-source", Status.OK,
            f"ICMPv4 errors can use an address of this box (e.g. {usable[0].address})",
        )]
    addr = fallback_source(snapshot)
    return [CheckResult(
        "icmp-source", Status.WARN,
        f"this box has no IPv4 address, so its ICMPv4 errors (TTL exceeded, fragmentation "
        f"needed) come from {addr}, which many networks filter: traceroute and PMTU break",
        LOOPBACK_FIX,
    )]


def _nexthops(routes: Sequence[Route]) -> list[NextHop]:
    seen: set[NextHop] = set()
    for route in routes:
        for nh in route.nexthops:
            if isinstance(nh.addr, IPv6Address):
                seen.add(nh)
    return sorted(seen)


def check_neighbours(snapshot: HostSnapshot, routes: Sequence[Route]) -> list[CheckResult]:
    """Next hops whose neighbour entry is FAILED (fail) or missing/incomplete (warn)."""
    nexthops = _nexthops(routes)
    if not nexthops:
        return [CheckResult("nexthop-neighbours", Status.OK, "no own IPv6 next hops to check")]
    results = []
    for nh in nexthops:
        spec = nh.spec()
        ping = f"ping -6 -c1 {spec}"
        show = f"ip -6 neigh show {nh.addr}" + (f" dev {nh.ifname}" if nh.ifname else "")
        entry = snapshot.neighbour(nh.addr, nh.ifname) if nh.addr is not None else None
        if entry is None:
            results.append(CheckResult(
                "nexthop-neighbours", Status.WARN,
                f"no neighbour entry for next hop {spec}: not resolved yet",
                f"check the neighbour is up on that link: {ping}",
                subject=spec,
            ))
        elif entry.state == "FAILED":
            results.append(CheckResult(
                "nexthop-neighbours", Status.FAIL,
                f"next hop {spec} does not answer neighbour discovery (FAILED): "
                "packets routed to it are dropped",
                f"bring the neighbour up / fix the link, then {ping}; see {show}",
                subject=spec,
            ))
        elif entry.state in USABLE_STATES:
            mac = f" at {entry.mac}" if entry.mac else ""
            results.append(CheckResult(
                "nexthop-neighbours", Status.OK,
                f"next hop {spec} is {entry.state}{mac}",
                subject=spec,
            ))
        else:
            results.append(CheckResult(
                "nexthop-neighbours", Status.WARN,
                f"next hop {spec} is {entry.state}: not resolved yet",
                f"check the neighbour answers: {ping}",
                subject=spec,
            ))
    return results


def routes_unavailable(reason: str) -> CheckResult:
    """The line shown when own routes could not be listed (the other checks still run)."""
    return CheckResult(
        "own-routes", Status.WARN,
        f"could not list v4via6's routes ({reason}); next-hop checks skipped",
        "fix the cause above; 'v4via6 show routes' reports the same error",
    )


HostCheck = Callable[[HostSnapshot], list[CheckResult]]
RouteCheck = Callable[[HostSnapshot, Sequence[Route]], list[CheckResult]]

HOST_CHECKS: tuple[HostCheck, ...] = (
    check_kernel,
    check_ipv4_forwarding,
    check_ipv6_forwarding,
    check_rp_filter,
    check_icmp_source,
)
ROUTE_CHECKS: tuple[RouteCheck, ...] = (check_ipv6_enabled, check_neighbours)


def run_checks(
    snapshot: HostSnapshot, routes: Sequence[Route] | None, routes_error: str | None = None
) -> list[CheckResult]:
    """Every check, in a fixed order; ``routes`` None means they could not be listed."""
    results: list[CheckResult] = []
    for host_check in HOST_CHECKS:
        results.extend(host_check(snapshot))
    if routes is None:
        results.append(routes_unavailable(routes_error or "unknown error"))
        return results
    for route_check in ROUTE_CHECKS:
        results.extend(route_check(snapshot, routes))
    return results
