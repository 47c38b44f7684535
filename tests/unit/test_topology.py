"""Topology files: the built-in default, addressing rules and one-line errors."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv6Address
from pathlib import Path

import pytest

from v4via6.lab.topology import TopologyError, load_default, load_file, parse

CHAIN = """
[nodes.h1]
kind = "host"
[nodes.r1]
kind = "router"
[nodes.r2]
kind = "router"
[nodes.h2]
kind = "host"
[[links]]
a = "h1"
b = "r1"
[[links]]
a = "r1"
b = "r2"
[[links]]
a = "r2"
b = "h2"
"""


def err(text: str) -> str:
    with pytest.raises(TopologyError) as info:
        parse(text, "t.toml")
    return str(info.value)


def test_default_topology_is_the_documented_chain() -> None:
    topo = load_default()
    assert list(topo.nodes) == ["h1", "r1", "r2", "r3", "h2"]
    assert [(ln.a.node, ln.b.node, ln.kind) for ln in topo.links] == [
        ("h1", "r1", "host"), ("r1", "r2", "core"), ("r2", "r3", "core"), ("r3", "h2", "host"),
    ]
    assert topo.address_of("h1") == IPv4Address("192.0.2.2")
    assert topo.address_of("h2") == IPv4Address("198.51.100.2")
    assert topo.node("r1").loopback4 == IPv4Interface("203.0.113.1/32")
    assert topo.node("r3").loopback4 == IPv4Interface("203.0.113.3/32")


def test_default_r2_has_no_ipv4_at_all() -> None:
    r2 = load_default().node("r2")
    assert r2.loopback4 is None
    assert all(i.ipv4 is None for i in r2.interfaces)


def test_core_links_carry_only_fixed_link_locals() -> None:
    topo = load_default()
    for link in topo.links:
        if link.kind == "core":
            for end in (link.a, link.b):
                assert end.ipv4 is None and end.ipv6 is None
                assert end.link_local is not None and end.link_local.is_link_local
    assert topo.interface("r1", "r2").link_local == IPv6Address("fe80::1")
    assert topo.interface("r2", "r1").link_local == IPv6Address("fe80::2")
    assert topo.interface("r3", "r2").ifname == "to-r2"


def test_auto_addresses_come_from_documentation_ranges() -> None:
    topo = parse(CHAIN, "t.toml")
    assert topo.interface("r1", "h1").ipv4 == IPv4Interface("192.0.2.1/24")
    assert topo.interface("h1", "r1").ipv4 == IPv4Interface("192.0.2.2/24")
    assert topo.interface("h2", "r2").ipv4 == IPv4Interface("198.51.100.2/24")
    assert topo.node("r1").loopback4 == IPv4Interface("203.0.113.1/32")
    lo6 = topo.node("r2").loopback6
    assert lo6 is not None and str(lo6) == "2001:db8:ffff::2/128"


def test_many_host_links_get_smaller_subnets() -> None:
    text = '[nodes.r1]\nkind = "router"\n' + "".join(
        f'[nodes.h{i}]\nkind = "host"\n' for i in range(4)
    ) + "".join(f'[[links]]\na = "r1"\nb = "h{i}"\n' for i in range(4))
    topo = parse(text, "t.toml")
    nets = {topo.host_link(f"h{i}").ipv4.network for i in range(4)}  # type: ignore[union-attr]
    assert len(nets) == 4 and all(n.prefixlen == 27 for n in nets)


def test_explicit_addresses_and_kernel_link_local() -> None:
    text = CHAIN.replace('a = "r1"\nb = "r2"', 'a = "r1"\nb = "r2"\na_ll = "fe80::a"\nb_ll = "kernel"')
    text = text.replace('[nodes.r1]\nkind = "router"', '[nodes.r1]\nkind = "router"\nloopback4 = "none"')
    topo = parse(text, "t.toml")
    assert topo.interface("r1", "r2").link_local == IPv6Address("fe80::a")
    assert topo.interface("r2", "r1").link_local is None
    assert topo.node("r1").loopback4 is None


def test_unknown_node_in_link_names_file_key_and_nodes() -> None:
    msg = err(CHAIN.replace('b = "h2"', 'b = "h9"'))
    assert msg.startswith("t.toml: links[2].b: unknown node 'h9'")
    assert "h1, r1, r2, h2" in msg


def test_host_linked_to_host() -> None:
    text = '[nodes.a]\nkind = "host"\n[nodes.b]\nkind = "host"\n[[links]]\na = "a"\nb = "b"\n'
    assert err(text) == "t.toml: links[0]: host a linked to host b; put a router between"


def test_duplicate_loopback_address() -> None:
    text = CHAIN.replace('[nodes.r2]\nkind = "router"',
                         '[nodes.r2]\nkind = "router"\nloopback4 = "203.0.113.7/32"')
    text = text.replace('[nodes.r1]\nkind = "router"',
                        '[nodes.r1]\nkind = "router"\nloopback4 = "203.0.113.7/32"')
    assert err(text) == (
        "t.toml: nodes.r2.loopback4: duplicate address 203.0.113.7"
        " (also used by nodes.r1.loopback4)"
    )


def test_duplicate_link_local_on_one_link() -> None:
    text = CHAIN.replace('a = "r1"\nb = "r2"', 'a = "r1"\nb = "r2"\na_ll = "fe80::5"\nb_ll = "fe80::5"')
    assert "links[1].b_ll: duplicate address fe80::5" in err(text)


def test_host_address_clashing_with_loopback() -> None:
    text = CHAIN.replace('a = "h1"\nb = "r1"', 'a = "h1"\nb = "r1"\nsubnet = "203.0.113.0/24"')
    text = text.replace('[nodes.r1]\nkind = "router"',
                        '[nodes.r1]\nkind = "router"\nloopback4 = "203.0.113.1/32"')
    assert "links[0].subnet: 203.0.113.0/24 contains 203.0.113.1" in err(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[nodes.R1]\nkind = "router"\n', "t.toml: nodes.R1: bad node name"),
        ('[nodes.r1]\nkind = "switch"\n', "t.toml: nodes.r1.kind: Input should be"),
        ('[nodes.r1]\nkind = "router"\ncolour = 1\n', "t.toml: nodes.r1.colour: unknown key"),
        ('[nodes.r1]\nkind = "router"\nloopback4 = "203.0.113.1/24"\n',
         "t.toml: nodes.r1.loopback4: '203.0.113.1/24' must be a /32"),
        ('[nodes.r1]\nkind = "router"\nloopback6 = "fe80::zz/128"\n',
         "t.toml: nodes.r1.loopback6: 'fe80::zz/128' is not an IPv6 /128"),
        ("nodes = {}\n", "t.toml: nodes: a topology needs at least one node"),
        ("[nodes.r1\n", "t.toml: not valid TOML"),
        ('name = "Big-Lab"\n[nodes.r1]\nkind = "router"\n', "t.toml: name: 'Big-Lab' is not"),
        ('[nodes.h1]\nkind = "host"\n', "t.toml: nodes.h1: a host needs exactly one link"),
        ('[nodes.h1]\nkind = "host"\nconfig = {}\n[nodes.r1]\nkind = "router"\n',
         "t.toml: nodes.h1.config: only routers have a v4via6 config"),
    ],
)
def test_bad_input_gets_one_line_error(text: str, expected: str) -> None:
    msg = err(text)
    assert msg.startswith(expected), msg
    assert "\n" not in msg


def test_router_link_with_ipv4_subnet_is_refused() -> None:
    text = CHAIN.replace('a = "r1"\nb = "r2"', 'a = "r1"\nb = "r2"\nsubnet = "192.0.2.0/24"')
    assert err(text) == (
        "t.toml: links[1].subnet: router-router links carry only IPv6 link-local addresses"
    )


def test_link_local_must_be_link_local() -> None:
    text = CHAIN.replace('a = "r1"\nb = "r2"', 'a = "r1"\nb = "r2"\na_ll = "2001:db8::1"')
    assert err(text) == "t.toml: links[1].a_ll: '2001:db8::1' is not link-local (fe80::/10)"


def test_same_pair_linked_twice() -> None:
    text = CHAIN + '[[links]]\na = "r2"\nb = "r1"\n'
    assert err(text) == "t.toml: links[3]: r2 and r1 are already linked by links[1]"


def test_config_path_is_read_relative_to_topology(tmp_path: Path) -> None:
    (tmp_path / "r1.toml").write_text('[[static.route]]\nprefix = "198.51.100.0/24"\n'
                                      'via = ["fe80::2%to-r2"]\n')
    topo_file = tmp_path / "lab.toml"
    topo_file.write_text(CHAIN.replace('[nodes.r1]\nkind = "router"',
                                       '[nodes.r1]\nkind = "router"\nconfig = "r1.toml"'))
    topo = load_file(topo_file)
    r1 = topo.node("r1")
    assert r1.config_path == tmp_path / "r1.toml"
    assert r1.config == {"static": {"route": [{"prefix": "198.51.100.0/24",
                                               "via": ["fe80::2%to-r2"]}]}}


def test_missing_config_file_names_key(tmp_path: Path) -> None:
    topo_file = tmp_path / "lab.toml"
    topo_file.write_text(CHAIN.replace('[nodes.r1]\nkind = "router"',
                                       '[nodes.r1]\nkind = "router"\nconfig = "nope.toml"'))
    with pytest.raises(TopologyError) as info:
        load_file(topo_file)
    assert str(info.value).startswith(f"{topo_file}: nodes.r1.config: config file ")
    assert str(info.value).endswith("nope.toml does not exist")


def test_missing_topology_file(tmp_path: Path) -> None:
    with pytest.raises(TopologyError) as info:
        load_file(tmp_path / "none.toml")
    assert str(info.value) == f"{tmp_path / 'none.toml'}: no such file"
