"""The loader (``iresnet_core.kernels.build``): one library built where a compiler exists, cached
by the sources' hash, and a reason in words wherever it is unavailable (torch computes then)."""

from __future__ import annotations

import shutil

import pytest
import torch

import iresnet_core as ic
from iresnet_core.kernels import build, density


def test_the_library_builds_once_and_is_cached(kernel, fresh_kernel):
    assert build.available(), build.unavailable_reason()
    assert build.unavailable_reason() is None
    built = list(fresh_kernel.glob("kernels-*.so"))
    assert len(built) == 1
    before = built[0].stat().st_mtime_ns
    build._reset()
    assert build.available()  # from the cache, not rebuilt
    assert built[0].stat().st_mtime_ns == before
    for name in ("log_prob_2d", "fixed_point_2d", "nll_grad_2d", "power_iter_2d"):
        assert getattr(build.library(), name).argtypes


@pytest.mark.slow  # builds a library of its own
@pytest.mark.timeout(600)
def test_an_edited_source_builds_afresh(kernel, fresh_kernel, monkeypatch, tmp_path):
    """The cache key covers the sources and headers: a changed header is a new library."""
    assert build.available()
    copies = tmp_path / "src"
    copies.mkdir()
    for path in (*build.SOURCES, *build.HEADERS):
        shutil.copy(path, copies / path.name)
    (copies / "layout.h").write_text((copies / "layout.h").read_text() + "\n/* edited */\n")
    monkeypatch.setattr(build, "SOURCES", tuple(copies / p.name for p in build.SOURCES))
    monkeypatch.setattr(build, "HEADERS", tuple(copies / p.name for p in build.HEADERS))
    build._reset()
    assert build.available()
    assert len(list(fresh_kernel.glob("kernels-*.so"))) == 2


@pytest.mark.slow  # builds a library of its own
@pytest.mark.timeout(600)
def test_a_broken_source_is_reported_with_the_compilers_words(
    kernel, fresh_kernel, monkeypatch, tmp_path
):
    copies = tmp_path / "src"
    copies.mkdir()
    for path in (*build.SOURCES, *build.HEADERS):
        shutil.copy(path, copies / path.name)
    broken = copies / "train2d.c"  # the last source: its message ends the reason
    broken.write_text(broken.read_text() + "\n#error deliberately broken\n")
    monkeypatch.setattr(build, "SOURCES", tuple(copies / p.name for p in build.SOURCES))
    monkeypatch.setattr(build, "HEADERS", tuple(copies / p.name for p in build.HEADERS))
    build._reset()
    assert not build.available()
    assert "did not build" in build.unavailable_reason()
    assert "deliberately broken" in build.unavailable_reason()


def _flow() -> ic.Flow:
    return ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16, 16))).eval()


def test_turned_off_or_unbuildable_torch_gives_the_same_numbers(
    fresh_kernel, monkeypatch, tmp_path
):
    flow = _flow()
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        ref = flow.log_prob(x)
    monkeypatch.setenv("IRESNET_NATIVE", "0")
    assert not build.available()
    assert "IRESNET_NATIVE=0" in build.unavailable_reason()
    assert density.pack(flow.layers) is None
    torch.testing.assert_close(flow.log_prob_many(x), ref, atol=1e-5, rtol=1e-5)

    monkeypatch.delenv("IRESNET_NATIVE")
    broken = tmp_path / "broken-cc"
    broken.write_text("#!/bin/sh\necho 'cc: error: no such file' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("CC", str(broken))
    build._reset()
    assert not build.available()
    reason = build.unavailable_reason()
    assert "did not build" in reason and "no such file" in reason
    torch.testing.assert_close(flow.log_prob_many(x), ref, atol=1e-5, rtol=1e-5)


def test_no_compiler_is_reported(fresh_kernel, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert not build.compiler_found()
    assert not build.available()
    assert "no C compiler" in build.unavailable_reason()
