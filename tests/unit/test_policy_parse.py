"""Policy parsing: accepted forms, one-line errors naming the key, prefix ge/le, RFC 8212."""

from __future__ import annotations

import pytest

from v4via6.rib.keys import prefix_key
from v4via6.rib.plain_attrs import PlainAttrs
from v4via6.rib.policy import (
    ACCEPT_ALL,
    REJECT_ALL,
    effective_policy,
    parse_policy,
    parse_prefix_entry,
    rfc8212_default_deny,
    rfc8212_message,
    rfc8212_notices,
)


def test_all_and_none() -> None:
    assert parse_policy("all") is ACCEPT_ALL
    assert parse_policy("none", "export") is REJECT_ALL
    assert ACCEPT_ALL.passthrough
    assert not REJECT_ALL.passthrough
    assert REJECT_ALL.apply_attrs(PlainAttrs()) is None


def test_full_table_form() -> None:
    pol = parse_policy(
        {
            "prefix": ["0.0.0.0/0 le 24", "198.51.100.0/24 ge 25 le 32"],
            "as_path_len_max": 10,
            "community": ["65000:1", "65000:1:2"],
            "set_local_pref": 200,
            "set_med": 10,
            "add_community": ["65010:7", "no-export"],
        }
    )
    assert pol.as_path_len_max == 10
    assert pol.community == ((65000 << 16) | 1,)
    assert pol.large_community == ((65000, 1, 2),)
    assert pol.add_community == ((65010 << 16) | 7, 0xFFFFFF01)
    assert not pol.passthrough


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("some", 'import: expected "all", "none" or a table'),
        (42, 'import: expected "all", "none" or a table'),
        ({"prefixes": ["0.0.0.0/0"]}, "import: unknown key 'prefixes'; expected one of prefix,"),
        (
            {"prefix": "198.51.100.1/24"},
            "import.prefix[0]: '198.51.100.1/24' has host bits set (did you mean 198.51.100.0/24?)",
        ),
        ({"prefix": ["198.51.100.0/24 ge"]}, "import.prefix[0]: expected 'NET/LEN [ge N] [le M]'"),
        ({"prefix": ["198.51.100.0/24 lt 5"]}, "import.prefix[0]: expected 'NET/LEN"),
        ({"prefix": ["198.51.100.0/24 le 25 le 26"]}, "import.prefix[0]: expected 'NET/LEN"),
        ({"prefix": ["not-a-prefix"]}, "import.prefix[0]: expected 'NET/LEN"),
        ({"prefix": ["198.51.100.0/24 le 33"]}, "import.prefix[0]: '198.51.100.0/24 le 33' needs 24 <= ge <= le <= 32"),
        ({"prefix": ["198.51.100.0/24 ge 16"]}, "needs 24 <= ge <= le <= 32 (got ge 16, le 32)"),
        ({"prefix": ["198.51.100.0/24 ge 28 le 26"]}, "(got ge 28, le 26)"),
        ({"prefix": [1]}, "import.prefix: expected a list of strings, got [1]"),
        ({"prefix": []}, "import.prefix: expected at least one entry"),
        ({"as_path_len_max": -1}, "import.as_path_len_max: expected an integer 0..10000, got -1"),
        ({"as_path_len_max": True}, "import.as_path_len_max: expected an integer"),
        ({"set_local_pref": "high"}, "import.set_local_pref: expected an integer 0..4294967295"),
        ({"set_med": 2**32}, "import.set_med: expected an integer 0..4294967295"),
        ({"community": ["65536:1"]}, "import.community[0]: '65536:1' is not a community"),
        ({"add_community": ["1:2:3:4"]}, "import.add_community[0]: '1:2:3:4' is not a community"),
        ({"community": ["x:1"]}, "import.community[0]: 'x:1' is not a community"),
    ],
)
def test_errors_are_one_line_and_name_the_key(value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_policy(value, "import")
    text = str(info.value)
    assert "\n" not in text
    assert message in text


def test_error_names_the_direction_given() -> None:
    with pytest.raises(ValueError, match=r"^bgp\.peer\[1\]\.export\.set_med:"):
        parse_policy({"set_med": "x"}, "bgp.peer[1].export")


# --- prefix lists: ge / le edge cases ------------------------------------------------


def k(text: str) -> int:
    return prefix_key(text)


def test_exact_match_without_ge_le() -> None:
    e = parse_prefix_entry("198.51.100.0/24", "p")
    assert e.matches(k("198.51.100.0/24"))
    assert not e.matches(k("198.51.100.0/25"))
    assert not e.matches(k("198.51.0.0/16"))
    assert not e.matches(k("198.51.101.0/24"))


def test_le_only_ranges_from_own_length() -> None:
    e = parse_prefix_entry("198.51.100.0/24 le 26", "p")
    assert e.matches(k("198.51.100.0/24"))
    assert e.matches(k("198.51.100.192/26"))
    assert not e.matches(k("198.51.100.0/27"))
    assert not e.matches(k("198.51.0.0/16"))


def test_ge_only_ranges_to_host_length() -> None:
    e = parse_prefix_entry("198.51.100.0/24 ge 25", "p")
    assert not e.matches(k("198.51.100.0/24"))
    assert e.matches(k("198.51.100.128/25"))
    assert e.matches(k("198.51.100.7/32"))


def test_ge_and_le_bounds_are_inclusive() -> None:
    e = parse_prefix_entry("198.51.100.0/24 ge 25 le 27", "p")
    assert [
        e.matches(k(p)) for p in ("198.51.100.0/24", "198.51.100.0/25", "198.51.100.32/27", "198.51.100.16/28")
    ] == [False, True, True, False]


def test_default_route_le_24_matches_everything_up_to_24() -> None:
    e = parse_prefix_entry("0.0.0.0/0 le 24", "p")
    assert e.matches(k("0.0.0.0/0"))
    assert e.matches(k("203.0.113.0/24"))
    assert not e.matches(k("203.0.113.0/25"))


def test_host_route_and_ge_equal_to_length() -> None:
    assert parse_prefix_entry("192.0.2.1/32", "p").matches(k("192.0.2.1/32"))
    e = parse_prefix_entry("192.0.2.0/24 ge 24 le 24", "p")
    assert e.matches(k("192.0.2.0/24"))


def test_ipv6_entries_match_ipv6_keys_only() -> None:
    pol = parse_policy({"prefix": ["2001:db8::/32 le 48", "192.0.2.0/24"]})
    assert pol.prefix is not None
    assert pol.prefix.matches(k("2001:db8:1::/48"), 6)
    assert not pol.prefix.matches(k("2001:db8:1::/64"), 6)
    assert pol.prefix.matches(k("192.0.2.0/24"), 4)
    assert not pol.prefix.matches(k("192.0.2.0/24"), 6)


def test_split_keys_keeps_order() -> None:
    pol = parse_policy({"prefix": ["198.51.100.0/24 le 32"]})
    keys = [k("198.51.100.0/25"), k("203.0.113.0/24"), k("198.51.100.1/32")]
    assert pol.split_keys(keys) == ([keys[0], keys[2]], [keys[1]])


# --- attribute matching and set actions ---------------------------------------------


def test_as_path_len_max() -> None:
    pol = parse_policy({"as_path_len_max": 2})
    assert pol.apply_attrs(PlainAttrs.with_path(1, 2)) is not None
    assert pol.apply_attrs(PlainAttrs.with_path(1, 2, 3)) is None


def test_community_match_any_standard_or_large() -> None:
    pol = parse_policy({"community": ["65000:1", "65000:7:9"]})
    assert pol.apply_attrs(PlainAttrs(communities=((65000 << 16) | 1,))) is not None
    assert pol.apply_attrs(PlainAttrs(large_communities=((65000, 7, 9),))) is not None
    assert pol.apply_attrs(PlainAttrs(communities=((65000 << 16) | 2,))) is None
    assert pol.apply_attrs(PlainAttrs()) is None


def test_set_actions_make_a_new_object_and_keep_unchanged_ones() -> None:
    pol = parse_policy({"set_local_pref": 200, "set_med": 10, "add_community": ["65010:7"]})
    before = PlainAttrs.with_path(65001, communities=(5,))
    after = pol.apply_attrs(before)
    assert after == PlainAttrs.with_path(65001, local_pref=200, med=10, communities=(5, (65010 << 16) | 7))
    assert pol.apply_attrs(after) is after  # already set: same object back


def test_uses_replace_method_when_offered() -> None:
    calls: list[dict[str, object]] = []

    def replace(attrs: PlainAttrs, **changes: object) -> PlainAttrs:
        calls.append(changes)
        return attrs

    parse_policy({"set_med": 3}).apply_attrs(PlainAttrs(), replace)
    assert calls == [{"med": 3}]


# --- RFC 8212 ----------------------------------------------------------------------------


def test_rfc8212_default_deny_for_ebgp_without_policy() -> None:
    assert rfc8212_default_deny(True, None)
    assert not rfc8212_default_deny(True, ACCEPT_ALL)
    assert not rfc8212_default_deny(False, None)
    assert effective_policy(None, is_ebgp=True) is REJECT_ALL
    assert effective_policy(None, is_ebgp=False) is ACCEPT_ALL
    pol = parse_policy("all")
    assert effective_policy(pol, is_ebgp=True) is pol


def test_rfc8212_message_is_one_key_value_line() -> None:
    line = rfc8212_message("fe80::2%eth1", "import")
    assert "\n" not in line
    assert line.startswith("event=rfc8212-default-deny peer=fe80::2%eth1 direction=import ")
    assert "imports nothing (RFC 8212)" in line


def test_rfc8212_notices_logged_once() -> None:
    seen: set[tuple[str, str]] = set()
    first = rfc8212_notices("p1", True, None, ACCEPT_ALL, seen)
    assert len(first) == 1 and "direction=import" in first[0]
    assert rfc8212_notices("p1", True, None, ACCEPT_ALL, seen) == []
    assert rfc8212_notices("p2", False, None, None, seen) == []
