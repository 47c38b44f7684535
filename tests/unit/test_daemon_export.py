"""What we send peers: AS prepend, LOCAL_PREF/MED rules, next-hop self (RFC 4271, 2545, 8950)."""

from __future__ import annotations

from ipaddress import IPv6Address

from v4via6.bgp.wire import BgpNextHop, make_attributes
from v4via6.daemon.export import nexthop_self, outgoing_attributes, prepend
from v4via6.rib.plain_attrs import PlainAttrs

LL = IPv6Address("fe80::1")
G = IPv6Address("2001:db8::1")


def test_prepend_extends_first_sequence_or_adds_one() -> None:
    assert prepend((), 65010) == ((2, (65010,)),)
    assert prepend(((2, (65002, 65003)),), 65010) == ((2, (65010, 65002, 65003)),)
    assert prepend(((1, (65002, 65003)),), 65010) == ((2, (65010,)), (1, (65002, 65003)))
    full = ((2, tuple(range(1, 256))),)
    assert prepend(full, 65010)[0] == (2, (65010,))


def test_ebgp_prepends_and_drops_local_pref_and_foreign_med() -> None:
    received = make_attributes(origin=0, as_path=((2, (65002,)),), local_pref=200, med=50,
                               communities=(65002 << 16 | 7,))
    out = outgoing_attributes(received, local_as=65010, ebgp=True, local_origin=False)
    assert out.as_path == ((2, (65010, 65002)),)
    assert out.local_pref is None and out.med is None
    assert out.communities == (65002 << 16 | 7,)


def test_ebgp_keeps_med_of_our_own_routes() -> None:
    out = outgoing_attributes(PlainAttrs(med=10), local_as=65010, ebgp=True, local_origin=True)
    assert out.as_path == ((2, (65010,)),) and out.med == 10


def test_ibgp_keeps_path_and_sets_default_local_pref() -> None:
    received = make_attributes(origin=1, as_path=((2, (65002,)),), med=5)
    out = outgoing_attributes(received, local_as=65010, ebgp=False, local_origin=False)
    assert out.as_path == ((2, (65002,)),) and out.local_pref == 100 and out.med == 5 and out.origin == 1


def test_nexthop_self_shapes() -> None:
    # link-local-only link: LL only (encoded as 32 bytes [LL, LL] or 16 by the codec)
    assert nexthop_self(local_address=LL, link_local=LL, globals_on_link=[], shared_link=True) == BgpNextHop(None, LL)
    # a global on the link as well: [global, LL] (32 bytes)
    assert nexthop_self(local_address=LL, link_local=LL, globals_on_link=[G], shared_link=True) == BgpNextHop(G, LL)
    # a peer on another link never gets our link-local address (RFC 2545)
    assert nexthop_self(local_address=G, link_local=LL, globals_on_link=[], shared_link=False) == BgpNextHop(G, None)
    assert nexthop_self(local_address=None, link_local=LL, globals_on_link=[], shared_link=False) is None
