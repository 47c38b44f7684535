"""Config errors are one line each and name the file, key path and what was expected."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address
from pathlib import Path

import pytest

from v4via6.config.load import ConfigError, load_config
from v4via6.model import Hop, NextHop


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "v4via6.toml"
    path.write_text(text)
    return path


def errors_of(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    for line in info.value.lines:
        assert "\n" not in line
        assert line.startswith(str(path))
    return info.value.lines


def test_issue_example_loads_as_ecmp_route(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[static.route]]
prefix = "198.51.100.0/24"
via = ["fe80::1%eth0", "fe80::2%eth1"]   # ECMP
src = "192.0.2.1"
""",
    )
    (route,) = load_config(path).static_routes()
    assert route.prefix == IPv4Network("198.51.100.0/24")
    assert route.src == IPv4Address("192.0.2.1")
    assert route.hops == (
        Hop(NextHop(IPv6Address("fe80::1"), "eth0"), 1),
        Hop(NextHop(IPv6Address("fe80::2"), "eth1"), 1),
    )


def test_weights_metric_table_and_single_string_via(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[static.route]]
prefix = "203.0.113.0/24"
via = [{ nexthop = "fe80::1%eth0", weight = 3 }, "2001:db8::1"]
metric = 100
table = 100

[[static.route]]
prefix = "192.0.2.0/25"
via = "fe80::9%eth2"
""",
    )
    first, second = load_config(path).static_routes()
    assert first.metric == 100 and first.table == 100
    assert {h.weight for h in first.hops} == {3, 1}
    assert NextHop(IPv6Address("2001:db8::1"), None) in first.nexthops
    assert second.nexthops == (NextHop(IPv6Address("fe80::9"), "eth2"),)


def test_host_bits_set(tmp_path: Path) -> None:
    (line,) = errors_of(tmp_path, '[[static.route]]\nprefix = "198.51.100.7/24"\nvia = "fe80::1%e0"\n')
    assert "static.route[0].prefix" in line
    assert "host bits set" in line and "198.51.100.0/24" in line


def test_link_local_without_interface(tmp_path: Path) -> None:
    (line,) = errors_of(tmp_path, '[[static.route]]\nprefix = "198.51.100.0/24"\nvia = ["fe80::1"]\n')
    assert "static.route[0].via[0]" in line
    assert "needs an interface" in line and "fe80::1%eth0" in line


def test_duplicate_prefix(tmp_path: Path) -> None:
    (line,) = errors_of(
        tmp_path,
        '[[static.route]]\nprefix = "198.51.100.0/24"\nvia = "fe80::1%e0"\n'
        '[[static.route]]\nprefix = "198.51.100.0/24"\nvia = "fe80::2%e0"\n',
    )
    assert "static.route[1].prefix" in line and "duplicate" in line and "static.route[0]" in line


def test_same_prefix_other_metric_is_not_duplicate(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[static.route]]\nprefix = "198.51.100.0/24"\nvia = "fe80::1%e0"\n'
        '[[static.route]]\nprefix = "198.51.100.0/24"\nvia = "fe80::2%e0"\nmetric = 200\n',
    )
    assert len(load_config(path).static_routes()) == 2


def test_ipv4_prefix_written_as_ipv6(tmp_path: Path) -> None:
    (line,) = errors_of(tmp_path, '[[static.route]]\nprefix = "::ffff:198.51.100.0/120"\nvia = "fe80::1%e0"\n')
    assert "static.route[0].prefix" in line and "IPv6 prefix" in line and "IPv4 prefix" in line


def test_bad_toml_names_line(tmp_path: Path) -> None:
    (line,) = errors_of(tmp_path, '[[static.route]]\nprefix = "198.51.100.0/24"\nvia = [\n')
    assert ":3: bad TOML" in line
    (line,) = errors_of(tmp_path, '[[static.route]]\nprefix = 198.51.100.0/24\nvia = "fe80::1%e0"\n')
    assert ":2: bad TOML" in line and "column" in line


def test_unknown_key_and_missing_key(tmp_path: Path) -> None:
    lines = errors_of(tmp_path, '[[static.route]]\nprefx = "198.51.100.0/24"\nvia = "fe80::1%e0"\n')
    assert any("static.route[0].prefx: unknown key" in line for line in lines)
    assert any("static.route[0].prefix: required key is missing" in line for line in lines)


def test_bad_src_and_weight(tmp_path: Path) -> None:
    lines = errors_of(
        tmp_path,
        '[[static.route]]\nprefix = "198.51.100.0/24"\n'
        'via = [{ nexthop = "fe80::1%e0", weight = 0 }]\nsrc = "2001:db8::1"\n',
    )
    assert any("static.route[0].src" in line and "IPv4" in line for line in lines)
    assert any("static.route[0].via[0].weight" in line for line in lines)


def test_empty_via_and_repeated_next_hop(tmp_path: Path) -> None:
    (line,) = errors_of(tmp_path, '[[static.route]]\nprefix = "198.51.100.0/24"\nvia = []\n')
    assert "static.route[0].via" in line and "at least one" in line
    (line,) = errors_of(
        tmp_path, '[[static.route]]\nprefix = "198.51.100.0/24"\nvia = ["fe80::1%e0", "fe80::1%e0"]\n'
    )
    assert "listed twice" in line


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml")
    assert info.value.lines == [f"{tmp_path / 'nope.toml'}: no such file"]


def test_empty_file_is_an_empty_config(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")).static_routes() == []
