"""One line per event, ``key=value`` fields: the daemon's log format."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_out: TextIO = sys.stderr
_seen_once: set[str] = set()


def set_output(stream: TextIO) -> None:
    global _out
    _out = stream


def _fmt(value: object) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' "=\t\n'):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def format_event(event: str, **fields: object) -> str:
    """``event=session-up peer=r2 afi=ipv4`` (event first, then fields in given order)."""
    parts = [f"event={_fmt(event)}"]
    parts += [f"{k}={_fmt(v)}" for k, v in fields.items() if v is not None]
    return " ".join(parts)


def log(event: str, level: str = "info", **fields: object) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    _out.write(f"ts={stamp} level={level} {format_event(event, **fields)}\n")
    _out.flush()


def log_once(key: str, event: str, level: str = "info", **fields: object) -> None:
    """Log only the first time ``key`` is seen (e.g. the RFC 8212 default-deny notice)."""
    if key in _seen_once:
        return
    _seen_once.add(key)
    log(event, level, **fields)
