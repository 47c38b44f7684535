"""Decode problems as data: RFC 7606 actions, verdicts and the session-reset error.

Every problem the codec finds in bytes from a peer is a :class:`Verdict`. The
milder ones (attribute-discard, treat-as-withdraw, afi-safi-disable) ride on the
decoded :class:`~v4via6.bgp.wire.messages.Update`; a session reset is raised as
:class:`WireError`, whose verdict carries the NOTIFICATION code, subcode and data
(the data is never longer than what was received).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    """RFC 7606 error-handling approaches, mildest first."""

    ATTRIBUTE_DISCARD = "attribute-discard"
    TREAT_AS_WITHDRAW = "treat-as-withdraw"
    AFI_SAFI_DISABLE = "afi-safi-disable"
    SESSION_RESET = "session-reset"


_SEVERITY = {a: i for i, a in enumerate(Action)}


def severity(action: Action) -> int:
    """Order actions: a bigger number is a stronger approach."""
    return _SEVERITY[action]


# NOTIFICATION error codes (RFC 4271 §4.5) and the subcodes the codec uses.
MESSAGE_HEADER_ERROR = 1
OPEN_MESSAGE_ERROR = 2
UPDATE_MESSAGE_ERROR = 3
HOLD_TIMER_EXPIRED = 4
FSM_ERROR = 5
CEASE = 6
ROUTE_REFRESH_ERROR = 7

HDR_NOT_SYNCHRONIZED = 1
HDR_BAD_LENGTH = 2
HDR_BAD_TYPE = 3

OPEN_UNSPECIFIC = 0
OPEN_BAD_VERSION = 1
OPEN_BAD_PEER_AS = 2
OPEN_BAD_BGP_ID = 3
OPEN_UNSUPPORTED_PARAM = 4
OPEN_BAD_HOLD_TIME = 6
OPEN_UNSUPPORTED_CAPABILITY = 7

UPD_MALFORMED_ATTR_LIST = 1
UPD_UNRECOGNIZED_WELL_KNOWN = 2
UPD_MISSING_WELL_KNOWN = 3
UPD_ATTR_FLAGS_ERROR = 4
UPD_ATTR_LENGTH_ERROR = 5
UPD_INVALID_ORIGIN = 6
UPD_INVALID_NEXT_HOP = 8
UPD_OPTIONAL_ATTR_ERROR = 9
UPD_INVALID_NETWORK = 10
UPD_MALFORMED_AS_PATH = 11


@dataclass(frozen=True, slots=True)
class Verdict:
    """One classified decode problem.

    ``attr_type`` names the path attribute concerned (None for NLRI/framing).
    ``afi_safi`` is set for afi-safi-disable and for per-family problems.
    ``code``/``subcode``/``data`` are the NOTIFICATION to send for a session
    reset (0/0/b"" otherwise).
    """

    action: Action
    reason: str
    attr_type: int | None = None
    code: int = 0
    subcode: int = 0
    data: bytes = b""
    afi_safi: tuple[int, int] | None = None

    def describe(self) -> str:
        """One line, key=value."""
        parts = [f"action={self.action.value}", f"reason={self.reason!r}"]
        if self.attr_type is not None:
            parts.append(f"attr={self.attr_type}")
        if self.afi_safi is not None:
            parts.append(f"afi={self.afi_safi[0]} safi={self.afi_safi[1]}")
        if self.action is Action.SESSION_RESET:
            parts.append(f"notification={self.code}/{self.subcode}")
            if self.data:
                parts.append(f"data={self.data.hex()}")
        return " ".join(parts)


class WireError(Exception):
    """Bytes from a peer that force a session reset; ``verdict`` holds the NOTIFICATION."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.describe())
        self.verdict = verdict

    @property
    def code(self) -> int:
        return self.verdict.code

    @property
    def subcode(self) -> int:
        return self.verdict.subcode

    @property
    def data(self) -> bytes:
        return self.verdict.data


def reset(code: int, subcode: int, reason: str, data: bytes = b"",
          attr_type: int | None = None) -> WireError:
    """Build (not raise) a session-reset error."""
    return WireError(Verdict(Action.SESSION_RESET, reason, attr_type, code, subcode, bytes(data)))


class EncodeError(ValueError):
    """A message cannot be encoded as asked (a value out of range, a missing capability)."""
