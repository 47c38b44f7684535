"""CLI: ``v4via6 bgp decode`` — explain BGP messages from hex, a raw stream file or a pcap."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from v4via6.bgp.explain import explain, render_text
from v4via6.bgp.pcap import PcapError, StreamMessage, read_bgp_messages
from v4via6.bgp.wire import PERMISSIVE, Context, WireError, decode_message, negotiate
from v4via6.bgp.wire.context import HEADER_LEN
from v4via6.bgp.wire.framing import MARKER
from v4via6.bgp.wire.messages import Open
from v4via6.cli.common import echo_json, fail

_HEX_JUNK = re.compile(r"[\s:.\-]|0x", re.IGNORECASE)


@click.group("bgp")
def bgp_group() -> None:
    """BGP tools."""


def parse_hex(text: str) -> bytes:
    """Hex text (spaces, colons, 0x prefixes allowed) -> bytes, or a one-line CLI error."""
    cleaned = _HEX_JUNK.sub("", text)
    if not cleaned:
        fail("no hex given; expected BGP message bytes like ffffffff...0013 04")
    if len(cleaned) % 2:
        fail(f"hex input has an odd number of digits ({len(cleaned)}); a byte is two digits")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        bad = next((c for c in cleaned if c not in "0123456789abcdefABCDEF"), "?")
        fail(f"hex input contains {bad!r}, which is not a hex digit")


def split_stream(data: bytes, what: str) -> list[bytes]:
    """Concatenated messages -> list; a truncated tail is a one-line error.

    A header with a bad marker or an impossible length ends the split: the rest
    is returned as one (malformed) message so its error gets explained.
    """
    out: list[bytes] = []
    i = 0
    while i < len(data):
        left = len(data) - i
        if left < HEADER_LEN:
            fail(f"{what}: truncated: {left} byte(s) at offset {i} are less than a "
                 f"{HEADER_LEN}-byte BGP header")
        length = int.from_bytes(data[i + 16 : i + 18], "big")
        if data[i : i + 16] != MARKER or length < HEADER_LEN:
            out.append(data[i:])
            break
        if length > left:
            fail(f"{what}: truncated: message at offset {i} says {length} bytes, "
                 f"only {left} given")
        out.append(data[i : i + length])
        i += length
    return out


def _contexts(messages: list[StreamMessage]) -> list[Context]:
    """Per message, the decode context its receiver had (from the OPENs seen)."""
    opens: dict[tuple[str, int, str, int], Open] = {}
    out: list[Context] = []
    for m in messages:
        if len(m.data) > 18 and m.data[18] == 1:
            try:
                msg = decode_message(m.data, PERMISSIVE)
                if isinstance(msg, Open):
                    opens[m.direction] = msg
            except WireError:
                pass
        back = (m.dst, m.dport, m.src, m.sport)
        sent, recv = opens.get(m.direction), opens.get(back)
        known = sent is not None and recv is not None
        out.append(negotiate(recv.capabilities, sent.capabilities)
                   if sent is not None and recv is not None and known else PERMISSIVE)
    return out


def _entry(data: bytes, ctx: Context, m: StreamMessage | None, index: int) -> dict[str, Any]:
    return {
        "index": index,
        "frame": m.frame if m else None,
        "time": round(m.time, 6) if m else None,
        "src": m.src if m else None,
        "sport": m.sport if m else None,
        "dst": m.dst if m else None,
        "dport": m.dport if m else None,
        "message": explain(data, ctx),
    }


def _where(e: dict[str, Any]) -> str:
    if e["frame"] is None:
        return f"#{e['index']}"
    return (f"#{e['index']} frame {e['frame']} [{e['src']}]:{e['sport']} -> "
            f"[{e['dst']}]:{e['dport']}")


@bgp_group.command("decode")
@click.argument("hex_text", metavar="[HEX]", required=False)
@click.option("--pcap", "pcap_file", type=click.Path(dir_okay=False),
              help="Decode every BGP message of every TCP port-179 stream in a pcap.")
@click.option("--raw", "raw_file", type=click.Path(dir_okay=False),
              help="Decode a file of concatenated raw BGP messages.")
@click.option("--json", "as_json", is_flag=True, help="JSON output with stable keys.")
def decode_cmd(hex_text: str | None, pcap_file: str | None, raw_file: str | None,
               as_json: bool) -> None:
    """Decode BGP messages: capabilities, attributes, next hops, RFC 7606 verdicts.

    \b
    Examples:
      v4via6 bgp decode ffffffffffffffffffffffffffffffff001304
      v4via6 bgp decode --pcap capture.pcap --json
    """
    given = [x for x in (hex_text, pcap_file, raw_file) if x is not None]
    if len(given) != 1:
        fail("give exactly one of HEX, --pcap FILE or --raw FILE")
    entries: list[dict[str, Any]] = []
    source: str
    if pcap_file is not None:
        source = pcap_file
        try:
            msgs = read_bgp_messages(pcap_file)
        except OSError as exc:
            fail(f"{pcap_file}: cannot read: {exc.strerror or exc}")
        except PcapError as exc:
            fail(f"{pcap_file}: {exc}")
        for i, (m, ctx) in enumerate(zip(msgs, _contexts(msgs), strict=True)):
            entries.append(_entry(m.data, ctx, m, i))
    else:
        if raw_file is not None:
            source = raw_file
            try:
                data = Path(raw_file).read_bytes()
            except OSError as exc:
                fail(f"{raw_file}: cannot read: {exc.strerror or exc}")
        else:
            source = "hex"
            data = parse_hex(hex_text or "")
        for i, chunk in enumerate(split_stream(data, source)):
            entries.append(_entry(chunk, PERMISSIVE, None, i))
    malformed = sum(1 for e in entries if e["message"]["error"] is not None
                    or e["message"].get("verdicts"))
    if as_json:
        echo_json({"source": source, "count": len(entries), "malformed": malformed,
                   "messages": entries})
        return
    for e in entries:
        lines = render_text(e["message"])
        click.echo(f"{_where(e)} {lines[0]}")
        for line in lines[1:]:
            click.echo(line)
    click.echo(f"{len(entries)} message(s), {malformed} with RFC 7606 findings")


COMMANDS: list[click.Command] = [bgp_group]
