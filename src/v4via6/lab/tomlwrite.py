"""A small TOML writer for the configs the lab generates (no extra dependency).

Handles what v4via6 configs contain: tables, arrays of tables, strings,
integers, floats, booleans and arrays of scalars or inline tables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n",
            "\f": "\\f", "\r": "\\r"}


def _string(s: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _key(k: str) -> str:
    return k if _BARE_KEY.match(k) else _string(k)


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, Mapping):
        inner = ", ".join(f"{_key(str(k))} = {_scalar(x)}" for k, x in v.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list | tuple) and bool(v) and all(isinstance(x, Mapping) for x in v)


def dumps(data: Mapping[str, Any]) -> str:
    """Serialise ``data`` as TOML text that ``tomllib.loads`` reads back equal."""
    out: list[str] = []
    _table(data, [], out)
    return "\n".join(out).lstrip("\n") + "\n"


def _table(data: Mapping[str, Any], path: list[str], out: list[str]) -> None:
    simple = [(k, v) for k, v in data.items() if not isinstance(v, Mapping)]
    simple = [(k, v) for k, v in simple if not _is_table_array(v)]
    for k, v in simple:
        out.append(f"{_key(str(k))} = {_scalar(v)}")
    for k, v in data.items():
        sub = [*path, _key(str(k))]
        if isinstance(v, Mapping):
            out.append("")
            out.append(f"[{'.'.join(sub)}]")
            _table(v, sub, out)
        elif _is_table_array(v):
            for item in v:
                out.append("")
                out.append(f"[[{'.'.join(sub)}]]")
                _table(item, sub, out)
