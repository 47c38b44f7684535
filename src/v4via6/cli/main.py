"""The ``v4via6`` entry point: one click group whose sub-commands load lazily.

Each sibling module exports ``COMMANDS``, a list of click commands/groups; the
table below says which module holds which top-level command, so ``v4via6 X``
imports only what X needs (start-up time matters: the lab runs the CLI often).
"""

from __future__ import annotations

import importlib

import click

from v4via6 import __version__

#: top-level command name -> module under v4via6.cli that defines it.
_COMMAND_MODULES: dict[str, str] = {
    "apply": "static",
    "flush": "static",
    "show": "show",
    "route": "route",
    "check": "check",
    "lab": "lab",
    "demo": "lab",
    "bgp": "bgp",
    "run": "run",
    "reload": "run",
    "peer": "run",
}


class LazyGroup(click.Group):
    """A click group that imports a command's module only when it is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(_COMMAND_MODULES) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        module_name = _COMMAND_MODULES.get(cmd_name)
        if module_name is None:
            return None
        module = importlib.import_module(f"v4via6.cli.{module_name}")
        for cmd in module.COMMANDS:
            if cmd.name == cmd_name:
                return cmd  # type: ignore[no-any-return]
        return None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="v4via6")
def cli() -> None:
    """v4via6: IPv4 routes via IPv6 next hops for Linux (RFC 8950).

    Start with 'v4via6 demo' (as root) to see IPv4 cross an IPv6-only core.
    """


def main() -> None:
    cli(prog_name="v4via6")


if __name__ == "__main__":
    main()
