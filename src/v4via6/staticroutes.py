"""Apply a static-route config to a FIB backend: validate, plan, change, report.

Shared by ``v4via6 apply`` / ``v4via6 flush`` and the daemon. Nothing touches
the kernel until the whole config has been validated, interfaces included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from v4via6.config.load import ConfigError, load_config, route_locations
from v4via6.fib.backend import BatchResult, FibBackend, FibOp, OpKind
from v4via6.fib.reconcile import Plan, plan


@dataclass(slots=True)
class ApplyReport:
    """What ``apply`` decided and what happened."""

    plan: Plan
    result: BatchResult | None = None
    dry_run: bool = False
    lines: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.result is not None and self.result.errors else 0


def apply_config(path: str | Path, backend: FibBackend, *, dry_run: bool = False) -> ApplyReport:
    """Make the kernel's own routes match the config at ``path``.

    Raises ConfigError (nothing changed) for any problem in the file, including
    interfaces that do not exist.
    """
    config = load_config(path)
    desired = config.static_routes()
    missing = set(backend.check_interfaces(desired))
    if missing:
        where = route_locations(config)
        lines = []
        for route in desired:
            for i, hop in enumerate(route.hops):
                if hop.nexthop.ifname in missing:
                    lines.append(
                        f"{path}: {where[route]}.via: unknown interface "
                        f"{hop.nexthop.ifname!r} in next hop {hop.nexthop.spec()} "
                        f"(hop {i}); expected an existing interface (see 'ip link')"
                    )
        raise ConfigError(lines)
    the_plan = plan(desired, backend.list_routes(own_only=False))
    report = ApplyReport(the_plan, dry_run=dry_run)
    report.lines = the_plan.lines()
    if the_plan.empty:
        report.lines.append(
            f"nothing to do: the kernel already holds the {the_plan.unchanged} route(s) of {path}"
        )
        return report
    if dry_run:
        report.lines.append(f"dry run: {_summary(the_plan)}; nothing changed")
        return report
    result = backend.apply(the_plan.ops)
    report.result = result
    for failure in result.errors:
        report.lines.append(f"error: {failure.describe()}")
    report.lines.append(
        f"applied: {_summary(the_plan)}"
        + (f"; {result.failed} failed" if result.errors else "")
    )
    return report


def flush(backend: FibBackend, *, dry_run: bool = False) -> tuple[list[str], BatchResult | None]:
    """Remove every own route; returns report lines and the result."""
    own = backend.list_routes(own_only=True)
    lines = [f"- delete {kr.route.describe()}" for kr in own]
    if dry_run:
        lines.append(f"dry run: would delete {len(own)} route(s); nothing changed")
        return lines, None
    result = backend.flush()
    for failure in result.errors:
        lines.append(f"error: {failure.describe()}")
    lines.append(f"flushed: {len(own)} own route(s) deleted" if own else "nothing to flush")
    return lines, result


def _summary(p: Plan) -> str:
    return (
        f"{len(p.adds)} to add, {len(p.replaces)} to replace, {len(p.deletes)} to delete, "
        f"{p.unchanged} unchanged"
        + (f", {len(p.clashes)} clash(es) left alone" if p.clashes else "")
    )


__all__ = ["ApplyReport", "ConfigError", "FibOp", "OpKind", "apply_config", "flush"]
