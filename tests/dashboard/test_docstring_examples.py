"""Every docstring example of the dashboard runs and prints what it says.

The core's examples are held to more (each module has one that shows output:
``tests/test_docstring_examples.py``); the dashboard's were run by nobody, and one had rotted (a
default that had changed, lens_model) before this test ran them.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import dashboard

MODULES = sorted(m.name for m in pkgutil.walk_packages(dashboard.__path__, "dashboard."))


def test_the_dashboards_modules_are_collected():
    assert {"dashboard.figures.layers.clouds", "dashboard.lens_model", "dashboard.view"} <= set(
        MODULES
    )


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
