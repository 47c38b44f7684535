"""RFC 7606 case table: one row per malformed-UPDATE stimulus and the expected action.

Each row builds an UPDATE from small parts, decodes it, and checks the action
(and, for session resets, the NOTIFICATION code/subcode and that its data is
never longer than what was received) plus what happens to the prefixes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from v4via6.bgp.wire import (
    Action,
    Context,
    Update,
    WireError,
    decode_message,
    encode_attributes,
    key_of,
)
from v4via6.bgp.wire.framing import header

EXT_NH = Context(extended_nexthop=frozenset({(1, 1, 2)}))
NO_EXT_NH = Context()

NLRI = bytes.fromhex("18c63364")  # 198.51.100.0/24
NLRI_KEY = key_of("198.51.100.0/24")
V6NH = bytes.fromhex("20010db8000100010000000000000001")
LLNH = bytes.fromhex("fe800000000000000000000000120001")


def attr(flags: int, code: int, value: bytes) -> bytes:
    if flags & 0x10:
        return bytes((flags, code)) + len(value).to_bytes(2, "big") + value
    return bytes((flags, code, len(value))) + value


ORIGIN = attr(0x40, 1, b"\x00")
AS_PATH = attr(0x40, 2, bytes.fromhex("02010000fde9"))  # SEQUENCE 65001
NEXT_HOP = attr(0x40, 3, bytes.fromhex("c0000201"))
BASE = ORIGIN + AS_PATH + NEXT_HOP


def mp_reach(nh: bytes = LLNH + LLNH, nlri: bytes = NLRI, afi: int = 1) -> bytes:
    return attr(0x90, 14, afi.to_bytes(2, "big") + bytes((1, len(nh))) + nh + b"\x00" + nlri)


def mp_unreach(nlri: bytes = bytes.fromhex("20cb007165")) -> bytes:
    return attr(0x90, 15, b"\x00\x01\x01" + nlri)


def update(attrs: bytes = b"", nlri: bytes = b"", withdrawn: bytes = b"",
           alen: int | None = None) -> bytes:
    body = (len(withdrawn).to_bytes(2, "big") + withdrawn
            + (len(attrs) if alen is None else alen).to_bytes(2, "big") + attrs + nlri)
    return header(2, len(body)) + body


Check = Callable[[Update], None]


def withdrawn_nlri(u: Update) -> None:
    assert u.attrs is None and not u.announcements()
    assert any(NLRI_KEY in w.keys for w in u.treat_as_withdraw)


def announced(u: Update) -> None:
    assert any(NLRI_KEY in a.keys for a in u.announcements())


def no_aggregator(u: Update) -> None:
    announced(u)
    assert u.attrs is not None and u.attrs.aggregator is None


def unreach_still_processed(u: Update) -> None:
    withdrawn_nlri(u)
    assert any(key_of("203.0.113.101/32") in w.keys for w in u.withdrawals())


def unknown_passed_through(u: Update) -> None:
    announced(u)
    assert u.attrs is not None
    assert u.attrs.unknown == ((0xC0, 23, b"\xde\xad\xbe"),)
    out = encode_attributes(u.attrs, EXT_NH, propagate=True)
    assert bytes((0xE0, 23, 3)) + b"\xde\xad\xbe" in out  # partial bit set when passed on


def as4_dropped(u: Update) -> None:
    announced(u)
    assert u.attrs is not None and u.attrs.wire is not None
    assert bytes((0xC0, 17)) not in u.attrs.wire  # not passed on either


def first_origin_kept(u: Update) -> None:
    announced(u)
    assert u.attrs is not None and u.attrs.origin == 0


def not_installed_but_reported(u: Update) -> None:
    assert not u.announcements()
    assert any(NLRI_KEY in w.keys for w in u.treat_as_withdraw)
    (v,) = u.verdicts
    assert v.afi_safi == (1, 1) and "extended next hop" in v.reason


def afi_disabled(u: Update) -> None:
    assert u.mp_reach is None and not u.announcements()
    assert u.verdicts[0].afi_safi == (1, 1)


def not_eor(u: Update) -> None:
    assert u.end_of_rib is None
    withdrawn_nlri(u)


@dataclass(frozen=True)
class Row:
    stimulus: str
    message: bytes
    action: Action | None  # None: accepted without a finding
    notification: tuple[int, int] | None = None
    check: Check | None = None
    ctx: Context = EXT_NH


ROWS = [
    Row("bad ORIGIN value", update(attr(0x40, 1, b"\x05") + AS_PATH + NEXT_HOP, NLRI),
        Action.TREAT_AS_WITHDRAW, check=withdrawn_nlri),
    Row("ORIGIN flagged optional", update(attr(0xC0, 1, b"\x00") + AS_PATH + NEXT_HOP, NLRI),
        Action.TREAT_AS_WITHDRAW, check=withdrawn_nlri),
    Row("bad MED length", update(BASE + attr(0x80, 4, b"\x00\x00\x01"), NLRI),
        Action.TREAT_AS_WITHDRAW, check=withdrawn_nlri),
    Row("bad AGGREGATOR length", update(BASE + attr(0xC0, 7, b"\x00\x00\xfd\xe9\xc0"), NLRI),
        Action.ATTRIBUTE_DISCARD, check=no_aggregator),
    Row("bad ATOMIC_AGGREGATE length", update(BASE + attr(0x40, 6, b"\x01"), NLRI),
        Action.ATTRIBUTE_DISCARD, check=announced),
    Row("bad COMMUNITIES length", update(BASE + attr(0xC0, 8, b"\x00\x00\x00\x01\x02"), NLRI),
        Action.TREAT_AS_WITHDRAW, check=withdrawn_nlri),
    Row("AS_PATH segment overruns", update(ORIGIN + attr(0x40, 2, b"\x02\x05\x00\x00\xfd\xe9")
                                           + NEXT_HOP, NLRI),
        Action.TREAT_AS_WITHDRAW, check=withdrawn_nlri),
    Row("duplicate ORIGIN keeps the first", update(BASE + attr(0x40, 1, b"\x02"), NLRI),
        Action.ATTRIBUTE_DISCARD, check=first_origin_kept),
    Row("duplicate MP_REACH", update(mp_reach() + mp_reach() + ORIGIN + AS_PATH),
        Action.SESSION_RESET, (3, 1)),
    Row("duplicate MP_UNREACH", update(mp_unreach() + mp_unreach()),
        Action.SESSION_RESET, (3, 1)),
    Row("MP_REACH next-hop length 9", update(mp_reach(nh=bytes(9)) + ORIGIN + AS_PATH),
        Action.SESSION_RESET, (3, 9)),
    Row("MP_REACH NLRI malformed (prefix /33)",
        update(mp_reach(nlri=bytes.fromhex("21c6336400")) + ORIGIN + AS_PATH),
        Action.AFI_SAFI_DISABLE, check=afi_disabled),
    Row("attribute overruns total length, with NLRI",
        update(ORIGIN + AS_PATH + attr(0x40, 3, b"\xc0\x00")[:2] + b"\x09\xc0\x00", NLRI),
        Action.TREAT_AS_WITHDRAW, check=withdrawn_nlri),
    Row("attribute overruns total length, without NLRI",
        update(ORIGIN + AS_PATH + b"\x40\x03\x09\xc0\x00"), Action.SESSION_RESET, (3, 1)),
    Row("extended-length field larger than the message",
        update(ORIGIN + AS_PATH + b"\x50\x03\x04\x00\xc0\x00\x02\x01", NLRI),
        Action.TREAT_AS_WITHDRAW, check=withdrawn_nlri),
    Row("total attribute length larger than the message", update(BASE, NLRI, alen=200),
        Action.SESSION_RESET, (3, 1)),
    Row("MP_UNREACH plus NLRI without mandatory attributes", update(mp_unreach(), NLRI),
        Action.TREAT_AS_WITHDRAW, check=unreach_still_processed),
    Row("malformed NEXT_HOP with classic NLRI",
        update(ORIGIN + AS_PATH + attr(0x40, 3, b"\xc0\x00\x02"), NLRI),
        Action.TREAT_AS_WITHDRAW, check=withdrawn_nlri),
    Row("malformed NEXT_HOP beside MP_REACH only is ignored",
        update(mp_reach() + ORIGIN + AS_PATH + attr(0x40, 3, b"\xc0\x00\x02")),
        Action.ATTRIBUTE_DISCARD, check=announced),
    Row("NLRI without AS_PATH", update(ORIGIN + NEXT_HOP, NLRI),
        Action.TREAT_AS_WITHDRAW, check=withdrawn_nlri),
    # an End-of-RIB whose NLRI area holds a lone, impossible prefix length
    Row("End-of-RIB followed by unparseable junk", update(nlri=b"\xff\x01"),
        Action.SESSION_RESET, (3, 10)),
    Row("End-of-RIB followed by a prefix", update(nlri=NLRI), Action.TREAT_AS_WITHDRAW,
        check=not_eor),
    Row("malformed unknown optional transitive attribute (code 23)",
        update(BASE + attr(0xC0, 23, b"\xde\xad\xbe"), NLRI), None, check=unknown_passed_through),
    Row("unknown attribute 23 flagged well-known", update(BASE + attr(0x40, 23, b"\xde"), NLRI),
        Action.SESSION_RESET, (3, 2)),
    Row("withdrawn routes field malformed", update(withdrawn=b"\x21\xc6\x33\x64\x00\x00"),
        Action.SESSION_RESET, (3, 10)),
    Row("AS4_PATH between four-octet speakers",
        update(BASE + attr(0xC0, 17, bytes.fromhex("02010000fde9")), NLRI),
        Action.ATTRIBUTE_DISCARD, check=as4_dropped),
    Row("IPv6 next hop for IPv4 NLRI without extended next hop",
        update(mp_reach(nh=V6NH) + ORIGIN + AS_PATH), Action.TREAT_AS_WITHDRAW,
        check=not_installed_but_reported, ctx=NO_EXT_NH),
    Row("IPv6 next hop for IPv4 NLRI with extended next hop",
        update(mp_reach(nh=V6NH) + ORIGIN + AS_PATH), None, check=announced),
]

@pytest.mark.parametrize("row", ROWS, ids=[r.stimulus for r in ROWS])
def test_rfc7606_case(row: Row) -> None:
    if row.action is Action.SESSION_RESET:
        with pytest.raises(WireError) as exc:
            decode_message(row.message, row.ctx)
        v = exc.value.verdict
        assert v.action is Action.SESSION_RESET
        assert (v.code, v.subcode) == row.notification
        assert len(v.data) <= len(row.message) - 19
        assert v.data in row.message  # data is what was received, never more
        return
    u = decode_message(row.message, row.ctx)
    assert isinstance(u, Update)
    actions = {v.action for v in u.verdicts}
    if row.action is None:
        assert not u.verdicts, u.verdicts
    else:
        assert row.action in actions, u.verdicts
        assert max(actions, key=list(Action).index) is row.action
    if row.check is not None:
        row.check(u)


def test_mp_reach_reset_data_is_the_attribute() -> None:
    bad = mp_reach(nh=bytes(9))
    with pytest.raises(WireError) as exc:
        decode_message(update(bad + ORIGIN + AS_PATH), EXT_NH)
    assert exc.value.data == bad
