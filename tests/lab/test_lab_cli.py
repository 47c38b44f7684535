"""``v4via6 lab draw/status/exec/ping/trace`` against a running lab."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from v4via6.cli.main import cli
from v4via6.lab.handle import Lab
from v4via6.lab.lifecycle import v4via6_command

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(module_lab_up: Callable[..., Lab]) -> Lab:
    return module_lab_up(prefix="tc")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_draw_reads_routes_from_the_live_kernel(lab: Lab, tmp_path: Path) -> None:
    out = tmp_path / "lab.svg"
    code, stdout, stderr = run("lab", "draw", "--lab", lab.name, "--out", str(out))
    assert code == 0, stderr
    assert "routes from the live kernel" in stdout
    svg = out.read_text()
    for line in (
        "198.51.100.0/24 via inet6 fe80::2 dev to-r2 (r2)",
        "192.0.2.0/24 via inet6 fe80::1 dev to-r1 (r1)",
        "198.51.100.0/24 via inet6 fe80::3 dev to-r3 (r3)",
        "203.0.113.1/32 via inet6 fe80::2 dev to-r2 (r2)",
    ):
        assert line in svg


def test_status_json_has_stable_keys(lab: Lab) -> None:
    code, stdout, _ = run("lab", "status", "--json", lab.name)
    assert code == 0
    (entry,) = json.loads(stdout)["labs"]
    assert set(entry) == {"name", "phase", "topology", "created", "state_file", "routing",
                          "routing_mode", "namespaces", "processes", "configs"}
    assert entry["phase"] == "up"
    assert entry["routing_mode"] == "bgp"
    assert all(ns["present"] for ns in entry["namespaces"])
    assert set(entry["configs"]) == {"r1", "r2", "r3"}
    r2 = Path(entry["configs"]["r2"]).read_text()
    assert r2.count("[[bgp.peer]]") == 2 and 'interface = "to-r3"' in r2
    assert sorted(p["node"] for p in entry["processes"]) == ["r1", "r2", "r3"]
    assert all(p["running"] for p in entry["processes"])


def test_trace_json_explains_each_hop(lab: Lab) -> None:
    code, stdout, stderr = run("lab", "trace", "--lab", lab.name, "--json", "h1", "h2")
    assert code == 0, stderr
    data = json.loads(stdout)
    assert data["reached"] is True
    assert [(h["address"], h["node"]) for h in data["hops"]] == [
        ("192.0.2.1", "r1"), ("192.0.0.8", "r2"), ("203.0.113.3", "r3"), ("198.51.100.2", "h2"),
    ]


def test_ping_by_node_and_by_address(lab: Lab) -> None:
    code, stdout, _ = run("lab", "ping", "--lab", lab.name, "-c", "1", "h2", "h1")
    assert code == 0 and "1 received" in stdout
    code, stdout, _ = run("lab", "ping", "--lab", lab.name, "-c", "1", "h1", "203.0.113.3")
    assert code == 0 and "1 received" in stdout
    code, _, stderr = run("lab", "ping", "--lab", lab.name, "h1", "nowhere")
    assert code == 2
    assert stderr.startswith("v4via6: error: 'nowhere' is neither a node")


def test_exec_runs_in_the_node_namespace_and_passes_exit_code(lab: Lab) -> None:
    proc = subprocess.run(
        [*v4via6_command(), "lab", "exec", "--lab", lab.name, "r2", "--", "ip", "-4", "route"],
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert "198.51.100.0/24 nhid" in proc.stdout or "198.51.100.0/24 via inet6" in proc.stdout
    proc = subprocess.run(
        [*v4via6_command(), "lab", "exec", "--lab", lab.name, "h1", "--", "sh", "-c", "exit 7"],
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 7


def test_unknown_node_is_one_line(lab: Lab) -> None:
    code, _, stderr = run("lab", "trace", "--lab", lab.name, "h9", "h2")
    assert code == 2
    assert stderr == (
        f"v4via6: error: lab {lab.name} has no node 'h9' (nodes: h1, r1, r2, r3, h2)\n"
    )


def test_second_up_with_same_name_is_refused(lab: Lab) -> None:
    code, _, stderr = run("lab", "up", "--name", lab.name)
    assert code == 2
    assert stderr.startswith(f"v4via6: error: lab {lab.name} is already up")
