"""NlSocket's bulk path against a fake kernel: chunking, ACKs, errors matched by seq."""

from __future__ import annotations

import errno
import socket
import struct
from collections import deque
from typing import TYPE_CHECKING

import pytest

from v4via6.fib import nlmsg
from v4via6.fib.backend import FibException
from v4via6.fib.nlsocket import ANSWER_COST, Answer, NlSocket

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

BAD_FIRST_OCTET = 203


class FakeKernel:
    """Answers route requests like rtnetlink: errors always, ACKs when asked for.

    A route whose destination starts with 203 fails with ENODEV (and extended-ack
    text). ``drop_seq`` loses that request's answer, as a full queue would.
    """

    def __init__(self, rcvbuf: int, drop_seq: int | None = None) -> None:
        self.rcvbuf = rcvbuf
        self.drop_seq = drop_seq
        self.queue: deque[bytes] = deque()
        self.sends: list[int] = []  # messages per send
        self.closed = False

    def bind(self, address: tuple[int, int], /) -> None:
        pass

    def setsockopt(self, level: int, option: int, value: int, /) -> None:
        pass

    def getsockopt(self, level: int, option: int, /) -> int:
        return self.rcvbuf if option == socket.SO_RCVBUF else 1 << 20

    def settimeout(self, value: float | None, /) -> None:
        pass

    def send(self, buffer: ReadableBuffer, /) -> int:
        data = bytes(buffer)
        msgs = list(nlmsg.iter_messages(data, len(data)))
        self.sends.append(len(msgs))
        for m in msgs:
            code, text = 0, b""
            if m.type == nlmsg.RTM_NEWROUTE and data[m.start + 16] == BAD_FIRST_OCTET:
                code, text = errno.ENODEV, b"Nexthop device is down\0"
            if m.seq == self.drop_seq:
                continue
            if code or m.flags & nlmsg.NLM_F_ACK:
                self.queue.append(answer(m.seq, code, text))
        return len(data)

    def recv_into(self, buffer: bytearray, /) -> int:
        if not self.queue:
            raise TimeoutError
        data = self.queue.popleft()
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.closed = True


def answer(seq: int, code: int, text: bytes) -> bytes:
    tlv = b""
    flags = nlmsg.NLM_F_CAPPED
    if text:
        flags |= nlmsg.NLM_F_ACK_TLVS
        tlv = nlmsg.rtattr(nlmsg.NLMSGERR_ATTR_MSG, text)
    body = struct.pack("=i", -code) + nlmsg.NLMSGHDR.pack(52, nlmsg.RTM_NEWROUTE, 0, seq, 0) + tlv
    return nlmsg.NLMSGHDR.pack(16 + len(body), nlmsg.NLMSG_ERROR, flags, seq, 0) + body


def route_requests(seq0: int, count: int, ack: bool) -> list[bytes]:
    flags = nlmsg.NLM_F_REQUEST | nlmsg.NLM_F_CREATE | nlmsg.NLM_F_EXCL
    if ack:
        flags |= nlmsg.NLM_F_ACK
    out = []
    for i in range(count):
        first = BAD_FIRST_OCTET if i % 10 == 3 else 198
        dst = bytes([first, 51, i // 256, i % 256])
        out.append(nlmsg.pack_route(nlmsg.RTM_NEWROUTE, flags, seq0 + i, dst, 32, 254, 0, 46))
    return out


@pytest.mark.parametrize("errors_only", [False, True])
def test_bulk_reports_every_error_by_index_across_chunks(errors_only: bool) -> None:
    kernel = FakeKernel(rcvbuf=16 * ANSWER_COST)  # 16 answers fit: chunks of 16
    nl = NlSocket(sock=kernel)
    assert nl.chunk_msgs == 16
    seq0 = nl.begin()
    answers: list[Answer] = []
    sent = nl.bulk(seq0, route_requests(seq0, 100, ack=not errors_only), answers.append,
                   errors_only=errors_only)
    assert sent == 100
    assert len(kernel.sends) == 7  # ceil(100 / 16)
    failures = [a for a in answers if a.errno]
    assert [a.index for a in failures] == list(range(3, 100, 10))
    assert all(a.errno == errno.ENODEV and a.text == "Nexthop device is down" for a in failures)
    if errors_only:
        assert answers == failures
    else:
        assert [a.index for a in answers] == list(range(100))
    # The next bulk call continues with fresh sequence numbers.
    assert nl.begin() == seq0 + 100


@pytest.mark.parametrize("errors_only", [False, True])
@pytest.mark.parametrize("split", [[100], [1, 99], [30, 0, 16, 54], [17] * 5 + [15]])
def test_bulk_blocks_answers_like_bulk_and_keeps_chunk_limits(errors_only: bool, split: list[int]) -> None:
    """Requests handed over as blocks (one run each) are numbered, chunked and answered
    exactly as one by one; no chunk exceeds the message or the byte limit."""
    answers: dict[str, list[Answer]] = {}
    for how in ("bulk", "lists"):
        kernel = FakeKernel(rcvbuf=16 * ANSWER_COST)  # 16 answers fit: chunks of 16
        nl = NlSocket(sock=kernel)
        nl.chunk_bytes = 10 * len(route_requests(0, 1, ack=True)[0]) + 5  # or 10 per chunk by bytes
        seq0 = nl.begin()
        reqs = route_requests(seq0, 100, ack=not errors_only)
        got: list[Answer] = []
        if how == "bulk":
            sent = nl.bulk(seq0, reqs, got.append, errors_only=errors_only)
        else:
            lists, at = [], 0
            for count in split:
                lists.append(reqs[at : at + count])
                at += count
            sent = nl.bulk_blocks(seq0, ((b"".join(part), len(reqs[0])) for part in lists if part), got.append,
                                  errors_only=errors_only)
        assert sent == 100 and nl.begin() == seq0 + 100
        fence = 1 if errors_only else 0  # a NOOP closes each chunk
        # bulk sends once a chunk reaches the byte limit; bulk_blocks stops short of it
        assert max(kernel.sends) - fence <= (10 if how == "lists" else 11)
        assert sum(kernel.sends) == 100 + fence * len(kernel.sends)
        answers[how] = got
    assert answers["lists"] == answers["bulk"]
    assert [a.index for a in answers["lists"] if a.errno] == list(range(3, 100, 10))


def test_lost_answer_is_reported_not_taken_as_success() -> None:
    kernel = FakeKernel(rcvbuf=64 * ANSWER_COST)
    nl = NlSocket(sock=kernel)
    seq0 = nl.begin()
    kernel.drop_seq = seq0 + 5
    answers: list[Answer] = []
    nl.bulk(seq0, route_requests(seq0, 20, ack=True), answers.append)
    lost = [a for a in answers if a.errno == errno.ENOBUFS]
    assert [a.index for a in lost] == [5]


def test_no_answer_raises_a_clear_error() -> None:
    kernel = FakeKernel(rcvbuf=64 * ANSWER_COST)
    nl = NlSocket(sock=kernel)
    seq0 = nl.begin()
    kernel.drop_seq = seq0  # the only (closing) answer never comes
    with pytest.raises(FibException, match="no answer from the kernel"):
        nl.bulk(seq0, route_requests(seq0, 1, ack=True), lambda a: None)


def test_request_returns_single_answer() -> None:
    nl = NlSocket(sock=FakeKernel(rcvbuf=1 << 16))
    bad = nlmsg.pack_route(nlmsg.RTM_NEWROUTE, 0, 0, bytes([203, 0, 113, 0]), 24, 254, 0, 46)
    ans = nl.request(bad)
    assert ans.errno == errno.ENODEV
    nl.close()


def test_stale_fence_from_an_interrupted_call_does_not_close_a_chunk() -> None:
    kernel = FakeKernel(rcvbuf=64 * ANSWER_COST)
    nl = NlSocket(sock=kernel)
    seq0 = nl.begin()
    nl.bulk(seq0, route_requests(seq0, 4, ack=False), lambda a: None, errors_only=True)
    kernel.queue.append(answer(0x80000001, 0, b""))  # that call's fence ACK, read twice
    seq0 = nl.begin()
    answers: list[Answer] = []
    nl.bulk(seq0, route_requests(seq0, 10, ack=False), answers.append, errors_only=True)
    assert [a.index for a in answers] == [3]
