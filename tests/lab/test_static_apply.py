"""`v4via6 apply` / `flush` against the real kernel in namespaces (issue 2, item 8).

Topology: h1 — r1 ═ r2 — h2, where r1 and r2 are joined by two veths carrying
only IPv6 link-local addresses; IPv4 exists only on the host links and the
routers' loopbacks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from v4via6.lab import netns
from v4via6.lab.handle import Lab

pytestmark = pytest.mark.lab

#: h1 — r1 — r2 — h2, core link with IPv6 link-local addresses only
TOPOLOGY = Path(__file__).parent.parent / "data" / "two-routers.toml"


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def apply(lab: Lab, node: str, cfg: str, *extra: str) -> tuple[int, str, str]:
    res = lab.exec(node, "v4via6", "apply", cfg, *extra, check=False)
    return res.returncode, res.stdout, res.stderr


def routes(lab: Lab, node: str) -> str:
    return lab.exec(node, "ip", "-4", "route", "show", "table", "all").stdout


@pytest.fixture
def lab(lab_up: Callable[..., Lab]) -> Lab:
    lab = lab_up(TOPOLOGY, routing=False, prefix="s")
    # a second, parallel core link with fixed link-local addresses, for ECMP
    netns.create_veth(lab.ns("r1"), "r1b", lab.ns("r2"), "r2b")
    for node, ifname, addr in (("r1", "r1b", "fe80::b1"), ("r2", "r2b", "fe80::b2")):
        lab.exec(node, "ip", "addr", "add", f"{addr}/64", "dev", ifname, "nodad")
        lab.exec(node, "ip", "link", "set", ifname, "up")
    return lab


def configs(lab: Lab, tmp_path: Path, *, ecmp: bool = False) -> tuple[str, str]:
    r2_ll = lab.link_local("r2", "r1")
    r1_ll = lab.link_local("r1", "r2")
    r1_if = lab.ifname("r1", "r2")
    r2_if = lab.ifname("r2", "r1")
    via1 = f'["{r2_ll}%{r1_if}", "fe80::b2%r1b"]' if ecmp else f'["{r2_ll}%{r1_if}"]'
    r1 = write(
        tmp_path,
        "r1.toml",
        f"""
[[static.route]]
prefix = "198.51.100.0/24"
via = {via1}
src = "203.0.113.1"

[[static.route]]
prefix = "203.0.113.2/32"
via = "{r2_ll}%{r1_if}"
""",
    )
    r2 = write(
        tmp_path,
        "r2.toml",
        f"""
[[static.route]]
prefix = "192.0.2.0/24"
via = ["{r1_ll}%{r2_if}"]
src = "203.0.113.2"

[[static.route]]
prefix = "203.0.113.1/32"
via = "{r1_ll}%{r2_if}"
""",
    )
    return r1, r2


def test_apply_installs_via_inet6_and_ipv4_crosses(lab: Lab, tmp_path: Path) -> None:
    r1, r2 = configs(lab, tmp_path)
    assert not lab.ping("h1", "h2"), "no route yet: ping must fail"
    code, out, err = apply(lab, "r1", r1)
    assert code == 0, err
    assert "+ add 198.51.100.0/24 via inet6" in out
    assert apply(lab, "r2", r2)[0] == 0
    table = routes(lab, "r1")
    line = next(x for x in table.splitlines() if x.startswith("198.51.100.0/24"))
    assert f"via inet6 {lab.link_local('r2', 'r1')} dev {lab.ifname('r1', 'r2')}" in line
    assert "proto v4via6" in line or "proto 46" in line
    assert "src 203.0.113.1" in line
    assert lab.ping("h1", "h2", count=2)


def test_second_apply_changes_nothing(lab: Lab, tmp_path: Path) -> None:
    r1, _ = configs(lab, tmp_path)
    assert apply(lab, "r1", r1)[0] == 0
    before = routes(lab, "r1")
    code, out, _ = apply(lab, "r1", r1)
    assert code == 0
    assert "nothing to do" in out
    assert "+ add" not in out and "~ replace" not in out and "- delete" not in out
    assert routes(lab, "r1") == before


def test_dry_run_changes_nothing(lab: Lab, tmp_path: Path) -> None:
    r1, _ = configs(lab, tmp_path)
    before = routes(lab, "r1")
    code, out, _ = apply(lab, "r1", r1, "--dry-run")
    assert code == 0 and "+ add 198.51.100.0/24" in out and "nothing changed" in out
    assert routes(lab, "r1") == before


def test_ecmp_over_two_veths_installs_both_paths(lab: Lab, tmp_path: Path) -> None:
    r1, r2 = configs(lab, tmp_path, ecmp=True)
    assert apply(lab, "r1", r1)[0] == 0
    assert apply(lab, "r2", r2)[0] == 0
    out = lab.exec("r1", "ip", "-4", "route", "show", "198.51.100.0/24").stdout
    assert f"via inet6 {lab.link_local('r2', 'r1')} dev {lab.ifname('r1', 'r2')}" in out
    assert "via inet6 fe80::b2 dev r1b" in out
    assert out.count("nexthop") >= 2
    assert lab.ping("h1", "h2")
    # back to a single path: a replace, not an add
    r1_single, _ = configs(lab, tmp_path)
    code, text, _ = apply(lab, "r1", r1_single)
    assert code == 0 and "~ replace 198.51.100.0/24" in text
    out = lab.exec("r1", "ip", "-4", "route", "show", "198.51.100.0/24").stdout
    assert "r1b" not in out


def test_foreign_route_survives_apply_and_flush(lab: Lab, tmp_path: Path) -> None:
    r1, _ = configs(lab, tmp_path)
    r2_ll = lab.link_local("r2", "r1")
    r1_if = lab.ifname("r1", "r2")
    # another protocol holds one of the prefixes we want, and one more
    lab.exec("r1", "ip", "route", "add", "203.0.113.2/32", "via", "inet6", str(r2_ll), "dev", r1_if, "proto", "static")
    lab.exec("r1", "ip", "route", "add", "192.0.2.128/25", "via", "inet6", str(r2_ll), "dev", r1_if, "proto", "boot")
    code, out, _ = apply(lab, "r1", r1)
    assert code == 0
    assert "! clash 203.0.113.2/32" in out and "proto static" in out
    table = routes(lab, "r1")
    assert "203.0.113.2 via inet6" in table and "proto static" in table
    assert "192.0.2.128/25" in table
    flush = lab.exec("r1", "v4via6", "flush", check=False)
    assert flush.returncode == 0, flush.stderr
    table = routes(lab, "r1")
    assert "198.51.100.0/24" not in table
    assert "proto static" in table and "192.0.2.128/25" in table
    assert "proto v4via6" not in table and "proto 46" not in table
    assert lab.exec("r1", "ip", "nexthop", "show", "proto", "46", check=False).stdout.strip() == ""


@pytest.mark.parametrize(
    ("body", "expect"),
    [
        ('[[static.route]]\nprefix = "198.51.100.0/24"\nvia = "fe80::1%nope0"\n', "unknown interface 'nope0'"),
        ('[[static.route]]\nprefix = "198.51.100.9/24"\nvia = "fe80::1%lo"\n', "host bits set"),
        ('[[static.route]]\nprefix = "198.51.100.0/24"\nvia = "fe80::1"\n', "needs an interface"),
        ('[[static.route]]\nprefix = "2001:db8::/32"\nvia = "fe80::1%lo"\n', "IPv6 prefix"),
        ("[[static.route]\n", "bad TOML"),
    ],
)
def test_bad_config_leaves_kernel_as_it_was(lab: Lab, tmp_path: Path, body: str, expect: str) -> None:
    r1, _ = configs(lab, tmp_path)
    assert apply(lab, "r1", r1)[0] == 0
    before = routes(lab, "r1")
    bad = write(tmp_path, "bad.toml", body)
    code, _out, err = apply(lab, "r1", bad)
    assert code == 2
    assert expect in err
    assert "Traceback" not in err
    assert all(line.startswith("v4via6: error: ") for line in err.strip().splitlines())
    assert routes(lab, "r1") == before
