"""Read sysctls straight from /proc/sys (read-only; works without root).

/proc/sys/net shows the values of the reading process's network namespace,
so ``ip netns exec NS v4via6 check`` sees that namespace's settings.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from v4via6.host.snapshot import sysctl_path

PROC_SYS = Path("/proc/sys")

#: Global keys every snapshot reads.
GLOBAL_KEYS = (
    sysctl_path("net", "ipv4", "ip_forward"),
    sysctl_path("net", "ipv4", "conf", "all", "forwarding"),
    sysctl_path("net", "ipv4", "conf", "all", "rp_filter"),
    sysctl_path("net", "ipv4", "conf", "default", "rp_filter"),
    sysctl_path("net", "ipv4", "icmp_errors_use_inbound_ifaddr"),
    sysctl_path("net", "ipv6", "conf", "all", "forwarding"),
    sysctl_path("net", "ipv6", "conf", "all", "disable_ipv6"),
)

#: Per-interface keys: (family, leaf).
INTERFACE_KEYS = (
    ("ipv4", "rp_filter"),
    ("ipv4", "forwarding"),
    ("ipv6", "disable_ipv6"),
    ("ipv6", "forwarding"),
)


def read_sysctl(path: str, root: Path = PROC_SYS) -> str | None:
    """The value of ``path`` (``net/ipv4/ip_forward``), or None when it does not exist."""
    try:
        return (root / path).read_text(encoding="ascii").strip()
    except OSError:
        return None


def read_sysctls(ifnames: Iterable[str], root: Path = PROC_SYS) -> dict[str, str]:
    """The global keys plus the per-interface keys of every interface in ``ifnames``."""
    keys = list(GLOBAL_KEYS)
    for ifname in ifnames:
        keys.extend(sysctl_path("net", fam, "conf", ifname, leaf) for fam, leaf in INTERFACE_KEYS)
    values: dict[str, str] = {}
    for key in keys:
        value = read_sysctl(key, root)
        if value is not None:
            values[key] = value
    return values
