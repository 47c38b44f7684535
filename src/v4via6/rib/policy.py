"""Import/export policy: parse the config form, match routes, apply set actions.

Config forms (documented in docs/policy.md)::

    import = "all"        # accept everything unchanged
    import = "none"       # accept nothing
    import = { prefix = ["0.0.0.0/0 le 24"], as_path_len_max = 10,
               community = ["65000:1"], set_local_pref = 200, set_med = 10,
               add_community = ["65010:7"] }

A table accepts a route when every condition given matches (conditions are
ANDed; inside one list, any entry may match) and then applies its set actions;
routes that do not match are rejected. Set actions build a new attribute object
through a ``dataclasses.replace``-compatible callable; the channel interns the
result. RFC 8212: an eBGP peer with no policy imports and exports nothing.
Errors are one-line ValueErrors naming the key and what was expected.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from ipaddress import ip_network
from typing import Any, cast

from v4via6.rib.attrs import LargeCommunity, PathAttrs, parse_community
from v4via6.rib.keys import FAMILY_BITS

#: ``replace(attrs, local_pref=200)`` -> new attrs; ``dataclasses.replace`` fits.
AttrsReplacer = Callable[..., PathAttrs]

MAX_U32 = 0xFFFFFFFF
POLICY_KEYS = (
    "prefix",
    "as_path_len_max",
    "community",
    "set_local_pref",
    "set_med",
    "add_community",
)


def replace_attrs(attrs: PathAttrs, **changes: Any) -> PathAttrs:
    """Default replacer: ``attrs.replace(**changes)`` when offered, else ``dataclasses.replace``."""
    method = getattr(attrs, "replace", None)
    if callable(method):
        return cast(PathAttrs, method(**changes))
    return cast(PathAttrs, dataclasses.replace(cast(Any, attrs), **changes))


@dataclass(frozen=True, slots=True)
class PrefixEntry:
    """``NET/LEN [ge A] [le B]``: prefixes inside NET/LEN whose length is in A..B."""

    family: int
    network: int
    length: int
    ge: int
    le: int
    text: str

    def matches(self, key: int) -> bool:
        plen = key & 0xFF
        if plen < self.ge or plen > self.le:
            return False
        shift = FAMILY_BITS[self.family] - self.length
        return (key >> 8) >> shift == self.network >> shift


def parse_prefix_entry(text: object, key: str) -> PrefixEntry:
    expected = f"{key}: expected 'NET/LEN [ge N] [le M]' like '198.51.100.0/24 le 32', got {text!r}"
    if not isinstance(text, str):
        raise ValueError(expected)
    tokens = text.split()
    if not tokens or len(tokens) not in (1, 3, 5):
        raise ValueError(expected)
    try:
        net = ip_network(tokens[0], strict=True)
    except ValueError as exc:
        if "host bits set" in str(exc):
            fixed = ip_network(tokens[0], strict=False)
            raise ValueError(f"{key}: {tokens[0]!r} has host bits set (did you mean {fixed}?)") from None
        raise ValueError(expected) from None
    bits = net.max_prefixlen
    bounds: dict[str, int] = {}
    for word, num in zip(tokens[1::2], tokens[2::2], strict=True):
        if word not in ("ge", "le") or word in bounds or not num.isdigit():
            raise ValueError(expected)
        bounds[word] = int(num)
    length = net.prefixlen
    ge = bounds.get("ge", length)
    le = bounds.get("le", bits if "ge" in bounds else length)
    if not length <= ge <= le <= bits:
        raise ValueError(f"{key}: {text!r} needs {length} <= ge <= le <= {bits} (got ge {ge}, le {le})")
    return PrefixEntry(net.version, int(net.network_address), length, ge, le, text.strip())


class PrefixList:
    """Ordered prefix entries; a key matches when any entry of its family matches."""

    __slots__ = ("_compiled", "entries")

    def __init__(self, entries: Iterable[PrefixEntry]) -> None:
        self.entries = tuple(entries)
        self._compiled: dict[int, tuple[tuple[int, int, int, int], ...]] = {
            fam: tuple(
                (bits - e.length, e.network >> (bits - e.length), e.ge, e.le) for e in self.entries if e.family == fam
            )
            for fam, bits in FAMILY_BITS.items()
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrefixList) and other.entries == self.entries

    def __hash__(self) -> int:
        return hash(self.entries)

    def __repr__(self) -> str:
        return f"PrefixList({[e.text for e in self.entries]!r})"

    def matches(self, key: int, family: int = 4) -> bool:
        plen = key & 0xFF
        addr = key >> 8
        return any(ge <= plen <= le and addr >> shift == net for shift, net, ge, le in self._compiled[family])

    def split(self, keys: Iterable[int], family: int = 4) -> tuple[list[int], list[int]]:
        """(matching keys, other keys), one pass."""
        entries = self._compiled[family]
        hit: list[int] = []
        miss: list[int] = []
        for k in keys:
            plen = k & 0xFF
            addr = k >> 8
            for shift, net, ge, le in entries:
                if ge <= plen <= le and addr >> shift == net:
                    hit.append(k)
                    break
            else:
                miss.append(k)
        return hit, miss


@dataclass(frozen=True, slots=True)
class Policy:
    """One import or export policy. ``accept=False`` rejects everything ("none")."""

    accept: bool = True
    prefix: PrefixList | None = None
    as_path_len_max: int | None = None
    community: tuple[int, ...] = ()
    large_community: tuple[LargeCommunity, ...] = ()
    set_local_pref: int | None = None
    set_med: int | None = None
    add_community: tuple[int, ...] = ()
    add_large_community: tuple[LargeCommunity, ...] = ()
    text: str = "all"

    @property
    def passthrough(self) -> bool:
        """Accepts every route unchanged (so no post-policy copy is needed)."""
        return self.accept and not self.matches_anything_specific and not self.has_actions

    @property
    def matches_anything_specific(self) -> bool:
        return bool(
            self.prefix is not None or self.as_path_len_max is not None or self.community or self.large_community
        )

    @property
    def has_actions(self) -> bool:
        return bool(
            self.set_local_pref is not None
            or self.set_med is not None
            or self.add_community
            or self.add_large_community
        )

    def matches_attrs(self, attrs: PathAttrs) -> bool:
        if not self.accept:
            return False
        if self.as_path_len_max is not None and attrs.as_path_len > self.as_path_len_max:
            return False
        if self.community or self.large_community:
            std = attrs.communities
            large = attrs.large_communities
            if not any(c in std for c in self.community) and not any(c in large for c in self.large_community):
                return False
        return True

    def apply_attrs(self, attrs: PathAttrs, replace: AttrsReplacer = replace_attrs) -> PathAttrs | None:
        """The attribute part of the policy: new attrs (same object if unchanged) or None."""
        if not self.matches_attrs(attrs):
            return None
        if not self.has_actions:
            return attrs
        changes: dict[str, object] = {}
        if self.set_local_pref is not None and attrs.local_pref != self.set_local_pref:
            changes["local_pref"] = self.set_local_pref
        if self.set_med is not None and attrs.med != self.set_med:
            changes["med"] = self.set_med
        extra = tuple(c for c in self.add_community if c not in attrs.communities)
        if extra:
            changes["communities"] = attrs.communities + extra
        extra_large = tuple(c for c in self.add_large_community if c not in attrs.large_communities)
        if extra_large:
            changes["large_communities"] = attrs.large_communities + extra_large
        return replace(attrs, **changes) if changes else attrs

    def key_ok(self, key: int, family: int = 4) -> bool:
        return self.prefix is None or self.prefix.matches(key, family)

    def split_keys(self, keys: list[int], family: int = 4) -> tuple[list[int], list[int]]:
        """(keys the prefix part accepts, keys it rejects)."""
        if self.prefix is None:
            return keys, []
        return self.prefix.split(keys, family)


ACCEPT_ALL = Policy(True, text="all")
REJECT_ALL = Policy(False, text="none")


def _int_field(table: Mapping[str, object], name: str, key: str, low: int, high: int) -> int | None:
    value = table.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{key}.{name}: expected an integer {low}..{high}, got {value!r}")
    return value


def _str_list(table: Mapping[str, object], name: str, key: str) -> list[str]:
    value = table.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key}.{name}: expected a list of strings, got {value!r}")
    return cast(list[str], value)


def _communities(
    table: Mapping[str, object], name: str, key: str
) -> tuple[tuple[int, ...], tuple[LargeCommunity, ...]]:
    std: list[int] = []
    large: list[LargeCommunity] = []
    for i, text in enumerate(_str_list(table, name, key)):
        value = parse_community(text, f"{key}.{name}[{i}]")
        if isinstance(value, tuple):
            large.append(value)
        else:
            std.append(value)
    return tuple(std), tuple(large)


def parse_policy(value: object, key: str = "import") -> Policy:
    """Parse ``"all"``, ``"none"`` or a table; ``key`` names the setting in errors."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word == "all":
            return ACCEPT_ALL
        if word == "none":
            return REJECT_ALL
    if not isinstance(value, Mapping):
        raise ValueError(
            f'{key}: expected "all", "none" or a table like {{ prefix = ["0.0.0.0/0 le 24"] }}, got {value!r}'
        )
    table = cast(Mapping[str, object], value)
    unknown = sorted(str(k) for k in table if k not in POLICY_KEYS)
    if unknown:
        raise ValueError(f"{key}: unknown key {unknown[0]!r}; expected one of {', '.join(POLICY_KEYS)}")
    prefix: PrefixList | None = None
    if "prefix" in table:
        texts = _str_list(table, "prefix", key)
        if not texts:
            raise ValueError(f"{key}.prefix: expected at least one entry (an empty list matches nothing)")
        prefix = PrefixList(parse_prefix_entry(t, f"{key}.prefix[{i}]") for i, t in enumerate(texts))
    community, large_community = _communities(table, "community", key)
    add_community, add_large = _communities(table, "add_community", key)
    return Policy(
        accept=True,
        prefix=prefix,
        as_path_len_max=_int_field(table, "as_path_len_max", key, 0, 10_000),
        community=community,
        large_community=large_community,
        set_local_pref=_int_field(table, "set_local_pref", key, 0, MAX_U32),
        set_med=_int_field(table, "set_med", key, 0, MAX_U32),
        add_community=add_community,
        add_large_community=add_large,
        text=_describe(table),
    )


def _describe(table: Mapping[str, object]) -> str:
    parts = [f"{k}={table[k]!r}" for k in POLICY_KEYS if k in table]
    return "{" + ", ".join(parts) + "}"


# --- RFC 8212 -------------------------------------------------------------------


def rfc8212_default_deny(is_ebgp: bool, configured: Policy | None) -> bool:
    """True when RFC 8212 applies: an eBGP peer with no policy in this direction."""
    return is_ebgp and configured is None


def effective_policy(configured: Policy | None, is_ebgp: bool) -> Policy:
    """The policy to run: the configured one; else nothing for eBGP, everything for iBGP."""
    if configured is not None:
        return configured
    return REJECT_ALL if is_ebgp else ACCEPT_ALL


def rfc8212_message(peer: str, direction: str) -> str:
    """The one log line saying default deny applies (direction: import | export)."""
    verb = "imports" if direction == "import" else "exports"
    return (
        f"event=rfc8212-default-deny peer={peer} direction={direction} "
        f'detail="eBGP peer without {direction} policy {verb} nothing (RFC 8212); '
        f'set {direction} = \\"all\\" or a filter to change that"'
    )


def rfc8212_notices(
    peer: str,
    is_ebgp: bool,
    import_policy: Policy | None,
    export_policy: Policy | None,
    already: set[tuple[str, str]],
) -> list[str]:
    """Log lines not yet given for this peer; records them in ``already`` (log once)."""
    lines: list[str] = []
    for direction, configured in (("import", import_policy), ("export", export_policy)):
        if rfc8212_default_deny(is_ebgp, configured) and (peer, direction) not in already:
            already.add((peer, direction))
            lines.append(rfc8212_message(peer, direction))
    return lines
