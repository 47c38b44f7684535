"""``lab up`` interrupted half-way (Ctrl-C, or killed): nothing of the lab is left behind."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess

import pytest

from v4via6.lab import netns
from v4via6.lab.lifecycle import v4via6_command
from v4via6.lab.netns import wait_until
from v4via6.lab.state import list_labs, ns_prefix, state_file

pytestmark = pytest.mark.lab


def _made_a_namespace(name: str) -> bool:
    """True once the state file lists a namespace that exists."""
    try:
        data = json.loads(state_file(name).read_text())
    except (OSError, ValueError):
        return False
    return any(netns.namespace_exists(ns) for ns in data.get("namespaces", []))


def _start_up(name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*v4via6_command(), "lab", "up", "--name", name],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _cleanup(name: str) -> None:
    if state_file(name).exists():
        subprocess.run([*v4via6_command(), "lab", "down", name], check=False, timeout=60)


def test_ctrl_c_during_up_cleans_up_itself() -> None:
    name = f"ti{secrets.token_hex(3)}"
    proc = _start_up(name)
    try:
        wait_until(lambda: _made_a_namespace(name) or proc.poll() is not None, timeout=30,
                   interval=0.005, what="lab up to create a namespace")
        assert proc.poll() is None, "lab up finished before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, (out, err)
        assert f"interrupted: lab {name} removed" in out
        assert "Traceback" not in err
        assert netns.list_namespaces(ns_prefix(name)) == []
        assert name not in list_labs()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _cleanup(name)


def test_lab_down_after_a_crash_mid_up_removes_exactly_the_lab() -> None:
    name = f"tk{secrets.token_hex(3)}"
    # A namespace of another lab whose name merely starts the same way must survive.
    decoy = f"{ns_prefix(name + 'x')}h1"
    netns.create_namespace(decoy)
    proc = _start_up(name)
    try:
        wait_until(lambda: _made_a_namespace(name) or proc.poll() is not None, timeout=30,
                   interval=0.005, what="lab up to create a namespace")
        proc.kill()  # a crash: no cleanup runs
        proc.wait(timeout=10)
        status = subprocess.run([*v4via6_command(), "lab", "status", "--json", name],
                                capture_output=True, text=True, check=True, timeout=30)
        (lab,) = json.loads(status.stdout)["labs"]
        assert lab["phase"] == "creating"
        assert any(ns["present"] for ns in lab["namespaces"])
        down = subprocess.run([*v4via6_command(), "lab", "down", name],
                              capture_output=True, text=True, timeout=60)
        assert down.returncode == 0, down.stderr
        assert netns.list_namespaces(ns_prefix(name)) == []
        assert name not in list_labs()
        assert netns.namespace_exists(decoy)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _cleanup(name)
        netns.delete_namespace(decoy)
