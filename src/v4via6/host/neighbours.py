"""Neighbour (NUD) states: the kernel's bit values and their ``ip neigh`` names."""

from __future__ import annotations

NUD_STATES: dict[int, str] = {
    0x01: "INCOMPLETE",
    0x02: "REACHABLE",
    0x04: "STALE",
    0x08: "DELAY",
    0x10: "PROBE",
    0x20: "FAILED",
    0x40: "NOARP",
    0x80: "PERMANENT",
}

#: States in which the kernel has a usable link-layer address.
USABLE_STATES = frozenset({"REACHABLE", "STALE", "DELAY", "PROBE", "PERMANENT", "NOARP"})

#: Shown when there is no neighbour entry at all.
NO_ENTRY = "none"


def nud_state_name(state: int) -> str:
    """``REACHABLE``, ``STALE`` ... for a kernel ``ndm_state`` value (``NONE`` for 0)."""
    names = [name for bit, name in NUD_STATES.items() if state & bit]
    return "|".join(names) if names else "NONE"
