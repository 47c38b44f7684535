"""The lab's handling of real BGP daemons when things go wrong.

A session that cannot come up (r1 expects the wrong AS) keeps ``lab up``
waiting: the convergence deadline fails it with a line naming the peer, and
Ctrl-C while it waits removes the namespaces and stops the daemons by PID.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
from pathlib import Path

import pytest

from v4via6.lab import lifecycle, netns
from v4via6.lab.lifecycle import v4via6_command
from v4via6.lab.netns import wait_until
from v4via6.lab.state import list_labs, ns_prefix, state_file
from v4via6.lab.topology import parse

pytestmark = pytest.mark.lab

# r2 runs the generated config (AS 65002); r1 insists on AS 65099: never Established.
WRONG_AS = """
routing = "bgp"
[nodes.h1]
kind = "host"
[nodes.r1]
kind = "router"
[nodes.r1.config.bgp]
asn = 65001
router_id = "203.0.113.1"
peer = [{ interface = "to-r2", remote_as = 65099, import = "all", export = "all" }]
[nodes.r2]
kind = "router"
[[links]]
a = "h1"
b = "r1"
[[links]]
a = "r1"
b = "r2"
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def _recorded_pids(name: str) -> list[int]:
    try:
        data = json.loads(state_file(name).read_text())
    except (OSError, ValueError):
        return []
    return [p["pid"] for p in data.get("processes", []) if p.get("pid")]


def test_no_convergence_fails_up_with_the_peer_named_and_cleans_up() -> None:
    name = f"tg{secrets.token_hex(3)}"
    pids: list[int] = []

    def progress(msg: str) -> None:
        pids[:] = _recorded_pids(name) or pids

    try:
        with pytest.raises(lifecycle.LabError) as info:
            lifecycle.up(parse(WRONG_AS, "wrong.toml"), name, converge_timeout=3.0,
                         progress=progress)
        msg = str(info.value)
        assert msg.startswith(f"lab {name} did not converge in 3 s: r1 peer to-r2 is "), msg
        assert "\n" not in msg
        assert len(pids) == 2
        assert not any(_alive(p) for p in pids), "a daemon outlived the failed up"
        assert netns.list_namespaces(ns_prefix(name)) == []
        assert name not in list_labs()
    finally:
        if name in list_labs():
            lifecycle.down(name)


def test_ctrl_c_while_waiting_for_bgp_stops_daemons_and_removes_lab(tmp_path: Path) -> None:
    name = f"tg{secrets.token_hex(3)}"
    topo = tmp_path / "wrong.toml"
    topo.write_text(WRONG_AS)
    proc = subprocess.Popen(
        [*v4via6_command(), "lab", "up", "--name", name, str(topo)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        def daemons_running() -> bool:
            pids = _recorded_pids(name)
            return (len(pids) == 2 and all(_alive(p) for p in pids)) or proc.poll() is not None

        wait_until(daemons_running, timeout=30, interval=0.01, what="both daemons to start")
        assert proc.poll() is None, "lab up finished before it could be interrupted"
        pids = _recorded_pids(name)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, (out, err)
        assert f"interrupted: lab {name} removed" in out
        assert "Traceback" not in err
        assert not any(_alive(p) for p in pids), "Ctrl-C left a daemon running"
        assert netns.list_namespaces(ns_prefix(name)) == []
        assert name not in list_labs()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if state_file(name).exists():
            subprocess.run([*v4via6_command(), "lab", "down", name], check=False, timeout=60)


def test_lab_down_after_lab_up_was_killed_stops_the_recorded_daemons(tmp_path: Path) -> None:
    name = f"tg{secrets.token_hex(3)}"
    topo = tmp_path / "wrong.toml"
    topo.write_text(WRONG_AS)
    proc = subprocess.Popen(
        [*v4via6_command(), "lab", "up", "--name", name, str(topo)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: len(_recorded_pids(name)) == 2 or proc.poll() is not None,
                   timeout=30, interval=0.01, what="both daemons to be recorded")
        assert proc.poll() is None, "lab up finished before it could be killed"
        proc.kill()  # a crash of `lab up`: no clean-up runs, the daemons live on
        proc.wait(timeout=10)
        pids = _recorded_pids(name)
        assert all(_alive(p) for p in pids)
        down = subprocess.run([*v4via6_command(), "lab", "down", name],
                              capture_output=True, text=True, timeout=60)
        assert down.returncode == 0, down.stderr
        assert "2 processes removed" in down.stdout
        assert not any(_alive(p) for p in pids), "lab down left a daemon running"
        assert netns.list_namespaces(ns_prefix(name)) == []
        assert name not in list_labs()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if state_file(name).exists():
            subprocess.run([*v4via6_command(), "lab", "down", name], check=False, timeout=60)
