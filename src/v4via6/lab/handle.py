"""A running lab as an object: namespaces, commands and addresses by node name.

Used by the CLI (``lab exec``, ``lab ping``, the demo) and by the pytest
fixtures in ``tests/lab/conftest.py``::

    lab = Lab.open("demo")            # a lab that is up
    lab.exec("h1", "ping", "-c1", str(lab.ipv4("h2")))
    lab.ifname("r1", "r2")            # "to-r2"
    lab.link_local("r2", "r1")        # fe80::2, r2's address on its link to r1
    lab.peers("r2")                   # `show peers` of r2's BGP daemon, as dicts
    lab.stop_daemon("r3")             # SIGTERM by PID; lab.start_daemon("r3") again
"""

from __future__ import annotations

import json
import signal
import subprocess
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

from v4via6.lab import converge, lifecycle, netns
from v4via6.lab.state import LabState, ProcessRecord, load_state, ns_name
from v4via6.lab.topology import Topology


class Lab:
    """A lab that is up (or being torn down)."""

    def __init__(self, state: LabState, topology: Topology, root: Path | None = None) -> None:
        self.state = state
        self.topology = topology
        self.root = root

    @classmethod
    def open(cls, name: str, root: Path | None = None) -> Lab:
        """The running lab ``name`` (StateError if there is none)."""
        state = load_state(name, root)
        return cls(state, lifecycle.reload_topology(state), root)

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def nodes(self) -> list[str]:
        return list(self.topology.nodes)

    @property
    def routers(self) -> list[str]:
        return [n.name for n in self.topology.routers]

    @property
    def hosts(self) -> list[str]:
        return [n.name for n in self.topology.hosts]

    @property
    def state_dir(self) -> Path:
        return Path(self.state.state_dir)

    def ns(self, node: str) -> str:
        """Namespace name of ``node`` (``v4v6-<lab>-<node>``)."""
        self.topology.node(node)
        return ns_name(self.name, node)

    def exec(
        self, node: str, *cmd: str, check: bool = True, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` in ``node``'s namespace; with ``check`` a failure raises NetnsError."""
        return netns.ns_exec(self.ns(node), *cmd, check=check, timeout=timeout)

    def ifname(self, node: str, peer: str) -> str:
        """Name of the interface on ``node`` that leads to ``peer`` (``to-<peer>``)."""
        return self.topology.interface(node, peer).ifname

    def ipv4(self, node: str) -> IPv4Address:
        """A host's address, or a router's loopback /32 (else its first IPv4 address)."""
        addr = self.topology.address_of(node)
        if addr is None:
            raise KeyError(f"{node} has no IPv4 address")
        return addr

    def link_local(self, node: str, peer: str) -> IPv6Address:
        """``node``'s IPv6 link-local address on its link to ``peer`` (fixed or live)."""
        return lifecycle.link_local_of(self.name, self.topology.interface(node, peer))

    def config_path(self, router: str) -> Path | None:
        """The v4via6 config file the lab wrote (or used) for ``router``, if any."""
        path = self.state.configs.get(router)
        return Path(path) if path else None

    def ping(self, src: str, dst: str, *, count: int = 1, timeout: float = 2.0) -> bool:
        """True when ``src`` gets an IPv4 echo reply from ``dst``'s address."""
        proc = self.exec(
            src, "ping", "-n", "-q", "-c", str(count), "-W", f"{timeout:g}",
            str(self.ipv4(dst)), check=False, timeout=timeout * count + 5,
        )
        return proc.returncode == 0

    def routes4(self, node: str) -> list[str]:
        """``ip -4 route`` lines of ``node``'s main table."""
        proc = self.exec(node, "ip", "-4", "route", "show")
        return [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]

    def routes4_json(self, node: str) -> list[dict[str, object]]:
        """``ip -j -4 route`` of ``node``'s main table, parsed."""
        proc = self.exec(node, "ip", "-j", "-4", "route", "show")
        data = json.loads(proc.stdout or "[]")
        return data if isinstance(data, list) else []

    # --- BGP daemons ---------------------------------------------------------------

    def daemon(self, node: str) -> ProcessRecord:
        """The recorded daemon of ``node`` (KeyError when it runs none)."""
        for rec in self.state.processes:
            if rec.node == node:
                return rec
        raise KeyError(f"{node} runs no v4via6 daemon in lab {self.name}")

    def socket(self, node: str) -> str:
        """Control socket path of ``node``'s daemon."""
        sock = self.daemon(node).socket
        if sock is None:
            raise KeyError(f"{node}: no control socket recorded")
        return sock

    def ask(self, node: str, cmd: str, **args: Any) -> Any:
        """One control request (``show-peers``, ``reload``, ...) to ``node``'s daemon."""
        return converge.ask(self.socket(node), cmd, **args)

    def peers(self, node: str) -> list[dict[str, object]]:
        """``show peers --json`` of ``node``'s daemon: one dict per peer."""
        return converge.peers_of(self.daemon(node))

    def stop_daemon(self, node: str, sig: signal.Signals = signal.SIGTERM) -> int | None:
        """Stop ``node``'s daemon by PID with ``sig`` (SIGKILL = crash); the PID or None."""
        return lifecycle.stop_daemon(self.state, node, sig=sig)

    def start_daemon(self, node: str) -> int:
        """Start ``node``'s daemon again (same command and config); the new PID."""
        return lifecycle.start_daemon(self.state, node)

    def wait_converged(self, timeout: float = lifecycle.CONVERGE_TIMEOUT) -> float:
        """Wait until every session is Established and the routes are in the kernels."""
        return converge.wait_converged(self.state, self.topology, timeout=timeout)

    def down(self) -> lifecycle.DownReport:
        """Remove the lab."""
        return lifecycle.down(self.name, root=self.root)
