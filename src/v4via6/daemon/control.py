"""The control socket: JSON requests and answers over a Unix stream socket.

Two sockets: ``PATH`` (mode 0600, root only) accepts every command; ``PATH.ro``
(mode 0644) accepts only read-only ``show`` commands. One request per
connection: the client sends one JSON object and a newline, the daemon answers
with one JSON object and closes. Answers are ``{"ok": true, "data": ...}`` or
``{"ok": false, "error": "one line"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

Handler = Callable[[dict[str, Any]], Awaitable[Any]]

READ_ONLY_COMMANDS = frozenset({"show-peers", "show-routes", "show-route-for", "show-status"})
MAX_REQUEST = 64 * 1024


class ControlError(Exception):
    """A request the daemon refuses; the message goes back to the client."""


def read_only_path(path: str) -> str:
    return path + ".ro"


class ControlServer:
    """Serve ``handler`` on the read-write and read-only sockets."""

    def __init__(self, path: str, handler: Handler) -> None:
        self.path = path
        self.handler = handler
        self._servers: list[asyncio.AbstractServer] = []

    async def start(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        for path, mode, read_only in (
            (self.path, 0o600, False),
            (read_only_path(self.path), 0o644, True),
        ):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            old = os.umask(0o177 if not read_only else 0o133)
            try:
                server = await asyncio.start_unix_server(self._callback(read_only), path=path)
            finally:
                os.umask(old)
            os.chmod(path, mode)
            self._servers.append(server)

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()
        for path in (self.path, read_only_path(self.path)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        self._servers.clear()

    def _callback(
        self, read_only: bool
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(reader, writer, read_only)

        return serve

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, read_only: bool) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=10)
            answer: dict[str, Any]
            try:
                if len(line) > MAX_REQUEST:
                    raise ControlError("request too large")
                request = json.loads(line or b"{}")
                if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
                    raise ControlError('expected a JSON object with a "cmd" string')
                if read_only and request["cmd"] not in READ_ONLY_COMMANDS:
                    raise ControlError(
                        f"{request['cmd']!r} is not allowed on the read-only socket; use the root-only one"
                    )
                answer = {"ok": True, "data": await self.handler(request)}
            except ControlError as exc:
                answer = {"ok": False, "error": str(exc)}
            except json.JSONDecodeError:
                answer = {"ok": False, "error": "request is not valid JSON"}
            except Exception as exc:  # a bug must not leave the client without an answer
                logging.getLogger("v4via6.control").exception("event=control-error")
                answer = {"ok": False, "error": f"internal error: {exc!r}"}
            writer.write(json.dumps(answer, default=str).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def request(path: str, cmd: str, timeout: float = 10.0, **args: Any) -> Any:
    """Send one command (blocking client); returns ``data`` or raises ControlError.

    Uses the read-write socket when we may open it, else the read-only one.
    """
    payload = json.dumps({"cmd": cmd, **args}).encode() + b"\n"
    candidates = [path, read_only_path(path)] if cmd in READ_ONLY_COMMANDS else [path]
    last: OSError | None = None
    for candidate in candidates:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(candidate)
        except PermissionError as exc:
            last = exc
            sock.close()
            continue
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            last = exc
            sock.close()
            continue
        with sock:
            sock.sendall(payload)
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        answer = json.loads(b"".join(chunks) or b"{}")
        if not answer.get("ok"):
            raise ControlError(answer.get("error", "no answer"))
        return answer.get("data")
    if isinstance(last, PermissionError):
        raise ControlError(f"permission denied on {path}; run as root (read-only 'show' uses {path}.ro)")
    raise ControlError(f"cannot reach the daemon at {path}: is 'v4via6 run' running? (--socket PATH)")
