"""Every module of the core carries a docstring example, every example shows what it prints, and
all of them run and print what they say.

The examples are the first code a reader tries; two had rotted unnoticed (a metrics key that
moved, a return value that printed) before this test ran them. An example that prints nothing
checks only that it does not raise, and a module without one teaches nothing: both fail here.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import iresnet_core

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(iresnet_core.__path__, "iresnet_core.")
    if m.name != "iresnet_core.__main__"
)

#: Modules still without an example that shows its output, each tolerated until it has one and
#: named here so that it is not forgotten (none now). A module that gains its example must leave
#: the list (the test says so).
MISSING_EXAMPLE_ALLOWED: set[str] = set()


def _examples(name: str) -> list[doctest.DocTest]:
    """The docstring examples defined in module ``name`` (its own objects, not imported ones)."""
    tests = doctest.DocTestFinder().find(importlib.import_module(name), name)
    return [t for t in tests if t.examples]


def test_every_core_module_is_collected():
    assert {
        "iresnet_core.flows.iresnet",
        "iresnet_core.training.averaging",
        "iresnet_core.training.trainer",
    } <= set(MODULES)
    assert MISSING_EXAMPLE_ALLOWED <= {"iresnet_core", *MODULES}


@pytest.mark.parametrize("name", ["iresnet_core", *MODULES])
def test_every_module_has_an_example_and_every_example_shows_output(name):
    examples = _examples(name)
    silent = [t.name for t in examples if not any(e.want.strip() for e in t.examples)]
    if name in MISSING_EXAMPLE_ALLOWED:
        assert not examples or silent, f"{name} has its example now: take it off the allow-list"
        pytest.skip(f"{name}: no example that shows output yet (MISSING_EXAMPLE_ALLOWED)")
    assert examples, f"{name} has no docstring example"
    assert not silent, f"examples that print nothing to compare: {silent}"


@pytest.mark.parametrize("name", ["iresnet_core", *MODULES])
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
