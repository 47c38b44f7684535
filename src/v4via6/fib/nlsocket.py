"""A NETLINK_ROUTE socket for bulk work: batched sends, answers matched by sequence.

``NlSocket.bulk`` takes an iterable of ready-packed requests and streams them to
the kernel in chunks of up to ``chunk_bytes`` per ``sendmsg``. Every request
asks for an ACK; since the kernel handles a whole ``sendmsg`` before it returns,
all answers of a chunk are queued when the send returns and are read right
away, so at most one chunk's answers are ever outstanding. The chunk is also
bounded by the receive buffer (``answer_cost`` bytes of queue per answer), so the
queue cannot overflow and no answer is lost to ENOBUFS.

Can be opened inside a named network namespace (``/run/netns/NAME``).
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from v4via6.fib import nlmsg
from v4via6.fib.backend import FibException, FibUnavailable

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"

#: Receive-queue bytes (skb truesize) one ACK or error may take, with margin.
ANSWER_COST = 2048
RECV_TIMEOUT = 60.0
_FENCE_BASE = 0x80000000  # fence seqs live above every request seq (< 0x80000000)
_FENCE_FLAGS = 0x01 | 0x04  # NLM_F_REQUEST | NLM_F_ACK
_ERRNO = struct.Struct("=i")
_HDR4 = struct.Struct("=IHHI")  # nlmsg_len, type, flags, seq


@dataclass(frozen=True, slots=True)
class Answer:
    """The kernel's reply to request number ``index`` of a bulk call (errno 0 = done)."""

    index: int
    errno: int
    text: str


@contextmanager
def _in_netns(name: str | None) -> Iterator[None]:
    """Run the body with this thread inside network namespace ``name``."""
    if name is None:
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        target = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY)
    except OSError as exc:
        raise FibUnavailable(f"network namespace {name!r}: {exc.strerror}") from None
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            code = ctypes.get_errno()
            raise FibUnavailable(f"cannot enter network namespace {name!r}: {os.strerror(code)}")
        try:
            yield
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:  # pragma: no cover - cannot happen as root
                raise FibException("could not return to the original network namespace")
    finally:
        os.close(target)
        os.close(home)


def open_route_socket(netns: str | None = None) -> socket.socket:
    """A plain NETLINK_ROUTE socket created inside network namespace ``netns`` (None = this one)."""
    with _in_netns(netns):
        try:
            return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        except OSError as exc:
            raise FibUnavailable(f"cannot open a netlink socket: {exc.strerror}") from None


class RawSocket(Protocol):
    """What NlSocket needs from a socket (a real netlink socket, or a fake in tests)."""

    def bind(self, address: tuple[int, int], /) -> None: ...
    def setsockopt(self, level: int, option: int, value: int, /) -> None: ...
    def getsockopt(self, level: int, option: int, /) -> int: ...
    def settimeout(self, value: float | None, /) -> None: ...
    def send(self, data: ReadableBuffer, /) -> int: ...
    def recv_into(self, buffer: bytearray, /) -> int: ...
    def close(self) -> None: ...


class NlSocket:
    """One rtnetlink socket; not thread-safe (one user at a time)."""

    def __init__(
        self,
        netns: str | None = None,
        *,
        chunk_bytes: int = 200_000,
        rcvbuf: int = 32 << 20,
        sock: RawSocket | None = None,
    ) -> None:
        self.sock: RawSocket
        self.sock = sock if sock is not None else open_route_socket(netns)
        self.sock.bind((0, 0))
        self._opt(socket.SOL_SOCKET, SO_SNDBUFFORCE, socket.SO_SNDBUF, max(chunk_bytes * 4, 1 << 20))
        self._opt(socket.SOL_SOCKET, SO_RCVBUFFORCE, socket.SO_RCVBUF, rcvbuf)
        for opt in (nlmsg.NETLINK_CAP_ACK, nlmsg.NETLINK_EXT_ACK):
            self._try(nlmsg.SOL_NETLINK, opt, 1)
        self.strict = self._try(nlmsg.SOL_NETLINK, nlmsg.NETLINK_GET_STRICT_CHK, 1)
        self.sock.settimeout(RECV_TIMEOUT)
        sndbuf = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        self.rcvbuf = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        self.chunk_bytes = max(4096, min(chunk_bytes, sndbuf // 2))
        self.chunk_msgs = max(16, self.rcvbuf // ANSWER_COST)
        self._buf = bytearray(1 << 20)
        self._seq = 0
        self._fence = 0

    def _opt(self, level: int, force: int, plain: int, size: int) -> None:
        try:
            self.sock.setsockopt(level, force, size)
        except OSError:
            self._try(level, plain, size)

    def _try(self, level: int, opt: int, value: int) -> bool:
        try:
            self.sock.setsockopt(level, opt, value)
        except OSError:
            return False
        return True

    def next_seq(self) -> int:
        if self._seq >= 0x40000000:
            self._seq = 0
        self._seq += 1
        return self._seq

    def close(self) -> None:
        self.sock.close()

    # --- bulk requests -----------------------------------------------------------

    def begin(self) -> int:
        """Reserve sequence numbers for a bulk call: request ``i`` must carry ``seq0 + i``.

        Request seqs stay below 0x80000000 (a bulk call may hold up to 2**30
        requests); fences use the range above.
        """
        if self._seq >= 0x40000000:
            self._seq = 0
        return self._seq + 1

    def bulk(
        self,
        seq0: int,
        requests: Iterable[bytes],
        on_answer: Callable[[Answer], None],
        *,
        errors_only: bool = False,
    ) -> int:
        """Send requests ``seq0, seq0+1, ...`` in chunks; report each answer.

        Requests are packed by the caller with their sequence number and flags
        (NLM_F_ACK on each when ``errors_only`` is False). ``on_answer`` gets an
        Answer per request (errno 0 = ACK) in order; with ``errors_only`` only
        failures are reported, and each chunk ends with an NLMSG_NOOP that asks
        for an ACK: answers come in order, so its ACK closes the chunk.
        Returns how many requests were sent.
        """
        chunk: list[bytes] = []
        size = 0
        first = 0
        limit_bytes = self.chunk_bytes
        limit_msgs = self.chunk_msgs
        for req in requests:
            chunk.append(req)
            size += len(req)
            if size >= limit_bytes or len(chunk) >= limit_msgs:
                first = self._flush(chunk, len(chunk), seq0, first, on_answer, errors_only)
                chunk = []
                size = 0
        return self._finish(chunk, seq0, first, on_answer, errors_only)

    def bulk_blocks(
        self,
        seq0: int,
        blocks: Iterable[tuple[bytes | bytearray, int]],
        on_answer: Callable[[Answer], None],
        *,
        errors_only: bool = False,
    ) -> int:
        """:meth:`bulk` for requests given as blocks ``(data, size)``: whole messages of
        ``size`` bytes each, back to back (a run of routes with one next-hop set, packed
        column by column). Chunks are cut by slicing, with no Python work per request.
        Same sequence numbering, answers and return value."""
        pieces: list[memoryview] = []
        count = 0
        size = 0
        first = 0
        limit_bytes = self.chunk_bytes
        limit_msgs = self.chunk_msgs
        for data, msize in blocks:
            total = len(data) // msize
            view = memoryview(data)
            at = 0
            while at < total:
                take = min(total - at, max(1, min(limit_msgs - count, (limit_bytes - size) // msize)))
                pieces.append(view[at * msize : (at + take) * msize])
                count += take
                size += msize * take
                at += take
                if size >= limit_bytes or count >= limit_msgs or size + msize > limit_bytes:
                    first = self._flush(pieces, count, seq0, first, on_answer, errors_only)
                    pieces = []
                    count = 0
                    size = 0
        if pieces:
            first = self._flush(pieces, count, seq0, first, on_answer, errors_only)
        self._seq = seq0 + first - 1
        return first

    def _flush(self, chunk: Sequence[bytes | memoryview], count: int, seq0: int, first: int,
               on_answer: Callable[[Answer], None], errors_only: bool) -> int:
        """Send one chunk (``count`` requests) of a bulk call whose requests before it number
        ``first``; return how many are sent with it and before."""
        self._send_chunk(chunk, count, seq0 + first, first, on_answer, errors_only)
        return first + count

    def _finish(self, chunk: list[bytes], seq0: int, first: int,
                on_answer: Callable[[Answer], None], errors_only: bool) -> int:
        """Send what is left of a bulk call, note its last sequence number; the request count."""
        if chunk:
            first = self._flush(chunk, len(chunk), seq0, first, on_answer, errors_only)
        self._seq = seq0 + first - 1
        return first

    def _send_chunk(
        self,
        chunk: Sequence[bytes | memoryview],
        count: int,
        seq_first: int,
        first_index: int,
        on_answer: Callable[[Answer], None],
        errors_only: bool,
    ) -> None:
        seq_last = seq_first + count - 1
        closing = seq_last
        if errors_only:
            self._fence = (self._fence + 1) & 0x7FFFFFFF
            closing = _FENCE_BASE | self._fence
            fence = nlmsg.NLMSGHDR.pack(16, nlmsg.NLMSG_NOOP, _FENCE_FLAGS, closing, 0)
            self._send(b"".join([*chunk, fence]))
        else:
            self._send(b"".join(chunk))
        self._collect(seq_first, seq_last, closing, first_index - seq_first, on_answer, errors_only)

    def _send(self, data: bytes | bytearray) -> None:
        view = memoryview(data)
        try:
            n = self.sock.send(view)
        except OSError as exc:
            raise FibException(f"netlink send failed: {exc.strerror}") from None
        if n != len(data):  # pragma: no cover - netlink sends are all-or-nothing
            raise FibException(f"netlink short send ({n} of {len(data)} bytes)")

    def _collect(
        self,
        seq_first: int,
        seq_last: int,
        closing: int,
        to_index: int,
        on_answer: Callable[[Answer], None],
        errors_only: bool,
    ) -> None:
        """Read answers until the one with seq ``closing`` (last request or fence) arrives."""
        expected = seq_first
        buf = self._buf
        unpack = nlmsg.NLMSGHDR.unpack_from
        err_unpack = _ERRNO.unpack_from
        while True:
            n = self._recv(buf)
            off = 0
            while off + 16 <= n:
                mlen, mtype, mflags, seq, _pid = unpack(buf, off)
                if mlen < 16:
                    raise FibException(f"netlink: malformed answer (length {mlen})")
                if mtype == nlmsg.NLMSG_ERROR and (seq_first <= seq <= seq_last or seq == closing):
                    code = -err_unpack(buf, off + 16)[0]
                    if seq == closing and errors_only:
                        return
                    if code or not errors_only:
                        if code:
                            text = nlmsg.parse_error(
                                buf, nlmsg.Message(mtype, mflags, seq, off + 16, off + mlen)
                            ).text
                        else:
                            text = ""
                        if not errors_only:
                            # Answers arrive in order; a gap means one was lost.
                            while expected < seq:
                                on_answer(Answer(expected + to_index, errno.ENOBUFS, "no answer"))
                                expected += 1
                            expected = seq + 1
                        on_answer(Answer(seq + to_index, code, text))
                    if seq == closing:
                        return
                off += (mlen + 3) & ~3

    def _recv(self, buf: bytearray) -> int:
        try:
            return self.sock.recv_into(buf)
        except TimeoutError:
            raise FibException("netlink: no answer from the kernel within 60 s") from None
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                raise FibException(
                    "netlink receive queue overflowed (ENOBUFS): some answers were lost"
                ) from None
            raise FibException(f"netlink receive failed: {exc.strerror}") from None

    # --- small requests and dumps ---------------------------------------------------

    def request(self, req: bytes) -> nlmsg.ErrorAnswer:
        """Send one request (seq stamped here) and wait for its ACK or error."""
        answers: list[Answer] = []
        seq = self.begin()
        self.bulk(seq, [stamp(req, seq)], answers.append)
        a = answers[0]
        return nlmsg.ErrorAnswer(a.index, a.errno, a.text)

    def dump(self, make: Callable[[int], bytes]) -> Iterator[tuple[bytearray, nlmsg.Message]]:
        """Run a dump request ``make(seq)``; yield ``(buffer, message)`` per answer.

        The buffer is reused between receives: use each message before the next.
        Raises FibException on an error answer (e.g. EOPNOTSUPP).
        """
        seq = self.next_seq()
        self._send(make(seq))
        buf = bytearray(1 << 16)
        while True:
            n = self._recv(buf)
            for msg in nlmsg.iter_messages(buf, n):
                if msg.seq != seq:
                    continue
                if msg.type == nlmsg.NLMSG_DONE:
                    return
                if msg.type == nlmsg.NLMSG_ERROR:
                    ans = nlmsg.parse_error(buf, msg)
                    raise DumpError(ans.errno, ans.text)
                yield buf, msg


    def dump_other_protocols(
        self, make: Callable[[int], bytes], own_protocol: int
    ) -> Iterator[tuple[bytearray, nlmsg.Message]]:
        """A route dump like :meth:`dump`, minus routes whose ``rtm_protocol`` is ``own_protocol``.

        Those are skipped in a tight loop without building a Message each: with a
        full table of own routes this is several times faster than :meth:`dump`.
        """
        seq = self.next_seq()
        self._send(make(seq))
        buf = bytearray(1 << 16)
        unpack = _HDR4.unpack_from
        done, error = nlmsg.NLMSG_DONE, nlmsg.NLMSG_ERROR
        while True:
            n = self._recv(buf)
            off = 0
            while off + 16 <= n:
                mlen, mtype, mflags, mseq = unpack(buf, off)
                if mlen < 16 or off + mlen > n:
                    raise ValueError(f"truncated netlink message at offset {off} (len {mlen})")
                if mseq == seq:
                    if mtype == done:
                        return
                    if mtype == error:
                        ans = nlmsg.parse_error(buf, nlmsg.Message(mtype, mflags, mseq, off + 16, off + mlen))
                        raise DumpError(ans.errno, ans.text)
                    if mlen < 28 or buf[off + 21] != own_protocol:  # rtmsg.rtm_protocol
                        yield buf, nlmsg.Message(mtype, mflags, mseq, off + 16, off + mlen)
                off += (mlen + 3) & ~3


def stamp(req: bytes, seq: int) -> bytes:
    """``req`` with its sequence number set and NLM_F_REQUEST|NLM_F_ACK added."""
    flags = int.from_bytes(req[6:8], "little") | nlmsg.NLM_F_REQUEST | nlmsg.NLM_F_ACK
    return req[:6] + flags.to_bytes(2, "little") + seq.to_bytes(4, "little") + req[12:]


class DumpError(FibException):
    """The kernel refused a dump request."""

    def __init__(self, code: int, text: str) -> None:
        detail = f": {text}" if text else ""
        super().__init__(f"netlink dump refused: {os.strerror(code)}{detail}")
        self.errno = code
