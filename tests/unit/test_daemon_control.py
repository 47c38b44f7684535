"""The control socket answers JSON, refuses writes on the read-only socket, and logs key=value."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from v4via6.daemon import control
from v4via6.daemon.log import format_event


def run_server(path: str, handler: control.Handler) -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    server = control.ControlServer(path, handler)

    def main() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(server.stop())
        loop.close()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    assert ready.wait(5)
    return loop, thread


def test_requests_and_permissions(tmp_path: Path) -> None:
    path = str(tmp_path / "ctl.sock")
    seen: list[dict[str, Any]] = []

    async def handler(req: dict[str, Any]) -> Any:
        seen.append(req)
        if req["cmd"] == "boom":
            raise control.ControlError("no such peer 'x'")
        return {"peers": [], "echo": req.get("name")}

    loop, thread = run_server(path, handler)
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(path + ".ro").st_mode) == 0o644
        assert control.request(path, "show-peers") == {"peers": [], "echo": None}
        assert control.request(path, "peer-reset", name="r2") == {"peers": [], "echo": "r2"}
        with pytest.raises(control.ControlError, match="no such peer"):
            control.request(path, "boom")
        # the read-only socket refuses a write command
        with pytest.raises(control.ControlError, match="read-only"):
            control.request(path + ".ro", "peer-reset", name="r2")
        assert control.request(path + ".ro", "show-status") is not None
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
    assert not os.path.exists(path)


def test_unreachable_daemon_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(control.ControlError, match="is 'v4via6 run' running"):
        control.request(str(tmp_path / "none.sock"), "show-peers")


def test_log_format_is_key_value() -> None:
    line = format_event("session-down", peer="r2", reason="hold timer expired", code=4)
    assert line == 'event=session-down peer=r2 reason="hold timer expired" code=4'
