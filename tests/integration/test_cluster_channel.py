"""The cluster IPC channel in one process: a real socketpair, both ends on the loop."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from typing import Any

import pytest
from tests.helpers import wait_for

from nodish.cluster.channel import Channel
from nodish.cluster.framing import encode


class End:
    """One channel end that records what it receives and how it closed."""

    def __init__(self, sock: socket.socket, **kw: Any) -> None:
        self.got: list[Any] = []
        self.handles: list[Any] = []
        self.closed: asyncio.Future[BaseException | None] = (
            asyncio.get_running_loop().create_future()
        )
        self.waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.channel = Channel(sock, self._message, self._close, **kw)

    def _message(self, msg: Any, handle: Any) -> None:
        self.got.append(msg)
        if handle is not None:
            self.handles.append(handle)
        for n, fut in self.waiters:
            if len(self.got) >= n and not fut.done():
                fut.set_result(None)

    def _close(self, err: BaseException | None) -> None:
        if not self.closed.done():
            self.closed.set_result(err)

    async def count(self, n: int) -> None:
        if len(self.got) >= n:
            return
        fut = asyncio.get_running_loop().create_future()
        self.waiters.append((n, fut))
        await wait_for(fut)


def _raw(**kw: Any) -> tuple[socket.socket, End]:
    """A bare socket (to write any bytes) and the channel end opposite it."""
    raw, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return raw, End(theirs, **kw)


def _pair(**kw: Any) -> tuple[End, End]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return End(a, **kw), End(b, **kw)


async def test_messages_arrive_in_order_both_ways_with_big_ones_between() -> None:
    a, b = _pair()
    big = {"blob": "y" * (10 << 20)}  # 10 MiB, far beyond the socket buffer
    sent: list[Any] = [{"n": i} for i in range(2000)]
    sent.insert(1000, big)
    for m in sent:
        a.channel.send(m)
        b.channel.send(m)
    await a.count(len(sent))
    await b.count(len(sent))
    assert a.got == sent and b.got == sent
    a.channel.disconnect()
    assert await wait_for(b.closed) is None
    assert await wait_for(a.closed) is None


async def test_a_descriptor_travels_with_its_message_and_works_on_arrival() -> None:
    a, b = _pair()
    r, w = os.pipe()
    try:
        a.channel.send("before")
        a.channel.send({"here": "a pipe"}, ("pipe", w))
        a.channel.send("after")
        await b.count(3)
        assert b.got == ["before", {"here": "a pipe"}, "after"]
        [(kind, fd)] = b.handles
        assert kind == "pipe" and fd != w
        os.write(fd, b"through the copy")
        os.close(fd)
        assert os.read(r, 100) == b"through the copy"
    finally:
        os.close(r)
        os.close(w)
        a.channel.disconnect()
        await wait_for(b.closed)


async def test_a_malformed_frame_closes_the_channel_with_err_ipc_bad_message() -> None:
    raw, end = _raw()
    raw.sendall(b'{"ok":1}\n{not json}\n{"never":1}\n')
    err = await wait_for(end.closed)
    assert getattr(err, "code", None) == "ERR_IPC_BAD_MESSAGE"
    assert end.got == [{"ok": 1}]
    # the peer sees the channel closed
    raw.settimeout(5)
    assert raw.recv(10) == b""
    raw.close()


@pytest.mark.parametrize("stray", [False, True])
async def test_descriptors_out_of_step_with_handle_messages_close_the_channel(
    stray: bool,
) -> None:
    # a handle message whose descriptor never came, or a descriptor sent beside a plain
    # message: either would pair later descriptors with the wrong messages
    raw, end = _raw()
    r, w = os.pipe()
    try:
        if stray:
            anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, r.to_bytes(4, sys.byteorder))]
            raw.sendmsg([b'{"ok":1}\n'], anc)
        else:
            raw.sendall(b'{"ok":1}\n{"cmd":"NODE_HANDLE","type":"net.Socket","msg":2}\n')
        err = await wait_for(end.closed)
    finally:
        os.close(r)
        os.close(w)
    assert getattr(err, "code", None) == "ERR_IPC_BAD_MESSAGE"
    assert end.got == [{"ok": 1}] and end.handles == []
    raw.settimeout(5)
    assert raw.recv(10) == b""
    raw.close()


async def test_an_oversize_frame_closes_the_channel_before_its_end_arrives() -> None:
    raw, end = _raw(max_message=64 * 1024)
    raw.setblocking(False)
    raw.send(b'"' + b"z" * (64 * 1024 + 10))
    err = await wait_for(end.closed)
    assert getattr(err, "code", None) == "ERR_IPC_BAD_MESSAGE"
    raw.close()


async def test_send_after_disconnect_returns_false_and_calls_back_with_the_error() -> None:
    a, b = _pair()
    a.channel.disconnect()
    await wait_for(a.closed)
    got: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    assert a.channel.send("late", None, got.set_result) is False
    err = await wait_for(got)
    assert err.code == "ERR_IPC_CHANNEL_CLOSED"
    await wait_for(b.closed)


async def test_writes_beyond_the_socket_buffer_queue_and_flush_in_order() -> None:
    a, b = _pair()
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    chunk = "q" * (256 * 1024)
    for i in range(40):  # 10 MiB: far past the socketpair's buffer
        a.channel.send({"i": i, "c": chunk}, None, done.set_result if i == 39 else None)
    await b.count(40)
    assert [m["i"] for m in b.got] == list(range(40))
    assert await wait_for(done) is None
    a.channel.disconnect()
    await wait_for(b.closed)


async def test_send_returns_false_once_1024_frames_wait_and_all_arrive_in_order() -> None:
    # Node's process.send() backpressure hint: nothing reads during this loop turn, so
    # the kernel takes what fits in the socketpair and then the queue grows to 1024
    a, b = _pair()
    frame = "f" * 1000
    first_refused = None
    for i in range(20_000):
        if not a.channel.send({"i": i, "f": frame}):
            first_refused = i
            break
    assert first_refused is not None
    assert 1024 <= first_refused < 1024 + 8192, first_refused
    await b.count(first_refused + 1)
    assert [m["i"] for m in b.got] == list(range(first_refused + 1))
    a.channel.disconnect()
    await wait_for(b.closed)


async def test_the_peer_vanishing_is_an_end_not_an_error() -> None:
    raw, end = _raw()
    raw.sendall(b'"last words"\n')
    raw.close()
    assert await wait_for(end.closed) is None
    assert end.got == ["last words"]


async def test_what_a_vanished_peer_wrote_is_delivered_before_a_failed_write_closes() -> None:
    # The peer answers and goes; a write on this side meets the closed socket before
    # the loop has read the answer. The answer still counts (a worker's "accepted"
    # must reach the primary, else the connection is handed to a second worker).
    raw, end = _raw()
    raw.sendall(b'{"ack":1,"accepted":true}\n')
    raw.close()
    end.channel.send({"cmd": "NODE_CLUSTER", "act": "newconn"})
    assert await wait_for(end.closed) is None
    assert end.got == [{"ack": 1, "accepted": True}]


async def test_corked_batch_frames_go_out_together_and_other_frames_at_once() -> None:
    raw, end = _raw()
    ch = end.channel
    ch.cork()
    for i in range(3):
        ch.send_frame(encode({"batch": i}), batch=True)
    raw.setblocking(False)
    with pytest.raises(BlockingIOError):
        raw.recv(1000)  # held
    # a frame that is not a batch one goes at once, behind the ones held
    ch.send_frame(encode({"now": 1}))
    ch.send_frame(encode({"batch": 3}), batch=True)
    assert raw.recv(1000) == b"".join(
        encode(m) for m in [{"batch": i} for i in range(3)] + [{"now": 1}]
    )
    ch.uncork()
    assert raw.recv(1000) == encode({"batch": 3})
    raw.close()
    await wait_for(end.closed)
