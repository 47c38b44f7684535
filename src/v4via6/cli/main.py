"""The ``v4via6`` entry point: one click group, sub-commands from sibling modules."""

from __future__ import annotations

import click

from v4via6 import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="v4via6")
def cli() -> None:
    """v4via6: IPv4 routes via IPv6 next hops for Linux (RFC 8950)."""


#: Sibling modules; each exports ``COMMANDS``, a list of click commands/groups.
_MODULES = ("static", "show", "route", "check", "lab", "bgp", "run")


def _register() -> None:
    import importlib

    for name in _MODULES:
        module = importlib.import_module(f"v4via6.cli.{name}")
        for cmd in module.COMMANDS:
            cli.add_command(cmd)


_register()


def main() -> None:
    cli(prog_name="v4via6")


if __name__ == "__main__":
    main()
