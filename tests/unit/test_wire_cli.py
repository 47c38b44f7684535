"""``v4via6 bgp decode``: hex and raw input, JSON keys, one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from v4via6.bgp.wire import encode, end_of_rib
from v4via6.bgp.wire.messages import Keepalive, Notification
from v4via6.cli.main import cli

KEEPALIVE = encode(Keepalive()).hex()
OPEN_BIRD = ("ffffffffffffffffffffffffffffffff00430104fde900f0cb00710126022401040001000101040002"
             "0001020005060001000100024002007841040000fde946004700")
BAD_ORIGIN = ("ffffffffffffffffffffffffffffffff002f02000000144001010540020602010000fde94003"
              "04c000020118c63364")


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli, ["bgp", "decode", *args])
    assert not isinstance(res.exception, Exception) or isinstance(res.exception, SystemExit), (
        res.exception)
    return res.exit_code, res.stdout, res.stderr


def test_hex_open_text() -> None:
    code, out, _ = run(OPEN_BIRD)
    assert code == 0
    assert "OPEN v4 my-AS 65001 hold 240 id 203.0.113.1" in out
    assert "capability 65 4-octet-as: 65001" in out


def test_hex_with_spaces_and_several_messages_json() -> None:
    code, out, _ = run(f"{KEEPALIVE[:10]} {KEEPALIVE[10:]}:{end_of_rib(2, 1).hex()}", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["count"] == 2 and doc["source"] == "hex"
    first, second = (e["message"] for e in doc["messages"])
    assert first == {"type": "KEEPALIVE", "length": 19, "error": None}
    assert second["end_of_rib"] == "ipv6/unicast"
    assert set(second) == {"type", "length", "error", "withdrawn", "attributes", "nlri",
                           "end_of_rib", "verdicts"}


def test_malformed_update_reports_verdict_not_traceback() -> None:
    code, out, _ = run(BAD_ORIGIN)
    assert code == 0
    assert "ORIGIN (1) flags 0x40 len 1: MALFORMED" in out
    assert "RFC 7606 treat-as-withdraw" in out
    code, out, _ = run(BAD_ORIGIN, "--json")
    (e,) = json.loads(out)["messages"]
    assert e["message"]["verdicts"][0]["action"] == "treat-as-withdraw"


def test_session_reset_reports_notification() -> None:
    # two MP_UNREACH_NLRI attributes: 19 + 4 + 2 * 7 = 37 bytes
    dup = "ffffffffffffffffffffffffffffffff0025020000000e900f0003000101900f0003000101"
    code, out, _ = run(dup, "--json")
    assert code == 0
    (e,) = json.loads(out)["messages"]
    err = e["message"]["error"]
    assert err["action"] == "session-reset"
    assert (err["notification"]["code"], err["notification"]["subcode"]) == (3, 1)


def test_notification_text() -> None:
    msg = encode(Notification(6, 2, b"\x03bye")).hex()
    _, out, _ = run(msg)
    assert "NOTIFICATION 6/2 (Cease/Administrative Shutdown)" in out
    assert "shutdown message: 'bye'" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("abc",), "odd number of digits"),
        (("zz",), "not a hex digit"),
        ((KEEPALIVE[:-2],), "truncated"),
        ((KEEPALIVE + "ffff",), "truncated"),
        ((), "exactly one of"),
        ((KEEPALIVE, "--pcap", "x.pcap"), "exactly one of"),
        (("--pcap", "/nonexistent/x.pcap"), "cannot read"),
    ],
    ids=["odd", "nonhex", "short", "tail", "nothing", "two", "missing"],
)
def test_bad_input_is_one_line_error(args: tuple[str, ...], needle: str) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err


def test_raw_and_not_a_pcap(tmp_path: Path) -> None:
    raw = tmp_path / "stream.bin"
    raw.write_bytes(bytes.fromhex(KEEPALIVE) * 3)
    code, out, _ = run("--raw", str(raw), "--json")
    assert code == 0 and json.loads(out)["count"] == 3
    code, _, err = run("--pcap", str(raw))
    assert code == 2 and "not a pcap file" in err
    ng = tmp_path / "x.pcapng"
    ng.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(40))
    code, _, err = run("--pcap", str(ng))
    assert code == 2 and "pcapng is not supported" in err
