"""CLI: ``v4via6 check [--json]``: read-only preflight of the host, ok/warn/fail lines.

Exit code 0 when everything is ok, 1 with warnings, 2 with failures. Runs
without root; when v4via6's own routes cannot be listed the next-hop checks
are skipped with a warning and the host checks still run.
"""

from __future__ import annotations

import click

from v4via6.cli.common import echo_json
from v4via6.cli.show import fib_factory, read_host
from v4via6.diag.checks import run_checks
from v4via6.diag.status import CheckResult, Status, exit_code
from v4via6.fib.backend import FibException
from v4via6.model import Route

_COLOURS = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "red"}


def own_routes(ctx: click.Context) -> tuple[list[Route] | None, str | None]:
    """v4via6's routes, or (None, reason) when they cannot be listed."""
    try:
        backend = fib_factory(ctx)()
    except (FibException, OSError, ImportError) as exc:
        return None, str(exc) or type(exc).__name__
    try:
        return [k.route for k in backend.list_routes(own_only=True)], None
    except (FibException, OSError) as exc:
        return None, str(exc) or type(exc).__name__
    finally:
        backend.close()


def render(result: CheckResult) -> list[str]:
    status = click.style(f"{result.status.value:<4}", fg=_COLOURS[result.status], bold=True)
    subject = f" [{result.subject}]" if result.subject else ""
    lines = [f"{status} {result.check}{subject}: {result.message}"]
    if result.fix:
        lines.append(f"     fix: {result.fix}")
    return lines


@click.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print JSON with stable keys.")
@click.pass_context
def check_command(ctx: click.Context, as_json: bool) -> None:
    """Preflight: kernel, forwarding, IPv6, rp_filter, ICMP source, next-hop neighbours."""
    snapshot = read_host(ctx)
    routes, reason = own_routes(ctx)
    results = run_checks(snapshot, routes, reason)
    code = exit_code(results)
    if as_json:
        echo_json({
            "kernel": str(snapshot.kernel),
            "exit_code": code,
            "summary": {s.value: sum(1 for r in results if r.status is s) for s in Status},
            "results": [r.to_json() for r in results],
        })
    else:
        for result in results:
            for line in render(result):
                click.echo(line)
    raise SystemExit(code)


COMMANDS: list[click.Command] = [check_command]
