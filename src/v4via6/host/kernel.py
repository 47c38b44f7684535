"""The running kernel's version, parsed from its release string."""

from __future__ import annotations

import platform
import re

from v4via6.host.snapshot import KernelVersion

_RELEASE_RE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def parse_kernel_release(release: str) -> KernelVersion:
    """Parse ``6.18.44-fc-v782`` into KernelVersion(6, 18, 44); unknown text gives 0.0.0."""
    match = _RELEASE_RE.match(release.strip())
    if match is None:
        return KernelVersion(0, 0, 0, release.strip())
    major, minor, patch = match.groups()
    return KernelVersion(int(major), int(minor), int(patch or 0), release.strip())


def running_kernel() -> KernelVersion:
    """The version of the kernel this process runs on."""
    return parse_kernel_release(platform.release())
