"""The built-in lab on the real kernel: IPv4 crosses an IPv6-only core, down leaves nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from v4via6.lab import lifecycle, netns
from v4via6.lab.handle import Lab
from v4via6.lab.state import list_labs, ns_prefix
from v4via6.lab.topology import parse

LabUp = Callable[..., Lab]

pytestmark = pytest.mark.lab


def test_default_lab_ping_crosses_and_down_leaves_nothing(lab_up: LabUp) -> None:
    lab = lab_up()
    assert sorted(netns.list_namespaces(ns_prefix(lab.name))) == sorted(
        lab.ns(n) for n in ("h1", "r1", "r2", "r3", "h2")
    )
    assert lab.ping("h1", "h2")
    assert lab.ping("h2", "h1")
    # r1's table sends h2's subnet to r2's IPv6 link-local address.
    r1 = lab.routes4("r1")
    assert any(ln.startswith("198.51.100.0/24") and "via inet6 fe80::2 dev to-r2" in ln
               for ln in r1), r1
    # The core really has no IPv4: r2 holds no IPv4 address anywhere but 127.0.0.1.
    r2_addrs = lab.exec("r2", "ip", "-4", "-o", "addr", "show").stdout
    assert [ln.split()[3] for ln in r2_addrs.splitlines()] == ["127.0.0.1/8"]
    assert lab.exec("r1", "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    assert lab.exec("r1", "sysctl", "-n", "net.ipv6.conf.all.forwarding").stdout.strip() == "1"
    lab.down()
    assert netns.list_namespaces(ns_prefix(lab.name)) == []
    assert lab.name not in list_labs()


def test_routing_false_gives_addresses_but_no_routes(lab_up: LabUp) -> None:
    lab = lab_up(routing=False)
    assert not any("via inet6" in ln for ln in lab.routes4("r2"))
    assert not lab.ping("h1", "h2", timeout=0.5)
    assert lab.link_local("r2", "r1").compressed == "fe80::2"
    assert lab.exec("h1", "ip", "-4", "route", "show", "default").stdout.startswith(
        "default via 192.0.2.1 dev to-r1"
    )


KERNEL_LL = """
name = "kll"
[nodes.h1]
kind = "host"
[nodes.r1]
kind = "router"
[nodes.r2]
kind = "router"
loopback4 = "none"
[nodes.h2]
kind = "host"
[[links]]
a = "h1"
b = "r1"
[[links]]
a = "r1"
b = "r2"
a_ll = "kernel"
b_ll = "kernel"
[[links]]
a = "r2"
b = "h2"
"""


def test_kernel_assigned_link_locals_are_read_back_for_routes(lab_up: LabUp) -> None:
    lab = lab_up(KERNEL_LL)
    ll = lab.link_local("r2", "r1")
    assert ll.is_link_local and ll.compressed != "fe80::2"
    assert any(f"via inet6 {ll}" in ln for ln in lab.routes4("r1"))
    assert lab.ping("h1", "h2")


def test_failed_up_removes_what_it_made() -> None:
    # r1's static route names an interface that does not exist: apply fails
    # after every namespace exists, and up must remove them all.
    bad = KERNEL_LL.replace('[nodes.r2]\nkind = "router"', (
        '[nodes.r1.config.static]\n'
        'route = [{ prefix = "198.51.100.0/24", via = ["fe80::9%nosuch0"] }]\n'
        '[nodes.r2]\nkind = "router"'
    ))
    topo = parse(bad, "bad.toml")
    with pytest.raises(lifecycle.LabError) as info:
        lifecycle.up(topo, "tfail1")
    assert "r1: v4via6 apply" in str(info.value)
    assert netns.list_namespaces(ns_prefix("tfail1")) == []
    assert "tfail1" not in list_labs()
