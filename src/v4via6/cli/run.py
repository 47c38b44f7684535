"""CLI: run commands (being written)."""

import click

COMMANDS: list[click.Command] = []
