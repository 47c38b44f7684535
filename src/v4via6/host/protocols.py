"""Route protocol numbers and their names, as iproute2 names them (rt_protos)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from v4via6.model import PROTO_NAME, PROTO_NUMBER

#: Names the kernel headers define; used when no rt_protos file is readable.
BUILTIN_PROTOCOLS: dict[int, str] = {
    0: "unspec",
    1: "redirect",
    2: "kernel",
    3: "boot",
    4: "static",
    8: "gated",
    9: "ra",
    10: "mrt",
    11: "zebra",
    12: "bird",
    13: "dnrouted",
    14: "xorp",
    15: "ntk",
    16: "dhcp",
    18: "keepalived",
    42: "babel",
    99: "openr",
    186: "bgp",
    187: "isis",
    188: "ospf",
    189: "rip",
    192: "eigrp",
    PROTO_NUMBER: PROTO_NAME,
}

DEFAULT_FILES = (Path("/etc/iproute2/rt_protos"), Path("/usr/share/iproute2/rt_protos"))
DEFAULT_DIRS = (Path("/etc/iproute2/rt_protos.d"), Path("/usr/share/iproute2/rt_protos.d"))


def parse_rt_protos(text: str) -> dict[int, str]:
    """Parse an rt_protos file: ``NUMBER NAME`` lines, ``#`` comments."""
    names: dict[int, str] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            try:
                names[int(fields[0], 0)] = fields[1]
            except ValueError:
                continue
    return names


def load_protocol_names(
    files: Iterable[Path] = DEFAULT_FILES, dirs: Iterable[Path] = DEFAULT_DIRS
) -> dict[int, str]:
    """Built-in names, overridden by whatever rt_protos files exist."""
    names = dict(BUILTIN_PROTOCOLS)
    paths = list(files)
    for directory in dirs:
        try:
            paths.extend(sorted(p for p in directory.iterdir() if p.suffix == ".conf"))
        except OSError:
            continue
    for path in paths:
        try:
            names.update(parse_rt_protos(path.read_text(encoding="utf-8", errors="replace")))
        except OSError:
            continue
    names[PROTO_NUMBER] = PROTO_NAME
    return names


def protocol_name(number: int, names: dict[int, str] | None = None) -> str:
    """The name for ``number``, or the number itself as text."""
    table = BUILTIN_PROTOCOLS if names is None else names
    return table.get(number, str(number))
