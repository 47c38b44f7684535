"""Reverse-path filter facts: the effective mode of an interface and the fix text.

The kernel uses max(conf.all.rp_filter, conf.IF.rp_filter). On an interface
without any IPv4 address, a packet whose reverse route leaves by another
interface is dropped in strict *and* loose mode ("Invalid cross-device link").
"""

from __future__ import annotations

from v4via6.host.snapshot import HostSnapshot, sysctl_display, sysctl_path

RP_MODES = {0: "off", 1: "strict", 2: "loose"}


def all_key() -> str:
    return sysctl_path("net", "ipv4", "conf", "all", "rp_filter")


def interface_key(ifname: str) -> str:
    return sysctl_path("net", "ipv4", "conf", ifname, "rp_filter")


def effective_rp_filter(snapshot: HostSnapshot, ifname: str) -> int:
    """max(conf.all, conf.IF); missing values count as 0."""
    return max(snapshot.sysctl_int(all_key()) or 0, snapshot.sysctl_int(interface_key(ifname)) or 0)


def mode_name(value: int) -> str:
    return RP_MODES.get(value, str(value))


def describe_setting(snapshot: HostSnapshot, ifname: str) -> str:
    """``loose (conf.all=2, conf.eth0=0)``."""
    eff = effective_rp_filter(snapshot, ifname)
    all_v = snapshot.sysctl_int(all_key()) or 0
    if_v = snapshot.sysctl_int(interface_key(ifname)) or 0
    return f"{mode_name(eff)} (max of conf.all={all_v}, conf.{ifname}={if_v})"


def trap_fix(ifname: str) -> str:
    """The one-line fix for the rp_filter trap on ``ifname``."""
    return (
        f"sysctl -w {sysctl_display(all_key())}=0 {sysctl_display(interface_key(ifname))}=0"
        f" (the kernel uses the larger of the two), or give {ifname} an IPv4 address"
    )
