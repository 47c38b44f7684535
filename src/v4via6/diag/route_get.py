"""Explain a route lookup in plain words: ``v4via6 route get`` without the kernel.

``explain_route`` takes the kernel's answers (a ``RouteProbe``) and a host
snapshot and returns the matched entry, the chosen next hops with their
neighbour entries, the source addresses, and a verdict: where the packet
goes, or why the kernel would drop it.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

from v4via6.diag.icmp_source import IcmpSource, icmp_source
from v4via6.diag.nexthop_view import NextHopView, from_route_hop
from v4via6.diag.rpfilter import describe_setting, effective_rp_filter, trap_fix
from v4via6.fib.protos import proto_name
from v4via6.host.lookup import RouteLookup
from v4via6.host.probe import RouteProbe
from v4via6.host.route_msg import KernelEntry
from v4via6.host.snapshot import HostSnapshot, sysctl_display, sysctl_path
from v4via6.model import PROTO_NUMBER

#: Verdicts; ``drop`` is True for all but these.
PASSING_VERDICTS = frozenset({"forward", "output", "local"})

#: Tables the default rules consult, in order: local, main, default.
RULE_ORDER = (255, 254, 253)

CROSS_DEVICE = "Invalid cross-device link"


@dataclass(frozen=True, slots=True)
class Matched:
    """The routing-table entry that matched, and who told us (kernel or table scan)."""

    entry: KernelEntry
    source: str  # "kernel" (RTM_F_FIB_MATCH) or "table" (longest match over a dump)


@dataclass(frozen=True, slots=True)
class RouteExplanation:
    """The answer of ``route get``."""

    dst: IPv4Address
    src: IPv4Address | None
    iif: str | None
    verdict: str
    explanation: str
    fix: str | None
    kernel_error: RouteLookup | None
    matched: Matched | None
    nexthops: tuple[NextHopView, ...]
    dev: str | None
    source: IPv4Address | None
    icmp: IcmpSource
    notes: tuple[str, ...] = ()
    matched_hops: tuple[NextHopView, ...] = ()

    @property
    def drop(self) -> bool:
        return self.verdict not in PASSING_VERDICTS

    def to_json(self) -> dict[str, Any]:
        matched: dict[str, Any] | None = None
        if self.matched is not None:
            e = self.matched.entry
            matched = {
                "prefix": str(e.prefix),
                "type": e.kind,
                "protocol": e.protocol,
                "protocol_name": proto_name(e.protocol),
                "own": e.protocol == PROTO_NUMBER,
                "table": e.table,
                "metric": e.metric,
                "found_by": self.matched.source,
                "nexthops": [h.to_json() for h in self.matched_hops],
            }
        err = self.kernel_error
        return {
            "query": {
                "dst": str(self.dst),
                "from": str(self.src) if self.src is not None else None,
                "iif": self.iif,
            },
            "verdict": self.verdict,
            "drop": self.drop,
            "explanation": self.explanation,
            "fix": self.fix,
            "kernel_error": None if err is None or err.errno is None else {
                "errno": err.errno, "name": err.errno_name, "message": err.error,
            },
            "matched": matched,
            "nexthops": [h.to_json() for h in self.nexthops],
            "dev": self.dev,
            "src": str(self.source) if self.source is not None else None,
            "icmp_source": self.icmp.to_json(),
            "notes": list(self.notes),
        }


def longest_match(table: Sequence[KernelEntry], dst: IPv4Address) -> KernelEntry | None:
    """The entry the default rules pick for ``dst``: local, then main, then default table."""
    for table_id in RULE_ORDER:
        candidates = [e for e in table if e.table == table_id and dst in e.prefix
                      and e.kind != "broadcast"]
        if candidates:
            return max(candidates, key=lambda e: (e.prefix.prefixlen, -e.metric))
    return None


def _matched(probe: RouteProbe) -> Matched | None:
    if probe.match is not None and probe.match.ok and probe.match.entry is not None:
        return Matched(probe.match.entry, "kernel")
    entry = longest_match(probe.table, probe.dst)
    return Matched(entry, "table") if entry is not None else None


def _packet_source(probe: RouteProbe) -> IPv4Address | None:
    """The source this box puts on packets it sends to ``dst`` itself."""
    if probe.iif is not None and probe.src is not None:
        return probe.src
    look = probe.output if probe.iif is not None else probe.path
    if look is not None and look.ok and look.entry is not None:
        return look.entry.prefsrc or probe.src
    return probe.src


def _neighbour_notes(hops: Sequence[NextHopView]) -> tuple[str | None, str | None, list[str]]:
    """(explanation, fix) when a chosen next hop's neighbour is FAILED, plus notes."""
    notes: list[str] = []
    for hop in hops:
        if hop.via is None:
            continue
        where = f"{hop.via}%{hop.dev}" if hop.dev else str(hop.via)
        state = hop.neigh_state
        if state == "FAILED":
            return (
                f"the last neighbour discovery for next hop {where} failed (FAILED): packets "
                "routed to it are dropped (host unreachable) until it answers",
                f"bring the neighbour up or fix the link, then check: ping -6 -c1 {where}",
                notes,
            )
        if state == "none":
            notes.append(
                f"no neighbour entry for {where} yet: the kernel resolves it (neighbour "
                "discovery) when the first packet goes out"
            )
        elif state == "INCOMPLETE":
            notes.append(f"neighbour discovery for {where} is in progress (INCOMPLETE)")
        for flag in hop.flags:
            if flag in ("dead", "linkdown"):
                notes.append(f"next hop {where} is marked {flag}")
    return None, None, notes


def _forwarding_off(snapshot: HostSnapshot, iif: str) -> str | None:
    for key in (sysctl_path("net", "ipv4", "ip_forward"),
                sysctl_path("net", "ipv4", "conf", iif, "forwarding")):
        if snapshot.sysctl_int(key) == 0:
            return key
    return None


def _reverse_dev(probe: RouteProbe) -> tuple[str | None, bool]:
    """(interface the route back to src leaves by, whether a route back exists)."""
    rev = probe.reverse
    if rev is None or not rev.ok or rev.entry is None:
        return None, False
    devs = [h.dev for h in rev.entry.hops if h.dev]
    return (devs[0] if devs else None), True


def _explain_invalid(
    probe: RouteProbe, snapshot: HostSnapshot
) -> tuple[str, str, str | None]:
    """Verdict for EINVAL/EXDEV on a lookup with an incoming interface."""
    iif = probe.iif or ""
    src = probe.src
    if src is not None and snapshot.is_local(src):
        return (
            "martian-source",
            f"the packet claims to come from {src}, an address of this box: the kernel "
            "drops it as a martian source",
            "check the sender's source address",
        )
    rpf = effective_rp_filter(snapshot, iif)
    rev_dev, has_back = _reverse_dev(probe)
    back = (f"the route back to {src} leaves by {rev_dev}" if has_back and rev_dev
            else f"there is no route back to {src}")
    if rpf > 0 and rev_dev != iif:
        setting = describe_setting(snapshot, iif)
        if not snapshot.addresses_of(iif, 4):
            return (
                "rp-filter",
                f"reverse-path filter: rp_filter is {setting} on {iif}, which has no IPv4 "
                f"address, and {back}; on an interface without IPv4 addresses even loose "
                f"mode then drops the packet (\"{CROSS_DEVICE}\")",
                trap_fix(iif),
            )
        if rpf == 1:
            key = sysctl_path("net", "ipv4", "conf", iif, "rp_filter")
            return (
                "rp-filter",
                f"reverse-path filter: rp_filter is {setting} on {iif} and {back}, not by "
                f"{iif}: strict mode drops the packet (\"{CROSS_DEVICE}\")",
                f"use loose mode (sysctl -w {sysctl_display(key)}=2 and conf.all.rp_filter "
                f"<= 2) or route {src} back via {iif}",
            )
        return (
            "rp-filter",
            f"reverse-path filter: rp_filter is {setting} on {iif} and {back}: loose mode "
            f"drops packets from sources it cannot route back to (\"{CROSS_DEVICE}\")",
            f"add a route back to {src} (a default route is enough in loose mode)",
        )
    return (
        "martian-source",
        f"the kernel rejects a packet from {src} arriving on {iif} as invalid "
        "(martian source or destination)",
        "check the source address and the routes on the incoming interface",
    )


def _failure(
    probe: RouteProbe, snapshot: HostSnapshot, matched: Matched | None
) -> tuple[str, str, str | None]:
    """(verdict, explanation, fix) when the kernel refused the lookup."""
    code = probe.path.errno
    kind = matched.entry.kind if matched is not None else None
    prefix = matched.entry.prefix if matched is not None else None
    dst = probe.dst
    if code == errno.ENETUNREACH:
        return (
            "no-route",
            f"no route matches {dst} (and there is no default route): the kernel drops it "
            "and answers ICMP network unreachable",
            f"add a route covering {dst}, e.g. via an IPv6 neighbour "
            f"(ip route add {dst}/32 via inet6 fe80::1 dev eth0)",
        )
    if code == errno.EHOSTUNREACH:
        if probe.iif is not None and kind != "unreachable":
            off = _forwarding_off(snapshot, probe.iif)
            if off is not None:
                return (
                    "forwarding-disabled",
                    f"IPv4 forwarding is off ({sysctl_display(off)}=0): packets arriving "
                    f"on {probe.iif} for {dst} are not routed, the kernel answers host "
                    "unreachable",
                    f"sysctl -w {sysctl_display(off)}=1",
                )
        return (
            "unreachable",
            f"{dst} matches unreachable route {prefix}: dropped with ICMP host unreachable"
            if kind == "unreachable"
            else f"the kernel answers no route to host for {dst}: dropped",
            f"remove or override the unreachable route {prefix}" if kind == "unreachable"
            else None,
        )
    if code == errno.EACCES:
        return (
            "prohibit",
            f"{dst} matches prohibit route {prefix}: dropped with ICMP administratively "
            "prohibited",
            f"remove or override the prohibit route {prefix} if traffic should pass",
        )
    if kind == "blackhole" and code in (errno.EINVAL, errno.EXDEV):
        return (
            "blackhole",
            f"{dst} matches blackhole route {prefix}: silently discarded, no ICMP error",
            f"remove or override the blackhole route {prefix} if traffic should pass",
        )
    if probe.iif is not None and code in (errno.EINVAL, errno.EXDEV):
        return _explain_invalid(probe, snapshot)
    return (
        "error",
        f"the kernel refuses the lookup: {probe.path.error}",
        None,
    )


def _would_leave(probe: RouteProbe) -> list[str]:
    """A note on where the packet would have gone when an input check rejected it."""
    out = probe.output
    if out is None or not out.ok or out.entry is None or not out.entry.hops:
        return []
    via = ", ".join(h.describe() for h in out.entry.hops)
    return [f"were it accepted, packets to {probe.dst} would leave {via}"]


def explain_route(probe: RouteProbe, snapshot: HostSnapshot) -> RouteExplanation:
    """The verdict and details of ``route get`` for ``probe``."""
    matched = _matched(probe)
    matched_hops = (
        tuple(from_route_hop(h, snapshot) for h in matched.entry.hops) if matched else ()
    )
    icmp = icmp_source(snapshot, probe.reverse, probe.iif)
    source = _packet_source(probe)
    path = probe.path
    if not path.ok or path.entry is None:
        verdict, text, fix = _failure(probe, snapshot, matched)
        notes = _would_leave(probe) if verdict in ("rp-filter", "martian-source") else []
        return RouteExplanation(
            probe.dst, probe.src, probe.iif, verdict, text, fix, path, matched, (), None,
            source, icmp, tuple(notes), matched_hops,
        )
    entry = path.entry
    hops = tuple(from_route_hop(h, snapshot) for h in entry.hops)
    dev = next((h.dev for h in hops if h.dev), None)
    if entry.kind in ("local", "broadcast", "multicast"):
        return RouteExplanation(
            probe.dst, probe.src, probe.iif, "local",
            f"{probe.dst} is {entry.kind} to this box: delivered locally, not forwarded",
            None, None, matched, hops, dev, source, icmp, (), matched_hops,
        )
    failed, fix, notes = _neighbour_notes(hops)
    if failed is not None:
        return RouteExplanation(
            probe.dst, probe.src, probe.iif, "neighbour-failed", failed, fix, None, matched,
            hops, dev, source, icmp, tuple(notes), matched_hops,
        )
    via = ", ".join(h.describe() for h in hops) or "nowhere"
    if probe.iif is not None:
        verdict = "forward"
        text = f"packets to {probe.dst} arriving on {probe.iif} are forwarded {via}"
    else:
        verdict = "output"
        src_text = f" with source {source}" if source is not None else ""
        text = f"packets to {probe.dst} leave {via}{src_text}"
    if icmp.dummy:
        notes.append(icmp.note)
    return RouteExplanation(
        probe.dst, probe.src, probe.iif, verdict, text, None, None, matched, hops, dev,
        source, icmp, tuple(notes), matched_hops,
    )
