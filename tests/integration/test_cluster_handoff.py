"""The round-robin handoff checked from the worker's side: the test plays the primary
on a real channel (a socketpair, SCM_RIGHTS) with a real worker process, so it can hand
a connection under a peer address that is not its own."""

from __future__ import annotations

import array
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.helpers import DEFAULT_TIMEOUT
from tests.integration.cluster_harness import SERVE, Primary, fetch

from nodish.cluster.framing import Decoder, encode


class FakePrimary:
    """The primary's end of one worker's channel, driven by hand."""

    def __init__(self) -> None:
        self.sock, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = {**os.environ, "NODISH_UNIQUE_ID": "1", "NODISH_CHANNEL_FD": str(child.fileno())}
        env.pop("NODISH_CLUSTER_HEARTBEAT", None)
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVE), "rr"],
            env=env,
            pass_fds=(child.fileno(),),
            stderr=subprocess.PIPE,
        )
        child.close()
        self.decoder = Decoder()
        self.got: list[Any] = []
        self.seq = 1000

    def next(self, pred: Callable[[Any], bool]) -> Any:
        """The first message received (and not taken before) that ``pred`` accepts."""
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while True:
            for i, msg in enumerate(self.got):
                if pred(msg):
                    return self.got.pop(i)
            left = deadline - time.monotonic()
            assert left > 0 and select.select([self.sock], [], [], left)[0], self.got
            data = self.sock.recv(65536)
            assert data, "the worker closed its channel"
            self.got += self.decoder.feed(data)

    def send(self, msg: dict[str, Any], fd: int | None = None) -> None:
        self.seq += 1
        msg = {**msg, "seq": self.seq}
        if fd is None:
            self.sock.sendall(encode(msg))
            return
        frame = encode({"cmd": "NODE_HANDLE", "type": "net.Native", "msg": msg})
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]).tobytes())]
        assert self.sock.sendmsg([frame], anc) == len(frame)

    def close(self) -> str:
        """Close the channel (the worker exits, its primary gone); its stderr."""
        self.sock.close()
        _, err = self.proc.communicate(timeout=DEFAULT_TIMEOUT)
        return err.decode()


@pytest.fixture
def primary() -> Iterator[FakePrimary]:
    p = FakePrimary()
    try:
        yield p
    finally:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.communicate()


def test_a_connection_handed_with_another_peer_address_is_closed_unserved_and_logged(
    primary: FakePrimary,
) -> None:
    p = primary
    p.next(lambda m: m.get("act") == "online")
    query = p.next(lambda m: m.get("act") == "queryServer")
    listener = socket.create_server(("127.0.0.1", 0))
    with listener:
        port = listener.getsockname()[1]
        key = "127.0.0.1:0:4:-1:0"
        # the round-robin reply: the port lives in the primary
        p.send(
            {
                "cmd": "NODE_CLUSTER",
                "errno": None,
                "key": key,
                "ack": query["seq"],
                "data": None,
                "sockname": ["127.0.0.1", port],
            }
        )
        p.next(lambda m: m.get("act") == "listening")

        def hand(peer: Callable[[tuple[str, int]], list[Any]]) -> tuple[socket.socket, Any]:
            client = socket.create_connection(("127.0.0.1", port), timeout=DEFAULT_TIMEOUT)
            conn, addr = listener.accept()
            with conn:
                p.send(
                    {"cmd": "NODE_CLUSTER", "act": "newconn", "key": key, "peer": peer(addr)},
                    conn.fileno(),
                )
                seq = p.seq
                reply = p.next(lambda m: m.get("ack") == seq)
            return client, reply

        # a descriptor whose peer is not the one announced: never served
        wrong = ("127.0.0.1", 1)
        client, reply = hand(lambda addr: list(wrong))
        with client:
            assert reply["accepted"] is False and reply["mismatch"] is True, reply
            assert client.recv(100) == b""  # closed, no answer
            peer = client.getsockname()
        # the one announced: served as usual
        client, reply = hand(lambda addr: [addr[0], addr[1]])
        with client:
            assert reply["accepted"] is True and "mismatch" not in reply, reply
            assert client.recv(100) == f"1 {p.proc.pid}\n".encode()
        # no peer in the message (an older primary): served as usual
        client, reply = hand(lambda addr: None)  # type: ignore[arg-type,return-value]
        with client:
            assert reply["accepted"] is True, reply
            assert client.recv(100) == f"1 {p.proc.pid}\n".encode()
    err = p.close()
    # the log names both addresses
    assert f"127.0.0.1:1, is from {peer[0]}:{peer[1]}" in err, err
    assert err.count("closed") == 1, err


def test_the_primary_drops_a_connection_its_worker_found_mismatched() -> None:
    # the only worker takes its first connection for another one: the primary must not
    # hand that connection again (to it or anyone), and the next ones are served
    with Primary("rr", "--workers", "1", "--mismatch-first") as p:
        ready = p.ready()
        with pytest.raises(ValueError, match="bad answer b''"):
            fetch(ready.port)
        assert [fetch(ready.port)[0] for _ in range(3)] == [1, 1, 1]
        p.command(cmd="stats")
        assert p.event(lambda e: e["ev"] == "stats")["pending"] == {"1": 0}
