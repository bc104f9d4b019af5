"""What a person sets in the Playground: one :class:`Settings` field per sidebar control, and what
follows from the settings alone (the data's view box and entropy floor, a model's one-line
description, the series' truncation bound, which architecture fields changed).

Plain data, no Streamlit and no training state (:mod:`dashboard.state` holds that); the field
names double as the URL's query parameters.

Example:
    >>> s = Settings(c=0.5, N=10, estimator="series")
    >>> s.iresnet_config().coeff, round(truncation_bound(s.iresnet_config()), 4)
    (0.5, 0.0002)
    >>> _diff(Settings(), s)
    'c 0.9 → 0.5, estimator exact → series, N 5 → 10'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

import iresnet_core as ic

__all__ = [
    "Settings",
    "CUSTOM",
    "ENGINES",
    "BUDGETS",
    "MODEL_CHOICES",
    "SPEEDS",
    "MAX_BAD_STEPS",
    "dataset_bounds",
    "dataset_entropy",
    "dataset_label",
    "describe",
    "truncation_bound",
    "what_changed",
]

CUSTOM = "custom"  #: the dataset choice "your own points" (an uploaded CSV)

#: The training engines a person can pick: the C engine where it takes the flow (else torch, and
#: the status line says why), or torch.
ENGINES = ("C kernel", "torch")
#: How "Both" shares a tick: the same number of steps each (the slower sets the pace), or the
#: same training time each.
BUDGETS = ("equal steps", "equal time")
MODEL_CHOICES = ("both", "iresnet", "glow")
#: seconds of training per model and tick; "slow motion" trains one step a tick.
SPEEDS: dict[str, float] = {"slow motion": 0.0, "normal": 0.25, "fast": 0.5}
MAX_BAD_STEPS = 20  #: default: non-finite steps in a row before a model pauses itself
_DEFAULT_CFG = ic.FlowConfig()


@dataclass(frozen=True)
class Settings:
    """Every control of the Playground; field names double as URL query parameters."""

    dataset: str = "8gaussians"
    models: str = "both"
    c: float = float(_DEFAULT_CFG.coeff or 0.9)
    unconstrained: bool = False
    estimator: str = _DEFAULT_CFG.logdet
    N: int = _DEFAULT_CFG.n_terms
    probes: int = _DEFAULT_CFG.n_probes
    probe: str = getattr(_DEFAULT_CFG, "probe", "gaussian")
    blocks: int = _DEFAULT_CFG.n_blocks
    width: int = _DEFAULT_CFG.hidden[0]
    activation: str = _DEFAULT_CFG.activation
    #: each model's starting step size, its tuned default (``ic.DEFAULT_LR``; the schedule that
    #: follows is ``ic.DEFAULT_LR_DECAY``'s; the tuning table is in docs/benchmarks.md)
    lr: float = ic.DEFAULT_LR["iresnet"]
    glow_lr: float = ic.DEFAULT_LR["glow"]
    batch: int = 500
    average: bool = (
        True  #: show the running average of the weights (ic.Trainer's eval_flow); applies live
    )
    #: the training engine (:data:`ENGINES`; ``ic.Trainer(native=...)``); applies live
    engine: str = "C kernel"
    #: how both models share a tick (:data:`BUDGETS`); applies live
    budget: str = "equal steps"
    seed: int = 0
    pretrained: bool = True
    speed: str = "normal"
    grid: int = 100
    n_samples: int = 1000
    max_bad: int = (
        MAX_BAD_STEPS  #: non-finite steps in a row before training pauses (applies live)
    )

    def lr_for(self, model: str) -> float:
        """The learning rate of ``model``: each flow has its own best one."""
        return float(self.glow_lr if model == "glow" else self.lr)

    def lr_decay_for(self, model: str) -> float | None:
        """``tau`` of ``model``'s step-size decay ``lr / sqrt(1 + t / tau)`` (``None``: constant):
        the model's tuned default, ``ic.DEFAULT_LR_DECAY``."""
        return ic.DEFAULT_LR_DECAY[model]

    @property
    def native(self) -> bool:
        """Whether the C engine is asked for (``ic.Trainer(native=...)``)."""
        return self.engine == ENGINES[0]

    def average_decay(self) -> float | None:
        """The trainers' running-average decay (``ic.Trainer(average=...)``), ``None`` when off."""
        return ic.AVERAGE_DECAY if self.average else None

    def shown(self) -> tuple[str, ...]:
        """The models on screen, i-ResNet first."""
        return ("iresnet", "glow") if self.models == "both" else (self.models,)

    def iresnet_config(self) -> ic.FlowConfig:
        """The i-ResNet's :class:`FlowConfig` (raises ValueError on bad values)."""
        depth = len(_DEFAULT_CFG.hidden)
        return _DEFAULT_CFG.replace(
            model="iresnet",
            n_blocks=int(self.blocks),
            hidden=(int(self.width),) * depth,
            coeff=None if self.unconstrained else float(self.c),
            activation=self.activation,
            logdet=self.estimator,
            n_terms=int(self.N),
            n_probes=int(self.probes),
            probe=self.probe,
            seed=int(self.seed),
        )

    def flow_config(self, model: str) -> ic.FlowConfig:
        """The config of ``model``; Glow is matched to the i-ResNet's parameter count."""
        cfg = self.iresnet_config()
        if model == "iresnet":
            return cfg
        # Glow ignores c and the log-det estimator: keep them at their defaults so that moving the
        # c slider does not reset the Glow (and its checkpoint still matches).
        d = _DEFAULT_CFG
        return ic.match_glow(
            cfg.replace(
                coeff=d.coeff,
                logdet=d.logdet,
                n_terms=d.n_terms,
                n_probes=d.n_probes,
                probe=d.probe,
            )
        )

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def dataset_bounds(
    name: str, points: np.ndarray | None = None
) -> tuple[float, float, float, float]:
    """The view box of a toy set, or the padded extent of user points."""
    if name != CUSTOM:
        return tuple(float(b) for b in ic.datasets.bounds(name))  # type: ignore[return-value]
    return tuple(float(b) for b in ic.datasets.extent(points))  # type: ignore[return-value]


def dataset_entropy(name: str) -> float | None:
    """The entropy floor in nats; ``None`` for user points."""
    if name == CUSTOM:
        return None
    e = ic.datasets.entropy(name)
    return None if e is None else float(e)


def dataset_label(name: str) -> str:
    if name == CUSTOM:
        return "your own points"
    return getattr(ic.datasets, "LABELS", {}).get(name, name)


_ARCH_LABELS = {
    "c": "c",
    "unconstrained": "constraint",
    "estimator": "estimator",
    "N": "N",
    "probes": "probes",
    "probe": "probe",
    "blocks": "blocks",
    "width": "hidden width",
    "activation": "activation",
    "seed": "seed",
    "pretrained": "pre-trained",
    "batch": "batch size",
}


def what_changed(since: Settings, old: Settings, new: Settings) -> str:
    """What changed since the person last saw a note (else since the last rerun)."""
    d = _diff(since, new)
    return d if d != "architecture changed" else _diff(old, new)


def _diff(old: Settings, new: Settings) -> str:
    """``"c 0.9 → 0.5, N 5 → 10"``: the architecture fields that changed."""
    parts = []
    for f, label in _ARCH_LABELS.items():
        a, b = getattr(old, f), getattr(new, f)
        if a != b:
            parts.append(f"{label} {a} → {b}")
    return ", ".join(parts) or "architecture changed"


def describe(cfg: ic.FlowConfig, dataset: str = "") -> str:
    """One line saying what a model is: ``"moons · c=0.9 · series N=5 · 32 × 2-32-32-2 · elu"``."""
    arch = f"{cfg.n_blocks} × 2-{'-'.join(str(h) for h in cfg.hidden)}-2"
    if cfg.model == "glow":
        parts = [
            dataset,
            f"{cfg.n_blocks} Glow steps, coupling 1-{'-'.join(str(h) for h in cfg.hidden)}-2",
        ]
    else:
        c = "unconstrained" if cfg.coeff is None else f"c={cfg.coeff:g}"
        est = cfg.logdet + (f" N={cfg.n_terms}" if cfg.logdet in ("series", "hutchinson") else "")
        if cfg.logdet == "hutchinson":
            est += f", {cfg.n_probes} {cfg.probe} probe" + ("s" if cfg.n_probes > 1 else "")
        parts = [dataset, c, f"{est} log-det", arch, cfg.activation]
    return " · ".join(p for p in parts if p)


def truncation_bound(cfg: ic.FlowConfig) -> float | None:
    """Bound on the power series' truncation error per block (paper, Thm. 3;
    :func:`iresnet_core.ops.logdet.truncation_bound`); ``None`` where it does not apply (exact or
    roulette estimators, c >= 1, Glow)."""
    if (
        cfg.model != "iresnet"
        or cfg.logdet not in ("series", "hutchinson")
        or cfg.coeff is None
        or cfg.coeff >= 1
    ):
        return None
    return ic.logdet.truncation_bound(float(cfg.coeff), cfg.n_terms, cfg.dim)
