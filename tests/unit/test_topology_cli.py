"""``v4via6 lab`` and ``demo`` commands that need no root: errors, draw, status."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from v4via6.cli.main import cli


@pytest.fixture(autouse=True)
def _private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("V4VIA6_LAB_STATE_DIR", str(tmp_path / "state"))


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_bad_topology_is_one_line_before_anything_is_created(tmp_path: Path) -> None:
    topo = tmp_path / "bad.toml"
    topo.write_text('[nodes.h1]\nkind = "host"\n[nodes.h2]\nkind = "host"\n'
                    '[[links]]\na = "h1"\nb = "h2"\n')
    code, _out, err = run("lab", "up", str(topo))
    assert code == 2
    assert err == (
        f"v4via6: error: {topo}: links[0]: host h1 linked to host h2; put a router between\n"
    )
    assert not (tmp_path / "state").exists()


def test_draw_from_topology_file_needs_no_lab(tmp_path: Path) -> None:
    out_svg = tmp_path / "pic.svg"
    code, out, _ = run("lab", "draw", "--out", str(out_svg))
    assert code == 0, out
    assert "routes from the config" in out
    svg = out_svg.read_text()
    assert svg.startswith("<svg")
    assert "198.51.100.0/24 via inet6 fe80::2 dev to-r2 (r2)" in svg


def test_status_json_with_no_labs() -> None:
    code, out, _ = run("lab", "status", "--json")
    assert code == 0
    assert json.loads(out) == {"labs": []}


def test_down_without_labs_says_so() -> None:
    code, _, err = run("lab", "down", "nosuch")
    assert code == 2
    assert err.startswith("v4via6: error: no lab named 'nosuch'")


def test_not_root_gets_one_line_with_how_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    import v4via6.cli.common as common

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(common, "open", lambda *a, **k: io.StringIO("CapEff:\t0\n"),
                        raising=False)
    code, _, err = run("demo")
    assert code == 2
    assert err.startswith("v4via6: error: demo needs root or CAP_NET_ADMIN; run it as: sudo ")
    assert err.count("\n") == 1
