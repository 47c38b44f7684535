"""CLI: ``v4via6 apply CONFIG`` and ``v4via6 flush`` for static routes."""

from __future__ import annotations

import click

from v4via6.cli.common import echo_json, fail, need_root
from v4via6.config.load import ConfigError
from v4via6.fib.backend import FibBackend, FibUnavailable


def open_backend() -> FibBackend:
    """The kernel FIB backend, or a one-line error."""
    from v4via6.fib.netlink import NetlinkFib

    try:
        return NetlinkFib()
    except FibUnavailable as exc:
        fail(str(exc))


@click.command("apply")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Show the changes without making them.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan and result as JSON.")
def apply_command(config: str, dry_run: bool, as_json: bool) -> None:
    """Make the kernel's v4via6 routes match CONFIG (add/replace/delete, minimal)."""
    from v4via6.staticroutes import apply_config

    if not dry_run:
        need_root("apply")
    backend = open_backend()
    try:
        report = apply_config(config, backend, dry_run=dry_run)
    except ConfigError as exc:
        for line in exc.lines:
            click.echo(f"v4via6: error: {line}", err=True)
        raise SystemExit(2) from None
    finally:
        backend.close()
    if as_json:
        p = report.plan
        echo_json(
            {
                "config": config,
                "dry_run": dry_run,
                "add": [op.route.describe() for op in p.adds],
                "replace": [op.route.describe() for op, _ in p.replaces],
                "delete": [op.route.describe() for op in p.deletes],
                "clash": [c.describe() for c in p.clashes],
                "unchanged": p.unchanged,
                "errors": [f.describe() for f in report.result.errors] if report.result else [],
            }
        )
    else:
        for line in report.lines:
            click.echo(line)
    raise SystemExit(report.exit_code)


@click.command("flush")
@click.option("--dry-run", is_flag=True, help="List what would be deleted.")
def flush_command(dry_run: bool) -> None:
    """Remove every route (and nexthop object) v4via6 installed; others are untouched."""
    from v4via6.staticroutes import flush

    if not dry_run:
        need_root("flush")
    backend = open_backend()
    try:
        lines, result = flush(backend, dry_run=dry_run)
    finally:
        backend.close()
    for line in lines:
        click.echo(line)
    raise SystemExit(1 if result is not None and result.errors else 0)


COMMANDS: list[click.Command] = [apply_command, flush_command]
