"""Real BIRD/FRR/GoBGP/ExaBGP traffic: messages.json and the pcaps in ../shared/bgp-captures.

Every message in messages.json must decode to what its ``decoded`` reference
form and its ``meaning`` sentence say, re-encode to the same bytes, and be found
in its pcap at its frame; ``v4via6 bgp decode --pcap`` must read every capture
without error.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from v4via6.bgp.explain import explain
from v4via6.bgp.pcap import read_bgp_messages
from v4via6.bgp.wire import (
    PERMISSIVE,
    Open,
    Update,
    WireError,
    decode_message,
    encode,
    format_key,
)
from v4via6.bgp.wire.fastupdate import decode_ipv4_via_ipv6, decode_run
from v4via6.cli.main import cli

SHARED = Path(__file__).parents[2].parent / "shared"
CAPTURES = SHARED / "bgp-captures"
pytestmark = pytest.mark.skipif(
    not (CAPTURES / "messages.json").is_file(),
    reason=f"{CAPTURES} is absent (the shared test vectors sit beside the repository clone)",
)


def _messages() -> list[dict[str, Any]]:
    if not (CAPTURES / "messages.json").is_file():
        return []
    data: list[dict[str, Any]] = json.loads((CAPTURES / "messages.json").read_text())
    return data


MESSAGES = _messages()
PCAPS = sorted(CAPTURES.glob("*.pcap")) if CAPTURES.is_dir() else []


def _normalize(value: Any) -> Any:
    """Reference spellings -> ours: ``afi 2/safi 1`` is ``ipv6/unicast``."""
    if isinstance(value, str):
        return {"afi 1/safi 1": "ipv4/unicast", "afi 2/safi 1": "ipv6/unicast"}.get(value, value)
    return value


def assert_matches(reference: Any, ours: Any, path: str = "$") -> None:
    """Every key of the reference is in ours with an equal value; lists match item by item."""
    if isinstance(reference, dict):
        assert isinstance(ours, dict), f"{path}: expected an object, got {ours!r}"
        for key, ref in reference.items():
            assert key in ours, f"{path}.{key}: missing (have {sorted(ours)})"
            assert_matches(ref, ours[key], f"{path}.{key}")
    elif isinstance(reference, list):
        assert isinstance(ours, list), f"{path}: expected a list, got {ours!r}"
        assert len(ours) == len(reference), f"{path}: {len(ours)} items, expected {len(reference)}"
        for i, (ref, got) in enumerate(zip(reference, ours, strict=True)):
            assert_matches(ref, got, f"{path}[{i}]")
    else:
        assert _normalize(ours) == _normalize(reference), f"{path}: {ours!r} != {reference!r}"


@pytest.mark.parametrize("entry", MESSAGES, ids=[m["name"] for m in MESSAGES])
def test_decoded_reference_form(entry: dict[str, Any]) -> None:
    data = bytes.fromhex(entry["hex"])
    assert len(data) == entry["length"]
    got = explain(data, PERMISSIVE)
    assert got["error"] is None
    assert got.get("verdicts", []) == []
    assert_matches(entry["decoded"], got)


@pytest.mark.parametrize("entry", MESSAGES, ids=[m["name"] for m in MESSAGES])
def test_roundtrip_exact(entry: dict[str, Any]) -> None:
    data = bytes.fromhex(entry["hex"])
    assert encode(decode_message(data, PERMISSIVE), PERMISSIVE) == data


def _check_open(meaning: str, msg: Open) -> None:
    m = re.search(r"OPEN v(\d+) my-AS (\d+) hold (\d+) id ([\d.]+)", meaning)
    assert m, meaning
    assert (msg.version, msg.my_as, msg.hold_time, str(msg.bgp_id)) == (
        int(m[1]), int(m[2]), int(m[3]), m[4])
    codes = [int(c) for c in re.findall(r"(\d+)\(", meaning.split("capabilities:")[1])]
    assert [c.code for c in msg.capabilities] == codes
    if "extended-next-hop <AFI 1,SAFI 1,NH-AFI 2>" in meaning:
        assert (1, 1, 2) in msg.extended_nexthop
    asn = re.search(r"65\(4-octet-as (\d+)\)", meaning)
    if asn:
        assert msg.asn == int(asn[1])


def _split_nh(text: str) -> tuple[str | None, str | None]:
    """What a next-hop text in the meaning must decode to: (global, link-local)."""
    parts = [p.strip() for p in text.split("+")]
    if len(parts) == 1:
        return (None, parts[0]) if parts[0].startswith("fe80") else (parts[0], None)
    first, second = parts
    if first == "::" or first == second or first.startswith("fe80"):
        return None, second
    return first, second


def _check_update(meaning: str, msg: Update) -> None:
    if "End-of-RIB" in meaning:
        fam = (1, 1) if "ipv4/unicast" in meaning else (2, 1)
        assert msg.end_of_rib == fam
        return
    assert msg.end_of_rib is None
    reach = re.search(r"MP_REACH_NLRI AFI (\d) SAFI (\d) next-hop length (\d+) \(([^)]*)\) "
                      r"NLRI ([^;]*)", meaning)
    if reach:
        (ann,) = msg.announcements()
        assert (ann.afi, ann.safi) == (int(reach[1]), int(reach[2]))
        assert msg.mp_reach is not None and len(msg.mp_reach.nh_raw or b"") == int(reach[3])
        want = _split_nh(reach[4])
        nh = ann.next_hop
        assert (_s(nh.global_addr), _s(nh.link_local)) == want
        nets = [p.strip() for p in reach[5].split(",")]
        assert [format_key(k, ann.afi) for k in ann.keys] == nets
        origin = re.search(r"ORIGIN (\w+)", meaning)
        assert origin and ann.attrs.origin == {"IGP": 0, "EGP": 1, "INCOMPLETE": 2}[origin[1]]
        path = re.search(r"AS_PATH ([\d ]+)", meaning)
        assert path and ann.attrs.as_path == ((2, tuple(int(a) for a in path[1].split())),)
    withdrawn = re.search(r"withdrawn(?: \(classic field\))? ([\d./, ]+)$", meaning)
    if withdrawn:
        nets = [p.strip() for p in withdrawn[1].split(",")]
        got = [format_key(k, w.afi) for w in msg.withdrawals() for k in w.keys]
        assert got == nets
        assert not msg.announcements()


def _s(x: object | None) -> str | None:
    return None if x is None else str(x)


@pytest.mark.parametrize("entry", MESSAGES, ids=[m["name"] for m in MESSAGES])
def test_meaning(entry: dict[str, Any]) -> None:
    meaning = entry["meaning"].split(" -- ", 1)[-1]
    msg = decode_message(bytes.fromhex(entry["hex"]), PERMISSIVE)
    if isinstance(msg, Open):
        _check_open(meaning, msg)
    elif isinstance(msg, Update):
        _check_update(meaning, msg)
    else:
        got = explain(bytes.fromhex(entry["hex"]), PERMISSIVE)
        assert meaning.startswith(got["type"])
        note = re.search(r"code (\d+) subcode (\d+) \(([^)]*)\)", meaning)
        if note:
            assert (got["code"], got["subcode"], got["meaning"]) == (
                int(note[1]), int(note[2]), note[3])
            said = re.search(r'communication "([^"]*)"', meaning)
            assert got["shutdown_message"] == (said[1] if said else None)


@pytest.mark.parametrize("entry", MESSAGES, ids=[m["name"] for m in MESSAGES])
def test_found_in_pcap_at_its_frame(entry: dict[str, Any]) -> None:
    msgs = read_bgp_messages(CAPTURES / entry["pcap"])
    hits = [m for m in msgs if m.frame == entry["frame"] and m.data.hex() == entry["hex"]]
    assert hits, f"not found at frame {entry['frame']}"
    assert (hits[0].src, hits[0].dst) == (entry["src"], entry["dst"])


@pytest.mark.parametrize("pcap", PCAPS, ids=[p.name for p in PCAPS])
def test_cli_decodes_every_capture(pcap: Path) -> None:
    runner = CliRunner()
    text = runner.invoke(cli, ["bgp", "decode", "--pcap", str(pcap)])
    assert text.exit_code == 0, text.output
    assert "MALFORMED" not in text.output
    assert text.output.rstrip().endswith("0 with RFC 7606 findings")
    res = runner.invoke(cli, ["bgp", "decode", "--pcap", str(pcap), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert set(doc) == {"source", "count", "malformed", "messages"}
    assert doc["malformed"] == 0 and doc["count"] == len(doc["messages"]) > 10
    types = {e["message"]["type"] for e in doc["messages"]}
    assert {"OPEN", "UPDATE", "KEEPALIVE"} <= types
    for e in doc["messages"]:
        assert set(e) == {"index", "frame", "time", "src", "sport", "dst", "dport", "message"}
        assert 179 in (e["sport"], e["dport"])
        assert e["message"]["error"] is None


def test_pcap_text_output_splits_next_hops() -> None:
    res = CliRunner().invoke(cli, ["bgp", "decode", "--pcap",
                                   str(CAPTURES / "bgp-r1-r2_bird-frr.pcap")])
    assert "capability 5 extended-next-hop: <AFI 1,SAFI 1,NH-AFI 2>" in res.output
    assert "(:: + fe80::12:1) -> global none, link-local fe80::12:1" in res.output
    assert "shutdown message: 'ia-lab E4: bird admin shutdown'" in res.output


@pytest.mark.parametrize("entry", MESSAGES, ids=[m["name"] for m in MESSAGES])
def test_every_single_byte_mutation_is_handled(entry: dict[str, Any]) -> None:
    """Each byte of each real message set to 00, ff and +1: only WireError may escape
    the codec, and the explainer never fails."""
    data = bytes.fromhex(entry["hex"])
    for pos in range(len(data)):
        for value in {0x00, 0xFF, (data[pos] + 1) & 0xFF}:
            mutated = data[:pos] + bytes((value,)) + data[pos + 1 :]
            with contextlib.suppress(WireError):
                decode_message(mutated, PERMISSIVE)
            explain(mutated, PERMISSIVE)
            if mutated[18] == 2 and int.from_bytes(mutated[16:18], "big") == len(mutated):
                out: list[Any] = []
                stop, _count = decode_run(mutated, 0, PERMISSIVE, PERMISSIVE.max_len, out)
                fast = decode_ipv4_via_ipv6(mutated, PERMISSIVE) if mutated[:16] == b"\xff" * 16 else None
                assert (stop, out) == ((len(mutated), [(fast[2], fast[0], fast[1])]) if fast else (0, []))


@pytest.mark.parametrize("pcap", PCAPS, ids=[p.name for p in PCAPS])
def test_run_decoder_agrees_with_the_message_decoder_on_real_streams(pcap: Path) -> None:
    """Each direction's UPDATEs as one byte stream: ``decode_run`` yields, in order, what
    ``decode_ipv4_via_ipv6`` makes of each message, and stops exactly where it declines."""
    streams: dict[tuple[str, str], list[bytes]] = {}
    for m in read_bgp_messages(pcap):
        if m.data[18] == 2:
            streams.setdefault((m.src, m.dst), []).append(m.data)
    assert streams
    for msgs in streams.values():
        data = b"".join(msgs)
        expected = [decode_ipv4_via_ipv6(raw, PERMISSIVE) for raw in msgs]
        got: list[Any] = []
        at, index = 0, 0
        while index < len(msgs):
            out: list[Any] = []
            at, _count = decode_run(data, at, PERMISSIVE, PERMISSIVE.max_len, out)
            got.extend((attrs, nh, keys) for keys, attrs, nh in out)
            index += len(out)
            if index < len(msgs):
                assert expected[index] is None, f"stopped at message {index}, which the fast path takes"
                got.append(None)
                at += len(msgs[index])
                index += 1
        assert got == expected
