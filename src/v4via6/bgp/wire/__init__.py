"""BGP wire codec: bytes -> message objects -> bytes. No I/O, no clock.

Entry points (all importable from ``v4via6.bgp.wire``):

Framing and messages
    ``split_messages(buf, max_len) -> ([(type, bytes)], consumed)``
        cut whole messages off a byte stream; header errors raise ``WireError``
        (NOTIFICATION 1/1, 1/2, 1/3).
    ``decode_message(data, ctx) -> Message`` / ``encode(msg, ctx) -> bytes``
        ``Message = Open | Update | Notification | Keepalive | RouteRefresh``.
        encode(decode(b)) == b for every valid message.

Context (negotiated state)
    ``Context(four_octet_as, extended_message, add_path_rx, add_path_tx,
    extended_nexthop)``; ``ctx.max_len`` is 4096 or 65535.
    ``negotiate(local_caps, remote_caps) -> Context``.

Errors as data (RFC 7606)
    ``Action``: attribute-discard, treat-as-withdraw, afi-safi-disable, session-reset.
    ``Verdict(action, reason, attr_type, code, subcode, data, afi_safi)``.
    Session resets raise ``WireError`` (``.verdict`` has the NOTIFICATION
    code/subcode/data; ``notification_for(err)`` builds the message). Milder
    problems come back in ``Update.verdicts``; a treat-as-withdraw UPDATE decodes
    with ``attrs=None`` and its prefixes in ``Update.treat_as_withdraw``. An IPv6
    next hop for IPv4 NLRI without the negotiated (1, 1, 2) tuple is a
    treat-as-withdraw verdict with ``afi_safi=(1, 1)`` (routes not installed).

Updates, in the form the RIB stores
    Prefix keys are ints ``(network_address_int << 8) | prefix_len`` (IPv4 and
    IPv6 alike; the AFI tells which). ``PathAttributes`` is one interned,
    immutable object per distinct attribute set. ``BgpNextHop(global_addr,
    link_local)``. ``Update.announcements() -> [Announcement(afi, safi,
    next_hop, attrs, keys, path_ids)]``, ``Update.withdrawals() ->
    [Withdrawal(afi, safi, keys, path_ids)]``, ``Update.end_of_rib -> (afi,
    safi) | None``.

OPEN
    ``Open(my_as, hold_time, bgp_id, capabilities)``; ``open.asn`` (four-octet
    capability or ``my_as``), ``open.families``, ``open.extended_nexthop``;
    ``cap_*`` builders and ``Capability.details()``. The codec checks syntax
    and the version (2/1); hold time, BGP identifier and peer AS are the
    session's checks.

Sending
    ``encode_updates(announcements, ctx, max_len) -> [bytes]`` packs many
    prefixes per UPDATE; ``encode_withdrawals(withdrawal, ctx, max_len)``;
    ``end_of_rib(afi, safi)``; ``make_attributes(origin=..., as_path=...)``
    builds an interned ``PathAttributes``; ``encode_attributes(attrs, ctx,
    propagate=True)`` sets the partial bit on unknown transitive attributes.
"""

from v4via6.bgp.wire.attributes import (
    ATTRIBUTES,
    AttrSpec,
    PathAttributes,
    attr_name,
    decode_attributes,
    encode_attributes,
    make_attributes,
)
from v4via6.bgp.wire.capabilities import (
    CAPABILITY_NAMES,
    Capability,
    CapabilityError,
    cap_add_path,
    cap_enhanced_route_refresh,
    cap_extended_message,
    cap_extended_nexthop,
    cap_four_octet_as,
    cap_graceful_restart,
    cap_multiprotocol,
    cap_route_refresh,
    negotiate,
)
from v4via6.bgp.wire.codec import (
    decode_message,
    decode_update,
    encode,
    encode_updates,
    encode_withdrawals,
    end_of_rib,
)
from v4via6.bgp.wire.context import (
    AFI_IPV4,
    AFI_IPV6,
    IPV4_UNICAST,
    IPV4_UNICAST_VIA_IPV6,
    IPV6_UNICAST,
    MAX_EXTENDED_MESSAGE,
    MAX_MESSAGE,
    PERMISSIVE,
    SAFI_UNICAST,
    Context,
    afi_safi_name,
)
from v4via6.bgp.wire.errors import Action, EncodeError, Verdict, WireError
from v4via6.bgp.wire.framing import split_messages
from v4via6.bgp.wire.messages import (
    KEEPALIVE,
    NOTIFICATION,
    OPEN,
    ROUTE_REFRESH,
    UPDATE,
    Announcement,
    Keepalive,
    Message,
    Notification,
    Open,
    RouteRefresh,
    Update,
    Withdrawal,
)
from v4via6.bgp.wire.mp import MpReach, MpUnreach
from v4via6.bgp.wire.nexthop import BgpNextHop, decode_nexthop, encode_nexthop
from v4via6.bgp.wire.prefixes import format_key, key_of, network_of


def notification_for(err: WireError) -> Notification:
    """The NOTIFICATION to send for a session-reset error."""
    return Notification(err.code, err.subcode, err.data)


__all__ = [
    "AFI_IPV4", "AFI_IPV6", "ATTRIBUTES", "CAPABILITY_NAMES", "IPV4_UNICAST",
    "IPV4_UNICAST_VIA_IPV6", "IPV6_UNICAST", "KEEPALIVE", "MAX_EXTENDED_MESSAGE",
    "MAX_MESSAGE", "NOTIFICATION", "OPEN", "PERMISSIVE", "ROUTE_REFRESH", "SAFI_UNICAST",
    "UPDATE", "Action", "Announcement", "AttrSpec", "BgpNextHop", "Capability",
    "CapabilityError", "Context", "EncodeError", "Keepalive", "Message", "MpReach",
    "MpUnreach", "Notification", "Open", "PathAttributes", "RouteRefresh", "Update",
    "Verdict", "WireError", "Withdrawal", "afi_safi_name", "attr_name", "cap_add_path",
    "cap_enhanced_route_refresh", "cap_extended_message", "cap_extended_nexthop",
    "cap_four_octet_as", "cap_graceful_restart", "cap_multiprotocol", "cap_route_refresh",
    "decode_attributes", "decode_message", "decode_nexthop", "decode_update", "encode",
    "encode_attributes", "encode_nexthop", "encode_updates", "encode_withdrawals",
    "end_of_rib", "format_key", "key_of", "make_attributes", "negotiate", "network_of",
    "notification_for", "split_messages",
]
