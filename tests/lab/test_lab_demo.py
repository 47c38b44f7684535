"""``v4via6 demo`` end to end on the real kernel (BGP and --static), and interrupted by Ctrl-C."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
from pathlib import Path

import pytest

from v4via6.lab import netns
from v4via6.lab.handle import Lab
from v4via6.lab.lifecycle import v4via6_command
from v4via6.lab.netns import wait_until
from v4via6.lab.state import list_labs, ns_prefix, state_file

pytestmark = pytest.mark.lab


def _cleanup(name: str) -> None:
    if state_file(name).exists():
        subprocess.run([*v4via6_command(), "lab", "down", name], check=False, timeout=60)


def test_demo_passes_draws_and_leaves_nothing(tmp_path: Path) -> None:
    name = f"td{secrets.token_hex(3)}"
    svg = tmp_path / "demo.svg"
    try:
        proc = subprocess.run(
            [*v4via6_command(), "demo", "--name", name, "--out", str(svg)],
            capture_output=True, text=True, timeout=60,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out = proc.stdout
        assert "PASS" in out and "learned over BGP" in out
        assert "BGP converged" in out
        # show peers of every router: four sessions, all Established with ext-nh
        peer_rows = [ln.split() for ln in out.splitlines() if ln.split()[4:5] == ["Established"]]
        assert [(r[0], r[1], r[2], r[3]) for r in peer_rows] == [
            ("r1", "to-r2", "fe80::2", "65002"), ("r2", "to-r1", "fe80::1", "65001"),
            ("r2", "to-r3", "fe80::3", "65003"), ("r3", "to-r2", "fe80::2", "65002"),
        ]
        assert all(r[6] == "yes" for r in peer_rows), peer_rows
        assert "via inet6 fe80::2 dev to-r2 proto v4via6" in out  # r1's table, shown
        assert "3/3 replies" in out
        assert "192.0.0.8" in out and "203.0.113.3" in out  # r2 vs r3 ICMP source
        text = svg.read_text()
        assert "198.51.100.0/24 via inet6 fe80::2 dev to-r2 (r2)" in text
        assert "routes from the live kernel" in text
        assert netns.list_namespaces(ns_prefix(name)) == []
        assert name not in list_labs()
    finally:
        _cleanup(name)


def test_demo_static_keep_leaves_lab_up_until_down(tmp_path: Path) -> None:
    name = f"td{secrets.token_hex(3)}"
    try:
        proc = subprocess.run(
            [*v4via6_command(), "demo", "--static", "--keep", "--name", name,
             "--out", str(tmp_path / "d.svg")],
            capture_output=True, text=True, timeout=60,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "(static routes)" in proc.stdout and "BGP" not in proc.stdout
        assert len(netns.list_namespaces(ns_prefix(name))) == 5
        status = subprocess.run([*v4via6_command(), "lab", "status", "--json", name],
                                capture_output=True, text=True, check=True, timeout=30)
        (lab,) = json.loads(status.stdout)["labs"]
        assert lab["phase"] == "up"
        assert (lab["routing_mode"], lab["processes"]) == ("static", [])
        assert Lab.open(name).topology.routing == "static"  # the mode it was brought up with
        assert sorted(ns["node"] for ns in lab["namespaces"]) == ["h1", "h2", "r1", "r2", "r3"]
    finally:
        _cleanup(name)
    assert netns.list_namespaces(ns_prefix(name)) == []


def test_demo_ctrl_c_in_the_middle_of_up_leaves_nothing(tmp_path: Path) -> None:
    name = f"td{secrets.token_hex(3)}"
    proc = subprocess.Popen(
        [*v4via6_command(), "demo", "--name", name, "--out", str(tmp_path / "d.svg")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )

    def made_namespace() -> bool:
        try:
            data = json.loads(state_file(name).read_text())
        except (OSError, ValueError):
            return proc.poll() is not None
        return any(netns.namespace_exists(ns) for ns in data.get("namespaces", []))

    try:
        wait_until(made_namespace, timeout=30, interval=0.005, what="demo to create a namespace")
        assert proc.poll() is None, "demo finished before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, out + err
        assert "Traceback" not in err
        assert netns.list_namespaces(ns_prefix(name)) == []
        assert name not in list_labs()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _cleanup(name)
