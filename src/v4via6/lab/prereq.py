"""What the lab needs from the machine: tools on PATH and kernel support.

Each check returns a one-line problem (naming what is missing and how to get
it) or None, so the CLI can stop before creating anything.
"""

from __future__ import annotations

import os
import re
import shutil

#: IPv4 routes with an IPv6 gateway (RTA_VIA) arrived in Linux 5.2.
MIN_KERNEL = (5, 2)

#: Tool -> Debian package that provides it.
TOOLS = {
    "ip": "iproute2",
    "ping": "iputils-ping",
    "traceroute": "traceroute",
}


def missing_tool(names: tuple[str, ...]) -> str | None:
    """A problem line for the first tool in ``names`` that is not on PATH."""
    missing = [n for n in names if shutil.which(n) is None]
    if not missing:
        return None
    pkgs = sorted({TOOLS.get(n, n) for n in missing})
    return (
        f"missing command{'s' if len(missing) > 1 else ''}: {', '.join(missing)}"
        f" (install: apt-get install {' '.join(pkgs)})"
    )


def kernel_version(release: str | None = None) -> tuple[int, int]:
    """(major, minor) of the running kernel, or of ``release`` like '6.1.0-18-amd64'."""
    text = release if release is not None else os.uname().release
    m = re.match(r"^(\d+)\.(\d+)", text)
    if not m:
        return (0, 0)
    return (int(m.group(1)), int(m.group(2)))


def kernel_problem(release: str | None = None) -> str | None:
    """A problem line when the kernel cannot route IPv4 via IPv6 or lacks namespaces."""
    ver = kernel_version(release)
    if ver < MIN_KERNEL:
        have = release if release is not None else os.uname().release
        return (
            f"kernel {have} is too old: IPv4 routes via IPv6 next hops need Linux"
            f" >= {MIN_KERNEL[0]}.{MIN_KERNEL[1]}"
        )
    if release is None and not os.path.exists("/proc/self/ns/net"):
        return "kernel has no network namespace support (CONFIG_NET_NS)"
    return None


def problems(tools: tuple[str, ...] = ("ip",)) -> list[str]:
    """Every problem that stops the lab on this machine (empty list: all fine)."""
    out: list[str] = []
    for check in (missing_tool(tools), kernel_problem()):
        if check:
            out.append(check)
    return out
