"""CLI: apply and flush static routes."""

import click

COMMANDS: list[click.Command] = []
