"""Routers with a ``[bgp]`` config run a background daemon, recorded and stopped by PID.

``v4via6 run`` is replaced here by a tiny stand-in that answers on its control
socket (no peers), so the lab's process handling is tested on its own.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import pytest

from v4via6.lab import lifecycle, netns
from v4via6.lab.state import list_labs, load_state, ns_prefix
from v4via6.lab.topology import parse

pytestmark = pytest.mark.lab

FAKE_DAEMON = """
import json, socket, sys, time
args = sys.argv[1:]
assert args[0] == "run" and args[1] == "-c"
sock_path = args[args.index("--socket") + 1]
s = socket.socket(socket.AF_UNIX)
s.bind(sock_path)
s.listen()
s.settimeout(1)
deadline = time.monotonic() + 120  # bounded: the lab stops it long before
while time.monotonic() < deadline:
    try:
        conn, _ = s.accept()
    except TimeoutError:
        continue
    with conn:
        conn.recv(65536)
        conn.sendall(json.dumps({"ok": True, "data": {"peers": []}}).encode() + b"\\n")
"""

# No IPv4 anywhere, so r2 gets no generated static routes and runs nothing.
TOPOLOGY = """
[nodes.r1]
kind = "router"
loopback4 = "none"
[nodes.r1.config.bgp]
asn = 65001
peer = [{ interface = "to-r2", remote_as = "external" }]
[nodes.r2]
kind = "router"
loopback4 = "none"
[[links]]
a = "r1"
b = "r2"
"""


def _netns_inode(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def test_bgp_router_daemon_is_recorded_and_stopped_by_pid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "fake_v4via6.py"
    script.write_text(FAKE_DAEMON)
    monkeypatch.setattr(lifecycle, "v4via6_command", lambda: [sys.executable, str(script)])
    name = f"tb{secrets.token_hex(3)}"
    try:
        state = lifecycle.up(parse(TOPOLOGY, "bgp.toml"), name)
        (rec,) = state.processes
        assert rec.node == "r1" and rec.pid is not None
        assert load_state(name).processes[0].pid == rec.pid  # recorded on disk
        assert rec.socket is not None and Path(rec.socket).exists()
        assert _netns_inode(rec.pid) == os.stat(f"/run/netns/{ns_prefix(name)}r1").st_ino
        assert "run" in rec.cmd and "--socket" in rec.cmd
        report = lifecycle.down(name)
        assert report.processes == [rec.pid]
        assert not Path(f"/proc/{rec.pid}").exists()
        assert netns.list_namespaces(ns_prefix(name)) == []
        assert name not in list_labs()
    finally:
        if name in list_labs():
            lifecycle.down(name)


def test_daemon_that_exits_fails_up_and_cleans(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "dies.py"
    script.write_text("import sys\nprint('bgp: cannot bind port 179')\nsys.exit(3)\n")
    monkeypatch.setattr(lifecycle, "v4via6_command", lambda: [sys.executable, str(script)])
    name = f"tb{secrets.token_hex(3)}"
    with pytest.raises(lifecycle.LabError) as info:
        lifecycle.up(parse(TOPOLOGY, "bgp.toml"), name)
    assert str(info.value) == "r1: v4via6 run exited with 3: bgp: cannot bind port 179"
    assert netns.list_namespaces(ns_prefix(name)) == []
    assert name not in list_labs()
