"""Every docstring example of the dashboard and the benchmarks runs and prints what it says.

The core's examples are held to more (each module has one that shows output:
``tests/test_docstring_examples.py``); these were run by nobody (but the soak report's), and one
had rotted (a default that had changed, lens_model) before this test ran them.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import benchmarks
import dashboard

MODULES = sorted(
    m.name
    for package in (dashboard, benchmarks)
    for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
    if not m.name.endswith("__main__")
)


def test_the_modules_are_collected():
    assert {
        "dashboard.figures.layers.clouds",
        "dashboard.lens_model",
        "benchmarks.splice",
        "benchmarks.soak_report",
        "benchmarks.soak_stats",
        "benchmarks.soak_figure",
    } <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
