"""The Redis adapter, in the wire format of ``@socket.io/redis-adapter`` v8.

Theory of operation
-------------------
Servers that share a Redis share their broadcasts. For a namespace ``nsp`` and the
key prefix ``key`` (``socket.io`` by default), as the official adapter does:

* a broadcast is published on ``{key}#{nsp}#`` (or ``{key}#{nsp}#{room}#`` when it
  targets exactly one room) as msgpack ``[uid, packet, {rooms, except, flags}]``,
  ``packet`` being ``{type, data, nsp}``; every server pattern-subscribes to
  ``{key}#{nsp}#*``, drops what its own ``uid`` sent, and delivers the rest to its
  local sockets;
* requests between servers (``fetch_sockets``, ``sockets_join``/``sockets_leave``,
  ``disconnect_sockets``, ``server_side_emit``, ``all_rooms``, broadcasts with acks)
  go on ``{key}-request#{nsp}#`` as JSON (msgpack for broadcasts with acks, whose
  packet may hold binary), and answers on ``{key}-response#{nsp}#``; a request waits
  for as many answers as ``PUBSUB NUMSUB`` counts servers, or ``requests_timeout``.

One :class:`RedisBridge` per ``create_redis_adapter`` call carries every namespace
(of every server given that factory; a channel may have several handlers):
one pub/sub connection (from ``sub_client``) read by one task, and a publish queue
sent as one pipeline per turn of the loop (``pub_client``), in order.

Redis going away never stops the server: publishes that fail are counted in
``lost`` (and logged, once per outage), requests answer with local data only, the
reader reconnects with backoff and subscribes again to every channel and pattern,
and local clients are served throughout. While the publisher cannot connect, it
retries with the same backoff and counts what is broadcast meanwhile as lost at
once (no connect per broadcast, no queue growing while Redis is known to be away;
during a connection attempt publishes are queued, as node-redis's offline queue
does). A Redis that answers with errors (``NOAUTH``, an ACL refusal) is an outage
too: the reader is ``connected`` only once Redis confirmed every subscription, and
refused publishes are counted and logged once. A stalled Redis never hangs a
request (counting servers gives up after ``requests_timeout``) nor ``aclose()``
(its ``timeout``); closing the adapter ends its requests in flight at once.

Whatever arrives on the adapter's channels is checked before it is used, as any
program may publish there: a message that is not msgpack or JSON, or not of the
official adapter's shape (a broadcast that is not ``[uid, event packet, opts]``,
rooms that are not a list, a request or response with fields of the wrong type)
is dropped alone, counted in ``dropped`` and logged in one line at most every 10
seconds. Responses to requests this server did not make are ignored silently,
since every server reads every response on the shared channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import runtime, timers
from . import parser as sio
from .adapter import Adapter, BroadcastOptions

if TYPE_CHECKING:
    from .namespace import Namespace

__all__ = ["RedisAdapter", "RedisBridge", "create_redis_adapter"]

logger = logging.getLogger("nodish.socketio.redis")

# RequestType of the official adapter
SOCKETS = 0
ALL_ROOMS = 1
REMOTE_JOIN = 2
REMOTE_LEAVE = 3
REMOTE_DISCONNECT = 4
REMOTE_FETCH = 5
SERVER_SIDE_EMIT = 6
BROADCAST = 7
BROADCAST_CLIENT_COUNT = 8
BROADCAST_ACK = 9

_BACKOFF_MIN = 0.05
# bytes of PUBLISH commands the kernel has not taken yet before the publisher waits
_MAX_UNSENT = 8 << 20
_BACKOFF_MAX = 2.0
# at most one log line about malformed messages in this many seconds
_DROP_LOG_INTERVAL = 10.0


class RedisReplyError(Exception):
    """An error reply from Redis (``-ERR``, ``-NOAUTH``), as hiredis's ``ReplyError``."""


class _MalformedError(ValueError):
    """A message on the adapter's channels that is not of the official adapter's shape."""


@functools.cache
def _msgpack() -> Any:
    import msgpack

    return msgpack


def _ext_hook(code: int, data: bytes) -> Any:
    # notepack.io writes JavaScript's undefined as fixext 1, type 0
    if code == 0:
        return None
    return _msgpack().ExtType(code, data)


def mp_encode(obj: Any, strict: bool = False) -> bytes:
    """msgpack as ``notepack.io`` writes it (bytes as bin, str as str).

    ``strict`` (what a user emits) refuses what the local JSON encoding refuses (a
    set), so that an emit either raises before anything is sent or reaches all.
    """
    default = _mp_strict_default if strict else _mp_default
    out: bytes = _msgpack().packb(obj, use_bin_type=True, default=default)
    return out


def _mp_strict_default(obj: Any) -> Any:
    if isinstance(obj, (set, frozenset)):
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")
    return _mp_default(obj)


def _mp_default(obj: Any) -> Any:
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, memoryview):
        return bytes(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} for Redis")


def mp_decode(data: bytes) -> Any:
    return _msgpack().unpackb(data, raw=False, ext_hook=_ext_hook, strict_map_key=False)


def _json_default(obj: Any) -> Any:
    # JSON.stringify(Buffer) gives {"type":"Buffer","data":[...]}
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return {"type": "Buffer", "data": list(bytes(obj))}
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def js_encode(obj: Any, strict: bool = False) -> bytes:
    """JSON as ``JSON.stringify`` writes it; ``strict`` as for :func:`mp_encode`."""
    return json.dumps(
        obj,
        separators=(",", ":"),
        ensure_ascii=False,
        default=_json_strict_default if strict else _json_default,
    ).encode()


def _json_strict_default(obj: Any) -> Any:
    if isinstance(obj, (set, frozenset)):
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")
    return _json_default(obj)


def decode_request(data: bytes) -> Any:
    """A request or response: JSON when it starts with ``{``, else msgpack."""
    if data[:1] == b"{":
        return json.loads(data)
    return mp_decode(data)


class _Resp:
    """A small RESP2/RESP3 reader with hiredis's ``feed``/``gets`` (when hiredis is absent).

    Pub/sub traffic only holds arrays (or pushes) of bulk strings and integers.
    """

    __slots__ = ("_buf", "_pos")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def gets(self) -> Any:
        try:
            value, pos = self._parse(self._pos)
        except (IndexError, ValueError):  # incomplete: wait for more
            return False
        self._pos = pos
        return value

    def _parse(self, pos: int) -> tuple[Any, int]:
        buf = self._buf
        end = buf.index(b"\r\n", pos)
        kind = buf[pos]
        head = bytes(buf[pos + 1 : end])
        pos = end + 2
        if kind in (0x2A, 0x3E):  # '*' array, '>' push
            n = int(head)
            items = []
            for _ in range(max(n, 0)):
                item, pos = self._parse(pos)
                items.append(item)
            return (items if n >= 0 else None), pos
        if kind == 0x24:  # '$' bulk string
            n = int(head)
            if n < 0:
                return None, pos
            if len(buf) < pos + n + 2:
                raise IndexError
            return bytes(buf[pos : pos + n]), pos + n + 2
        if kind == 0x3A:  # ':' integer
            return int(head), pos
        if kind == 0x2D:  # '-' error
            return RedisReplyError(head.decode("utf-8", "replace")), pos
        return head, pos  # '+' and anything else: the line itself


# the opts of a broadcast to all, decoded and as notepack.io writes them
_NO_OPTS: dict[str, Any] = {"rooms": [], "except": [], "flags": {}}
_MP_NO_OPTS = b"\x83\xa5rooms\x90\xa6except\x90\xa5flags\x80"


def _publish_command(channel: str, message: bytes) -> bytes:
    c = channel.encode("utf-8")
    return b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
        len(c),
        c,
        len(message),
        message,
    )


def resp_reader() -> Any:
    """hiredis's Reader when installed, else :class:`_Resp`."""
    try:
        import hiredis
    except ImportError:
        return _Resp()
    return hiredis.Reader()


def _uid() -> str:
    return secrets.token_hex(3)


def _flags_out(flags: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in flags.items() if k != "expect_single_response"}
    if out.get("timeout") is not None:
        out["timeout"] = round(out["timeout"] * 1000)
    if flags.get("expect_single_response"):
        out["expectSingleResponse"] = True
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_room(value: Any) -> bool:
    return isinstance(value, str) or _is_number(value)


def _rooms_in(value: Any, what: str) -> list[Any]:
    """A list of rooms (str or numbers) from another server; absent is none."""
    if type(value) is list:
        for room in value:
            if type(room) is not str and not _is_number(room):
                raise _MalformedError(f"{what} is not a list of rooms")
        return value
    if value is None:
        return []
    raise _MalformedError(f"{what} is not a list of rooms")


def _flags_in(flags: Any) -> dict[str, Any]:
    if flags is None:
        return {}
    if not isinstance(flags, dict):
        raise _MalformedError("flags is not a map")
    out = dict(flags)
    timeout = out.get("timeout")
    if timeout is not None:
        if not _is_number(timeout):
            raise _MalformedError("flags.timeout is not a number")
        out["timeout"] = timeout / 1000
    return out


def _opts_in(raw: Any) -> BroadcastOptions:
    if raw == _NO_OPTS:
        return BroadcastOptions()
    if not isinstance(raw, dict):
        raise _MalformedError("opts is not a map")
    return BroadcastOptions(
        _rooms_in(raw.get("rooms"), "opts.rooms"),
        _rooms_in(raw.get("except"), "opts.except"),
        _flags_in(raw.get("flags")),
    )


def _str_in(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise _MalformedError(f"{what} is not a string")
    return value


def _short(exc: BaseException) -> str:
    text = str(exc)
    if len(text) > 200:
        text = text[:200] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class RedisBridge:
    """One pub/sub reader and one batched publisher shared by a factory's adapters."""

    def __init__(self, pub_client: Any, sub_client: Any) -> None:
        self.pub = pub_client
        self.sub = sub_client
        self.lost = 0
        self.dropped = 0
        self.connected = False
        # handlers by channel and pattern: several servers may share one factory
        self._channels: dict[str, list[Callable[[str, bytes], Any]]] = {}
        self._patterns: dict[str, list[Callable[[str, bytes], Any]]] = {}
        self._conn: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._queue: list[tuple[str, bytes]] = []
        self._flush_scheduled = False
        self._flusher: asyncio.Task[None] | None = None
        self._pub_conn: Any = None
        self._pub_parser: Any = None
        self._outage_logged = False
        self._refused_logged = False
        self._closed = False
        self._backoff = _BACKOFF_MIN
        self._unconfirmed = 0
        # the publisher's connection failed: until this loop time, broadcasts are lost
        self._pub_down_until = 0.0
        self._pub_backoff = _BACKOFF_MIN
        self._drop_log_at = 0.0
        self._dropped_logged = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    # subscriptions ----------------------------------------------------------------------
    def subscribe(
        self,
        channels: list[str],
        patterns: list[str],
        handler: Callable[[str, bytes], Any],
    ) -> None:
        # a factory used again after its servers closed starts over
        self._closed = False
        channels = _add_handler(self._channels, channels, handler)
        patterns = _add_handler(self._patterns, patterns, handler)
        if self._reader is None:
            self._reader = runtime.get_loop().create_task(self._read())
        elif self._conn is not None:
            self._spawn(self._command(self._conn, "PSUBSCRIBE", patterns))
            self._spawn(self._command(self._conn, "SUBSCRIBE", channels))

    def unsubscribe(
        self, channels: list[str], patterns: list[str], handler: Callable[[str, bytes], Any]
    ) -> None:
        channels = _remove_handler(self._channels, channels, handler)
        patterns = _remove_handler(self._patterns, patterns, handler)
        if not self._channels and not self._patterns:
            self.close()
        elif self._conn is not None:
            self._spawn(self._command(self._conn, "PUNSUBSCRIBE", patterns))
            self._spawn(self._command(self._conn, "UNSUBSCRIBE", channels))

    @staticmethod
    async def _command(conn: Any, command: str, names: list[str]) -> None:
        if names:
            with contextlib.suppress(Exception):
                await conn.send_command(command, *names)

    def _spawn(self, coro: Any) -> None:
        task = runtime.get_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _connection(self, client: Any) -> Any:
        # our own connection of the client's pool; we retry with our backoff, so
        # redis-py's retries (seconds of sleeping per attempt by default) are off
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        conn = client.connection_pool.make_connection()
        conn.retry = Retry(NoBackoff(), 0)
        return conn

    async def _read(self) -> None:
        # A connection of the sub client's pool (its address, credentials, protocol),
        # read raw and parsed in bulk: redis-py's PubSub costs some 25 us per message
        # in Python, more than the whole budget of a bridged broadcast.
        # ``connected`` once Redis confirms every subscription (_dispatch): a Redis that
        # answers one with an error is an outage, retried with backoff.
        while not self._closed:
            conn = self._connection(self.sub)
            try:
                await conn.connect()
                # from now on, subscribe() sends what a new namespace needs on this
                # connection itself (commands are written whole, never interleaved)
                self._conn = conn
                # connected once Redis confirmed every one of these (_dispatch)
                self._unconfirmed = len(self._patterns) + len(self._channels)
                if self._patterns:
                    await conn.send_command("PSUBSCRIBE", *self._patterns)
                if self._channels:
                    await conn.send_command("SUBSCRIBE", *self._channels)
                stream = conn._reader
                parser = resp_reader()
                while not self._closed:
                    data = await stream.read(1 << 16)
                    if not data:
                        raise ConnectionError("Redis closed the connection")
                    parser.feed(data)
                    while True:
                        msg = parser.gets()
                        if msg is False:
                            break
                        self._dispatch(msg)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._on_outage(exc, reader=True)
            finally:
                self._conn = None
                with contextlib.suppress(Exception):
                    await conn.disconnect()
            if self._closed:
                return
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, _BACKOFF_MAX)

    def _dispatch(self, msg: Any) -> None:
        if not isinstance(msg, list) or not msg:
            if isinstance(msg, Exception):
                raise ConnectionError(f"Redis refused the subscription ({_short(msg)})")
            return
        kind = msg[0]
        if kind == b"pmessage" and len(msg) == 4:
            handlers = self._patterns.get(msg[1].decode("utf-8", "replace"))
            channel, data = msg[2], msg[3]
            name = channel.decode("utf-8", "replace")
        elif kind == b"message" and len(msg) == 3:
            channel, data = msg[1], msg[2]
            name = channel.decode("utf-8", "replace")
            handlers = self._channels.get(name)
        else:
            if kind in (b"subscribe", b"psubscribe") and self._unconfirmed > 0:
                self._unconfirmed -= 1
                if not self._unconfirmed:
                    self._on_connected()
            return
        if handlers is None:
            return
        for handler in handlers:
            try:
                handler(name, data)
            except Exception as exc:
                # a malformed message from another program must not stop the reader
                self._drop(channel, exc)

    def _drop(self, channel: bytes, exc: Exception) -> None:
        self.dropped += 1
        now = time.monotonic()
        if now < self._drop_log_at:
            return
        self._drop_log_at = now + _DROP_LOG_INTERVAL
        more = self.dropped - self._dropped_logged - 1
        self._dropped_logged = self.dropped
        logger.warning(
            "dropped a malformed message on Redis channel %r (%s)%s",
            channel[:100].decode("utf-8", "replace"),
            _short(exc),
            f"; {more} more dropped since the last report" if more else "",
        )

    def _on_connected(self) -> None:
        self.connected = True
        self._backoff = _BACKOFF_MIN
        self._pub_down_until = 0.0
        self._pub_backoff = _BACKOFF_MIN
        if self._outage_logged:
            logger.warning("Redis is back; %d messages were lost meanwhile", self.lost)
        self._outage_logged = False

    def _on_outage(self, exc: BaseException, reader: bool = False) -> None:
        if reader:
            self.connected = False
        if not self._outage_logged and not self._closed:
            self._outage_logged = True
            logger.warning("Redis unreachable (%r); serving local clients only", exc)

    # publishing ----------------------------------------------------------------------------
    def publish(self, channel: str, message: bytes) -> None:
        """Queue a publish; the queue goes out as one pipeline per turn of the loop."""
        if self._closed:
            self.lost += 1
            return
        if self._pub_down_until and runtime.get_loop().time() < self._pub_down_until:
            self.lost += 1
            return
        self._queue.append((channel, message))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            runtime.get_loop().call_soon(self._start_flush)

    def _start_flush(self) -> None:
        self._flush_scheduled = False
        if self._queue and (self._flusher is None or self._flusher.done()):
            self._flusher = runtime.get_loop().create_task(self._flush())

    async def _flush(self) -> None:
        # PUBLISH commands written raw, one write per turn's batch, on a connection of
        # the pub client's pool, and their replies parsed in bulk: redis-py's pipeline
        # spends tens of microseconds per command in Python. Batches are pipelined: what
        # is queued while replies are awaited is written before waiting further.
        inflight = 0
        while self._queue or inflight:
            try:
                conn = self._pub_conn
                if conn is not None and not inflight and conn._reader.at_eof():
                    # closed by Redis (or a CLIENT KILL) while idle: nothing written is
                    # lost yet, so this batch goes on a new connection
                    await self._drop_pub_conn()
                    conn = None
                if conn is None:
                    conn = self._connection(self.pub)
                    await conn.connect()
                    self._pub_conn = conn
                    self._pub_parser = resp_reader()
                    self._pub_down_until = 0.0
                    self._pub_backoff = _BACKOFF_MIN
                    if self._outage_logged and self.connected:
                        self._on_connected()
                if self._queue:
                    batch, self._queue = self._queue, []
                    inflight += len(batch)
                    conn._writer.write(b"".join([_publish_command(c, m) for c, m in batch]))
                    if conn._writer.transport.get_write_buffer_size() > _MAX_UNSENT:
                        await conn._writer.drain()
                    continue
                reply = self._pub_parser.gets()
                if reply is False:
                    data = await conn._reader.read(1 << 16)
                    if not data:
                        raise ConnectionError("Redis closed the connection")
                    self._pub_parser.feed(data)
                    continue
                inflight -= 1
                if isinstance(reply, Exception):
                    self.lost += 1
                    if not self._refused_logged:
                        self._refused_logged = True
                        logger.warning(
                            "Redis refuses our publishes (%s); counting them as lost",
                            _short(reply),
                        )
                elif self._refused_logged:
                    self._refused_logged = False
                    logger.warning("Redis accepts our publishes again")
            except asyncio.CancelledError:
                self.lost += inflight + len(self._queue)
                self._queue = []
                raise
            except Exception as exc:
                # written but unconfirmed, or not writable: counted as lost
                self.lost += inflight + len(self._queue)
                inflight = 0
                self._queue = []
                self._on_outage(exc)
                if self._pub_conn is None:
                    # could not connect: broadcasts are lost at once until the next try
                    self._pub_down_until = runtime.get_loop().time() + self._pub_backoff
                    self._pub_backoff = min(self._pub_backoff * 2, _BACKOFF_MAX)
                await self._drop_pub_conn()
        if self._closed:
            await self._drop_pub_conn()

    async def _drop_pub_conn(self) -> None:
        conn, self._pub_conn = self._pub_conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.disconnect()

    async def server_count(self, channel: str, timeout: float | None = None) -> int:
        """How many servers listen on ``channel`` (``PUBSUB NUMSUB``); 1 when unknown.

        A Redis that does not answer within ``timeout`` (stalled, or a network that
        drops packets) counts as unknown, so that requests never hang on it.
        """
        if not self.connected:
            # Redis is away: requests are answered with local data at once, rather than
            # after the client's own retries (seconds by default)
            return 1
        try:
            result = await asyncio.wait_for(self.pub.pubsub_numsub(channel), timeout)
        except Exception as exc:
            self._on_outage(exc)
            return 1
        try:
            return max(1, int(result[0][1]))
        except (IndexError, TypeError, ValueError):
            return 1

    def close(self) -> None:
        """Stop reading (the Redis clients stay the caller's to close)."""
        if self._closed:
            return
        self._closed = True
        self.connected = False
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            self._tasks.add(reader)  # aclose() waits for it to let go of its connection
            reader.add_done_callback(self._tasks.discard)
        if self._pub_conn is not None and (self._flusher is None or self._flusher.done()):
            self._spawn(self._drop_pub_conn())

    async def aclose(self, timeout: float = 5.0) -> None:
        """Send what is queued, stop reading and wait until both connections are closed.

        What a stalled Redis has not confirmed within ``timeout`` seconds is lost.
        """
        self._start_flush()
        self.close()
        loop = runtime.get_loop()
        deadline = loop.time() + timeout
        while True:
            tasks = set(self._tasks)
            if self._flusher is not None and not self._flusher.done():
                tasks.add(self._flusher)
            if not tasks:
                break
            _, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))
            if pending and loop.time() >= deadline:
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending)
        await self._drop_pub_conn()


def _add_handler(
    table: dict[str, list[Callable[[str, bytes], Any]]],
    names: list[str],
    handler: Callable[[str, bytes], Any],
) -> list[str]:
    """Add ``handler`` for each name; the names that were not subscribed yet."""
    new = [n for n in names if n not in table]
    for n in names:
        table.setdefault(n, []).append(handler)
    return new


def _remove_handler(
    table: dict[str, list[Callable[[str, bytes], Any]]],
    names: list[str],
    handler: Callable[[str, bytes], Any],
) -> list[str]:
    """Remove ``handler`` for each name; the names that no handler wants any more."""
    gone = []
    for n in names:
        handlers = table.get(n)
        if handlers is not None and handler in handlers:
            handlers.remove(handler)
            if not handlers:
                del table[n]
                gone.append(n)
    return gone


class _Request:
    __slots__ = (
        "fail",
        "msg_count",
        "num_sub",
        "resolve",
        "responses",
        "rooms",
        "sockets",
        "timer",
        "type",
    )

    def __init__(self, type_: int, num_sub: int, resolve: Callable[..., Any]) -> None:
        self.type = type_
        self.num_sub = num_sub
        self.resolve = resolve
        self.msg_count = 1
        self.fail: Callable[[BaseException], Any] | None = None
        self.timer: timers.Timeout | None = None
        self.sockets: Any = None
        self.rooms: set[Any] = set()
        self.responses: list[Any] = []


class RedisAdapter(Adapter):
    """An adapter whose broadcasts and requests reach every server on the same Redis."""

    def __init__(
        self,
        nsp: Namespace,
        bridge: RedisBridge,
        *,
        key: str = "socket.io",
        requests_timeout: float = 5.0,
        publish_on_specific_response_channel: bool = False,
    ) -> None:
        super().__init__(nsp)
        self.bridge = bridge
        self.uid = _uid()
        self._uid_bytes = self.uid.encode()
        # a msgpack array of 3 and the uid: how every broadcast of ours starts
        self._mp_head = b"\x93" + mp_encode(self.uid)
        # one Packer per adapter (one loop): half the cost of packb() per broadcast;
        # a pack that raises leaves it empty
        self._pack = _msgpack().Packer(use_bin_type=True, default=_mp_strict_default).pack
        self.requests_timeout = requests_timeout
        self.publish_on_specific_response_channel = publish_on_specific_response_channel
        self.channel = f"{key}#{nsp.name}#"
        self.request_channel = f"{key}-request#{nsp.name}#"
        self.response_channel = f"{key}-response#{nsp.name}#"
        self.specific_response_channel = f"{self.response_channel}{self.uid}#"
        self.requests: dict[str, _Request] = {}
        self.ack_requests: dict[
            str, tuple[Callable[[int], Any], Callable[..., Any], timers.Timeout]
        ] = {}

    def init(self) -> None:
        self.bridge.subscribe([], [self.channel + "*"], self._on_message)
        self.bridge.subscribe(
            [self.request_channel, self.response_channel, self.specific_response_channel],
            [],
            self._on_request,
        )

    @property
    def lost(self) -> int:
        """Messages to other servers that could not be published (all namespaces)."""
        return self.bridge.lost

    @property
    def dropped(self) -> int:
        """Malformed messages read from Redis and dropped (all namespaces)."""
        return self.bridge.dropped

    def close(self) -> None:
        self.bridge.unsubscribe([], [self.channel + "*"], self._on_message)
        self.bridge.unsubscribe(
            [self.request_channel, self.response_channel, self.specific_response_channel],
            [],
            self._on_request,
        )
        # requests in flight end now, as they would at their timeout
        requests, self.requests = self.requests, {}
        for request in requests.values():
            if request.timer is not None:
                request.timer.close()
            if request.fail is not None:
                got = len(request.responses) or request.msg_count - 1
                request.fail(
                    TimeoutError(
                        f"the adapter was closed: only {got} responses received"
                        f" out of {request.num_sub}"
                    )
                )
        for _, _, timer in self.ack_requests.values():
            timer.close()
        self.ack_requests.clear()

    async def server_count(self) -> int:
        return await self.bridge.server_count(self.request_channel, self.requests_timeout)

    def _has_room(self, room: str) -> bool:
        if room in self.rooms:
            return True
        try:
            return float(room) in self.rooms
        except ValueError:
            return False

    # broadcasts --------------------------------------------------------------------------
    def _on_message(self, channel: str, data: bytes) -> None:
        if not channel.startswith(self.channel):
            return
        if data[2:8] == self._uid_bytes and data[:2] == b"\x93\xa6":
            return  # our own broadcast, back from Redis: dropped before decoding
        room = channel[len(self.channel) : -1]
        if room and not self._has_room(room):
            return
        message = mp_decode(data)
        if not isinstance(message, list) or len(message) != 3:
            raise _MalformedError("a broadcast is not [uid, packet, opts]")
        uid, packet, opts = message
        if uid == self.uid:
            return
        packet = _packet_in(packet)
        opts = _opts_in(opts)
        if packet.nsp != self.nsp.name:
            return
        Adapter.broadcast(self, packet, opts)

    def broadcast(self, packet: sio.Packet, opts: BroadcastOptions) -> None:
        packet.nsp = self.nsp.name
        flags = opts.flags
        if not flags.get("local"):
            if not flags and not opts.rooms and not opts.except_:
                # the common broadcast to all: [uid, packet, opts] with opts encoded once
                message = self._mp_head + self._pack(_packet_out(packet)) + _MP_NO_OPTS
            else:
                raw = {
                    "rooms": list(opts.rooms),
                    "except": list(opts.except_),
                    "flags": _flags_out(flags),
                }
                message = mp_encode([self.uid, _packet_out(packet), raw], strict=True)
            channel = self.channel
            if len(opts.rooms) == 1:
                channel += f"{next(iter(opts.rooms))}#"
            self.bridge.publish(channel, message)
        super().broadcast(packet, opts)

    def broadcast_with_ack(
        self,
        packet: sio.Packet,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], Any],
        ack: Callable[..., Any],
    ) -> None:
        packet.nsp = self.nsp.name
        if not opts.flags.get("local"):
            request_id = _uid()
            raw = {
                "rooms": list(opts.rooms),
                "except": list(opts.except_),
                "flags": _flags_out(opts.flags),
            }
            self.bridge.publish(
                self.request_channel,
                mp_encode(
                    {
                        "uid": self.uid,
                        "requestId": request_id,
                        "type": BROADCAST,
                        "packet": _packet_out(packet),
                        "opts": raw,
                    },
                    strict=True,
                ),
            )
            timeout = opts.flags.get("timeout") or self.requests_timeout
            t = timers.set_timeout(lambda: self.ack_requests.pop(request_id, None), timeout)
            t.unref()
            self.ack_requests[request_id] = (client_count_callback, ack, t)
        super().broadcast_with_ack(packet, opts, client_count_callback, ack)

    # requests to the other servers --------------------------------------------------------------
    def _publish_request(self, request: dict[str, Any]) -> None:
        self.bridge.publish(self.request_channel, js_encode(request, strict=True))

    async def _ask(
        self, type_: int, request: dict[str, Any], init: Callable[[_Request], Any]
    ) -> Any:
        num_sub = await self.server_count()
        request_id = _uid()
        fut: asyncio.Future[Any] = runtime.get_loop().create_future()

        def resolve(*args: Any) -> None:
            if not fut.done():
                fut.set_result(args)

        def fail(exc: BaseException) -> None:
            if not fut.done():
                fut.set_exception(exc)

        pending = _Request(type_, num_sub, resolve)
        pending.fail = fail
        init(pending)
        if num_sub <= 1 and type_ != SERVER_SIDE_EMIT:
            return pending
        if type_ == SERVER_SIDE_EMIT and num_sub - 1 <= 0:
            return pending
        if type_ == SERVER_SIDE_EMIT:
            pending.num_sub = num_sub - 1

        def on_timeout() -> None:
            if self.requests.pop(request_id, None) is not None and not fut.done():
                fut.set_exception(
                    TimeoutError(
                        f"timeout reached: only {len(pending.responses) or pending.msg_count - 1}"
                        f" responses received out of {pending.num_sub}"
                    )
                )

        pending.timer = timers.set_timeout(on_timeout, self.requests_timeout)
        pending.timer.unref()
        self.requests[request_id] = pending
        self._publish_request({"uid": self.uid, "requestId": request_id, "type": type_, **request})
        try:
            await fut
        except TimeoutError as exc:
            exc.responses = pending.responses  # type: ignore[attr-defined]
            raise
        return pending

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Any]:
        local = await super().fetch_sockets(opts)
        if opts.flags.get("local"):
            return local

        def init(r: _Request) -> None:
            r.sockets = list(local)

        done = await self._ask(
            REMOTE_FETCH,
            {"opts": {"rooms": list(opts.rooms), "except": list(opts.except_)}},
            init,
        )
        return done.sockets  # type: ignore[no-any-return]

    async def all_rooms(self) -> set[Any]:
        """Every room on every server."""
        local = set(self.rooms)

        def init(r: _Request) -> None:
            r.rooms = local

        done = await self._ask(ALL_ROOMS, {}, init)
        return done.rooms  # type: ignore[no-any-return]

    def add_sockets(self, opts: BroadcastOptions, rooms: list[Any]) -> None:
        if opts.flags.get("local"):
            super().add_sockets(opts, rooms)
            return
        self._publish_request(
            {
                "uid": self.uid,
                "type": REMOTE_JOIN,
                "opts": {"rooms": list(opts.rooms), "except": list(opts.except_)},
                "rooms": list(rooms),
            }
        )

    def del_sockets(self, opts: BroadcastOptions, rooms: list[Any]) -> None:
        if opts.flags.get("local"):
            super().del_sockets(opts, rooms)
            return
        self._publish_request(
            {
                "uid": self.uid,
                "type": REMOTE_LEAVE,
                "opts": {"rooms": list(opts.rooms), "except": list(opts.except_)},
                "rooms": list(rooms),
            }
        )

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        if opts.flags.get("local"):
            super().disconnect_sockets(opts, close)
            return
        self._publish_request(
            {
                "uid": self.uid,
                "type": REMOTE_DISCONNECT,
                "opts": {"rooms": list(opts.rooms), "except": list(opts.except_)},
                "close": close,
            }
        )

    def server_side_emit(self, packet: list[Any]) -> None:
        if packet and callable(packet[-1]):
            ack = packet.pop()
            js_encode(packet, strict=True)  # raises now, as without an ack
            runtime.spawn(self._server_side_emit_with_ack(packet, ack))
            return
        self._publish_request({"uid": self.uid, "type": SERVER_SIDE_EMIT, "data": packet})

    async def _server_side_emit_with_ack(self, packet: list[Any], ack: Callable[..., Any]) -> None:
        pending: _Request | None = None
        try:
            pending = await self._ask(SERVER_SIDE_EMIT, {"data": packet}, lambda r: None)
        except TimeoutError as exc:
            ack(exc, getattr(exc, "responses", []))
            return
        ack(None, pending.responses)

    # requests from the other servers ------------------------------------------------------------
    def _on_request(self, channel: str, data: bytes) -> None:
        if channel.startswith(self.response_channel):
            self._on_response(data)
            return
        if not channel.startswith(self.request_channel):
            return
        request = decode_request(data)
        if not isinstance(request, dict):
            raise _MalformedError("a request is not a map")
        type_ = request.get("type")
        request_id = request.get("requestId")
        if request_id is not None:
            _str_in(request_id, "requestId")
        if type_ == SOCKETS:
            rooms = _rooms_in(request.get("rooms"), "rooms")
            if request_id in self.requests:
                return
            runtime.spawn(self._answer_sockets(request, rooms))
        elif type_ == ALL_ROOMS:
            if request_id in self.requests:
                return
            self._respond(request, js_encode({"requestId": request_id, "rooms": list(self.rooms)}))
        elif type_ in (REMOTE_JOIN, REMOTE_LEAVE, REMOTE_DISCONNECT):
            self._on_remote_change(type_, request)
        elif type_ == REMOTE_FETCH:
            opts = _opts_in(request.get("opts"))
            if request_id in self.requests:
                return
            runtime.spawn(self._answer_fetch(request, opts))
        elif type_ == SERVER_SIDE_EMIT:
            args = _event_args(request.get("data"), "data")
            if request.get("uid") == self.uid:
                return
            if request_id is None:
                self.nsp._on_server_side_emit(list(args))
                return
            called = False

            def reply(arg: Any = None, *_: Any) -> None:
                nonlocal called
                if called:
                    return
                called = True
                self.bridge.publish(
                    self.response_channel,
                    js_encode({"type": SERVER_SIDE_EMIT, "requestId": request_id, "data": arg}),
                )

            self.nsp._on_server_side_emit([*args, reply])
        elif type_ == BROADCAST:
            _str_in(request_id, "requestId")
            packet = _packet_in(request.get("packet"))
            opts = _opts_in(request.get("opts"))
            if request_id in self.ack_requests:
                return

            def on_count(count: int) -> None:
                self._respond(
                    request,
                    js_encode(
                        {
                            "type": BROADCAST_CLIENT_COUNT,
                            "requestId": request_id,
                            "clientCount": count,
                        }
                    ),
                )

            def on_ack(arg: Any = None, *_: Any) -> None:
                self._respond(
                    request,
                    mp_encode({"type": BROADCAST_ACK, "requestId": request_id, "packet": arg}),
                )

            Adapter.broadcast_with_ack(self, packet, opts, on_count, on_ack)
        else:
            raise _MalformedError(f"unknown request type {str(type_)[:20]!r}")

    def _on_remote_change(self, type_: int, request: dict[str, Any]) -> None:
        if request.get("opts") is not None:
            opts = _opts_in(request["opts"])
            if type_ == REMOTE_DISCONNECT:
                Adapter.disconnect_sockets(self, opts, bool(request.get("close")))
                return
            rooms = _rooms_in(request.get("rooms"), "rooms")
            if type_ == REMOTE_JOIN:
                Adapter.add_sockets(self, opts, rooms)
            else:
                Adapter.del_sockets(self, opts, rooms)
            return
        socket = self.nsp.sockets.get(_str_in(request.get("sid"), "sid"))
        room = request.get("room")
        if type_ != REMOTE_DISCONNECT and not _is_room(room):
            raise _MalformedError("room is not a room")
        if socket is None:
            return
        if type_ == REMOTE_JOIN:
            socket.join(room)
        elif type_ == REMOTE_LEAVE:
            socket.leave(room)
        else:
            socket.disconnect(bool(request.get("close")))
        self._respond(request, js_encode({"requestId": request.get("requestId")}))

    async def _answer_sockets(self, request: dict[str, Any], rooms: list[Any]) -> None:
        ids = await Adapter.sockets(self, rooms)
        self._respond(
            request, js_encode({"requestId": request.get("requestId"), "sockets": list(ids)})
        )

    async def _answer_fetch(self, request: dict[str, Any], opts: BroadcastOptions) -> None:
        local = await Adapter.fetch_sockets(self, opts)
        self._respond(
            request,
            js_encode(
                {
                    "requestId": request.get("requestId"),
                    "sockets": [
                        {
                            "id": s.id,
                            "handshake": s.handshake,
                            "rooms": list(s.rooms),
                            "data": s.data,
                        }
                        for s in local
                    ],
                }
            ),
        )

    def _respond(self, request: dict[str, Any], response: bytes) -> None:
        channel = self.response_channel
        if self.publish_on_specific_response_channel:
            channel = f"{self.response_channel}{request.get('uid')}#"
        self.bridge.publish(channel, response)

    def _on_response(self, data: bytes) -> None:
        response = decode_request(data)
        if not isinstance(response, dict):
            raise _MalformedError("a response is not a map")
        request_id = _str_in(response.get("requestId"), "requestId")
        acks = self.ack_requests.get(request_id)
        if acks is not None:
            if response.get("type") == BROADCAST_CLIENT_COUNT:
                count = response.get("clientCount")
                if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                    raise _MalformedError("clientCount is not a count")
                acks[0](count)
            elif response.get("type") == BROADCAST_ACK:
                acks[1](response.get("packet"))
            return
        # a response to another server's request is none of our business
        request = self.requests.get(request_id)
        if request is None:
            return
        if request.type == SOCKETS:
            sockets = response.get("sockets")
            if not isinstance(sockets, list) or not all(isinstance(s, str) for s in sockets):
                raise _MalformedError("sockets is not a list of ids")
            request.msg_count += 1
            request.sockets.update(sockets)
            self._maybe_done(request_id, request, request.msg_count == request.num_sub)
        elif request.type == REMOTE_FETCH:
            sockets = response.get("sockets")
            if not isinstance(sockets, list) or not all(_is_remote_socket(s) for s in sockets):
                raise _MalformedError("sockets is not a list of sockets")
            request.msg_count += 1
            request.sockets.extend(sockets)
            self._maybe_done(request_id, request, request.msg_count == request.num_sub)
        elif request.type == ALL_ROOMS:
            request.rooms.update(_rooms_in(response.get("rooms"), "rooms"))
            request.msg_count += 1
            self._maybe_done(request_id, request, request.msg_count == request.num_sub)
        elif request.type == SERVER_SIDE_EMIT:
            request.responses.append(response.get("data"))
            self._maybe_done(request_id, request, len(request.responses) == request.num_sub)

    def _maybe_done(self, request_id: str, request: _Request, done: bool) -> None:
        if not done:
            return
        if request.timer is not None:
            request.timer.close()
        self.requests.pop(request_id, None)
        request.resolve()


def _is_remote_socket(details: Any) -> bool:
    return (
        isinstance(details, dict)
        and isinstance(details.get("id"), str)
        and isinstance(details.get("handshake", {}), (dict, type(None)))
        and isinstance(details.get("rooms", []), (list, type(None)))
        and all(_is_room(r) for r in details.get("rooms") or ())
    )


def _packet_out(packet: sio.Packet) -> dict[str, Any]:
    out: dict[str, Any] = {"type": packet.type, "data": packet.data, "nsp": packet.nsp}
    if packet.id is not None:
        out["id"] = packet.id
    return out


def _event_args(data: Any, what: str) -> list[Any]:
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        raise _MalformedError(f"{what} is not a list starting with an event name")
    return data


def _packet_in(packet: Any) -> sio.Packet:
    """An event packet another server broadcasts; anything else is malformed.

    Servers only ever broadcast events: a CONNECT, DISCONNECT or ACK packet published
    by another program would otherwise reach every local client.
    """
    if not isinstance(packet, dict):
        raise _MalformedError("packet is not a map")
    if packet.get("type", sio.EVENT) not in (sio.EVENT, sio.BINARY_EVENT):
        raise _MalformedError("packet is not an event")
    nsp = packet.get("nsp", "/")
    if not isinstance(nsp, str):
        raise _MalformedError("packet.nsp is not a string")
    return sio.Packet(sio.EVENT, _event_args(packet.get("data"), "packet.data"), nsp or "/")


class RedisAdapterFactory:
    """What :func:`create_redis_adapter` returns: give it to ``Server(adapter=...)``.

    ``lost`` counts the messages that could not be published while Redis was away,
    ``dropped`` the malformed messages read from the adapter's channels.
    """

    def __init__(self, pub_client: Any, sub_client: Any, **options: Any) -> None:
        self.bridge = RedisBridge(pub_client, sub_client)
        self.options = options

    def __call__(self, nsp: Namespace) -> RedisAdapter:
        return RedisAdapter(nsp, self.bridge, **self.options)

    @property
    def lost(self) -> int:
        return self.bridge.lost

    @property
    def dropped(self) -> int:
        return self.bridge.dropped

    @property
    def connected(self) -> bool:
        return self.bridge.connected

    async def aclose(self, timeout: float = 5.0) -> None:
        """Flush pending publishes (for ``timeout`` seconds at most) and stop reading."""
        await self.bridge.aclose(timeout)


def create_redis_adapter(
    pub_client: Any,
    sub_client: Any,
    *,
    key: str = "socket.io",
    requests_timeout: float = 5.0,
    publish_on_specific_response_channel: bool = False,
) -> RedisAdapterFactory:
    """An adapter factory on two ``redis.asyncio`` clients (Node's ``createAdapter``).

    ``sub_client`` is used for a pub/sub connection; ``pub_client`` publishes and
    counts servers. Both stay yours to close. Each gives the adapter connections of
    its own (one from each pool), so one client may serve as both.
    """
    _check_client(pub_client, "pub_client")
    _check_client(sub_client, "sub_client")
    if not isinstance(key, str) or not key:
        raise TypeError(f"key must be a non-empty str, not {key!r}")
    if not _is_number(requests_timeout) or not requests_timeout > 0:
        raise TypeError(
            f"requests_timeout must be a positive number of seconds, not {requests_timeout!r}"
        )
    if not isinstance(publish_on_specific_response_channel, bool):
        raise TypeError(
            "publish_on_specific_response_channel must be a bool, not "
            f"{type(publish_on_specific_response_channel).__name__}"
        )
    return RedisAdapterFactory(
        pub_client,
        sub_client,
        key=key,
        requests_timeout=requests_timeout,
        publish_on_specific_response_channel=publish_on_specific_response_channel,
    )


def _check_client(client: Any, name: str) -> None:
    import redis
    import redis.asyncio

    if isinstance(client, redis.asyncio.Redis):
        return
    if isinstance(client, redis.Redis):
        raise TypeError(
            f"{name} is a synchronous redis.Redis, which would block the event loop:"
            " give a redis.asyncio.Redis"
        )
    if isinstance(client, redis.asyncio.RedisCluster):
        raise TypeError(f"{name} is a redis.asyncio.RedisCluster: give a redis.asyncio.Redis")
    raise TypeError(f"{name} must be a redis.asyncio.Redis, not {type(client).__name__}")
