"""Every public name resolves: nodish.__all__ and each public module's __all__."""

from __future__ import annotations

import importlib
import types

import pytest

import nodish

# The foundation modules, and every module the package itself exports (net, dgram ...
# join this list by being added to nodish.__all__).
PUBLIC_MODULES = sorted(
    {
        "nodish",
        "nodish.errors",
        "nodish.events",
        "nodish.process",
        "nodish.runtime",
        "nodish.timers",
    }
    | {
        obj.__name__
        for obj in (getattr(nodish, n, None) for n in nodish.__all__)
        if isinstance(obj, types.ModuleType)
    }
)


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_name_in_all_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported)), "duplicate names in __all__"
    for attr in exported:
        assert hasattr(module, attr), f"{name}.{attr} is in __all__ but missing"


@pytest.mark.parametrize("name", sorted(set(nodish.__all__) - {"__version__"}))
def test_every_name_nodish_exports_is_documented(name: str) -> None:
    obj = getattr(nodish, name)
    assert obj.__doc__, f"nodish.{name} has no docstring"


def test_run_and_get_loop_are_the_runtimes() -> None:
    from nodish import runtime

    assert nodish.run is runtime.run
    assert nodish.get_loop is runtime.get_loop
