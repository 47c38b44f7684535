"""NexthopRegistry: id allocation, groups shrinking like the kernel's, garbage."""

from __future__ import annotations

from v4via6.fib.nhobjects import NH_ID_FIRST, NexthopRegistry
from v4via6.fib.nlmsg import AF_INET6, HopSpec, NexthopMsg

GW = b"\xfe\x80" + b"\0" * 13


def single(nh_id: int, last: int, protocol: int = 46) -> NexthopMsg:
    return NexthopMsg(nh_id, protocol, HopSpec(2, AF_INET6, GW + bytes([last])), (), False)


def test_load_keeps_own_objects_and_every_used_id() -> None:
    reg = NexthopRegistry()
    reg.load([
        single(NH_ID_FIRST, 1, protocol=11),  # zebra's, on our first id
        single(NH_ID_FIRST + 1, 2),
        NexthopMsg(NH_ID_FIRST + 3, 46, None, ((NH_ID_FIRST + 1, 2),), False),
    ])
    assert reg.single == {(2, AF_INET6, GW + b"\x02"): NH_ID_FIRST + 1}
    assert reg.members == {NH_ID_FIRST + 3: ((NH_ID_FIRST + 1, 2),)}
    assert [reg.alloc_id(), reg.alloc_id()] == [NH_ID_FIRST + 2, NH_ID_FIRST + 4]


def test_removing_a_member_shrinks_groups_and_drops_empty_ones() -> None:
    reg = NexthopRegistry()
    a, b, g_ab, g_a = NH_ID_FIRST + 1, NH_ID_FIRST + 2, NH_ID_FIRST + 3, NH_ID_FIRST + 4
    reg.add_single((2, AF_INET6, GW + b"\x01"), a)
    reg.add_single((2, AF_INET6, GW + b"\x02"), b)
    reg.add_group(((a, 1), (b, 3)), g_ab)
    reg.add_group(((a, 5),), g_a)
    assert sorted(reg.groups_with(a)) == [g_ab, g_a]
    assert reg.remove_member(a) == {a, g_a}
    assert reg.members == {g_ab: ((b, 3),)}
    assert reg.group == {((b, 3),): g_ab}
    assert a not in reg.used_ids and g_a not in reg.used_ids


def test_unused_lists_groups_first_and_keeps_members_of_live_groups() -> None:
    reg = NexthopRegistry()
    a, b, c, g = (NH_ID_FIRST + i for i in range(1, 5))
    for i, nh_id in enumerate((a, b, c)):
        reg.add_single((2, AF_INET6, GW + bytes([i])), nh_id)
    reg.add_group(((a, 1), (b, 1)), g)
    assert reg.unused({g: 1}) == [c]  # a and b live on through the group
    assert reg.unused({}) == [g, a, b, c]
    assert reg.with_members({g}) == {g, a, b}
    assert reg.all_own() == [g, a, b, c]
