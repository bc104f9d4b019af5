"""A normalizing flow: a stack of invertible layers over a standard normal base.

``log p(x) = log N(f(x); 0, I) + sum_l log|det J_l|`` (the change of variables, paper eq. 1).
Both the i-ResNet and Glow are a :class:`Flow`; only their layers differ, so the trainer, the
analysis functions and the dashboard treat them alike.

Example:
    >>> import iresnet_core as ic, torch
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(32,))).eval()
    >>> lp = flow.log_prob(torch.zeros(5, 2))  # exact: near log N(0; 0, I) for a new flow
    >>> lp.shape, round(lp[0].item(), 2)
    (torch.Size([5]), -1.84)
    >>> x, info = flow.inverse(torch.zeros(5, 2))  # fixed-point inverse, with its report
    >>> len(info.blocks), info.converged, info.bound < 1e-6
    (2, True, True)
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor, nn

from iresnet_core.config import FlowConfig
from iresnet_core.flows.engine import engine
from iresnet_core.flows.layers import FlowLayer, InverseInfo, invert_layers
from iresnet_core.ops.spectral import SpectralLinear, drop_prefetched, prefetch_training_rescales

__all__ = ["Flow", "standard_normal_log_prob", "ESTIMATOR_FIELDS"]

#: Config fields that choose the log-det estimator, not the architecture: they can change live.
ESTIMATOR_FIELDS = ("logdet", "n_terms", "n_probes", "probe", "n_exact_terms")


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """``log N(z; 0, I)`` per sample."""
    return -0.5 * (z * z).sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)


class Flow(nn.Module):
    """A flow ``f = f_L o ... o f_1`` with a standard normal base distribution.

    Args:
        cfg: the configuration the flow was built from (kept for checkpoints and display).
        layers: the invertible layers, applied in order in the data-to-noise direction.
    """

    def __init__(self, cfg: FlowConfig, layers: list[FlowLayer]) -> None:
        super().__init__()
        self.cfg = cfg
        self.layers = nn.ModuleList(layers)
        #: Drives the stochastic log-det estimators (probes, roulette draws); the Trainer reseeds
        #: it.
        self.generator = torch.Generator().manual_seed(cfg.seed)

    @property
    def dim(self) -> int:
        return self.cfg.dim

    def forward(self, x: Tensor, mode: str | None = None) -> tuple[Tensor, Tensor]:
        """``(z, logdet)`` with the log-det estimated per ``mode`` (default: ``cfg.logdet``)."""
        mode = mode or self.cfg.logdet
        # A training forward's power iterations, all at once (lipschitz.prefetch_training_rescales)
        training = self.training and torch.is_grad_enabled()
        prefetched = prefetch_training_rescales(self._spectral()) if training else []
        lds = []
        layers = self._layer_list()
        i, n = 0, len(layers)
        try:
            while i < n:
                layer = layers[i]
                # in training a layer may take the next one into its own step (a residual block
                # its ActNorm: FlowLayer.forward_then); else, and elsewhere, one by one
                out = (
                    layer.forward_then(x, mode, layers[i + 1]) if training and i + 1 < n else None
                )
                if out is None:
                    out, i = layer(x, mode), i + 1
                else:
                    i += 2
                x, ld = out
                lds.append(ld)
        finally:
            drop_prefetched(prefetched)
        # summed at once: one node of the autograd graph where a running sum made one per layer
        return x, torch.stack(lds).sum(0) if lds else x.new_zeros(x.shape[0])

    def _layer_list(self) -> list[FlowLayer]:
        """The layers as a plain list (an ``nn.ModuleList`` looks each index up by its string key),
        made once: the layers never change."""
        if "_layers_list" not in self.__dict__:
            self.__dict__["_layers_list"] = list(self.layers)
        return self.__dict__["_layers_list"]

    def _spectral(self) -> list[SpectralLinear]:
        """The linear maps a training forward's batched power iteration covers (each residual
        branch's ``batched_power_layers``), found once: the layers never change."""
        if "_spectral_linears" not in self.__dict__:
            self.__dict__["_spectral_linears"] = [
                lin
                for m in self.modules()
                for lin in (m.batched_power_layers() if hasattr(m, "batched_power_layers") else [])
            ]
        return self.__dict__["_spectral_linears"]

    def log_prob(self, x: Tensor) -> Tensor:
        """The exact log density in nats, shape ``(B,)`` (exact log-det: the data are 2D)."""
        z, logdet = self.forward(x, "exact")
        return standard_normal_log_prob(z) + logdet

    def log_prob_many(
        self, x: Tensor, chunk: int = 5000, workers: int | None = None, native: bool = True
    ) -> Tensor:
        """:meth:`log_prob` of many points without a gradient, spread over ``workers`` threads
        (default: torch's thread count).

        With ``native`` (the default) the engine (:mod:`iresnet_core.flows.engine`, the C density
        kernel) takes the flows it covers, each thread an even share of the points: the same
        numbers up to float rounding. Otherwise torch: each layer's weights prepared once
        (:meth:`FlowLayer.prepared`), the points in chunks of at most ``chunk`` (they keep a
        layer's tensors in cache), whole chunks per thread, each thread running torch on one thread
        (an operation on a few thousand points is too short to share; docs/benchmarks.md).
        """
        if chunk < 1:
            raise ValueError(f"chunk must be a positive number of points, got {chunk}")
        n_workers = torch.get_num_threads() if workers is None else workers
        fast = (
            engine()
            if native and x.dtype == torch.float32 and x.ndim == 2 and x.device.type == "cpu"
            else None
        )
        log_prob = fast.log_prob(self.layers) if fast is not None else None
        if log_prob is not None:
            n_workers = max(1, min(n_workers, math.ceil(len(x) / _NATIVE_SHARE)))
            if n_workers == 1:
                return log_prob(x)
            cuts = [round(i * len(x) / n_workers) for i in range(n_workers + 1)]
            parts = [x[a:b] for a, b in zip(cuts[:-1], cuts[1:])]
            return torch.cat(list(_pool(n_workers).map(log_prob, parts)))
        layers = [layer.prepared() for layer in self.layers]
        n_workers = max(1, min(n_workers, math.ceil(len(x) / chunk)))
        if n_workers == 1:
            return _log_prob_chunks(layers, x, chunk)
        cuts = [round(i * len(x) / n_workers) for i in range(n_workers + 1)]
        parts = [x[a:b] for a, b in zip(cuts[:-1], cuts[1:])]
        return torch.cat(
            list(
                _pool(n_workers).map(
                    lambda part: _log_prob_chunks(layers, part, chunk, threads=1), parts
                )
            )
        )

    def nll(self, x: Tensor, mode: str | None = None) -> Tensor:
        """Mean negative log-likelihood with the given estimator: the training loss."""
        z, logdet = self.forward(x, mode)
        return -(standard_normal_log_prob(z) + logdet).mean()

    @torch.no_grad()
    def inverse(
        self, z: Tensor, max_iter: int = 100, tol: float = 1e-6
    ) -> tuple[Tensor, InverseInfo]:
        """Map noise back to data. i-ResNet blocks invert by the fixed-point iteration.

        Returns ``(x, info)``; ``info.blocks`` holds one :class:`BlockInverseInfo` per iteratively
        inverted block, in forward order. It never hangs: at most ``max_iter`` iterations a block.
        """
        x, reports = invert_layers(self.layers, z, max_iter, tol)
        return x, InverseInfo(reports)

    @torch.no_grad()
    def sample(
        self, n: int, seed: int | None = 0, max_iter: int = 100, tol: float = 1e-6
    ) -> Tensor:
        """``n`` samples: standard normal noise pushed through the inverse."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        z = torch.randn(n, self.dim, generator=gen)
        x, _ = self.inverse(z, max_iter=max_iter, tol=tol)
        return x

    @torch.no_grad()
    def jacobian(self, x: Tensor) -> Tensor:
        """The Jacobian of the whole flow ``dz/dx`` at every point, shape ``(B, d, d)``."""
        jac = torch.eye(self.dim, dtype=x.dtype).expand(x.shape[0], -1, -1)
        for layer in self.layers:
            y, _ = layer(x, "exact")  # first, so a data-initialised layer is initialised
            jac = layer.jacobian(x) @ jac
            x = y
        return jac

    def set_estimator(self, **changes: object) -> None:
        """Switch the training-time log-det estimator in place, keeping the weights.

        Only the fields in :data:`ESTIMATOR_FIELDS` may change (``logdet``, ``n_terms``,
        ``n_probes``, ``probe``, ``n_exact_terms``); anything else would change the architecture.
        """
        bad = sorted(set(changes) - set(ESTIMATOR_FIELDS))
        if bad:
            raise ValueError(f"set_estimator changes only {ESTIMATOR_FIELDS}, not {bad}")
        self.cfg = self.cfg.replace(**changes)
        for layer in self.layers:
            if hasattr(layer, "cfg"):
                layer.cfg = self.cfg

    def num_parameters(self) -> int:
        """Number of trainable scalars."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


#: The fewest points worth a thread of their own in the native path (below it, one thread).
_NATIVE_SHARE = 2000

_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(n: int) -> ThreadPoolExecutor:
    """The process's ``n`` worker threads for :meth:`Flow.log_prob_many` (made on first use,
    kept)."""
    with _POOLS_LOCK:
        if n not in _POOLS:
            _POOLS[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="log-prob")
        return _POOLS[n]


@torch.inference_mode()
def _log_prob_chunks(layers: list, x: Tensor, chunk: int, threads: int | None = None) -> Tensor:
    """``log p`` of ``x`` through prepared layers, in even chunks of at most ``chunk`` points;
    with ``threads``, torch runs on that many threads in the calling thread meanwhile."""
    if threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)  # a worker's own setting (OpenMP's count is per thread)
    n_chunks = max(1, math.ceil(len(x) / chunk))
    size = max(1, math.ceil(len(x) / n_chunks))
    out = []
    for i in range(0, len(x), size):
        h, logdet, constant = x[i : i + size], None, 0.0
        for layer in layers:
            h, ld = layer(h)
            if isinstance(ld, float):
                constant += ld  # the same at every point (ActNorm): added once, not per layer
            else:
                logdet = ld if logdet is None else logdet + ld
        lp = standard_normal_log_prob(h)
        out.append((lp if logdet is None else lp.add_(logdet)).add_(constant))
    return torch.cat(out) if out else x.new_zeros(0)
