"""RFC 4271 §6.8 / RFC 6286 collision resolution."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from v4via6.transport.collision import CollisionError, Keep, resolve_collision, router_id_value


def test_higher_local_id_keeps_our_outgoing_connection() -> None:
    # We are 203.0.113.10 > 192.0.2.1: the connection we opened survives.
    assert resolve_collision("203.0.113.10", "192.0.2.1", existing_is_outgoing=True) is Keep.EXISTING
    assert resolve_collision("203.0.113.10", "192.0.2.1", existing_is_outgoing=False) is Keep.NEW


def test_lower_local_id_keeps_the_peers_connection() -> None:
    assert resolve_collision("192.0.2.1", "203.0.113.10", existing_is_outgoing=True) is Keep.NEW
    assert resolve_collision("192.0.2.1", "203.0.113.10", existing_is_outgoing=False) is Keep.EXISTING


def test_ids_compare_as_unsigned_integers_not_strings() -> None:
    # "9.0.0.1" > "10.0.0.1" as strings, but not as numbers.
    assert resolve_collision("10.0.0.1", "9.0.0.1", existing_is_outgoing=True) is Keep.EXISTING
    assert resolve_collision(0xFFFFFFFF, 1, existing_is_outgoing=True) is Keep.EXISTING


def test_equal_ids_fall_back_to_as_number_rfc6286() -> None:
    assert resolve_collision("192.0.2.1", "192.0.2.1", True, local_as=65010, remote_as=65002) is Keep.EXISTING
    assert resolve_collision("192.0.2.1", "192.0.2.1", True, local_as=65002, remote_as=65010) is Keep.NEW
    with pytest.raises(CollisionError, match="identical"):
        resolve_collision("192.0.2.1", "192.0.2.1", True)


def test_bad_identifier_is_a_clear_error() -> None:
    with pytest.raises(CollisionError, match="dotted quad"):
        router_id_value("fe80::1")
    with pytest.raises(CollisionError, match="range"):
        router_id_value(1 << 32)


ids = st.integers(min_value=0, max_value=0xFFFFFFFF)


@given(ids, ids, st.booleans())
def test_both_sides_close_the_same_connection(a: int, b: int, a_existing_outgoing: bool) -> None:
    """Speaker A and speaker B, seeing the same two connections, agree which survives."""
    if a == b:
        return
    # The connection A sees as "existing" is the one B sees as "new"... unless both saw it first;
    # describe each connection by who opened it and compare the opener of the survivor.
    keep_a = resolve_collision(a, b, a_existing_outgoing)
    survivor_opened_by_a = a_existing_outgoing if keep_a is Keep.EXISTING else not a_existing_outgoing
    # From B's point of view, A's outgoing connection is B's incoming one.
    b_existing_outgoing = not a_existing_outgoing
    keep_b = resolve_collision(b, a, b_existing_outgoing)
    survivor_opened_by_b = b_existing_outgoing if keep_b is Keep.EXISTING else not b_existing_outgoing
    assert survivor_opened_by_a != survivor_opened_by_b
    assert survivor_opened_by_a == (a > b)
