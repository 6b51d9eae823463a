"""EventEmitter: each test is one rule of Node's events documentation (v20)."""

from __future__ import annotations

import math
import pickle
from typing import Any

import pytest

from nodish import events
from nodish.errors import NodeError
from nodish.events import EventEmitter, MaxListenersExceededWarning, error_monitor


def recorder() -> tuple[list[Any], Any]:
    calls: list[Any] = []

    def listener(*args: Any) -> None:
        calls.append(args)

    return calls, listener


# -- on / emit ---------------------------------------------------------------------


def test_emit_calls_listeners_in_registration_order_with_the_arguments() -> None:
    e = EventEmitter()
    seen: list[Any] = []
    e.on("data", lambda a, b: seen.append(("first", a, b)))
    e.on("data", lambda a, b: seen.append(("second", a, b)))
    e.emit("data", 1, b"x")
    assert seen == [("first", 1, b"x"), ("second", 1, b"x")]


def test_emit_returns_true_if_the_event_had_listeners_false_otherwise() -> None:
    e = EventEmitter()
    assert e.emit("data") is False
    e.on("data", lambda: None)
    assert e.emit("data") is True
    assert e.emit("other") is False


def test_emit_is_synchronous() -> None:
    e = EventEmitter()
    seen: list[str] = []
    e.on("x", lambda: seen.append("listener"))
    e.emit("x")
    seen.append("after emit")
    assert seen == ["listener", "after emit"]


def test_on_and_add_listener_are_the_same_and_return_the_emitter_for_chaining() -> None:
    e = EventEmitter()
    _calls, fn = recorder()
    assert e.on("a", fn) is e
    assert e.add_listener("a", fn) is e
    assert e.once("a", fn) is e
    assert e.prepend_listener("a", fn) is e
    assert e.prepend_once_listener("a", fn) is e
    assert e.off("a", fn) is e
    assert e.remove_listener("a", fn) is e
    assert e.remove_all_listeners("a") is e
    assert e.set_max_listeners(3) is e


def test_the_same_listener_added_twice_is_called_twice() -> None:
    e = EventEmitter()
    calls, fn = recorder()
    e.on("a", fn).on("a", fn)
    e.emit("a", 1)
    assert calls == [(1,), (1,)]


def test_a_listener_that_is_not_callable_raises_err_invalid_arg_type() -> None:
    e = EventEmitter()
    for method in (e.on, e.once, e.prepend_listener, e.prepend_once_listener, e.off):
        with pytest.raises(TypeError) as info:
            method("a", "not a function")  # type: ignore[arg-type]
        assert info.value.code == "ERR_INVALID_ARG_TYPE"  # type: ignore[attr-defined]


def test_an_exception_in_a_listener_propagates_from_emit_and_stops_later_listeners() -> None:
    e = EventEmitter()
    calls, fn = recorder()

    def boom() -> None:
        raise RuntimeError("boom")

    e.on("a", boom)
    e.on("a", fn)
    with pytest.raises(RuntimeError):
        e.emit("a")
    assert calls == []


def test_event_names_may_be_any_hashable_value() -> None:
    e = EventEmitter()
    sym = object()
    calls, fn = recorder()
    e.on(sym, fn)
    e.on(42, fn)
    e.emit(sym, "s")
    e.emit(42, "n")
    assert calls == [("s",), ("n",)]


# -- once / prepend ----------------------------------------------------------------


def test_once_listener_is_called_once_then_removed() -> None:
    e = EventEmitter()
    calls, fn = recorder()
    e.once("a", fn)
    assert e.emit("a", 1) is True
    assert e.emit("a", 2) is False
    assert calls == [(1,)]
    assert e.listener_count("a") == 0


def test_once_listener_is_removed_before_it_is_called() -> None:
    e = EventEmitter()
    counts: list[int] = []
    e.once("a", lambda: counts.append(e.listener_count("a")))
    e.emit("a")
    assert counts == [0]


def test_once_listener_emitting_the_same_event_again_is_not_called_again() -> None:
    e = EventEmitter()
    calls: list[int] = []

    def fn(n: int) -> None:
        calls.append(n)
        if n == 1:
            e.emit("a", 2)

    e.once("a", fn)
    e.emit("a", 1)
    assert calls == [1]


def test_prepend_listener_adds_at_the_start() -> None:
    e = EventEmitter()
    seen: list[str] = []
    e.on("a", lambda: seen.append("on"))
    e.prepend_listener("a", lambda: seen.append("prepended"))
    e.prepend_once_listener("a", lambda: seen.append("prepended once"))
    e.emit("a")
    e.emit("a")
    assert seen == ["prepended once", "prepended", "on", "prepended", "on"]


# -- removing ------------------------------------------------------------------------


def test_remove_listener_removes_the_most_recently_added_instance() -> None:
    e = EventEmitter()
    seen: list[str] = []

    def a() -> None:
        seen.append("a")

    def b() -> None:
        seen.append("b")

    e.on("x", a).on("x", b).on("x", a)
    e.remove_listener("x", a)
    assert e.listeners("x") == [a, b]
    e.emit("x")
    assert seen == ["a", "b"]


def test_remove_listener_of_an_absent_listener_does_nothing() -> None:
    e = EventEmitter()
    _calls, fn = recorder()
    e.remove_listener("x", fn)
    e.on("x", fn)
    e.remove_listener("x", lambda: None)
    assert e.listeners("x") == [fn]


def test_a_once_listener_can_be_removed_by_its_original_function() -> None:
    e = EventEmitter()
    calls, fn = recorder()
    e.once("x", fn)
    e.off("x", fn)
    assert e.emit("x") is False
    assert calls == []


def test_a_once_listener_can_be_removed_by_its_raw_wrapper() -> None:
    e = EventEmitter()
    _calls, fn = recorder()
    e.once("x", fn)
    (wrapper,) = e.raw_listeners("x")
    e.remove_listener("x", wrapper)
    assert e.listener_count("x") == 0


def test_remove_all_listeners_of_one_event_keeps_the_others() -> None:
    e = EventEmitter()
    _calls, fn = recorder()
    e.on("a", fn).on("a", fn).on("b", fn)
    e.remove_all_listeners("a")
    assert e.event_names() == ["b"]


def test_remove_all_listeners_without_an_event_removes_everything() -> None:
    e = EventEmitter()
    _calls, fn = recorder()
    e.on("a", fn).on("b", fn)
    e.remove_all_listeners()
    assert e.event_names() == []


def test_remove_all_listeners_emits_remove_listener_last_added_first() -> None:
    e = EventEmitter()
    removed: list[tuple[Any, Any]] = []

    def a() -> None: ...
    def b() -> None: ...

    e.on("x", a).on("x", b).on("y", a)
    e.on("removeListener", lambda name, fn: removed.append((name, fn)))
    e.remove_all_listeners("x")
    assert removed == [("x", b), ("x", a)]
    removed.clear()
    e.remove_all_listeners()
    # every other event first, then the 'removeListener' listeners themselves
    assert removed == [("y", a)]
    assert e.event_names() == []


# -- the snapshot rule ----------------------------------------------------------


def test_a_listener_removed_during_emit_still_runs_in_that_emit() -> None:
    e = EventEmitter()
    seen: list[str] = []

    def second() -> None:
        seen.append("second")

    def first() -> None:
        seen.append("first")
        e.remove_listener("x", second)

    e.on("x", first).on("x", second)
    e.emit("x")
    assert seen == ["first", "second"]
    seen.clear()
    e.emit("x")
    assert seen == ["first"]


def test_a_listener_added_during_emit_does_not_run_in_that_emit() -> None:
    e = EventEmitter()
    seen: list[str] = []

    def late() -> None:
        seen.append("late")

    def first() -> None:
        seen.append("first")
        e.on("x", late)

    e.once("x", first)
    e.on("x", lambda: seen.append("second"))
    e.emit("x")
    assert seen == ["first", "second"]
    seen.clear()
    e.emit("x")
    assert seen == ["second", "late"]


# -- meta events ------------------------------------------------------------------


def test_new_listener_is_emitted_before_the_listener_is_added() -> None:
    e = EventEmitter()
    counts: list[int] = []
    e.on("newListener", lambda name, fn: counts.append(e.listener_count("x")))
    e.on("x", lambda: None)
    assert counts == [0]


def test_a_listener_added_inside_new_listener_for_the_same_event_runs_first() -> None:
    e = EventEmitter()
    seen: list[str] = []

    def on_new(name: str, fn: Any) -> None:
        if name == "x":
            e.remove_listener("newListener", on_new)
            e.on("x", lambda: seen.append("added inside newListener"))

    e.on("newListener", on_new)
    e.on("x", lambda: seen.append("original"))
    e.emit("x")
    assert seen == ["added inside newListener", "original"]


def test_new_listener_receives_the_event_name_and_the_user_function_for_once() -> None:
    e = EventEmitter()
    got: list[tuple[Any, Any]] = []
    e.on("newListener", lambda name, fn: got.append((name, fn)))
    _calls, fn = recorder()
    e.once("x", fn)
    assert got == [("x", fn)]


def test_remove_listener_is_emitted_after_the_listener_is_removed() -> None:
    e = EventEmitter()
    _calls, fn = recorder()
    seen: list[tuple[Any, Any, int]] = []
    e.on("x", fn)
    e.on("removeListener", lambda name, f: seen.append((name, f, e.listener_count("x"))))
    e.off("x", fn)
    assert seen == [("x", fn, 0)]


def test_remove_listener_event_receives_the_user_function_when_a_once_listener_fires() -> None:
    e = EventEmitter()
    _calls, fn = recorder()
    removed: list[Any] = []
    e.once("x", fn)
    e.on("x", lambda: None)
    e.on("removeListener", lambda name, f: removed.append(f))
    e.emit("x")
    assert removed == [fn]


# -- introspection --------------------------------------------------------------


def test_listeners_unwraps_once_wrappers_raw_listeners_does_not() -> None:
    e = EventEmitter()
    _calls, fn = recorder()
    e.once("x", fn)
    assert e.listeners("x") == [fn]
    (raw,) = e.raw_listeners("x")
    assert raw is not fn
    assert raw.listener is fn  # type: ignore[attr-defined]


def test_calling_a_raw_once_wrapper_removes_it_and_calls_the_listener() -> None:
    e = EventEmitter()
    calls, fn = recorder()
    e.once("x", fn)
    (raw,) = e.raw_listeners("x")
    raw("direct")
    assert calls == [("direct",)]
    assert e.emit("x") is False


def test_listeners_returns_a_copy() -> None:
    e = EventEmitter()
    _calls, fn = recorder()
    e.on("x", fn)
    e.listeners("x").clear()
    e.raw_listeners("x").clear()
    assert e.listener_count("x") == 1


def test_listener_count_counts_all_or_one_listener() -> None:
    e = EventEmitter()
    _calls, fn = recorder()
    e.on("x", fn).once("x", fn).on("x", lambda: None)
    assert e.listener_count("x") == 3
    assert e.listener_count("x", fn) == 2
    assert e.listener_count("nothing") == 0
    assert events.listener_count(e, "x") == 3


def test_event_names_lists_events_with_listeners_in_insertion_order() -> None:
    e = EventEmitter()
    _calls, fn = recorder()
    e.on("b", fn).on("a", fn).on(error_monitor, fn)
    assert e.event_names() == ["b", "a", error_monitor]
    e.off("b", fn)
    assert e.event_names() == ["a", error_monitor]


def test_get_event_listeners_is_listeners() -> None:
    e = EventEmitter()
    _calls, fn = recorder()
    e.once("x", fn)
    assert events.get_event_listeners(e, "x") == [fn]


# -- 'error' --------------------------------------------------------------------


def test_emit_error_without_a_listener_raises_the_error() -> None:
    e = EventEmitter()
    err = ConnectionResetError("peer went away")
    with pytest.raises(ConnectionResetError) as info:
        e.emit("error", err)
    assert info.value is err


def test_emit_error_with_a_non_exception_raises_err_unhandled_error() -> None:
    e = EventEmitter()
    with pytest.raises(NodeError) as info:
        e.emit("error", "just a string")
    assert info.value.code == "ERR_UNHANDLED_ERROR"
    with pytest.raises(NodeError) as info:
        e.emit("error")
    assert info.value.code == "ERR_UNHANDLED_ERROR"


def test_emit_error_with_a_listener_calls_it_and_does_not_raise() -> None:
    e = EventEmitter()
    calls, fn = recorder()
    e.on("error", fn)
    err = ValueError("x")
    assert e.emit("error", err) is True
    assert calls == [(err,)]


def test_error_monitor_sees_the_error_before_the_error_listeners() -> None:
    e = EventEmitter()
    seen: list[str] = []
    e.on("error", lambda err: seen.append("listener"))
    e.on(error_monitor, lambda err: seen.append("monitor"))
    e.emit("error", ValueError())
    assert seen == ["monitor", "listener"]
    assert EventEmitter.error_monitor is error_monitor


def test_error_monitor_does_not_handle_the_error() -> None:
    e = EventEmitter()
    seen: list[Any] = []
    e.on(error_monitor, seen.append)
    err = ValueError("unhandled")
    with pytest.raises(ValueError):
        e.emit("error", err)
    assert seen == [err]


# -- max listeners --------------------------------------------------------------


def test_default_max_listeners_is_ten() -> None:
    assert EventEmitter.default_max_listeners == 10
    e = EventEmitter()
    assert e.get_max_listeners() == 10
    assert events.get_max_listeners(e) == 10


def test_more_than_max_listeners_on_one_event_warns_once_per_event_name() -> None:
    e = EventEmitter()
    e.set_max_listeners(1)
    e.on("a", lambda: None)
    with pytest.warns(MaxListenersExceededWarning) as record:
        e.on("a", lambda: None)
        e.on("a", lambda: None)  # the same event does not warn again
        e.on("b", lambda: None)
        e.on("b", lambda: None)  # another event warns once of its own
    assert [(w.message.type, w.message.count) for w in record] == [("a", 2), ("b", 2)]  # type: ignore[union-attr]
    first = record[0].message
    assert isinstance(first, MaxListenersExceededWarning)
    assert first.emitter is e
    assert "2 a listeners added to [EventEmitter]" in str(first)


def test_the_leak_warning_comes_back_after_the_event_lost_its_listeners() -> None:
    e = EventEmitter()
    e.set_max_listeners(1)
    e.on("a", lambda: None)
    with pytest.warns(MaxListenersExceededWarning):
        e.on("a", lambda: None)
    e.remove_all_listeners("a")
    e.on("a", lambda: None)
    with pytest.warns(MaxListenersExceededWarning):
        e.on("a", lambda: None)


def test_max_listeners_zero_or_infinity_means_no_limit() -> None:
    for limit in (0, math.inf):
        e = EventEmitter().set_max_listeners(limit)
        for _ in range(50):
            e.on("a", lambda: None)  # no warning: filterwarnings=error would raise
        assert e.get_max_listeners() == limit


def test_set_max_listeners_rejects_negative_and_non_numbers_with_err_out_of_range() -> None:
    e = EventEmitter()
    for bad in (-1, "10", None, float("nan"), True):
        with pytest.raises(ValueError) as info:
            e.set_max_listeners(bad)  # type: ignore[arg-type]
        assert info.value.code == "ERR_OUT_OF_RANGE"  # type: ignore[attr-defined]
    assert e.get_max_listeners() == 10


def test_events_set_max_listeners_sets_the_given_emitters_or_the_default() -> None:
    a, b = EventEmitter(), EventEmitter()
    events.set_max_listeners(3, a, b)
    assert (a.get_max_listeners(), b.get_max_listeners()) == (3, 3)
    try:
        events.set_max_listeners(20)
        assert EventEmitter().get_max_listeners() == 20
        assert a.get_max_listeners() == 3
    finally:
        events.set_max_listeners(10)
    with pytest.raises(ValueError):
        events.set_max_listeners(-1)


# -- subclasses -----------------------------------------------------------------


class Thing(EventEmitter):
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


def test_subclasses_with_slots_have_no_instance_dict() -> None:
    t = Thing("x")
    assert not hasattr(t, "__dict__")
    assert t.on("a", lambda: None) is t
    assert t.emit("a") is True


def test_the_leak_warning_names_the_subclass() -> None:
    t = Thing("x").set_max_listeners(1)
    t.on("a", lambda: None)
    with pytest.warns(MaxListenersExceededWarning, match=r"\[Thing\]"):
        t.on("a", lambda: None)


def test_emitters_do_not_pickle_their_listeners_by_accident() -> None:
    # an emitter with slots and no listeners survives pickling like any object
    t = Thing("x")
    back = pickle.loads(pickle.dumps(t))
    assert back.name == "x"
    assert back.event_names() == []


def test_a_bound_method_is_removed_by_the_same_expression_that_added_it() -> None:
    class Handler:
        def __init__(self) -> None:
            self.calls = 0

        def on_data(self) -> None:
            self.calls += 1

    e = EventEmitter()
    h, other = Handler(), Handler()
    e.on("data", h.on_data).on("data", other.on_data)
    assert e.listener_count("data", h.on_data) == 1
    e.off("data", h.on_data)
    e.emit("data")
    assert (h.calls, other.calls) == (0, 1)


def test_remove_all_listeners_of_none_removes_everything() -> None:
    e = EventEmitter()
    removed: list[Any] = []
    e.on("a", lambda: None).on("b", lambda: None)
    e.on("removeListener", lambda name, fn: removed.append(name))
    e.remove_all_listeners(None)
    assert e.event_names() == []
    assert removed == ["a", "b"]
