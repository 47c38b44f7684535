"""CLI: ``v4via6 run`` (the daemon), ``reload`` and ``peer reset|soft-in|soft-out`` over the control socket."""

from __future__ import annotations

from typing import Any

import click

from v4via6.cli.common import echo_json, fail

DEFAULT_SOCKET = "/run/v4via6/v4via6.sock"

socket_option = click.option(
    "--socket",
    "socket_path",
    envvar="V4VIA6_SOCKET",
    default=None,
    help=f"Control socket of the daemon (default: [control] socket of -c CONFIG, else {DEFAULT_SOCKET}).",
)
config_option = click.option(
    "-c", "--config", "config_path", default=None, type=click.Path(dir_okay=False),
    help="Config file, to find the control socket it names.",
)


def socket_for(socket_path: str | None, config_path: str | None) -> str:
    if socket_path:
        return socket_path
    if config_path:
        from v4via6.config.load import ConfigError, load_config

        try:
            return load_config(config_path).control.socket
        except ConfigError as exc:
            fail(exc.lines[0])
    return DEFAULT_SOCKET


def ask(socket_path: str | None, config_path: str | None, cmd: str, **args: Any) -> Any:
    """One control request; one-line error when the daemon is not there or refuses."""
    from v4via6.daemon.control import ControlError, request

    try:
        return request(socket_for(socket_path, config_path), cmd, **args)
    except ControlError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"control socket: {exc}")


@click.command("run")
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="The TOML config (static routes, [bgp], [control]).")
@click.option("--socket", "socket_path", default=None, help="Control socket path (overrides [control] socket).")
def run_command(config_path: str, socket_path: str | None) -> None:
    """Run the routing daemon in the foreground (SIGTERM: clean stop, SIGHUP: reload)."""
    from v4via6.cli.common import need_root
    from v4via6.config.load import ConfigError
    from v4via6.daemon.supervisor import run_daemon

    need_root("run")
    try:
        code = run_daemon(config_path, socket_path)
    except ConfigError as exc:
        for line in exc.lines:
            click.echo(f"v4via6: error: {line}", err=True)
        raise SystemExit(2) from None
    raise SystemExit(code)


@click.command("reload")
@socket_option
@config_option
@click.option("--json", "as_json", is_flag=True)
def reload_command(socket_path: str | None, config_path: str | None, as_json: bool) -> None:
    """Re-read the daemon's config: changed peers reset, policy changes applied without reset."""
    summary = ask(socket_path, config_path, "reload")
    if as_json:
        echo_json(summary)
        return
    for key in ("added", "removed", "reset", "policy"):
        names = summary.get(key) or []
        click.echo(f"{key}: {', '.join(names) if names else '-'}")
    click.echo(f"static: {summary.get('static')}")


@click.group("peer")
def peer_group() -> None:
    """Act on one BGP peer of the running daemon."""


def _peer_cmd(name: str, cmd: str, doc: str) -> click.Command:
    @click.command(name, help=doc)
    @click.argument("peer")
    @socket_option
    @config_option
    def command(peer: str, socket_path: str | None, config_path: str | None) -> None:
        ask(socket_path, config_path, cmd, name=peer)
        click.echo(f"{name}: {peer}: done")

    return command


peer_group.add_command(_peer_cmd("reset", "peer-reset", "Close the session (Cease) and reconnect."))
peer_group.add_command(_peer_cmd("soft-in", "peer-soft-in", "Re-run import policy on what the peer sent."))
peer_group.add_command(_peer_cmd("soft-out", "peer-soft-out", "Re-send our routes to the peer."))


COMMANDS: list[click.Command] = [run_command, reload_command, peer_group]
