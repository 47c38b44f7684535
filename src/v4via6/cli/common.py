"""Shared CLI helpers: one-line errors, JSON output, root checks."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, NoReturn

import click


class CliError(click.ClickException):
    """An operator-facing error: printed as one line, exit code 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"v4via6: error: {self.format_message()}", err=True)


def fail(message: str) -> NoReturn:
    """Stop with ``v4via6: error: MESSAGE`` on stderr and exit code 2."""
    raise CliError(message)


def need_root(what: str) -> None:
    """Fail with a one-line hint unless we may change the network (root / CAP_NET_ADMIN)."""
    if os.geteuid() == 0:
        return
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("CapEff:") and int(line.split()[1], 16) & (1 << 12):  # CAP_NET_ADMIN
                    return
    except OSError:
        pass
    fail(f"{what} needs root or CAP_NET_ADMIN; run it as: sudo v4via6 {' '.join(sys.argv[1:])}")


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
