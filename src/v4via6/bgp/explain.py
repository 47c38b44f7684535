"""BGP message bytes -> a readable explanation: a JSON-able dict with stable keys, or text.

Used by ``v4via6 bgp decode``. Every message dict has ``type``, ``length`` and
``error`` (None, or the RFC 7606 verdict that forced a session reset). OPENs list
capabilities by name; UPDATEs list attributes by name in wire order, with next
hops split into global/link-local and the RFC 7606 ``verdicts`` of anything
malformed. Text output is rendered from the same dict.
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any

from v4via6.bgp.wire import attributes as A
from v4via6.bgp.wire.capabilities import CapabilityError
from v4via6.bgp.wire.codec import decode_message
from v4via6.bgp.wire.context import Context, afi_safi_name
from v4via6.bgp.wire.errors import Verdict, WireError
from v4via6.bgp.wire.messages import (
    MESSAGE_NAMES,
    Keepalive,
    Notification,
    Open,
    RouteRefresh,
    Update,
)
from v4via6.bgp.wire.mp import MpError, decode_mp_reach, decode_mp_unreach
from v4via6.bgp.wire.prefixes import NlriError, decode_prefixes, format_key

ERROR_CODES = {1: "Message Header Error", 2: "OPEN Message Error", 3: "UPDATE Message Error",
               4: "Hold Timer Expired", 5: "Finite State Machine Error", 6: "Cease",
               7: "ROUTE-REFRESH Message Error"}
ERROR_SUBCODES: dict[tuple[int, int], str] = {
    (1, 1): "Connection Not Synchronized", (1, 2): "Bad Message Length",
    (1, 3): "Bad Message Type",
    (2, 1): "Unsupported Version Number", (2, 2): "Bad Peer AS", (2, 3): "Bad BGP Identifier",
    (2, 4): "Unsupported Optional Parameter", (2, 6): "Unacceptable Hold Time",
    (2, 7): "Unsupported Capability", (2, 11): "Role Mismatch",
    (3, 1): "Malformed Attribute List", (3, 2): "Unrecognized Well-known Attribute",
    (3, 3): "Missing Well-known Attribute", (3, 4): "Attribute Flags Error",
    (3, 5): "Attribute Length Error", (3, 6): "Invalid ORIGIN Attribute",
    (3, 8): "Invalid NEXT_HOP Attribute", (3, 9): "Optional Attribute Error",
    (3, 10): "Invalid Network Field", (3, 11): "Malformed AS_PATH",
    (6, 1): "Maximum Number of Prefixes Reached", (6, 2): "Administrative Shutdown",
    (6, 3): "Peer De-configured", (6, 4): "Administrative Reset", (6, 5): "Connection Rejected",
    (6, 6): "Other Configuration Change", (6, 7): "Connection Collision Resolution",
    (6, 8): "Out of Resources", (6, 9): "Hard Reset", (6, 10): "BFD Down",
    (7, 1): "Invalid Message Length",
}


def notification_meaning(code: int, subcode: int) -> str:
    """``Cease/Administrative Shutdown``."""
    name = ERROR_CODES.get(code, f"code {code}")
    if subcode == 0:
        return f"{name}/Unspecific"
    return f"{name}/{ERROR_SUBCODES.get((code, subcode), f'subcode {subcode}')}"


def shutdown_message(code: int, subcode: int, data: bytes) -> str | None:
    """RFC 9003 shutdown communication of a Cease 2/4, if present."""
    if code != 6 or subcode not in (2, 4) or not data or data[0] != len(data) - 1:
        return None
    return data[1:].decode("utf-8", "replace")


def verdict_dict(v: Verdict) -> dict[str, Any]:
    return {
        "action": v.action.value,
        "reason": v.reason,
        "attribute": A.attr_name(v.attr_type) if v.attr_type is not None else None,
        "afi_safi": afi_safi_name(*v.afi_safi) if v.afi_safi is not None else None,
        "notification": {"code": v.code, "subcode": v.subcode, "data": v.data.hex(),
                         "meaning": notification_meaning(v.code, v.subcode)}
        if v.action.value == "session-reset" else None,
    }


# ------------------------------------------------------------------ attributes


def _as_path_json(path: A.AsPath) -> list[dict[str, Any]]:
    return [{"type": A.SEGMENT_NAMES[t], "asns": list(asns)} for t, asns in path]


def _value_json(code: int, value: Any) -> Any:
    if code == A.ORIGIN:
        return A.ORIGIN_NAMES[value]
    if code in (A.AS_PATH, A.AS4_PATH):
        return _as_path_json(value)
    if code in (A.AGGREGATOR, A.AS4_AGGREGATOR):
        return {"asn": value[0], "address": str(value[1])}
    if code == A.COMMUNITIES:
        return [f"{c >> 16}:{c & 0xFFFF}" for c in value]
    if code == A.LARGE_COMMUNITY:
        return [f"{a}:{b}:{c}" for a, b, c in value]
    if code == A.EXTENDED_COMMUNITIES:
        return [f"{c:016x}" for c in value]
    if code == A.CLUSTER_LIST:
        return [str(x) for x in value]
    if code in (A.NEXT_HOP, A.ORIGINATOR_ID):
        return str(value)
    return value


def _attribute_json(flags: int, code: int, value: bytes, ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {"type": code, "name": A.attr_name(code), "flags": f"0x{flags:02x}",
                           "len": len(value)}
    if code == A.MP_REACH_NLRI:
        try:
            mp = decode_mp_reach(value, flags, ctx)
        except MpError as exc:
            out.update(error=str(exc), hex=value.hex())
            return out
        raw = mp.nh_raw or b""
        out.update(afi=mp.afi, safi=mp.safi, afi_safi=afi_safi_name(mp.afi, mp.safi),
                   nexthop_len=len(raw),
                   nexthops=[_addr(raw[i : i + 16]) for i in range(0, len(raw), 16)],
                   next_hop={"global": _opt(mp.next_hop.global_addr),
                             "link_local": _opt(mp.next_hop.link_local)},
                   nlri=[format_key(k, mp.afi) for k in mp.keys])
        return out
    if code == A.MP_UNREACH_NLRI:
        try:
            mu = decode_mp_unreach(value, flags, ctx)
        except MpError as exc:
            out.update(error=str(exc), hex=value.hex())
            return out
        out.update(afi=mu.afi, safi=mu.safi, afi_safi=afi_safi_name(mu.afi, mu.safi),
                   withdrawn=[format_key(k, mu.afi) for k in mu.keys])
        return out
    spec = A.ATTRIBUTES.get(code)
    if spec is None:
        out.update(hex=value.hex(), partial=bool(flags & A.F_PARTIAL),
                   transitive=bool(flags & A.F_TRANSITIVE), optional=bool(flags & A.F_OPTIONAL))
        return out
    try:
        out["value"] = _value_json(code, spec.decode(value, ctx))
    except (A.AttrError, ValueError) as exc:
        out.update(error=str(exc), hex=value.hex())
    return out


def _addr(raw: bytes) -> str:
    return str(ip_address(raw)) if len(raw) in (4, 16) else raw.hex()


def _opt(x: object | None) -> str | None:
    return None if x is None else str(x)


def _walk_attributes(body: bytes, start: int, end: int, ctx: Context) -> list[dict[str, Any]]:
    """Attributes in wire order, tolerant of truncation (the verdict says what it means)."""
    out: list[dict[str, Any]] = []
    i = start
    while i < end:
        if end - i < 3:
            out.append({"type": None, "name": "TRUNCATED", "hex": body[i:end].hex()})
            break
        flags, code = body[i], body[i + 1]
        if flags & A.F_EXTLEN:
            if end - i < 4:
                out.append({"type": code, "name": "TRUNCATED", "hex": body[i:end].hex()})
                break
            ln, v = int.from_bytes(body[i + 2 : i + 4], "big"), i + 4
        else:
            ln, v = body[i + 2], i + 3
        if v + ln > end:
            out.append({"type": code, "name": A.attr_name(code), "flags": f"0x{flags:02x}",
                        "len": ln, "error": f"length {ln} overruns the path attributes",
                        "hex": body[v:end].hex()})
            break
        out.append(_attribute_json(flags, code, body[v : v + ln], ctx))
        i = v + ln
    return out


def _prefix_list(body: bytes, start: int, end: int) -> list[str]:
    try:
        return [format_key(k, 1) for k in decode_prefixes(body, start, end, 1)]
    except NlriError as exc:
        return [f"malformed: {exc}"]


def _update_json(body: bytes, msg: Update | None, ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {"withdrawn": [], "attributes": [], "nlri": [], "end_of_rib": None,
                           "verdicts": []}
    n = len(body)
    if n >= 4:
        wlen = int.from_bytes(body[0:2], "big")
        wend = min(2 + wlen, n)
        out["withdrawn"] = _prefix_list(body, 2, wend)
        if wend + 2 <= n:
            alen = int.from_bytes(body[wend : wend + 2], "big")
            aend = min(wend + 2 + alen, n)
            out["attributes"] = _walk_attributes(body, wend + 2, aend, ctx)
            out["nlri"] = _prefix_list(body, aend, n) if wend + 2 + alen <= n else []
    if msg is not None:
        eor = msg.end_of_rib
        out["end_of_rib"] = afi_safi_name(*eor) if eor is not None else None
        out["verdicts"] = [verdict_dict(v) for v in msg.verdicts]
    return out


def _open_json(msg: Open) -> dict[str, Any]:
    caps = []
    for c in msg.capabilities:
        d: dict[str, Any] = {"code": c.code, "name": c.name, "len": len(c.value),
                             "hex": c.value.hex()}
        try:
            d.update(c.details())
        except CapabilityError as exc:
            d["error"] = str(exc)
        caps.append(d)
    return {"version": msg.version, "my_as": msg.my_as, "asn": msg.asn,
            "hold_time": msg.hold_time, "bgp_id": str(msg.bgp_id), "capabilities": caps,
            "extended_params": msg.extended_params}


def explain(data: bytes, ctx: Context) -> dict[str, Any]:
    """One whole message -> dict with stable keys (never raises for peer bytes)."""
    data = bytes(data)
    mtype = data[18] if len(data) >= 19 else None
    out: dict[str, Any] = {"type": MESSAGE_NAMES.get(mtype, f"TYPE-{mtype}")
                           if mtype is not None else "TRUNCATED",
                           "length": len(data), "error": None}
    try:
        msg = decode_message(data, ctx)
    except WireError as err:
        out["error"] = verdict_dict(err.verdict)
        out["hex"] = data.hex()
        if mtype == 2 and len(data) >= 19:
            out.update(_update_json(data[19:], None, ctx))
        return out
    if isinstance(msg, Open):
        out.update(_open_json(msg))
    elif isinstance(msg, Update):
        out.update(_update_json(data[19:], msg, ctx))
    elif isinstance(msg, Notification):
        out.update(code=msg.code, subcode=msg.subcode,
                   meaning=notification_meaning(msg.code, msg.subcode), data=msg.data.hex(),
                   shutdown_message=shutdown_message(msg.code, msg.subcode, msg.data))
    elif isinstance(msg, RouteRefresh):
        out.update(afi=msg.afi, safi=msg.safi, afi_safi=afi_safi_name(msg.afi, msg.safi),
                   subtype=msg.subtype)
    else:
        assert isinstance(msg, Keepalive)
    return out


# ------------------------------------------------------------------ text


def _path_text(path: list[dict[str, Any]]) -> str:
    parts = []
    for seg in path:
        asns = " ".join(str(a) for a in seg["asns"])
        parts.append({"SET": "{%s}", "CONFED_SEQUENCE": "(%s)", "CONFED_SET": "[%s]"}.get(
            seg["type"], "%s") % asns)
    return " ".join(parts) or "(empty)"


def _attr_text(a: dict[str, Any]) -> list[str]:
    head = f"{a['name']} ({a['type']})"
    if "flags" in a:
        head += f" flags {a['flags']} len {a['len']}"
    if "error" in a:
        return [f"{head}: MALFORMED: {a['error']} [{a.get('hex', '')}]"]
    if a["name"] == "TRUNCATED":
        return [f"attribute header truncated [{a['hex']}]"]
    if a["type"] == A.MP_REACH_NLRI:
        nh = a["next_hop"]
        lines = [f"{head}: {a['afi_safi']} next-hop length {a['nexthop_len']} "
                 f"({' + '.join(a['nexthops'])}) -> global {nh['global'] or 'none'}, "
                 f"link-local {nh['link_local'] or 'none'}"]
        lines.append(f"  nlri ({len(a['nlri'])}): {', '.join(a['nlri']) or '(none)'}")
        return lines
    if a["type"] == A.MP_UNREACH_NLRI:
        w = a["withdrawn"]
        return [f"{head}: {a['afi_safi']} withdrawn ({len(w)}): {', '.join(w) or '(none)'}"]
    if "value" in a:
        v = a["value"]
        if a["type"] in (A.AS_PATH, A.AS4_PATH):
            text = _path_text(v)
        elif isinstance(v, list):
            text = " ".join(str(x) for x in v)
        elif isinstance(v, dict):
            text = f"AS {v['asn']} {v['address']}"
        else:
            text = str(v)
        return [f"{head}: {text}"]
    flags = "partial" if a.get("partial") else ""
    return [f"{head}: unknown {'optional' if a.get('optional') else 'well-known'} "
            f"{'transitive' if a.get('transitive') else 'non-transitive'} {flags} "
            f"[{a['hex']}]".replace("  ", " ")]


def _verdict_text(v: dict[str, Any]) -> str:
    text = f"RFC 7606 {v['action']}: {v['reason']}"
    n = v["notification"]
    if n is not None:
        text += f" -> NOTIFICATION {n['code']}/{n['subcode']} ({n['meaning']})"
        if n["data"]:
            text += f" data {n['data']}"
    return text


def render_text(d: dict[str, Any]) -> list[str]:
    """The dict from :func:`explain` -> readable lines."""
    t = d["type"]
    lines: list[str] = []
    if t == "OPEN" and d["error"] is None:
        asn = f" (4-octet AS {d['asn']})" if d["asn"] != d["my_as"] else ""
        lines.append(f"OPEN v{d['version']} my-AS {d['my_as']}{asn} hold {d['hold_time']} "
                     f"id {d['bgp_id']}")
        for c in d["capabilities"]:
            extra = _cap_text(c)
            lines.append(f"  capability {c['code']} {c['name']}{': ' + extra if extra else ''}")
    elif t == "UPDATE":
        lines.append("UPDATE" + (" (End-of-RIB " + d["end_of_rib"] + ")"
                                 if d.get("end_of_rib") else ""))
        if d.get("withdrawn"):
            lines.append(f"  withdrawn ({len(d['withdrawn'])}): {', '.join(d['withdrawn'])}")
        for a in d.get("attributes", []):
            lines.extend("  " + x for x in _attr_text(a))
        if d.get("nlri"):
            lines.append(f"  nlri ({len(d['nlri'])}): {', '.join(d['nlri'])}")
        for v in d.get("verdicts", []):
            lines.append("  " + _verdict_text(v))
    elif t == "NOTIFICATION" and d["error"] is None:
        lines.append(f"NOTIFICATION {d['code']}/{d['subcode']} ({d['meaning']})"
                     + (f" data {d['data']}" if d["data"] else ""))
        if d["shutdown_message"] is not None:
            lines.append(f"  shutdown message: {d['shutdown_message']!r}")
    elif t == "ROUTE-REFRESH" and d["error"] is None:
        sub = {0: "", 1: " BoRR", 2: " EoRR"}.get(d["subtype"], f" subtype {d['subtype']}")
        lines.append(f"ROUTE-REFRESH {d['afi_safi']}{sub}")
    else:
        lines.append(t)
    if d["error"] is not None:
        lines.append("  MALFORMED: " + _verdict_text(d["error"]))
        if "hex" in d:
            lines.append(f"  hex {d['hex']}")
    return lines


def _cap_text(c: dict[str, Any]) -> str:
    if "error" in c:
        return f"MALFORMED: {c['error']} [{c['hex']}]"
    if "afi_safi" in c:
        return str(c["afi_safi"])
    if "tuples" in c:
        return " ".join(f"<AFI {x['afi']},SAFI {x['safi']},NH-AFI {x['nexthop_afi']}>"
                        for x in c["tuples"])
    if "asn" in c:
        return str(c["asn"])
    if "hostname" in c:
        return str(c["hostname"]) + ("." + str(c["domain"]) if c["domain"] else "")
    if "families" in c and c["code"] == 69:
        return ", ".join(f"{f['afi_safi']} {f['send_receive']}" for f in c["families"])
    if "restart_time" in c:
        fams = ", ".join(f["afi_safi"] for f in c["families"])
        return f"restart-time {c['restart_time']}s flags {c['restart_flags']}" + (
            f" families {fams}" if fams else "")
    return str(c["hex"])
