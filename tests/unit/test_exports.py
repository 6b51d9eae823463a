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


def test_every_public_module_is_an_attribute_of_the_package() -> None:
    # `import nodish; nodish.net` must work for every library module; the command-line
    # tools (cli, and the demo they run) are programs, not library modules
    import pkgutil

    programs = {"cli", "demo"}
    for info in pkgutil.iter_modules(nodish.__path__):
        if info.name.startswith("_") or info.name in programs:
            continue
        assert info.name in nodish.__all__, f"nodish.{info.name} is not in nodish.__all__"
        assert getattr(nodish, info.name) is not None
