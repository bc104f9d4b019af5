"""The peers: normflows' residual flow (the Residual Flows code) and a Glow assembled from its
parts.

Both are built at a given architecture: by default the issue's yardstick for speed, 8 blocks of an
MLP 2-128-128-2 with Lipschitz constant c = 0.9 and an ActNorm after every block (residual flow),
or 8 steps of ActNorm + LU-linear + affine coupling with a parameter-matched conditioner (Glow).
The throughput table uses that one; the fit table builds them at our default flow's
(``ic.FlowConfig()``).

Log-det modes of ``nf.flows.Residual`` (normflows 1.7.3, ``flows/residual.py``) and ours:

================  ===================================================  =========================
mode (ours)       normflows ``Residual(...)`` arguments                what it computes
================  ===================================================  =========================
``exact``         ``brute_force=True``                                 2x2 Jacobian, double grad
``series`` (N=5)  ``n_power_series=5, exact_trace=True``               series, exact traces
``hutchinson``    ``n_power_series=5`` (one Gaussian probe)            series, Hutchinson trace
``roulette``      ``n_power_series=None, n_exact_terms=2, geom_p=.5``  Russian roulette
================  ===================================================  =========================

``reduce_memory=True`` (normflows' default) computes the log-det gradient inside the forward with
a Neumann series (``neumann_logdet_estimator``); ``reduce_memory=False`` backpropagates through
the series (``basic_logdet_estimator``). The faster of the two on this machine is the yardstick.

Differences that remain (normflows' design, kept as is): its ``LipschitzMLP`` puts a LipSwish
(learnable beta) before *every* linear layer, including the first, where ours is
``Linear-ELU-Linear-ELU-Linear``; its last layer starts near zero (weights / 1000) where ours
starts on the constraint boundary; its spectral norm is refreshed by ``nf.utils.update_lipschitz``
after each optimiser step (we use ``POWER_ITERS`` = 2 iterations, the same work as ours: one in
the forward, one refresh after the step) instead of inside the forward.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = [
    "ISSUE_ARCH",
    "NF_MODES",
    "POWER_ITERS",
    "build_nf_residual",
    "build_nf_glow",
    "NFTrainer",
    "nf_log_prob",
    "nf_version",
]

#: Power iterations per optimiser step for normflows' spectral norm (ours does 1 + 1 refresh).
POWER_ITERS = 2

#: Keyword arguments of ``nf.flows.Residual`` per log-det mode of ours.
NF_MODES: dict[str, dict] = {
    "exact": dict(brute_force=True),
    "series": dict(n_power_series=5, exact_trace=True),
    "hutchinson": dict(n_power_series=5, n_samples=1),
    "roulette": dict(n_power_series=None, n_exact_terms=2, geom_p=0.5, n_samples=1),
}


def nf_version() -> str:
    try:
        import normflows as nf

        return str(nf.__version__)
    except Exception:  # pragma: no cover
        import importlib.metadata as md

        return md.version("normflows")


#: The issue's architecture for the throughput comparison (``ic.FlowConfig`` fields).
ISSUE_ARCH: dict = {"n_blocks": 8, "hidden": (128, 128)}


def build_nf_residual(
    mode: str = "exact",
    n_blocks: int = 8,
    hidden: tuple[int, ...] = (128, 128),
    coeff: float = 0.9,
    reduce_memory: bool = True,
    seed: int = 0,
):
    """normflows' residual flow at our architecture (its README's recipe), with the log-det
    ``mode``."""
    import normflows as nf

    torch.manual_seed(seed)
    np.random.seed(seed)
    flows = []
    for _ in range(n_blocks):
        net = nf.nets.LipschitzMLP([2, *hidden, 2], init_zeros=True, lipschitz_const=coeff)
        flows.append(nf.flows.Residual(net, reduce_memory=reduce_memory, **NF_MODES[mode]))
        flows.append(nf.flows.ActNorm(2))
    return nf.NormalizingFlow(q0=nf.distributions.DiagGaussian(2, trainable=False), flows=flows)


def build_nf_glow(
    n_blocks: int = 8,
    hidden: tuple[int, ...] = (128, 128),
    scale_map: str = "sigmoid",
    seed: int = 0,
):
    """A 2D Glow from normflows' parts: ActNorm + LULinearPermute + AffineCouplingBlock per step,
    coupling halves alternating, conditioner MLP 1-h-h-2 with a zero-initialised last layer."""
    import normflows as nf

    torch.manual_seed(seed)
    flows = []
    for k in range(n_blocks):
        param_map = nf.nets.MLP([1, *hidden, 2], init_zeros=True)
        flows.append(
            nf.flows.AffineCouplingBlock(
                param_map,
                scale_map=scale_map,
                split_mode="channel" if k % 2 == 0 else "channel_inv",
            )
        )
        flows.append(nf.flows.LULinearPermute(2))
        flows.append(nf.flows.ActNorm(2))
    return nf.NormalizingFlow(q0=nf.distributions.DiagGaussian(2, trainable=False), flows=flows)


def num_parameters(model) -> int:
    """Trainable scalars, leaving out normflows' roulette-distribution parameters that get no
    gradient."""
    return sum(
        p.numel()
        for n, p in model.named_parameters()
        if p.requires_grad and not n.endswith(("geom_p", "lamb"))
    )


@dataclass
class NFTrainer:
    """normflows' own training loop (its README): Adam on ``forward_kld``, a non-finite loss
    skipped,
    ``update_lipschitz`` after each step. ``wall_time`` counts training only, as ``ic.Trainer``
    does."""

    model: object
    data: np.ndarray
    lr: float = 1e-3
    batch_size: int = 500
    seed: int = 0
    power_iters: int = POWER_ITERS
    wall_time: float = 0.0
    step_count: int = 0
    skipped: int = 0
    optimizer: torch.optim.Optimizer = field(init=False)

    def __post_init__(self) -> None:
        self.x = torch.as_tensor(np.asarray(self.data, dtype=np.float32))
        self.gen = torch.Generator().manual_seed(self.seed)
        np.random.seed(self.seed)  # normflows' roulette draws use numpy's global generator
        params = [
            p for n, p in self.model.named_parameters() if not n.endswith(("geom_p", "lamb"))
        ]
        self.optimizer = torch.optim.Adam(params, lr=self.lr)
        self.has_lipschitz = any(
            type(m).__name__ == "InducedNormLinear" for m in self.model.modules()
        )

    def _one_step(self) -> None:
        import normflows as nf

        idx = torch.randint(self.x.shape[0], (self.batch_size,), generator=self.gen)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.model.forward_kld(self.x[idx])
        if torch.isfinite(loss):
            loss.backward()
            self.optimizer.step()
            self.step_count += 1
        else:
            self.skipped += 1
        if self.has_lipschitz:
            nf.utils.update_lipschitz(self.model, self.power_iters)

    def step(self, k: int) -> dict:
        """``k`` steps; returns ``steps_per_s`` like ``ic.Trainer.step``."""
        self.model.train()
        t0 = time.perf_counter()
        for _ in range(k):
            self._one_step()
        dt = time.perf_counter() - t0
        self.wall_time += dt
        return {"steps_per_s": k / dt if dt > 0 else math.nan, "step": self.step_count}

    def run_for(self, seconds: float) -> dict:
        self.model.train()
        t0 = time.perf_counter()
        done = 0
        while done == 0 or time.perf_counter() - t0 < seconds:
            self._one_step()
            done += 1
        dt = time.perf_counter() - t0
        self.wall_time += dt
        return {"steps_per_s": done / dt, "step": self.step_count}

    def log_prob(self, x: torch.Tensor, chunk: int = 5000) -> torch.Tensor:
        """Exact log density (normflows' eval mode takes the brute-force 2x2 determinant in 2D)."""
        return nf_log_prob(self.model, x, chunk)


def nf_log_prob(model, x: torch.Tensor, chunk: int = 5000) -> torch.Tensor:
    """Exact log density of a normflows model, in eval mode (brute-force 2x2 determinant in 2D)."""
    model.eval()
    try:
        out = []
        for i in range(0, len(x), chunk):
            out.append(model.log_prob(x[i : i + chunk]).detach())
        return torch.cat(out)
    finally:
        model.train()
