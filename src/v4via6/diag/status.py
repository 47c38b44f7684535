"""Check results: ok / warn / fail, each with a one-line fix, and the exit code."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


#: ``v4via6 check`` exit codes.
EXIT_OK = 0
EXIT_WARN = 1
EXIT_FAIL = 2


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of ``v4via6 check``."""

    check: str
    status: Status
    message: str
    fix: str | None = None
    subject: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status.value,
            "subject": self.subject,
            "message": self.message,
            "fix": self.fix,
        }

    def describe(self) -> str:
        line = f"{self.status.value:<4} {self.check}: {self.message}"
        if self.fix:
            line += f" -- fix: {self.fix}"
        return line


def exit_code(results: Iterable[CheckResult]) -> int:
    """0 when all ok, 1 with warnings, 2 with failures."""
    statuses = {r.status for r in results}
    if Status.FAIL in statuses:
        return EXIT_FAIL
    if Status.WARN in statuses:
        return EXIT_WARN
    return EXIT_OK
