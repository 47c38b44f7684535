"""Test-wide rules: lab tests need root and skip with a reason elsewhere.

In CI (``CI`` set) as root, a skipped lab test is a failure: the lab tests are
the ones that meet the real kernel and real peers, and must run there.
"""

from __future__ import annotations

import os
import shutil

import pytest

_skipped_lab: list[str] = []


def _lab_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "lab test needs root (network namespaces); run as root, as CI does"
    if shutil.which("ip") is None:
        return "lab test needs the 'ip' command (Debian package iproute2)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _lab_unavailable()
    if reason is None:
        return
    for item in items:
        if "lab" in item.keywords or "interop" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and ("lab" in report.keywords or "interop" in report.keywords):
        _skipped_lab.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI") and os.geteuid() == 0 and _skipped_lab:
        print(f"\nCI as root: {len(_skipped_lab)} lab test(s) were skipped; that is a failure:")
        for nodeid in _skipped_lab:
            print(f"  skipped: {nodeid}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
