"""``Readable.pipe()``: Node's pipe, with its backpressure and cleanup rules.

Theory of operation
-------------------
A port of ``Readable.prototype.pipe`` (Node v20). The source's ``'data'`` goes to
``dest.write()``; a False return pauses the source and waits for the destination's
``'drain'`` (with several destinations, for every one that asked). The destination's
``'close'``/``'finish'``/``'error'`` unpipe it; an ``'error'`` listener of ours is put
first so the unpipe happens before user listeners run, and the error is re-emitted if
nobody else listens. ``unpipe()`` emits ``'unpipe'`` on the destination, whose
listener removes every listener this pipe added.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import Callback, Stream

if TYPE_CHECKING:
    from .readable import Readable

__all__ = ["pipe"]


def pipe(src: Readable, destination: Any, end: bool) -> Any:
    """See :meth:`Readable.pipe`."""
    dest = destination
    pipes = src._r_pipes
    if len(pipes) == 1 and not isinstance(src._r_await_drain, set):
        ad = src._r_await_drain
        src._r_await_drain = {ad} if ad is not None else set()
    src._r_pipes = (*pipes, dest)

    cleaned_up = False
    ondrain: Callback | None = None
    dest_write = dest.write

    def onunpipe(readable: Any, *_: Any) -> None:
        info = src._r_unpiping if readable is src else None
        if info is not None and not info[0]:
            info[0] = True
            cleanup()

    def onend(*_: Any) -> None:
        dest.end()

    def unpipe(*_: Any) -> None:
        src.unpipe(dest)

    endfn = onend if end else unpipe
    if src._r_end_emitted:
        src._tick(endfn)
    else:
        src.once("end", endfn)
    dest.on("unpipe", onunpipe)

    def cleanup() -> None:
        nonlocal cleaned_up
        dest.remove_listener("close", onclose)
        dest.remove_listener("finish", onfinish)
        if ondrain is not None:
            dest.remove_listener("drain", ondrain)
        dest.remove_listener("error", onerror)
        dest.remove_listener("unpipe", onunpipe)
        src.remove_listener("end", onend)
        src.remove_listener("end", unpipe)
        src.remove_listener("data", ondata)
        cleaned_up = True
        # If the source waits for this dest's 'drain', it would never flow again.
        if (
            ondrain is not None
            and src._r_await_drain
            and (not isinstance(dest, Stream) or not dest._has_writable or dest._w_need_drain)
        ):
            ondrain()

    def pause() -> None:
        nonlocal ondrain
        if not cleaned_up:
            pipes = src._r_pipes
            if len(pipes) == 1 and pipes[0] is dest:
                src._r_await_drain = dest
            elif len(pipes) > 1 and any(p is dest for p in pipes):
                ad = src._r_await_drain
                if not isinstance(ad, set):
                    ad = src._r_await_drain = {ad} if ad is not None else set()
                ad.add(dest)
            src.pause()
        if ondrain is None:
            ondrain = _pipe_on_drain(src, dest)
            dest.on("drain", ondrain)

    def ondata(chunk: Any) -> None:
        if dest_write(chunk) is False:
            pause()

    src.on("data", ondata)

    def onerror(er: BaseException) -> None:
        unpipe()
        dest.remove_listener("error", onerror)
        if dest.listener_count("error") == 0:
            if isinstance(dest, Stream) and not dest._error_emitted:
                dest._error_or_destroy(er)
            else:
                dest.emit("error", er)

    # ours must run before the user's 'error' listeners
    dest.prepend_listener("error", onerror)

    def onclose(*_: Any) -> None:
        dest.remove_listener("finish", onfinish)
        unpipe()

    dest.once("close", onclose)

    def onfinish(*_: Any) -> None:
        dest.remove_listener("close", onclose)
        unpipe()

    dest.once("finish", onfinish)
    dest.emit("pipe", src)

    if getattr(dest, "writable_need_drain", False) is True:
        pause()
    elif not src._r_flowing:
        src.resume()
    return dest


def _pipe_on_drain(src: Readable, dest: Any) -> Callback:
    def on_drain(*_: Any) -> None:
        ad = src._r_await_drain
        if ad is dest:
            src._r_await_drain = None
        elif isinstance(ad, set):
            ad.discard(dest)
        ad = src._r_await_drain
        if (ad is None or (isinstance(ad, set) and not ad)) and "data" in src._events:
            src.resume()

    return on_drain
