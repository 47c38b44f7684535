"""Sans-IO BGP session: bytes and time in, events and bytes out (h11/h2 style).

A :class:`Session` owns no socket and reads no clock. The transport glue:

* calls :meth:`Session.start`; on :class:`~v4via6.bgp.events.ConnectRequested`
  it opens a connection and calls :meth:`Session.connection_made` (a passive
  session just waits for an accepted connection);
* feeds every received chunk (at most :attr:`SessionConfig.max_input_buffer`
  bytes at a time, 64 KiB reads are typical) to :meth:`Session.receive_data`;
* after every call writes :meth:`Session.data_to_send` to the connection, and
  closes it on :class:`~v4via6.bgp.events.DisconnectRequested`;
* calls :meth:`Session.handle_timer` at :meth:`Session.next_deadline`.

Every method takes an optional ``now`` (monotonic seconds); without it the
last time seen is used. Timers, OPEN validation and capability negotiation,
RFC 7606 handling of the codec's verdicts and the FSM transitions
(``bgp/fsm.py``) all happen here. Nothing a peer sends makes a method raise:
bad input becomes a NOTIFICATION, :class:`~v4via6.bgp.events.SessionDown` and
counters. :class:`SessionError` is raised only for misuse by the caller
(announcing while not Established, a bad config).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from time import perf_counter_ns
from typing import Literal

from v4via6.bgp import events as ev
from v4via6.bgp import fsm
from v4via6.bgp.fsm import Action, State
from v4via6.bgp.timers import Timer, Timers
from v4via6.bgp.wire import capabilities as caps
from v4via6.bgp.wire.attributes import AS_TRANS, MP_REACH_NLRI, PathAttributes
from v4via6.bgp.wire.codec import (
    decode_message,
    encode,
    encode_updates,
    encode_withdrawals,
    end_of_rib,
)
from v4via6.bgp.wire.context import (
    AFI_IPV4,
    HEADER_LEN,
    IPV4_UNICAST_VIA_IPV6,
    MAX_MESSAGE,
    SAFI_UNICAST,
    Context,
    afi_safi_name,
)
from v4via6.bgp.wire.errors import Action as Rfc7606
from v4via6.bgp.wire.errors import EncodeError, Verdict, WireError
from v4via6.bgp.wire.fastupdate import Announced, decode_run, fast_path_usable
from v4via6.bgp.wire.framing import check_header
from v4via6.bgp.wire.messages import (
    MESSAGE_NAMES,
    OPEN,
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
from v4via6.bgp.wire.nexthop import BgpNextHop, LinkLocalStyle

#: Hold time used in OpenSent, before the peer's OPEN (RFC 4271 §8: "large", 4 min).
LARGE_HOLD_TIME = 240.0

# NOTIFICATION codes/subcodes the session itself sends.
OPEN_ERROR = 2
BAD_VERSION = 1
BAD_PEER_AS = 2
BAD_BGP_ID = 3
UNSUPPORTED_PARAM = 4
UNACCEPTABLE_HOLD_TIME = 6
HOLD_EXPIRED = 4
FSM_ERROR = 5
CEASE = 6
CEASE_ADMIN_SHUTDOWN = 2
CEASE_OUT_OF_RESOURCES = 8

RemoteAs = int | Literal["external", "internal"] | None


class SessionError(Exception):
    """The caller used the session wrongly (bad config, announce while not Established)."""


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """What one BGP session offers and expects.

    ``remote_as``: an AS number, ``"external"`` (any AS but ours),
    ``"internal"`` (ours) or None (any). ``families``: multiprotocol (AFI,
    SAFI) to offer. ``extended_nexthop``: RFC 8950 tuples to offer; the
    default offers IPv4 unicast over an IPv6 next hop. ``four_octet_as=False``
    emulates an old (RFC 4271-only) speaker and exists for tests.
    ``idle_hold_time``: delay before an automatic restart after a failure,
    doubled per failure in a row up to ``max_idle_hold_time``.
    ``timer_jitter``: the ConnectRetryTimer and the IdleHoldTimer run for
    their time multiplied by a random factor in ``[1 - timer_jitter, 1]``
    (RFC 4271 §10: 0.75..1), so two speakers that start or fail together do
    not keep connecting to each other at the same instant.
    """

    local_as: int
    router_id: IPv4Address
    remote_as: RemoteAs = None
    hold_time: int = 90
    connect_retry_time: float = 30.0
    passive: bool = False
    auto_restart: bool = True
    idle_hold_time: float = 5.0
    max_idle_hold_time: float = 120.0
    timer_jitter: float = 0.25
    families: tuple[tuple[int, int], ...] = ((AFI_IPV4, SAFI_UNICAST),)
    extended_nexthop: tuple[tuple[int, int, int], ...] = (IPV4_UNICAST_VIA_IPV6,)
    extended_message: bool = True
    route_refresh: bool = True
    enhanced_route_refresh: bool = False
    four_octet_as: bool = True
    graceful_restart_time: int | None = None
    extra_capabilities: tuple[caps.Capability, ...] = ()
    max_input_buffer: int = 4 * 1024 * 1024
    ll_style: LinkLocalStyle = "ll-ll"

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise SessionError(f"bad BGP session config: {problems[0]}")

    def problems(self) -> list[str]:
        """What is wrong with this config, one line each (empty when valid)."""
        out: list[str] = []
        if not 1 <= self.local_as <= 0xFFFFFFFF:
            out.append(f"local_as {self.local_as} is not 1..4294967295")
        elif not self.four_octet_as and self.local_as > 0xFFFF:
            out.append(f"local_as {self.local_as} needs four_octet_as")
        if isinstance(self.remote_as, int) and not 1 <= self.remote_as <= 0xFFFFFFFF:
            out.append(f"remote_as {self.remote_as} is not 1..4294967295")
        if isinstance(self.remote_as, str) and self.remote_as not in ("external", "internal"):
            out.append(f"remote_as {self.remote_as!r}: expected a number, 'external' "
                       "or 'internal'")
        if int(self.router_id) == 0:
            out.append("router_id 0.0.0.0 is not a valid BGP identifier")
        if self.hold_time != 0 and not 3 <= self.hold_time <= 0xFFFF:
            out.append(f"hold_time {self.hold_time}: expected 0 or 3..65535 seconds")
        for name in ("connect_retry_time", "idle_hold_time", "max_idle_hold_time"):
            if getattr(self, name) <= 0:
                out.append(f"{name} must be > 0 seconds")
        if not 0.0 <= self.timer_jitter < 1.0:
            out.append(f"timer_jitter {self.timer_jitter}: expected 0 <= jitter < 1")
        if self.max_input_buffer < 2 * 65535:
            out.append(f"max_input_buffer {self.max_input_buffer} is below 131070 bytes")
        if self.graceful_restart_time is not None and not 0 <= self.graceful_restart_time <= 4095:
            out.append(f"graceful_restart_time {self.graceful_restart_time} is not 0..4095")
        return out

    def capabilities(self) -> tuple[caps.Capability, ...]:
        """The capabilities our OPEN carries, in order."""
        out = [caps.cap_multiprotocol(afi, safi) for afi, safi in self.families]
        if self.route_refresh:
            out.append(caps.cap_route_refresh())
        if self.enhanced_route_refresh:
            out.append(caps.cap_enhanced_route_refresh())
        if self.extended_nexthop:
            out.append(caps.cap_extended_nexthop(self.extended_nexthop))
        if self.extended_message:
            out.append(caps.cap_extended_message())
        if self.graceful_restart_time is not None:
            out.append(caps.cap_graceful_restart(
                self.graceful_restart_time, 0, ((a, s, 0) for a, s in self.families)))
        if self.four_octet_as:
            out.append(caps.cap_four_octet_as(self.local_as))
        out.extend(self.extra_capabilities)
        return tuple(out)


@dataclass(slots=True)
class SessionCounters:
    """Running totals for metrics and ``show``; :meth:`as_dict` has stable keys."""

    bytes_received: int = 0
    bytes_sent: int = 0
    messages_received: dict[str, int] = field(default_factory=dict)
    messages_sent: dict[str, int] = field(default_factory=dict)
    prefixes_received: int = 0
    prefixes_withdrawn_received: int = 0
    prefixes_sent: int = 0
    prefixes_withdrawn_sent: int = 0
    notifications_sent: dict[str, int] = field(default_factory=dict)
    notifications_received: dict[str, int] = field(default_factory=dict)
    problems: dict[str, int] = field(default_factory=dict)
    established: int = 0
    down: int = 0
    input_overflows: int = 0
    internal_errors: int = 0
    update_decode_ns: int = 0  # time spent decoding UPDATE messages (for the decode rate)

    def as_dict(self) -> dict[str, int | dict[str, int]]:
        return {
            "bytes_received": self.bytes_received,
            "bytes_sent": self.bytes_sent,
            "messages_received": dict(sorted(self.messages_received.items())),
            "messages_sent": dict(sorted(self.messages_sent.items())),
            "prefixes_received": self.prefixes_received,
            "prefixes_withdrawn_received": self.prefixes_withdrawn_received,
            "prefixes_sent": self.prefixes_sent,
            "prefixes_withdrawn_sent": self.prefixes_withdrawn_sent,
            "notifications_sent": dict(sorted(self.notifications_sent.items())),
            "notifications_received": dict(sorted(self.notifications_received.items())),
            "problems": dict(sorted(self.problems.items())),
            "established": self.established,
            "down": self.down,
            "input_overflows": self.input_overflows,
            "internal_errors": self.internal_errors,
            "update_decode_ns": self.update_decode_ns,
        }


def _bump(table: dict[str, int], key: str, n: int = 1) -> None:
    table[key] = table.get(key, 0) + n


_TIMER_EVENTS = {
    Timer.CONNECT_RETRY: fsm.Event.CONNECT_RETRY_TIMER_EXPIRES,
    Timer.HOLD: fsm.Event.HOLD_TIMER_EXPIRES,
    Timer.KEEPALIVE: fsm.Event.KEEPALIVE_TIMER_EXPIRES,
}

_MESSAGE_ERROR_EVENT = {
    OPEN: fsm.Event.BGP_OPEN_MSG_ERR,
    UPDATE: fsm.Event.UPDATE_MSG_ERR,
}

_VERDICT_KIND = {
    Rfc7606.ATTRIBUTE_DISCARD: ev.ProblemKind.ATTRIBUTE_DISCARD,
    Rfc7606.TREAT_AS_WITHDRAW: ev.ProblemKind.TREAT_AS_WITHDRAW,
    Rfc7606.AFI_SAFI_DISABLE: ev.ProblemKind.AFI_SAFI_DISABLE,
}


class Session:
    """One BGP session with one peer over one transport connection."""

    def __init__(self, config: SessionConfig, now: float = 0.0, rng: random.Random | None = None) -> None:
        self.config = config
        self._rng = rng or random.Random()
        self.counters = SessionCounters()
        self._state = State.IDLE
        self._now = now
        self._timers = Timers()
        self._inbuf = bytearray()
        self._out: list[bytes] = []
        self._events: list[ev.Event] = []
        self._connected = False
        self._connecting = False
        self._auto_restart = False
        self._retry_counter = 0
        self._local_open: Open | None = None
        self._peer_open: Open | None = None
        self._negotiated: ev.Negotiated | None = None
        self._ctx = self._initial_context()
        self._disabled: set[tuple[int, int]] = set()
        # What the current FSM input carries, for the actions to use.
        self._cause = ""
        self._message: Message | None = None
        self._notification: Notification | None = None
        self._sent: Notification | None = None
        self._received: Notification | None = None

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> State:
        return self._state

    @property
    def established(self) -> bool:
        return self._state is State.ESTABLISHED

    @property
    def negotiated(self) -> ev.Negotiated | None:
        """The capabilities agreed with the peer (from OpenConfirm on)."""
        return self._negotiated

    @property
    def peer_open(self) -> Open | None:
        return self._peer_open

    @property
    def context(self) -> Context:
        """The codec context in use (negotiated once the peer's OPEN was accepted)."""
        return self._ctx

    @property
    def retry_counter(self) -> int:
        return self._retry_counter

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called (None: no timer runs)."""
        return self._timers.next_deadline()

    def data_to_send(self) -> bytes:
        """Bytes to write to the connection now (and forget)."""
        if not self._out:
            return b""
        data = b"".join(self._out)
        self._out.clear()
        return data

    # ------------------------------------------------------------------ inputs

    def start(self, now: float | None = None) -> list[ev.Event]:
        """ManualStart (passive if configured): begin connecting or listening."""
        self._tick(now)
        self._auto_restart = self.config.auto_restart
        event = fsm.Event.MANUAL_START_PASSIVE if self.config.passive else fsm.Event.MANUAL_START
        self._fire(event, "manual start")
        return self._drain()

    def stop(self, notification: Notification | None = None,
             now: float | None = None) -> list[ev.Event]:
        """ManualStop: send Cease (administrative shutdown unless given), go Idle, no restart."""
        self._tick(now)
        if notification is not None and notification.code != CEASE:
            raise SessionError(f"stop() sends a Cease (code 6), not code {notification.code}")
        self._fire(fsm.Event.MANUAL_STOP, "manual stop",
                   notification=notification or Notification(CEASE, CEASE_ADMIN_SHUTDOWN))
        return self._drain()

    def connection_made(self, now: float | None = None) -> list[ev.Event]:
        """The transport has a connection to the peer (ours or accepted)."""
        self._tick(now)
        if self._connected:
            raise SessionError("connection_made() while a connection is already up")
        self._connected = True
        self._connecting = False
        self._fire(fsm.Event.TCP_CONNECTION_CONFIRMED, "connection made")
        return self._drain()

    def connection_lost(self, now: float | None = None) -> list[ev.Event]:
        """The connection closed, or the connection attempt failed."""
        self._tick(now)
        was = self._connected or self._connecting
        self._connected = self._connecting = False
        if was:
            self._fire(fsm.Event.TCP_CONNECTION_FAILS, "connection lost")
        return self._drain()

    def handle_timer(self, now: float) -> list[ev.Event]:
        """Fire every timer due at ``now``, earliest first."""
        self._tick(now)
        for _ in range(64):  # each firing may start others; bounded
            timer = self._timers.pop_due(now)
            if timer is None:
                break
            if timer is Timer.IDLE_HOLD:
                if self._state is State.IDLE and self._auto_restart:
                    event = (fsm.Event.AUTOMATIC_START_PASSIVE if self.config.passive
                             else fsm.Event.AUTOMATIC_START)
                    self._fire(event, "automatic restart")
            else:
                self._fire(_TIMER_EVENTS[timer], f"{timer.value} expired")
        return self._drain()

    def receive_data(self, data: bytes | bytearray | memoryview,
                     now: float | None = None) -> list[ev.Event]:
        """Bytes from the peer -> events. Never raises for anything the peer sends."""
        self._tick(now)
        if not self._connected or self._state not in fsm.CONNECTED_STATES:
            return self._drain()
        self.counters.bytes_received += len(data)
        if len(self._inbuf) + len(data) > self.config.max_input_buffer:
            self.counters.input_overflows += 1
            self._fire(fsm.Event.AUTOMATIC_STOP,
                       f"input buffer limit {self.config.max_input_buffer} bytes exceeded",
                       notification=Notification(CEASE, CEASE_OUT_OF_RESOURCES))
            return self._drain()
        self._inbuf += data
        self._process_input()
        return self._drain()

    # ------------------------------------------------------------------ sending

    def announce(self, afi: int, safi: int, attrs: PathAttributes, nexthop: BgpNextHop,
                 keys: Iterable[int], path_ids: Iterable[int] | None = None) -> int:
        """Queue UPDATEs announcing ``keys`` with one attribute set and next hop.

        Prefixes are packed as many per message as fit. Returns the number of
        UPDATE messages queued. Raises :class:`SessionError` when not
        Established, the family was not negotiated, or the next hop cannot be
        sent (an IPv6 next hop for IPv4 without RFC 8950 negotiated).
        """
        ann = Announcement(afi, safi, nexthop, attrs, tuple(keys),
                           tuple(path_ids) if path_ids is not None else None)
        return self.send_routes([ann])

    def send_routes(self, announcements: Iterable[Announcement]) -> int:
        """Queue UPDATEs for many announcements; same (family, attrs, next hop) share messages.

        Returns the number of UPDATE messages queued.
        """
        neg = self._require_established("announce routes")
        # Group by value, hashing each distinct attrs/next-hop object once (they
        # are usually interned: many announcements share a few objects).
        # The id-keyed maps also hold the object itself, so an id is never reused.
        attrs_of: dict[int, tuple[PathAttributes, PathAttributes]] = {}
        nh_of: dict[int, tuple[BgpNextHop, BgpNextHop]] = {}
        attrs_canon: dict[PathAttributes, PathAttributes] = {}
        nh_canon: dict[BgpNextHop, BgpNextHop] = {}
        groups: dict[tuple[int, int, int, int], list[int]] = {}
        ids: dict[tuple[int, int, int, int], list[int]] = {}
        for ann in announcements:
            seen_a = attrs_of.get(id(ann.attrs))
            if seen_a is None:
                seen_a = attrs_of[id(ann.attrs)] = (
                    ann.attrs, attrs_canon.setdefault(ann.attrs, ann.attrs))
            seen_n = nh_of.get(id(ann.next_hop))
            if seen_n is None:
                seen_n = nh_of[id(ann.next_hop)] = (
                    ann.next_hop, nh_canon.setdefault(ann.next_hop, ann.next_hop))
            key = (ann.afi, ann.safi, id(seen_a[1]), id(seen_n[1]))
            keys = groups.get(key)
            if keys is None:
                keys = groups[key] = []
            keys.extend(ann.keys)
            if ann.path_ids is not None or key in ids:
                pids = ids.get(key)
                if pids is None:  # earlier announcements of the group had none: id 0
                    pids = ids[key] = [0] * (len(keys) - len(ann.keys))
                pids.extend(ann.path_ids if ann.path_ids is not None else (0,) * len(ann.keys))
        objs_a = {id(a): a for a in attrs_canon.values()}
        objs_n = {id(n): n for n in nh_canon.values()}
        merged: list[Announcement] = []
        for key, keys in groups.items():
            afi, safi, ida, idn = key
            nh = objs_n[idn]
            self._require_family(neg, afi, safi)
            if afi == AFI_IPV4 and nh.is_ipv6 and (afi, safi, 2) not in neg.extended_nexthop:
                raise SessionError(
                    f"cannot announce {afi_safi_name(afi, safi)} with IPv6 next hop "
                    f"{nh}: the peer did not negotiate extended next hop (RFC 8950)")
            merged.append(Announcement(afi, safi, nh, objs_a[ida], tuple(keys),
                                       tuple(ids[key]) if key in ids else None))
        try:
            messages = encode_updates(merged, self._ctx, ll_style=self.config.ll_style)
        except (EncodeError, ValueError) as exc:
            raise SessionError(f"cannot encode UPDATE: {exc}") from None
        self.counters.prefixes_sent += sum(len(a.keys) for a in merged)
        self._queue_updates(messages)
        return len(messages)

    def withdraw(self, afi: int, safi: int, keys: Iterable[int],
                 path_ids: Iterable[int] | None = None) -> int:
        """Queue UPDATEs withdrawing ``keys``; returns the number of messages queued."""
        neg = self._require_established("withdraw routes")
        self._require_family(neg, afi, safi)
        w = Withdrawal(afi, safi, tuple(keys), tuple(path_ids) if path_ids is not None else None)
        try:
            messages = encode_withdrawals(w, self._ctx)
        except (EncodeError, ValueError) as exc:
            raise SessionError(f"cannot encode withdrawal: {exc}") from None
        self.counters.prefixes_withdrawn_sent += len(w.keys)
        self._queue_updates(messages)
        return len(messages)

    def send_end_of_rib(self, afi: int, safi: int) -> None:
        """Queue the End-of-RIB marker for one family (RFC 4724 §2)."""
        neg = self._require_established("send End-of-RIB")
        self._require_family(neg, afi, safi)
        self._queue_updates([end_of_rib(afi, safi)])

    def send_route_refresh(self, afi: int, safi: int, subtype: int = 0) -> None:
        """Ask the peer to re-send a family (RFC 2918; ``subtype`` per RFC 7313)."""
        neg = self._require_established("send ROUTE-REFRESH")
        self._require_family(neg, afi, safi)
        if not neg.route_refresh:
            raise SessionError("the peer did not advertise the route refresh capability")
        if subtype and not neg.enhanced_route_refresh:
            raise SessionError("ROUTE-REFRESH subtype needs enhanced route refresh (RFC 7313)")
        self._send(RouteRefresh(afi, safi, subtype))

    def _require_established(self, what: str) -> ev.Negotiated:
        if self._state is not State.ESTABLISHED or self._negotiated is None:
            raise SessionError(f"cannot {what}: session is {self._state.value}, "
                               "not Established")
        return self._negotiated

    @staticmethod
    def _require_family(neg: ev.Negotiated, afi: int, safi: int) -> None:
        if (afi, safi) not in neg.families:
            raise SessionError(f"family {afi_safi_name(afi, safi)} was not negotiated "
                               "with this peer")

    def _queue_updates(self, messages: list[bytes]) -> None:
        if not messages:
            return
        self._out.extend(messages)
        self.counters.bytes_sent += sum(len(m) for m in messages)
        _bump(self.counters.messages_sent, "UPDATE", len(messages))
        self._restart_keepalive()

    # ------------------------------------------------------------------ input path

    def _tick(self, now: float | None) -> None:
        if now is not None:
            self._now = now

    def _drain(self) -> list[ev.Event]:
        out = self._events
        self._events = []
        return out

    def _process_input(self) -> None:
        """Cut whole messages off the input buffer and feed each to the FSM.

        Headers are checked one message at a time because the size limit
        changes once the OPENs are exchanged (RFC 8654 extended messages).
        In Established, the commonest UPDATE (IPv4 prefixes over an IPv6 next
        hop, nothing wrong with it) takes the fast path: consecutive ones are
        decoded by :func:`decode_run` into one ``RoutesReceivedRun`` event, with
        the FSM's only action for them (restart the hold timer) done once per
        read. Everything else goes through the FSM as before.
        """
        buf = self._inbuf
        data = bytes(buf)  # one copy per read: messages are sliced from bytes, not a bytearray
        i, n = 0, len(data)
        fast = self._fast_context()
        counters = self.counters
        events = self._events
        fast_updates = 0
        while n - i >= HEADER_LEN:
            if fast is not None:
                started = perf_counter_ns()
                run: list[Announced] = []
                try:
                    i, received = decode_run(data, i, fast, fast.max_len, run)
                except Exception:  # a fast-path bug: the general path decides
                    run = []
                if run:
                    counters.update_decode_ns += perf_counter_ns() - started
                    if not fast_updates:
                        self._do(Action.RESTART_HOLD_TIMER, State.ESTABLISHED)
                    fast_updates += len(run)
                    events.append(ev.RoutesReceivedRun(AFI_IPV4, SAFI_UNICAST, run))
                    counters.prefixes_received += received
                    if n - i < HEADER_LEN:
                        break
            try:
                mtype, length = check_header(data, i, self._ctx.max_len)
            except WireError as exc:
                del buf[:i]
                self._fast_done(fast_updates)
                self._fire(fsm.Event.BGP_HEADER_ERR,
                           f"message header error: {exc.verdict.reason}",
                           notification=_notification_of(exc))
                return
            if n - i < length:
                break
            raw = data[i : i + length]
            i += length
            self._fast_done(fast_updates)
            fast_updates = 0
            if not self._handle_message(mtype, raw):
                return  # the connection is gone and the buffer with it
            fast = self._fast_context()
        self._fast_done(fast_updates)
        del buf[:i]

    def _fast_context(self) -> Context | None:
        """The codec context if UPDATEs may take the fast path now, else None."""
        neg = self._negotiated
        if (self._state is not State.ESTABLISHED or neg is None
                or (AFI_IPV4, SAFI_UNICAST) not in neg.families
                or (AFI_IPV4, SAFI_UNICAST) in self._disabled
                or not fast_path_usable(self._ctx)):
            return None
        return self._ctx

    def _fast_done(self, count: int) -> None:
        if count:
            _bump(self.counters.messages_received, "UPDATE", count)

    def _handle_message(self, mtype: int, raw: bytes) -> bool:
        """Decode one message and fire its FSM event; False once the connection is gone."""
        name = MESSAGE_NAMES.get(mtype, str(mtype))
        _bump(self.counters.messages_received, name)
        started = perf_counter_ns()
        try:
            msg = decode_message(raw, self._ctx)
        except WireError as exc:
            event = _MESSAGE_ERROR_EVENT.get(mtype, fsm.Event.UPDATE_MSG_ERR)
            self._fire(event, f"{name} error: {exc.verdict.reason}",
                       notification=_notification_of(exc))
            return False
        except Exception as exc:  # a codec bug must not take the daemon down
            self.counters.internal_errors += 1
            event = _MESSAGE_ERROR_EVENT.get(mtype, fsm.Event.UPDATE_MSG_ERR)
            code = {OPEN: OPEN_ERROR, UPDATE: 3}.get(mtype, 1)
            self._fire(event, f"{name} could not be decoded ({type(exc).__name__}: {exc})",
                       notification=Notification(code, 0))
            return False
        if mtype == UPDATE:
            self.counters.update_decode_ns += perf_counter_ns() - started
        if isinstance(msg, Open):
            self._on_open(msg)
        elif isinstance(msg, Keepalive):
            self._fire(fsm.Event.KEEPALIVE_MSG, "KEEPALIVE received")
        elif isinstance(msg, Update):
            self._fire(fsm.Event.UPDATE_MSG, "UPDATE received", message=msg)
        elif isinstance(msg, Notification):
            self._received = msg
            _bump(self.counters.notifications_received, f"{msg.code}/{msg.subcode}")
            version_err = msg.code == OPEN_ERROR and msg.subcode == BAD_VERSION
            self._fire(fsm.Event.NOTIF_MSG_VER_ERR if version_err else fsm.Event.NOTIF_MSG,
                       f"NOTIFICATION {msg.code}/{msg.subcode} received", message=msg)
        else:
            self._fire(fsm.Event.ROUTE_REFRESH_MSG, "ROUTE-REFRESH received", message=msg)
        return self._connected and self._state in fsm.CONNECTED_STATES

    def _on_open(self, msg: Open) -> None:
        if self._state is not State.OPEN_SENT:
            self._fire(fsm.Event.BGP_OPEN, "unexpected OPEN", message=msg)
            return
        problem = self._check_open(msg)
        if problem is not None:
            reason, notification = problem
            self._fire(fsm.Event.BGP_OPEN_MSG_ERR, f"OPEN error: {reason}",
                       notification=notification)
            return
        self._fire(fsm.Event.BGP_OPEN, "OPEN accepted", message=msg)

    def peer_asn(self, msg: Open) -> int:
        """The peer's AS as we understand it (an old speaker ignores the 4-octet capability)."""
        return msg.asn if self.config.four_octet_as else msg.my_as

    def _check_open(self, msg: Open) -> tuple[str, Notification] | None:
        """RFC 4271 §6.2 / RFC 6793 / RFC 6286 checks: (reason, NOTIFICATION) or None."""
        cfg = self.config
        if msg.version != 4:
            return (f"version {msg.version} is not 4",
                    Notification(OPEN_ERROR, BAD_VERSION, (4).to_bytes(2, "big")))
        if msg.other_params:
            ptype = msg.other_params[0][0]
            return (f"unsupported optional parameter {ptype}",
                    Notification(OPEN_ERROR, UNSUPPORTED_PARAM))
        asn = self.peer_asn(msg)
        big = caps.four_octet_asn(msg.capabilities) if cfg.four_octet_as else None
        if asn == 0 or (big is not None and big <= 0xFFFF and msg.my_as != big):
            return (f"peer AS {asn} (my_as field {msg.my_as}) is invalid",
                    Notification(OPEN_ERROR, BAD_PEER_AS))
        expected = cfg.remote_as
        if ((isinstance(expected, int) and asn != expected)
                or (expected == "external" and asn == cfg.local_as)
                or (expected == "internal" and asn != cfg.local_as)):
            return (f"peer AS {asn} is not the expected {expected}",
                    Notification(OPEN_ERROR, BAD_PEER_AS))
        if int(msg.bgp_id) == 0 or (asn == cfg.local_as and msg.bgp_id == cfg.router_id):
            return (f"bad BGP identifier {msg.bgp_id}",
                    Notification(OPEN_ERROR, BAD_BGP_ID))
        if msg.hold_time in (1, 2):
            return (f"hold time {msg.hold_time} s is not 0 or >= 3",
                    Notification(OPEN_ERROR, UNACCEPTABLE_HOLD_TIME))
        return None

    # ------------------------------------------------------------------ FSM driver

    def _fire(self, event: fsm.Event, cause: str, *, message: Message | None = None,
              notification: Notification | None = None) -> None:
        old = self._state
        actions, new = fsm.transition(old, event)
        self._cause, self._message, self._notification = cause, message, notification
        for action in actions:
            self._do(action, old)
        self._message = self._notification = None
        self._state = new
        if new is not old:
            self._events.append(ev.StateChanged(old, new, cause))

    def _do(self, action: Action, old: State) -> None:
        t = self._timers
        if action is Action.INIT_RESOURCES:
            self._inbuf.clear()
            self._out.clear()
            self._peer_open = self._local_open = self._negotiated = None
            self._ctx = self._initial_context()
            self._disabled.clear()
            self._sent = self._received = None
        elif action is Action.RELEASE_RESOURCES:
            t.stop_all()
            self._inbuf.clear()
            self.counters.down += 1
            self._events.append(ev.SessionDown(self._cause, old is State.ESTABLISHED,
                                               self._sent, self._received))
            self._peer_open = self._negotiated = None
            self._ctx = self._initial_context()
            self._sent = self._received = None
        elif action is Action.RESET_RETRY_COUNTER:
            self._retry_counter = 0
        elif action is Action.INCREMENT_RETRY_COUNTER:
            self._retry_counter += 1
        elif action is Action.START_CONNECT_RETRY_TIMER:
            t.start(Timer.CONNECT_RETRY, self._now, self._jittered(self.config.connect_retry_time))
        elif action is Action.STOP_CONNECT_RETRY_TIMER:
            t.stop(Timer.CONNECT_RETRY)
        elif action is Action.INITIATE_TCP:
            self._connecting = True
            self._events.append(ev.ConnectRequested())
        elif action is Action.DROP_TCP:
            if self._connected or self._connecting:
                self._events.append(ev.DisconnectRequested())
            self._connected = self._connecting = False
            self._inbuf.clear()
        elif action is Action.SEND_OPEN:
            self._local_open = self._build_open()
            self._send(self._local_open)
        elif action is Action.SEND_KEEPALIVE:
            self._send(Keepalive())
        elif action is Action.SEND_NOTIFICATION:
            self._send_notification(self._notification or Notification(CEASE, 0))
        elif action is Action.SEND_FSM_ERROR:
            self._send_notification(Notification(FSM_ERROR, fsm.FSM_ERROR_SUBCODE.get(old, 0)))
        elif action is Action.SEND_HOLD_EXPIRED:
            self._send_notification(Notification(HOLD_EXPIRED, 0))
        elif action is Action.SEND_CEASE:
            self._send_notification(self._notification
                                    or Notification(CEASE, CEASE_ADMIN_SHUTDOWN))
        elif action is Action.START_LARGE_HOLD_TIMER:
            t.start(Timer.HOLD, self._now, LARGE_HOLD_TIME)
        elif action is Action.START_NEGOTIATED_TIMERS:
            neg = self._negotiated
            if neg is not None and neg.hold_time:
                t.start(Timer.HOLD, self._now, neg.hold_time)
                t.start(Timer.KEEPALIVE, self._now, neg.keepalive_time)
            else:
                t.stop(Timer.HOLD)
                t.stop(Timer.KEEPALIVE)
        elif action is Action.RESTART_HOLD_TIMER:
            if self._negotiated is not None and self._negotiated.hold_time:
                t.start(Timer.HOLD, self._now, self._negotiated.hold_time)
        elif action is Action.RESTART_KEEPALIVE_TIMER:
            self._restart_keepalive()
        elif action is Action.PROCESS_OPEN:
            assert isinstance(self._message, Open)
            self._accept_open(self._message)
        elif action is Action.PROCESS_UPDATE:
            assert isinstance(self._message, Update)
            self._process_update(self._message)
        elif action is Action.PROCESS_ROUTE_REFRESH:
            assert isinstance(self._message, RouteRefresh)
            rr = self._message
            neg = self._negotiated
            # RFC 7313: a family we did not negotiate, or an unknown subtype, is ignored.
            if neg is not None and (rr.afi, rr.safi) in neg.families:
                if rr.subtype == 0:
                    self._events.append(ev.RouteRefreshRequested(rr.afi, rr.safi))
                elif rr.subtype in (1, 2) and neg.enhanced_route_refresh:
                    self._events.append(ev.RefreshBoundary(rr.afi, rr.safi, rr.subtype == 1))
        elif action is Action.SESSION_UP:
            assert self._negotiated is not None
            self.counters.established += 1
            self._events.append(ev.SessionUp(self._negotiated))
        elif action is Action.START_IDLE_HOLD_TIMER:
            if self._auto_restart:
                backoff = 2 ** min(max(self._retry_counter - 1, 0), 16)
                delay = min(self.config.idle_hold_time * backoff, self.config.max_idle_hold_time)
                t.start(Timer.IDLE_HOLD, self._now, self._jittered(delay))
        elif action is Action.DISABLE_AUTO_RESTART:
            self._auto_restart = False
            t.stop(Timer.IDLE_HOLD)
        else:  # pragma: no cover - the table only holds the actions above
            raise AssertionError(action)

    # ------------------------------------------------------------------ helpers

    def _initial_context(self) -> Context:
        return Context(four_octet_as=self.config.four_octet_as)

    def _jittered(self, seconds: float) -> float:
        """``seconds`` times a random factor in [1 - timer_jitter, 1] (RFC 4271 §10)."""
        return seconds * (1.0 - self.config.timer_jitter * self._rng.random())

    def _restart_keepalive(self) -> None:
        neg = self._negotiated
        if neg is not None and neg.hold_time:
            self._timers.start(Timer.KEEPALIVE, self._now, neg.keepalive_time)

    def _send(self, msg: Message) -> None:
        data = encode(msg, self._ctx)
        self._out.append(data)
        self.counters.bytes_sent += len(data)
        _bump(self.counters.messages_sent, MESSAGE_NAMES[msg.TYPE])

    def _send_notification(self, n: Notification) -> None:
        # Whole messages not yet handed to the transport are void now.
        self._out.clear()
        self._sent = n
        _bump(self.counters.notifications_sent, f"{n.code}/{n.subcode}")
        max_data = self._ctx.max_len - 21
        self._send(Notification(n.code, n.subcode, n.data[:max_data]))

    def _build_open(self) -> Open:
        cfg = self.config
        my_as = cfg.local_as if cfg.local_as <= 0xFFFF else AS_TRANS
        return Open(my_as, cfg.hold_time, cfg.router_id, cfg.capabilities())

    def _accept_open(self, peer: Open) -> None:
        """Record the peer's OPEN and negotiate (it passed :meth:`_check_open`)."""
        local = self._local_open or self._build_open()
        remote_caps = peer.capabilities if self.config.four_octet_as else tuple(
            c for c in peer.capabilities if c.code != caps.FOUR_OCTET_AS)
        ctx = caps.negotiate(local.capabilities, remote_caps)
        hold = min(self.config.hold_time, peer.hold_time)
        gr: ev.GracefulRestartInfo | None = None
        for cap in caps.find(peer.capabilities, caps.GRACEFUL_RESTART):
            try:
                flags, rtime, fams = caps.parse_graceful_restart(cap.value)
            except caps.CapabilityError:
                continue
            gr = ev.GracefulRestartInfo(flags, rtime, fams)
            break
        local_fams = frozenset(self.config.families) or frozenset({(AFI_IPV4, SAFI_UNICAST)})
        rr_codes = (caps.ROUTE_REFRESH, caps.ROUTE_REFRESH_OLD)
        self._peer_open = peer
        self._ctx = ctx
        self._negotiated = ev.Negotiated(
            peer_as=self.peer_asn(peer),
            peer_router_id=peer.bgp_id,
            hold_time=hold,
            keepalive_time=hold // 3,
            four_octet_as=ctx.four_octet_as,
            families=local_fams & peer.families,
            extended_nexthop=ctx.extended_nexthop,
            extended_message=ctx.extended_message,
            route_refresh=self.config.route_refresh and any(peer.has(c) for c in rr_codes),
            enhanced_route_refresh=(self.config.enhanced_route_refresh
                                    and peer.has(caps.ENHANCED_ROUTE_REFRESH)),
            graceful_restart=gr,
            add_path_rx=ctx.add_path_rx,
            add_path_tx=ctx.add_path_tx,
            context=ctx,
            peer_capabilities=peer.capabilities,
        )

    def _process_update(self, upd: Update) -> None:
        """An UPDATE in Established -> route events, RFC 7606 verdicts -> problem events."""
        neg = self._negotiated
        assert neg is not None
        out = self._events
        for verdict in upd.verdicts:
            self._report(verdict, upd)
        for w in upd.withdrawals():
            fam = (w.afi, w.safi)
            if fam in self._disabled or fam not in neg.families or not w.keys:
                continue
            self.counters.prefixes_withdrawn_received += len(w.keys)
            out.append(ev.RoutesWithdrawn(w.afi, w.safi, w.keys, w.path_ids))
        for a in upd.announcements():
            fam = (a.afi, a.safi)
            if fam in self._disabled:
                continue
            if fam not in neg.families:
                self._problem(ev.UpdateProblem(
                    ev.ProblemKind.UNSUPPORTED_FAMILY,
                    f"routes for {afi_safi_name(a.afi, a.safi)}, which was not negotiated; "
                    "ignored", a.afi, a.safi, a.keys))
                continue
            self.counters.prefixes_received += len(a.keys)
            out.append(ev.RoutesReceived(a.afi, a.safi, a.keys, a.attrs, a.next_hop,
                                         a.path_ids))
        eor = upd.end_of_rib
        if eor is not None:
            out.append(ev.EndOfRib(*eor))

    def _report(self, verdict: Verdict, upd: Update) -> None:
        kind = _VERDICT_KIND.get(verdict.action)
        if kind is None:  # session-reset verdicts raise in the codec; never here
            return
        afi, safi = verdict.afi_safi if verdict.afi_safi is not None else (None, None)
        keys: tuple[int, ...] = ()
        if kind is ev.ProblemKind.TREAT_AS_WITHDRAW:
            if verdict.attr_type == MP_REACH_NLRI and verdict.afi_safi is not None:
                kind = ev.ProblemKind.NEXTHOP_NOT_NEGOTIATED
            keys = tuple(k for w in upd.treat_as_withdraw
                         if verdict.afi_safi in (None, (w.afi, w.safi)) for k in w.keys)
        elif kind is ev.ProblemKind.AFI_SAFI_DISABLE and verdict.afi_safi is not None:
            self._disabled.add(verdict.afi_safi)
        self._problem(ev.UpdateProblem(kind, verdict.reason, afi, safi, keys, verdict))

    def _problem(self, problem: ev.UpdateProblem) -> None:
        _bump(self.counters.problems, problem.kind.value)
        self._events.append(problem)


def _notification_of(exc: WireError) -> Notification:
    return Notification(exc.code, exc.subcode, exc.data)


__all__ = [
    "LARGE_HOLD_TIME",
    "MAX_MESSAGE",
    "RemoteAs",
    "Session",
    "SessionConfig",
    "SessionCounters",
    "SessionError",
]
