"""Load a TOML config file into the validated model, with one-line errors.

Every error names the file, the key path (``static.route[1].via[0]``) and
what was expected; TOML syntax errors carry their line number.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from v4via6.config.model import Config
from v4via6.model import Route


class ConfigError(Exception):
    """A configuration problem; ``lines`` holds one message per problem."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def format_loc(loc: tuple[int | str, ...]) -> str:
    """``("static", "route", 1, "via", 0)`` -> ``static.route[1].via[0]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("function-") or part in {"list[...]"}:
            continue
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


def _message(err: Any) -> str:
    etype = err["type"]
    msg = str(err["msg"])
    if etype == "extra_forbidden":
        return "unknown key (check spelling; see docs/config.md)"
    if etype == "missing":
        return "required key is missing"
    msg = re.sub(r"^Value error, ", "", msg)
    if "ip_v4" in etype or "ipv4" in etype:
        return f"{err.get('input')!r} is not an IPv4 address like 192.0.2.1"
    if etype == "too_short":
        return "expected at least one entry (a next hop like fe80::1%eth0)"
    if etype in {"int_type", "int_parsing"}:
        return f"{err.get('input')!r} is not a whole number"
    if etype in {"greater_than_equal", "less_than_equal"}:
        return f"{err.get('input')!r}: {msg.lower().replace('input should be', 'expected a number')}"
    return msg


def parse_config(data: dict[str, Any], source: str) -> Config:
    """Validate already-parsed TOML data; raise ConfigError with one line per problem."""
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
            lines.append(f"{source}: {format_loc(loc)}: {_message(err)}")
        raise ConfigError(lines) from None
    _check_duplicates(config, source)
    return config


def _check_duplicates(config: Config, source: str) -> None:
    seen: dict[tuple[int, object, int], int] = {}
    lines = []
    for i, entry in enumerate(config.static.route):
        key = entry.to_route().key
        if key in seen:
            lines.append(
                f"{source}: static.route[{i}].prefix: duplicate route {entry.prefix} "
                f"(same prefix, table and metric as static.route[{seen[key]}]); "
                "expected one entry per prefix, with several via for ECMP"
            )
        else:
            seen[key] = i
    if lines:
        raise ConfigError(lines)


def load_config(path: str | Path) -> Config:
    """Read and validate ``path``."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        if m:
            msg = msg[: m.start()].strip()
            raise ConfigError([f"{path}:{m.group(1)}: bad TOML: {msg} (column {m.group(2)})"]) from None
        if "(at end of document)" in msg:
            last = text.count("\n") + (0 if text.endswith("\n") else 1)
            msg = msg.replace("(at end of document)", "").strip()
            raise ConfigError([f"{path}:{last}: bad TOML: {msg} (at end of file)"]) from None
        raise ConfigError([f"{path}: bad TOML: {msg}"]) from None
    return parse_config(data, str(path))


def route_locations(config: Config) -> dict[Route, str]:
    """Map each static route to its key path, for errors found at apply time."""
    return {r.to_route(): f"static.route[{i}]" for i, r in enumerate(config.static.route)}
