"""The C engine's one shared library: built with the machine's C compiler on first use, cached on
disk, loaded with ctypes.

Three kernels share it, each a C file beside this module: ``density2d.c`` (``log p`` of many
points), ``fixed_point2d.c`` (the fixed-point inverse of one block, Behrmann et al. 2019,
Algorithm 1) and ``train2d.c`` (the exact training loss and its gradient); they include
``mlp_tile.h`` (the MLP written once) and ``layout.h`` (the layers' description, written by
:mod:`iresnet_core.kernels.layout`).

The library is cached under ``$IRESNET_NATIVE_CACHE`` (default ``~/.cache/iresnet-playground``,
or the temporary folder when that cannot be written), named by a hash of the sources, the
compiler, its flags and the CPU's feature flags, so an edited source or another CPU builds afresh.
``IRESNET_NATIVE=0`` turns the engine off; without a C compiler (``$CC``, else cc, gcc or clang)
it is off too, and :func:`unavailable_reason` says why. Wherever it is off, torch computes the
same numbers.

Example:
    >>> available() in (True, False)
    True
    >>> available() or unavailable_reason() is not None
    True
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

__all__ = [
    "available",
    "unavailable_reason",
    "compiler_found",
    "library",
    "SOURCES",
    "HEADERS",
]

log = logging.getLogger(__name__)

_HERE = Path(__file__).parent
#: The kernels, built into one shared library.
SOURCES = tuple(_HERE / name for name in ("density2d.c", "fixed_point2d.c", "train2d.c"))
#: Included by the sources (part of the cache key with them).
HEADERS = tuple(_HERE / name for name in ("mlp_tile.h", "layout.h"))
#: Flag sets tried in turn; the first that builds wins. ``-march=native``: the machine's widest
#: vector registers; ``-fno-math-errno`` only lets ``logf`` skip setting errno.
_FLAGS_X86 = ["-O3", "-march=native", "-mprefer-vector-width=512", "-fno-math-errno"]
_FLAGS = ["-O3", "-march=native", "-fno-math-errno"]
_PORTABLE = ["-O3", "-fno-math-errno"]

_ptr, _int, _i64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64
_f32, _f64 = ctypes.c_float, ctypes.c_double
#: Each exported function's ``(argument types, return type)``, as the C files declare them.
_SIGNATURES = {
    # n, x, out, n_layers, meta, params, consts
    "log_prob_2d": ([_i64, _ptr, _ptr, _int, _ptr, _ptr, _ptr], _int),
    # n, y, x, max_iter, tol, settle, div_factor, clamp, stop_on_divergence, meta, params,
    # residuals, status, idx, steps
    "fixed_point_2d": (
        [_i64, _ptr, _ptr, _int, _f64, _f64, _f64, _f64, _int, _ptr, _ptr, _ptr, _ptr, _ptr, _ptr],
        _int,
    ),
    # n, x, wt, n_layers, meta, params, n_params, uv, consts, grad
    "nll_grad_2d": ([_i64, _ptr, _f32, _int, _ptr, _ptr, _i64, _ptr, _ptr, _ptr], _f64),
    # n_layers, meta, params, uv, n_iter
    "power_iter_2d": ([_int, _ptr, _ptr, _ptr, _int], _int),
}

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_reason: str | None = None  # why the library is unavailable; None: not tried yet, or available
_tried = False


def _compiler() -> str | None:
    """The C compiler to build with: ``$CC``, else the first of cc, gcc, clang on the PATH."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def compiler_found() -> bool:
    """Whether a C compiler is on the PATH (the kernels can be built), checked without building."""
    return _compiler() is not None


def _cpu_flags() -> str:
    """The CPU's feature flags (part of the cache key: ``-march=native`` builds for this CPU)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def _cache_dirs() -> list[Path]:
    """Where built libraries are kept, in order of preference."""
    if os.environ.get("IRESNET_NATIVE_CACHE"):
        return [Path(os.environ["IRESNET_NATIVE_CACHE"])]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return [base / "iresnet-playground", Path(tempfile.gettempdir()) / "iresnet-playground"]


def _build(cc: str, flags: list[str]) -> Path:
    """The shared library for ``flags``: from the cache, else compiled into it (atomically, so
    two processes building at once both end with a whole file)."""
    texts = [src.read_text() for src in (*SOURCES, *HEADERS)]
    key = hashlib.sha256(
        "\0".join([*texts, cc, *flags, _cpu_flags(), platform.machine()]).encode()
    )
    name = f"kernels-{key.hexdigest()[:16]}.so"
    errors = []
    for folder in _cache_dirs():
        target = folder / name
        if target.exists():
            return target
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".so", dir=folder)
            os.close(fd)
        except OSError as e:
            errors.append(f"{folder}: {e}")
            continue
        try:
            subprocess.run(
                [cc, *flags, "-shared", "-fPIC", "-o", tmp, *map(str, SOURCES), "-lm"],
                check=True,
                capture_output=True,
                text=True,
                timeout=120,
            )
            os.replace(tmp, target)
            return target
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise OSError("no writable cache folder: " + "; ".join(errors))


def library() -> ctypes.CDLL | None:
    """The loaded library, built on the first call (once per process, under a lock); ``None``
    when it cannot be, with the reason in :func:`unavailable_reason`."""
    global _lib, _reason, _tried
    with _lock:
        if _tried:
            return _lib
        _tried = True
        if os.environ.get("IRESNET_NATIVE", "1") == "0":
            _reason = "turned off by IRESNET_NATIVE=0"
            return None
        cc = _compiler()
        if cc is None:
            _reason = "no C compiler (cc, gcc or clang) on the PATH"
            return None
        x86 = platform.machine().lower() in ("x86_64", "amd64")
        failures = []
        for flags in ([_FLAGS_X86] if x86 else []) + [_FLAGS, _PORTABLE]:
            try:
                lib = ctypes.CDLL(str(_build(cc, flags)))
                for name, (args, res) in _SIGNATURES.items():
                    fn = getattr(lib, name)
                    fn.argtypes, fn.restype = args, res
            except subprocess.CalledProcessError as e:
                failures.append(f"{cc} {' '.join(flags)}: {(e.stderr or '').strip()[-300:]}")
                continue
            except (OSError, AttributeError, subprocess.SubprocessError) as e:
                failures.append(f"{cc} {' '.join(flags)}: {e}")
                continue
            _lib = lib
            return lib
        _reason = "the kernels did not build: " + " | ".join(failures)
        log.warning("the C engine is unavailable, torch computes instead: %s", _reason)
        return None


def available() -> bool:
    """Whether the library is built and loaded (building it now if that was not tried yet)."""
    return library() is not None


def unavailable_reason() -> str | None:
    """Why :func:`available` is false, in words (``None`` when it is true)."""
    return None if available() else _reason


def _reset() -> None:
    """Forget the loaded library, so that the next use tries again (for the tests)."""
    global _lib, _reason, _tried
    with _lock:
        _lib, _reason, _tried = None, None, False
