"""``Agent``: the client's connection pool (Node's ``http.Agent``).

Theory of operation
-------------------
Sockets are pooled per *name* (``host:port:local_address[:family]``). A request asks
the agent for a socket (``add_request``): a free one of that name if there is one
(``scheduling='lifo'`` takes the most recently used, ``'fifo'`` the oldest), else a new
one from :meth:`Agent.create_connection` while ``max_sockets`` (per name) and
``max_total_sockets`` allow, else the request waits in line.

When a request and its response are both done on a keep-alive connection, the request
hands the socket back (``_release``): the next waiting request of that name takes it,
or it becomes free. A free socket is ``unref()``'d (it never keeps a finished program
alive, as in Node), gets an idle timeout (the agent's ``timeout``, shortened to the
server's ``Keep-Alive: timeout=`` hint minus one second), and is dropped from the pool
the moment it closes, ends, errs or receives a byte: a socket the server closed while
idle is never handed out. More than ``max_free_sockets`` free sockets of a name are
closed instead of kept.

HTTPS plugs in by overriding :meth:`create_connection` (``tls.connect``) and
``default_port``/``protocol``, as ``https.Agent`` does in Node.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable
from typing import Any

from .. import runtime
from ..errors import ERR_OUT_OF_RANGE
from ..events import EventEmitter
from ..net.socket import Socket as _PlainSocket

__all__ = ["Agent", "global_agent"]

_HINT = re.compile(r"timeout=(\d+)")


class Agent(EventEmitter):
    """Node's ``http.Agent``: keeps connections for reuse.

    Args:
        keep_alive: keep sockets for later requests (default True, as Node 20's
            global agent; Node's ``new Agent()`` defaults to False).
        keep_alive_seconds: TCP keep-alive initial delay of pooled sockets.
        max_sockets: concurrent sockets per host (default unlimited).
        max_total_sockets: concurrent sockets in all (default unlimited).
        max_free_sockets: idle sockets kept per host (default 256).
        scheduling: ``'lifo'`` (default) or ``'fifo'`` choice of free sockets.
        timeout: idle timeout of sockets, in seconds (None: none).

    Events: ``'free'`` (socket, options) when a socket returns to the pool.
    """

    __slots__ = (
        "_live",
        "_watch",
        "default_port",
        "free_sockets",
        "keep_alive",
        "keep_alive_seconds",
        "max_free_sockets",
        "max_sockets",
        "max_total_sockets",
        "options",
        "protocol",
        "requests",
        "scheduling",
        "sockets",
        "timeout",
        "total_socket_count",
    )

    def __init__(
        self,
        *,
        keep_alive: bool = True,
        keep_alive_seconds: float = 1,
        max_sockets: float = math.inf,
        max_total_sockets: float = math.inf,
        max_free_sockets: int = 256,
        scheduling: str = "lifo",
        timeout: float | None = None,
        **options: Any,
    ) -> None:
        super().__init__()
        if scheduling not in ("lifo", "fifo"):
            raise ERR_OUT_OF_RANGE("scheduling", "'lifo' or 'fifo'", repr(scheduling))
        for name, value in (("max_sockets", max_sockets), ("max_total_sockets", max_total_sockets)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1:
                raise ERR_OUT_OF_RANGE(name, ">= 1", repr(value))
        self.keep_alive = bool(keep_alive)
        self.keep_alive_seconds = keep_alive_seconds
        self.max_sockets = max_sockets
        self.max_total_sockets = max_total_sockets
        self.max_free_sockets = max_free_sockets
        self.scheduling = scheduling
        self.timeout = timeout
        self.options = options
        self.default_port = 80
        self.protocol = "http:"
        self.requests: dict[str, deque[Any]] = {}
        self.sockets: dict[str, list[Any]] = {}
        self.free_sockets: dict[str, list[Any]] = {}
        self.total_socket_count = 0
        self._live: set[Any] = set()
        self._watch: dict[Any, Callable[..., Any]] = {}

    # ------------------------------------------------------------------ names

    def get_name(self, options: dict[str, Any]) -> str:
        """The pool key: ``host:port:local_address`` (plus ``:family`` when given)."""
        if options.get("socket_path"):
            return f"{options['socket_path']}::"
        name = f"{options.get('host') or 'localhost'}:{options.get('port') or ''}:"
        name += options.get("local_address") or ""
        family = options.get("family")
        if family in (4, 6):
            name += f":{family}"
        return name

    # ------------------------------------------------------------------ sockets

    def create_connection(
        self, options: dict[str, Any], callback: Callable[..., Any] | None = None
    ) -> Any:
        """A new connected socket for ``options`` (overridden by ``https.Agent``)."""
        from .. import net

        if options.get("socket_path"):
            return net.connect(path=options["socket_path"])
        return net.connect(
            options["port"],
            options.get("host") or "localhost",
            local_address=options.get("local_address"),
            family=options.get("family") or 0,
            no_delay=True,
        )

    def add_request(self, req: Any, options: dict[str, Any]) -> None:
        """Give ``req`` a socket now, or queue it until one is free."""
        name = self.get_name(options)
        free = self.free_sockets.get(name)
        while free:
            sock = free.pop() if self.scheduling == "lifo" else free.pop(0)
            if not free:
                del self.free_sockets[name]
            if sock.destroyed or not sock.writable or sock._loop is not runtime.get_loop():
                # gone, or kept from an earlier loop (a second nodish.run()): never reused
                self._forget(sock, name)
                continue
            self._unwatch_free(sock)
            sock.ref()
            self.sockets.setdefault(name, []).append(sock)
            req._on_socket(sock, reused=True)
            return
        in_use = len(self.sockets.get(name, ()))
        if in_use < self.max_sockets and self.total_socket_count < self.max_total_sockets:
            self._create(req, options, name)
            return
        self.requests.setdefault(name, deque()).append((req, options))

    def _create(self, req: Any, options: dict[str, Any], name: str) -> None:
        opts = dict(self.options)
        opts.update(options)
        creator = options.get("create_connection") or self.create_connection
        sock = creator(opts)
        self.total_socket_count += 1
        self._live.add(sock)
        self.sockets.setdefault(name, []).append(sock)
        sock.once("close", lambda *_: self._forget(sock, name))
        if self.keep_alive:
            try:
                sock.set_keep_alive(True, self.keep_alive_seconds)
            except Exception:
                pass
        req._on_socket(sock, reused=False)

    def _release(self, sock: Any, options: dict[str, Any], res: Any = None) -> None:
        """A request is done with ``sock`` (keep-alive): pass it on or keep it free."""
        name = self.get_name(options)
        in_use = self.sockets.get(name)
        if in_use is not None and sock in in_use:
            in_use.remove(sock)
            if not in_use:
                del self.sockets[name]
        if sock.destroyed:
            return
        waiting = self.requests.get(name)
        if waiting:
            req, _opts = waiting.popleft()
            if not waiting:
                del self.requests[name]
            self.sockets.setdefault(name, []).append(sock)
            req._on_socket(sock, reused=True)
            return
        free = self.free_sockets.get(name)
        if not self.keep_alive or (free is not None and len(free) >= self.max_free_sockets):
            sock.destroy()
            return
        if free is None:
            free = self.free_sockets[name] = []
        free.append(sock)
        self._watch_free(sock, name, res)
        self.emit("free", sock, options)

    def _watch_free(self, sock: Any, name: str, res: Any) -> None:
        timeout = self.timeout or 0.0
        hint = res.headers.get("keep-alive") if res is not None else None
        if isinstance(hint, str):
            m = _HINT.search(hint)
            if m:
                server = float(m.group(1)) - 1.0
                if server > 0 and (not timeout or server < timeout):
                    timeout = server
                elif server <= 0:
                    sock.destroy()
                    return
        sock.unref()

        def gone(*_: Any) -> None:
            self._drop_free(sock, name)

        self._watch[sock] = gone
        if isinstance(sock, _PlainSocket):
            sock._consumer = lambda _data: gone()
        else:
            sock.on("data", gone)
        sock.on("end", gone)
        sock.on("timeout", gone)
        sock.on("error", gone)
        if timeout:
            sock.set_timeout(timeout)

    def _unwatch_free(self, sock: Any) -> None:
        gone = self._watch.pop(sock, None)
        if gone is None:
            return
        if isinstance(sock, _PlainSocket):
            sock._consumer = None
        sock.remove_listener("data", gone)
        sock.remove_listener("end", gone)
        sock.remove_listener("timeout", gone)
        sock.remove_listener("error", gone)
        sock.set_timeout(0)

    def _drop_free(self, sock: Any, name: str) -> None:
        free = self.free_sockets.get(name)
        if free is not None and sock in free:
            free.remove(sock)
            if not free:
                del self.free_sockets[name]
        self._unwatch_free(sock)
        sock.destroy()

    def _forget(self, sock: Any, name: str) -> None:
        for table in (self.sockets, self.free_sockets):
            lst = table.get(name)
            if lst is not None and sock in lst:
                lst.remove(sock)
                if not lst:
                    del table[name]
        self._unwatch_free(sock)
        if sock in self._live:
            self._live.discard(sock)
            self.total_socket_count -= 1
        # a slot opened: start the next waiting request of this name
        waiting = self.requests.get(name)
        if waiting:
            req, opts = waiting.popleft()
            if not waiting:
                del self.requests[name]
            self.add_request(req, opts)

    def destroy(self) -> None:
        """Destroy every socket of the agent (free and in use)."""
        for table in (self.free_sockets, self.sockets):
            for lst in list(table.values()):
                for sock in list(lst):
                    sock.destroy()
        self.free_sockets.clear()

    def __repr__(self) -> str:
        return (
            f"<nodish.http.Agent keep_alive={self.keep_alive} "
            f"sockets={sum(map(len, self.sockets.values()))} "
            f"free={sum(map(len, self.free_sockets.values()))}>"
        )


#: The agent used when a request names none (keep-alive on, 5 s idle, as Node 20's).
global_agent = Agent(keep_alive=True, scheduling="lifo", timeout=5)
