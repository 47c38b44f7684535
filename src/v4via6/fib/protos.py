"""Route protocol numbers <-> names, as iproute2 names them.

Reads ``/etc/iproute2/rt_protos`` and every ``*.conf`` in ``rt_protos.d`` (later
files win, as in iproute2; ``/usr/share/iproute2`` is the fallback location for
newer iproute2 layouts). v4via6's own number is always known by its name.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from v4via6.model import PROTO_NAME, PROTO_NUMBER

DEFAULT_DIRS = (Path("/usr/share/iproute2"), Path("/etc/iproute2"))

#: The kernel's own numbers (include/uapi/linux/rtnetlink.h), used when no file exists.
BUILTIN = {0: "unspec", 1: "redirect", 2: "kernel", 3: "boot", 4: "static"}


def parse_rt_protos(text: str) -> dict[int, str]:
    """Parse one rt_protos file: ``<number> <name>`` per line, ``#`` comments."""
    table: dict[int, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) < 2:
            continue
        try:
            number = int(fields[0], 0)
        except ValueError:
            continue
        if 0 <= number <= 255:
            table[number] = fields[1]
    return table


def load_protos(dirs: Iterable[Path] = DEFAULT_DIRS) -> dict[int, str]:
    """Number -> name from every rt_protos file in ``dirs`` (later dirs win)."""
    table = dict(BUILTIN)
    for base in dirs:
        files = [base / "rt_protos"]
        sub = base / "rt_protos.d"
        if sub.is_dir():
            files += sorted(sub.glob("*.conf"))
        for path in files:
            try:
                table.update(parse_rt_protos(path.read_text(encoding="utf-8", errors="replace")))
            except OSError:
                continue
    table.setdefault(PROTO_NUMBER, PROTO_NAME)
    return table


@lru_cache(maxsize=1)
def _system_table() -> dict[int, str]:
    return load_protos()


def proto_name(number: int) -> str:
    """The iproute2 name of a protocol number, or the number as text when unnamed."""
    return _system_table().get(number, str(number))


def proto_number(name: str) -> int:
    """The number of a protocol name (or decimal text); ValueError when unknown."""
    if name.isdigit():
        return int(name)
    for number, known in _system_table().items():
        if known == name:
            return number
    raise ValueError(f"unknown route protocol {name!r} (see /etc/iproute2/rt_protos)")
