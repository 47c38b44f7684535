"""Unnumbered discovery: which neighbour-table rows count, dedupe of sightings, RaSender argument checks."""

from __future__ import annotations

import asyncio

import pytest

from v4via6.transport import discovery
from v4via6.transport.discovery import (
    NUD_DELAY,
    NUD_FAILED,
    NUD_INCOMPLETE,
    NUD_NOARP,
    NUD_PERMANENT,
    NUD_PROBE,
    NUD_REACHABLE,
    NUD_STALE,
    DiscoveredPeer,
    NeighbourEntry,
    PeerDiscovery,
    RaSender,
    usable_link_local_neighbours,
)


def test_only_usable_link_local_entries_on_the_interface() -> None:
    entries = [
        NeighbourEntry("fe80::2", 5, NUD_REACHABLE, lladdr="02:00:5e:00:53:02"),
        NeighbourEntry("fe80::1", 5, NUD_STALE),
        NeighbourEntry("fe80::3", 5, NUD_DELAY),
        NeighbourEntry("fe80::4", 5, NUD_PROBE),
        NeighbourEntry("fe80::5", 5, NUD_PERMANENT),
        NeighbourEntry("fe80::6", 5, NUD_FAILED),
        NeighbourEntry("fe80::7", 5, NUD_INCOMPLETE),
        NeighbourEntry("ff02::1", 5, NUD_NOARP),
        NeighbourEntry("2001:db8::1", 5, NUD_REACHABLE),
        NeighbourEntry("fe80::8", 6, NUD_REACHABLE),  # other interface
        NeighbourEntry("not-an-address", 5, NUD_REACHABLE),
    ]
    got = [e.address for e in usable_link_local_neighbours(entries, 5)]
    assert got == ["fe80::1", "fe80::2", "fe80::3", "fe80::4", "fe80::5"]


def test_sightings_are_reported_once_then_again_after_forget_time() -> None:
    async def body() -> None:
        reported: list[DiscoveredPeer] = []
        d = PeerDiscovery("lo", reported.append, forget_after=0.05)
        d._own = {"fe80::1"}
        peer = DiscoveredPeer("fe80::2", "lo", "ra")
        d._seen(peer)
        d._seen(DiscoveredPeer("fe80::2", "lo", "neighbour"))
        d._seen(DiscoveredPeer("fe80::1", "lo", "neighbour"))  # our own address: ignored
        assert reported == [peer]
        d._last_seen["fe80::2"] -= 0.06  # unseen for longer than forget_after, without waiting
        d._seen(peer)
        assert reported == [peer, peer]
        assert d.peers == {"fe80::2": peer}

    asyncio.run(body())


def test_callback_errors_do_not_escape() -> None:
    def boom(peer: DiscoveredPeer) -> None:
        raise RuntimeError("daemon bug")

    async def body() -> None:
        d = PeerDiscovery("lo", boom)
        d._seen(DiscoveredPeer("fe80::2", "lo", "ra"))
        assert "fe80::2" in d.peers

    asyncio.run(body())


def test_ra_sender_rejects_bad_interval_and_builds_lifetime_zero_advert() -> None:
    with pytest.raises(ValueError, match="interval"):
        RaSender("lo", interval=0)
    adv = RaSender("lo", interval=5).advert()
    assert adv[0] == 134 and adv[6:8] == b"\x00\x00"  # router lifetime 0
    assert discovery.MIN_DELAY_BETWEEN_RAS == 3.0
