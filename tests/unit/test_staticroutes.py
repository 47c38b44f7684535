"""apply_config / flush against the in-memory FIB: minimal change, idempotence, safety."""

from __future__ import annotations

from pathlib import Path

import pytest

from v4via6.config.load import ConfigError
from v4via6.fib.backend import FibOp, OpKind
from v4via6.fib.memory import MemoryFib
from v4via6.model import Route
from v4via6.staticroutes import apply_config, flush

CONFIG = """
[[static.route]]
prefix = "198.51.100.0/24"
via = ["fe80::1%eth0", "fe80::2%eth1"]
src = "192.0.2.1"

[[static.route]]
prefix = "203.0.113.0/24"
via = "fe80::1%eth0"
"""


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "r1.toml"
    path.write_text(CONFIG)
    return path


def test_apply_then_apply_again_is_a_no_op(cfg: Path) -> None:
    fib = MemoryFib(["eth0", "eth1"])
    first = apply_config(cfg, fib)
    assert first.exit_code == 0
    assert len(first.plan.adds) == 2
    assert any(line.startswith("+ add 198.51.100.0/24 nexthop via inet6 fe80::1 dev eth0") for line in first.lines)
    assert len(fib.list_routes()) == 2
    second = apply_config(cfg, fib)
    assert second.plan.empty and second.result is None
    assert second.lines[-1].startswith("nothing to do")


def test_dry_run_changes_nothing(cfg: Path) -> None:
    fib = MemoryFib(["eth0", "eth1"])
    report = apply_config(cfg, fib, dry_run=True)
    assert report.lines[-1].startswith("dry run: 2 to add")
    assert fib.list_routes() == []


def test_unknown_interface_is_a_config_error_and_changes_nothing(cfg: Path) -> None:
    fib = MemoryFib(["eth0"])
    with pytest.raises(ConfigError) as info:
        apply_config(cfg, fib)
    (line,) = info.value.lines
    assert line.startswith(f"{cfg}: static.route[0].via: unknown interface 'eth1'")
    assert fib.list_routes(own_only=False) == []


def test_stale_own_routes_deleted_foreign_kept(cfg: Path) -> None:
    stale = Route.simple("192.0.2.128/25", "fe80::9%eth0")
    bird = Route.simple("203.0.113.0/24", "fe80::7%eth0")
    fib = MemoryFib(["eth0", "eth1"], foreign=[(bird, 12)])
    fib.apply([FibOp(OpKind.ADD, stale)])
    report = apply_config(cfg, fib)
    assert [op.route for op in report.plan.deletes] == [stale]
    assert len(report.plan.clashes) == 1
    remaining = {kr.route.prefix.exploded: kr.protocol for kr in fib.list_routes(own_only=False)}
    assert remaining == {"198.51.100.0/24": 46, "203.0.113.0/24": 12}
    lines, result = flush(fib)
    assert result is not None and not result.errors
    assert [kr.protocol for kr in fib.list_routes(own_only=False)] == [12]
    assert lines[-1] == "flushed: 1 own route(s) deleted"
