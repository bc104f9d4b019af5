"""Fixtures of the C engine's tests: they skip only where no C compiler exists, and FAIL where one
exists and the kernels do not build (a broken kernel must not turn its tests into skips)."""

from __future__ import annotations

import os

import pytest

from iresnet_core.kernels import build


@pytest.fixture
def kernel():
    """The built library. Skips without a C compiler (or with the engine turned off on purpose,
    ``IRESNET_NATIVE=0``); fails, with the compiler's message, where a compiler exists and the
    build fails."""
    if not build.compiler_found():
        pytest.skip("no C compiler on this machine")
    if os.environ.get("IRESNET_NATIVE", "1") == "0":
        pytest.skip("the C engine is turned off (IRESNET_NATIVE=0)")
    lib = build.library()
    if lib is None:
        pytest.fail(
            f"a C compiler exists but the kernels did not build: {build.unavailable_reason()}"
        )
    return lib


@pytest.fixture
def fresh_kernel(monkeypatch, tmp_path):
    """The library forgotten before and after the test, to be built into an empty cache folder."""
    monkeypatch.setenv("IRESNET_NATIVE_CACHE", str(tmp_path))
    build._reset()
    yield tmp_path
    build._reset()
