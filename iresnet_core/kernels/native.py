"""The compiled kernels: C built with the machine's compiler on first use, loaded with ctypes, used
where they apply; everything else, and every machine without a compiler, takes the torch path.

* ``density2d.c`` — ``log p(x)`` by the change of variables (Behrmann et al. 2019, eq. 1) in
  float32, for :meth:`iresnet_core.flows.flow.Flow.log_prob_many` (the density grids): 2D i-ResNets
  of ELU blocks and ActNorms, with each block's exact ``ln |det(I + J_g)|``, and the 2D Glow
  (ActNorm, LU linear map, affine coupling with a ReLU or ELU conditioner and either form of the
  scale). It keeps 16 points at a time in registers through the whole flow, where torch makes
  some ten passes over memory per layer: a 200 x 200 grid of the default i-ResNet on two cores
  took 45-61 ms against 190-450 through torch, Glow's 38 against 163 (issue 6,
  ``docs/benchmarks.md``). :func:`pack`, :class:`PackedFlow`.
* ``train2d.c`` — the i-ResNet's exact training loss and its gradient in one pass, for
  :class:`iresnet_core.kernels.nll.NativeNLL` (``Trainer(native=True)``).
* ``fixed_point2d.c`` — the fixed-point inverse of one 2D ELU block in float64 (Algorithm 1), for
  :meth:`iresnet_core.flows.iresnet.InvertibleResidualBlock.inverse` with the same rules: 1000
  samples through the default flow took 44 ms against 133 through torch, the same iterations and
  iterates. :func:`fixed_point`.

The tests compare each with the torch path on the same flows.

The shared library is cached under ``$IRESNET_NATIVE_CACHE`` (default
``~/.cache/iresnet-playground``, or the temporary folder when that cannot be written), named by a
hash of the sources, the compiler flags and the CPU's feature flags, so an edited source or another
CPU builds afresh. Building takes under a second. ``IRESNET_NATIVE=0`` turns the kernels off (the
benchmarks compare both paths).

Example:
    >>> import iresnet_core as ic, torch
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,)))
    >>> packed = pack(flow.layers)
    >>> packed is None or packed.log_prob(torch.zeros(3, 2)).shape == (3,)
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from iresnet_core.flows.actnorm import ActNorm
from iresnet_core.flows.glow import AffineCoupling, InvertibleLinearLU
from iresnet_core.flows.iresnet import InvertibleResidualBlock
from iresnet_core.ops.fixed_point import DIVERGENCE_FACTOR, FixedPointRun

__all__ = [
    "available",
    "unavailable_reason",
    "compiler_found",
    "pack",
    "PackedFlow",
    "MAX_WIDTH",
    "takes_mlp",
    "fixed_point",
    "CEngine",
]

log = logging.getLogger(__name__)

#: The kernels, built into one shared library: the density's and the fixed-point inverse's.
SOURCES = tuple(
    Path(__file__).with_name(name) for name in ("density2d.c", "fixed_point2d.c", "train2d.c")
)
#: Included by the sources (part of the cache key with them).
HEADERS = (Path(__file__).with_name("simd2d.h"),)
#: The widest hidden layer the kernels take (their ``MAXW``); wider flows take the torch path.
MAX_WIDTH = 256
#: Flag sets tried in turn; the first that builds wins. ``-march=native``: the machine's widest
#: vector registers; ``-fno-math-errno`` only lets ``logf`` skip setting errno.
_FLAGS_X86 = ["-O3", "-march=native", "-mprefer-vector-width=512", "-fno-math-errno"]
_FLAGS = ["-O3", "-march=native", "-fno-math-errno"]
_PORTABLE = ["-O3", "-fno-math-errno"]

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_reason: str | None = None  # why the kernel is unavailable; None: not tried yet, or available
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


def _load() -> ctypes.CDLL | None:
    """The loaded library, built on the first call (once per process, under a lock); ``None``
    when it cannot be, with the reason in ``_reason``."""
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
            except subprocess.CalledProcessError as e:
                failures.append(f"{cc} {' '.join(flags)}: {(e.stderr or '').strip()[-300:]}")
                continue
            except (OSError, subprocess.SubprocessError) as e:
                failures.append(f"{cc} {' '.join(flags)}: {e}")
                continue
            ptr, c_int, c_double = ctypes.c_void_p, ctypes.c_int, ctypes.c_double
            fn = lib.log_prob_2d
            fn.argtypes = [ctypes.c_int64, ptr, ptr, c_int, ptr, ptr, ptr, ptr, ctypes.c_float]
            fn.restype = None
            fp = lib.fixed_point_2d
            fp.argtypes = [
                ctypes.c_int64,
                ptr,
                ptr,
                c_int,
                c_double,
                c_double,
                c_double,
                c_int,
                ptr,
                ptr,
                ptr,
                ptr,
                ptr,
                ptr,
            ]
            fp.restype = c_int
            tr = lib.nll_grad_2d
            tr.argtypes = [
                ctypes.c_int64,
                ptr,
                ctypes.c_float,
                c_int,
                ptr,
                ptr,
                ctypes.c_int64,
                ptr,
                ptr,
                ptr,
            ]
            tr.restype = c_double
            pi = lib.power_iter_2d
            pi.argtypes = [c_int, ptr, ptr, ptr]
            pi.restype = c_int
            _lib = lib
            return lib
        _reason = "the kernels did not build: " + " | ".join(failures)
        log.warning("compiled kernels unavailable, the torch path is used: %s", _reason)
        return None


def available() -> bool:
    """Whether the kernels are built and loaded (building them now if that was not tried yet)."""
    return _load() is not None


def unavailable_reason() -> str | None:
    """Why :func:`available` is false (``None`` when it is true)."""
    return None if available() else _reason


def _reset() -> None:
    """Forget the loaded kernels, so the next use tries again (for the tests)."""
    global _lib, _reason, _tried
    with _lock:
        _lib, _reason, _tried = None, None, False


@dataclass(frozen=True)
class PackedFlow:
    """A flow's weights as of packing, laid out for the kernel (``density2d.c``'s header)."""

    kinds: np.ndarray
    depth: np.ndarray
    widths: np.ndarray
    params: np.ndarray
    constant: float

    def log_prob(self, x: Tensor) -> Tensor:
        """``log p`` of ``x`` (``(n, 2)``, float32) in the calling thread; the GIL is released
        meanwhile, so several threads may each take a share of the points."""
        lib = _load()
        if lib is None:  # pragma: no cover - pack() returns None then
            raise RuntimeError(f"the compiled kernels are unavailable: {_reason}")
        pts = np.ascontiguousarray(x.detach().numpy(), dtype=np.float32)
        out = np.empty(len(pts), dtype=np.float32)
        lib.log_prob_2d(
            len(pts),
            pts.ctypes.data,
            out.ctypes.data,
            len(self.kinds),
            self.kinds.ctypes.data,
            self.depth.ctypes.data,
            self.widths.ctypes.data,
            self.params.ctypes.data,
            self.constant,
        )
        return torch.from_numpy(out)


def _coupling_mlp(layer: AffineCoupling) -> list[tuple[Tensor, Tensor]] | None:
    """The coupling's conditioner as ``(W, b)`` per linear map, when the kernel takes it: 2D,
    float32, ``Linear, act, ..., Linear`` with the layer's activation (ReLU, or ELU with alpha 1)
    throughout, a hidden layer no wider than :data:`MAX_WIDTH`."""
    mods = list(layer.net)
    linears, acts = mods[0::2], mods[1::2]
    if layer.dim != 2 or len(mods) % 2 == 0 or len(linears) < 2:
        return None
    if not all(isinstance(m, torch.nn.Linear) for m in linears):
        return None
    relu = layer.activation == "relu"
    if not all(
        type(m) is torch.nn.ReLU if relu else isinstance(m, torch.nn.ELU) and m.alpha == 1.0
        for m in acts
    ):
        return None
    if (
        any(m.weight.dtype != torch.float32 for m in linears)
        or max(m.out_features for m in linears[:-1]) > MAX_WIDTH
    ):
        return None
    return [(m.weight, m.bias) for m in linears]


@torch.no_grad()
def pack(layers) -> PackedFlow | None:
    """``layers`` (a :class:`~iresnet_core.flows.flow.Flow`'s) packed for the kernel, with each
    block's normalised weights taken now; ``None`` when the kernel is unavailable or does not cover
    them. It covers 2D float32 flows of ActNorms and either i-ResNet blocks with ELU or Glow's
    linear maps and couplings with ReLU or ELU conditioners, every hidden layer no wider than
    :data:`MAX_WIDTH`."""
    kinds, depth, widths, params, constant = [], [], [], [], 0.0
    for layer in layers:
        if isinstance(layer, InvertibleResidualBlock):
            g = layer.g
            if g.linears[0].weight.dtype != torch.float32:
                return None
            frozen = g.frozen(torch.float32)
            if not takes_mlp(frozen, g.act.name):
                return None
            kinds.append(0)
            depth.append(len(frozen))
            widths += [2, *(w.shape[0] for w, _ in frozen)]
            for w, b in frozen:
                params += [w.reshape(-1), b]
        elif isinstance(layer, InvertibleLinearLU):
            w = layer.weight()
            if w.shape != (2, 2) or w.dtype != torch.float32:
                return None
            kinds.append(2)
            params.append(w.reshape(-1))
            constant += float(layer.log_s.sum())
        elif isinstance(layer, AffineCoupling):
            mlp = _coupling_mlp(layer)
            if mlp is None:
                return None
            kinds.append(3 + layer.parity)
            depth.append(len(mlp))
            widths += [1, *(w.shape[0] for w, _ in mlp)]
            form = [layer.scale_bound, layer.scale_map == "sigmoid", layer.activation == "relu"]
            params.append(torch.tensor(form, dtype=torch.float32))
            for w, b in mlp:
                params += [w.reshape(-1), b]
        elif isinstance(layer, ActNorm):
            if layer.log_scale.numel() != 2 or layer.log_scale.dtype != torch.float32:
                return None
            scale = layer.log_scale.exp()
            kinds.append(1)
            params += [scale, layer.bias * scale]
            constant += float(layer.log_scale.sum())
        else:
            return None
    if not kinds or not available():
        return None
    return PackedFlow(
        np.array(kinds, np.int32),
        np.array(depth, np.int32),
        np.array(widths, np.int32),
        torch.cat(params).detach().contiguous().numpy().astype(np.float32, copy=False),
        constant,
    )


def takes_mlp(params: list[tuple[Tensor, Tensor]], activation: str) -> bool:
    """Whether the kernels take a 2D block MLP of these ``(W, b)`` and activation."""
    return (
        activation == "elu"
        and len(params) >= 2
        and params[0][0].shape[1] == 2
        and params[-1][0].shape[0] == 2
        and max(w.shape[0] for w, _ in params[:-1]) <= MAX_WIDTH
        and available()
    )


def fixed_point(
    params: list[tuple[Tensor, Tensor]],
    y: Tensor,
    max_iter: int,
    tol: float,
    settle: float | None,
    div_factor: float,
) -> FixedPointRun:
    """Algorithm 1 of Behrmann et al. 2019, ``x_{k+1} = y - g(x_k)`` from ``x_0 = y``, for a block
    MLP that :func:`takes_mlp` (float64 ``params`` and ``y``), with the rules of
    :meth:`iresnet_core.flows.iresnet.InvertibleResidualBlock.inverse` (``fixed_point2d.c``'s
    header)."""
    lib = _load()
    if lib is None:
        raise RuntimeError(f"the fixed-point kernel is unavailable: {_reason}")
    ys = np.ascontiguousarray(y.detach().numpy(), dtype=np.float64)
    n = len(ys)
    flat = np.ascontiguousarray(
        torch.cat([t.reshape(-1) for wb in params for t in wb]).detach().numpy(), np.float64
    )
    widths = np.array([2, *(w.shape[0] for w, _ in params)], np.int32)
    x = np.empty_like(ys)
    residuals = np.empty(max_iter, np.float64)
    status = ctypes.c_int(0)
    idx, steps = np.empty(n, np.int64), np.empty(n, np.float64)
    iters = lib.fixed_point_2d(
        n,
        ys.ctypes.data,
        x.ctypes.data,
        max_iter,
        tol,
        settle or 0.0,
        div_factor,
        len(params),
        widths.ctypes.data,
        flat.ctypes.data,
        residuals.ctypes.data,
        ctypes.byref(status),
        idx.ctypes.data,
        steps.ctypes.data,
    )
    return FixedPointRun(
        torch.from_numpy(x), residuals[:iters].copy(), status.value == 1, status.value == 2
    )


class CEngine:
    """The C kernels as the flows' engine (:class:`iresnet_core.flows.engine.Engine`)."""

    def log_prob(self, layers) -> Callable[[Tensor], Tensor] | None:
        packed = pack(layers)
        return None if packed is None else packed.log_prob

    def fixed_point(
        self,
        params: list[tuple[Tensor, Tensor]],
        activation: str,
        y: Tensor,
        max_iter: int,
        tol: float,
        settle: float | None,
        stop_on_divergence: bool,
    ) -> FixedPointRun | None:
        if not stop_on_divergence or y.dtype != torch.float64 or not takes_mlp(params, activation):
            return None
        return fixed_point(params, y, max_iter, tol, settle, DIVERGENCE_FACTOR)
