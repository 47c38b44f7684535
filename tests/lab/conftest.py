"""Shared lab fixtures: bring a topology up for a test, always tear it down.

Usage (tests must be marked ``@pytest.mark.lab``; they skip when not root)::

    import pytest
    pytestmark = pytest.mark.lab

    def test_crosses(lab_up):
        lab = lab_up()                         # built-in h1 — r1 — r2 — r3 — h2
        assert lab.ping("h1", "h2")

    def test_my_routes(lab_up):
        lab = lab_up(TOPOLOGY_TOML, routing=False, prefix="s")  # no routes applied
        lab.exec("r1", "v4via6", "apply", str(cfg))              # CompletedProcess
        lab.ifname("r1", "r2")       # "to-r2": interface on r1 towards r2
        lab.link_local("r2", "r1")   # IPv6Address: r2's link-local on the r1 link
        lab.ipv4("h2")               # IPv4Address of h2 (router: loopback /32)
        lab.ns("r1")                 # "v4v6-s1a2b3-r1"
        lab.routes4("r1")            # ["198.51.100.0/24 via inet6 fe80::2 dev to-r2 ...", ...]

``lab_up(topology=None, *, name=None, prefix="t", routing=True) -> Lab``:
``topology`` is None (built-in default), TOML text (str), a ``Path`` to a
file, or a ``v4via6.lab.topology.Topology``. The lab name is ``prefix`` plus
random hex unless ``name`` is given (1..12 of a-z 0-9). ``routing=False``
gives addresses, forwarding sysctls and host default routes but applies no
router routes. ``module_lab_up`` is the same factory with module scope (one
lab shared by the tests of a module). After teardown the fixture checks that
no ``v4v6-<name>-`` namespace is left.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from v4via6.lab import lifecycle, netns
from v4via6.lab.handle import Lab
from v4via6.lab.state import StateError, ns_prefix
from v4via6.lab.topology import Topology, load_default, load_file, parse

LabUp = Callable[..., Lab]


class _LabFactory:
    def __init__(self) -> None:
        self.made: list[str] = []

    def __call__(
        self,
        topology: str | Path | Topology | None = None,
        *,
        name: str | None = None,
        prefix: str = "t",
        routing: bool = True,
    ) -> Lab:
        if topology is None:
            topo = load_default()
        elif isinstance(topology, Topology):
            topo = topology
        elif isinstance(topology, Path):
            topo = load_file(topology)
        else:
            topo = parse(topology, "<test topology>")
        lab_name = name or f"{prefix}{secrets.token_hex(3)}"
        self.made.append(lab_name)
        state = lifecycle.up(topo, lab_name, routing=routing)
        return Lab(state, topo)

    def cleanup(self) -> None:
        errors: list[str] = []
        for lab_name in reversed(self.made):
            try:
                lifecycle.down(lab_name)
            except StateError:
                pass  # never came up, or the test took it down itself
            except Exception as exc:  # keep cleaning the others
                errors.append(f"{lab_name}: {exc}")
            left = netns.list_namespaces(ns_prefix(lab_name))
            if left:
                errors.append(f"{lab_name}: namespaces left behind: {', '.join(left)}")
        self.made.clear()
        if errors:
            pytest.fail("lab teardown: " + "; ".join(errors))


@pytest.fixture
def lab_up() -> Iterator[LabUp]:
    """Factory: ``lab_up(topology=None, *, name=None, prefix="t", routing=True) -> Lab``."""
    factory = _LabFactory()
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.fixture(scope="module")
def module_lab_up() -> Iterator[LabUp]:
    """Like ``lab_up``, but labs live until the end of the test module."""
    factory = _LabFactory()
    try:
        yield factory
    finally:
        factory.cleanup()
