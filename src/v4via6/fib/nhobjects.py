"""Bookkeeping of v4via6's own kernel nexthop objects: ids, meaning, groups.

Pure data, no I/O. v4via6's objects carry protocol PROTO_NUMBER and ids in
``NH_ID_FIRST..NH_ID_LAST`` (0x46000000..0x46FFFFFF); ids other software
already uses are skipped. A single object is keyed by (ifindex, family,
gateway bytes); a group by its sorted ``(member id, weight)`` pairs.
"""

from __future__ import annotations

from collections.abc import Iterable

from v4via6.fib.nlmsg import NexthopMsg
from v4via6.model import PROTO_NUMBER

NH_ID_FIRST = 0x46000000
NH_ID_LAST = 0x46FFFFFF

HopKey = tuple[int, int, bytes]  # (ifindex, family, gateway): one single object
GroupKey = tuple[tuple[int, int], ...]  # ((member id, weight), ...), sorted


class NoFreeId(Exception):
    """Every id in the v4via6 range is taken."""


class NexthopRegistry:
    """Which own objects exist and what they stand for, plus every id in use."""

    def __init__(self) -> None:
        self.single: dict[HopKey, int] = {}
        self.single_of: dict[int, HopKey] = {}
        self.group: dict[GroupKey, int] = {}
        self.members: dict[int, GroupKey] = {}
        self.used_ids: set[int] = set()
        self._next_id = NH_ID_FIRST

    def load(self, objects: Iterable[NexthopMsg]) -> None:
        """Start over from a dump of every nexthop object in the kernel."""
        self.single.clear()
        self.single_of.clear()
        self.group.clear()
        self.members.clear()
        self.used_ids.clear()
        for nh in objects:
            self.used_ids.add(nh.id)
            if nh.protocol != PROTO_NUMBER:
                continue
            if nh.hop is not None:
                self.add_single((nh.hop.ifindex, nh.hop.family, nh.hop.gateway), nh.id)
            elif nh.group:
                self.add_group(tuple(sorted(nh.group)), nh.id)

    def alloc_id(self) -> int:
        """A free id from the v4via6 range (marked used)."""
        for _ in range(NH_ID_LAST - NH_ID_FIRST + 1):
            nh_id = self._next_id
            self._next_id = nh_id + 1 if nh_id < NH_ID_LAST else NH_ID_FIRST
            if nh_id not in self.used_ids:
                self.used_ids.add(nh_id)
                return nh_id
        raise NoFreeId("no free nexthop object id left in the v4via6 range")

    def add_single(self, key: HopKey, nh_id: int) -> None:
        self.used_ids.add(nh_id)
        self.single.setdefault(key, nh_id)
        self.single_of[nh_id] = key

    def add_group(self, key: GroupKey, nh_id: int) -> None:
        self.used_ids.add(nh_id)
        self.group.setdefault(key, nh_id)
        self.members[nh_id] = key

    def forget(self, nh_id: int) -> None:
        """The object is gone from the kernel (or was never created)."""
        self.used_ids.discard(nh_id)
        key = self.single_of.pop(nh_id, None)
        if key is not None and self.single.get(key) == nh_id:
            del self.single[key]
        gkey = self.members.pop(nh_id, None)
        if gkey is not None and self.group.get(gkey) == nh_id:
            del self.group[gkey]

    def groups_with(self, member: int) -> list[int]:
        return [g for g, members in self.members.items() if any(m == member for m, _ in members)]

    def remove_member(self, member: int) -> set[int]:
        """What the kernel does when object ``member`` is deleted: groups shrink.

        Returns the ids that vanish with it: ``member`` and the groups left empty.
        """
        gone = {member}
        for g in self.groups_with(member):
            old = self.members[g]
            rest = tuple(m for m in old if m[0] != member)
            if not rest:
                gone.add(g)
                continue
            if self.group.get(old) == g:
                del self.group[old]
            self.members[g] = rest
            self.group.setdefault(rest, g)
        for nh_id in gone:
            self.forget(nh_id)
        return gone

    def unused(self, refs: dict[int, int]) -> list[int]:
        """Own objects no route uses directly nor through a live group; groups first."""
        dead_groups = [g for g in self.members if refs.get(g, 0) <= 0]
        dead = set(dead_groups)
        live_members = {
            m for g, members in self.members.items() if g not in dead for m, _ in members
        }
        singles = [
            s for s in self.single_of if refs.get(s, 0) <= 0 and s not in live_members
        ]
        return [*dead_groups, *singles]

    def with_members(self, ids: Iterable[int]) -> set[int]:
        """``ids`` plus the members of those that are own groups."""
        out = set(ids)
        for g in list(out):
            out.update(m for m, _ in self.members.get(g, ()))
        return out

    def all_own(self) -> list[int]:
        """Every own object id, groups first (a member cannot go before its group)."""
        return [*self.members, *self.single_of]
