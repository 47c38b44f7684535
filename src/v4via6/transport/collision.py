"""BGP connection collision resolution (RFC 4271 §6.8, RFC 6286 §2.3) as a pure function.

When two TCP connections exist to the same peer (one we opened, one it opened),
both sides must close the same one. The rule: the connection opened by the
speaker with the higher BGP Identifier survives; with equal identifiers
(allowed by RFC 6286 between different ASes) the speaker with the larger AS
number wins.
"""

from __future__ import annotations

import enum
import ipaddress


class Keep(enum.Enum):
    """Which of the two colliding connections to keep (the other is closed with a Cease)."""

    EXISTING = "existing"
    NEW = "new"


class Direction(enum.Enum):
    """Who opened a connection."""

    OUTGOING = "outgoing"  # we connected to the peer
    INCOMING = "incoming"  # the peer connected to our listener


class CollisionError(ValueError):
    """Collision cannot be resolved from the data given (bad or identical identifiers)."""


def router_id_value(router_id: str | int) -> int:
    """A BGP Identifier as an unsigned 32-bit integer (dotted quad or int)."""
    if isinstance(router_id, int):
        if not 0 <= router_id <= 0xFFFFFFFF:
            raise CollisionError(f"BGP identifier out of range: {router_id}")
        return router_id
    try:
        return int(ipaddress.IPv4Address(router_id))
    except ValueError:
        raise CollisionError(f"not a BGP identifier (dotted quad): {router_id!r}") from None


def resolve_collision(
    local_id: str | int,
    remote_id: str | int,
    existing_is_outgoing: bool,
    *,
    local_as: int | None = None,
    remote_as: int | None = None,
) -> Keep:
    """Decide which connection survives a collision.

    ``existing_is_outgoing`` says who opened the connection that was there
    first; the new one was opened by the other side. The connection opened by
    the side with the higher identifier is kept (RFC 4271 §6.8); equal
    identifiers fall back to the larger AS number (RFC 6286 §2.3).
    """
    lid = router_id_value(local_id)
    rid = router_id_value(remote_id)
    if lid != rid:
        local_wins = lid > rid
    elif local_as is not None and remote_as is not None and local_as != remote_as:
        local_wins = local_as > remote_as
    else:
        raise CollisionError(f"identical BGP identifiers {local_id} and same AS: collision cannot be resolved")
    # Keep the connection the winner opened: ours if local_wins, else the peer's.
    keep_outgoing = local_wins
    return Keep.EXISTING if existing_is_outgoing == keep_outgoing else Keep.NEW
