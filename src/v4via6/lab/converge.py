"""Asking a lab's BGP daemons how they are, and waiting until they have converged.

Each router that runs ``v4via6 run`` has a control socket in the lab's state
directory. A lab has *converged* when every peer of every daemon is
Established and has sent its IPv4 End-of-RIB, and every router with a
generated BGP config holds, in its kernel, a v4via6 route (protocol 46) for
every host subnet and loopback of the routers it can reach over the core.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable
from typing import Any

from v4via6.daemon.control import ControlError, request
from v4via6.lab import netns
from v4via6.lab.routing import plan_router, reachable_prefixes
from v4via6.lab.state import LabState, ProcessRecord, ns_name
from v4via6.lab.topology import Topology
from v4via6.model import PROTO_NUMBER

Progress = Callable[[str], None]


class ConvergeError(RuntimeError):
    """The lab did not converge in time; the message lists what was still missing."""


def _quiet(_: str) -> None:
    return None


def ask(socket: str, cmd: str, *, timeout: float = 3.0, **args: Any) -> Any:
    """One control request to a lab daemon (ControlError or OSError on failure)."""
    return request(socket, cmd, timeout=timeout, **args)


def daemon_ready(socket: str) -> bool:
    """True when the daemon behind ``socket`` answers ``show-status``."""
    try:
        ask(socket, "show-status", timeout=1.0)
    except (ControlError, OSError, ValueError):
        return False
    return True


def peers_of(rec: ProcessRecord) -> list[dict[str, Any]]:
    """``show-peers`` of the daemon ``rec`` records (ControlError/OSError if unreachable)."""
    if rec.socket is None:
        raise ControlError(f"{rec.node}: no control socket recorded")
    data = ask(rec.socket, "show-peers")
    peers = data.get("peers", []) if isinstance(data, dict) else []
    return [p for p in peers if isinstance(p, dict)]


def kernel_prefixes(lab: str, node: str) -> set[ipaddress.IPv4Network]:
    """IPv4 prefixes of ``node``'s main table that v4via6 installed (protocol 46)."""
    proc = netns.run(
        ["ip", "-n", ns_name(lab, node), "-j", "-4", "route", "show", "proto", str(PROTO_NUMBER)],
        check=False,
    )
    try:
        data = json.loads(proc.stdout or "[]")
    except ValueError:
        return set()
    out: set[ipaddress.IPv4Network] = set()
    for entry in data if isinstance(data, list) else []:
        dst = entry.get("dst") if isinstance(entry, dict) else None
        if isinstance(dst, str) and dst != "default":
            out.add(ipaddress.IPv4Network(dst if "/" in dst else f"{dst}/32"))
    return out


def peer_problems(state: LabState) -> list[str]:
    """What keeps the daemons' sessions from being up (empty: all Established, EoR seen)."""
    problems: list[str] = []
    for rec in state.processes:
        try:
            peers = peers_of(rec)
        except (ControlError, OSError, ValueError) as exc:
            problems.append(f"{rec.node}: {exc}")
            continue
        for peer in peers:
            if peer.get("state") != "Established":
                why = peer.get("last_error") or peer.get("last_down_reason")
                problems.append(f"{rec.node} peer {peer.get('name')} is {peer.get('state')}"
                                + (f" ({why})" if why else ""))
            elif "ipv4/unicast" not in (peer.get("end_of_rib_received") or []):
                problems.append(f"{rec.node} peer {peer.get('name')}: no IPv4 End-of-RIB yet")
    return problems


def route_problems(state: LabState, topo: Topology) -> list[str]:
    """Routers with a generated BGP config that miss routes they should have learned."""
    problems: list[str] = []
    running = {rec.node for rec in state.processes}
    for router in topo.routers:
        if router.name not in running:
            continue
        try:
            plan = plan_router(topo, router)
        except ValueError:
            continue
        if plan.mode != "bgp" or not plan.generated:
            continue
        missing = set(reachable_prefixes(topo, router)) - kernel_prefixes(state.name, router.name)
        if missing:
            problems.append(f"{router.name} has no route yet for "
                            + ", ".join(str(p) for p in sorted(missing)))
    return problems


def problems(state: LabState, topo: Topology) -> list[str]:
    """Everything that is not converged yet (empty list: converged)."""
    return peer_problems(state) or route_problems(state, topo)


def wait_converged(
    state: LabState, topo: Topology, *, timeout: float = 30.0, progress: Progress = _quiet
) -> float:
    """Poll until :func:`problems` is empty; seconds waited, or ConvergeError after ``timeout``."""
    start = time.monotonic()
    deadline = start + timeout
    delay = 0.1
    said = ""
    while True:
        last = problems(state, topo)
        if not last:
            return time.monotonic() - start
        now = time.monotonic()
        if now >= deadline:
            raise ConvergeError(
                f"lab {state.name} did not converge in {timeout:g} s: " + "; ".join(last[:4])
            )
        if last[0] != said:
            said = last[0]
            progress(f"waiting for BGP: {said}")
        time.sleep(min(delay, deadline - now))
        delay = min(delay * 1.5, 0.5)
