"""Every example in the core's docstrings runs and prints what it says.

The examples are the first code a reader tries; two had rotted unnoticed (a metrics key that
moved, a return value that printed) before this test ran them.
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


def test_every_core_module_is_collected():
    assert {
        "iresnet_core.flows.iresnet",
        "iresnet_core.training.averaging",
        "iresnet_core.training.trainer",
    } <= set(MODULES)


@pytest.mark.parametrize("name", ["iresnet_core", *MODULES])
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
