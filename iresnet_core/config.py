"""The flow configuration: one frozen dataclass that says everything needed to build a flow.

A config is plain data (JSON-serialisable through :meth:`FlowConfig.to_dict`), validated at
construction so a bad value never reaches a model: ``c <= 0``, ``N < 1``, zero blocks and the like
raise a :class:`ValueError` that names the field.

Example:
    >>> cfg = FlowConfig(model="iresnet", n_blocks=8, hidden=(128, 128), coeff=0.9)
    >>> cfg.replace(coeff=0.5).coeff
    0.5
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FlowConfig",
    "MODELS",
    "ACTIVATIONS",
    "LOGDET_MODES",
    "PROBES",
    "SPECTRAL_MODES",
    "INITS",
    "SCALE_MAPS",
    "GLOW_ACTIVATIONS",
]

MODELS = ("iresnet", "glow")
ACTIVATIONS = ("elu", "lipswish", "tanh", "softplus")
LOGDET_MODES = ("exact", "series", "hutchinson", "roulette")
PROBES = ("gaussian", "rademacher")
SPECTRAL_MODES = ("power", "exact")
INITS = ("identity", "boundary")
#: Glow's coupling scale: ``sigmoid`` (Glow's code, the default) or ``tanh`` (the earlier bounded
#: exponential; :class:`~iresnet_core.flows.glow.AffineCoupling`).
SCALE_MAPS = ("sigmoid", "tanh")
#: Glow's conditioner activation: ``relu`` (Glow's code, the default) or ``elu`` (the earlier one).
GLOW_ACTIVATIONS = ("relu", "elu")


@dataclass(frozen=True)
class FlowConfig:
    """Everything that defines a flow's architecture and its log-determinant estimator.

    Attributes:
        model: ``"iresnet"`` (Behrmann et al. 2019) or ``"glow"`` (Kingma & Dhariwal 2018, in 2D).
        n_blocks: number of residual blocks (i-ResNet) or of ActNorm/LU/coupling steps (Glow).
        hidden: hidden widths of each block's MLP, e.g. ``(32, 32)`` for 2-32-32-2.
        coeff: the Lipschitz coefficient ``c`` of every linear layer (paper, Sec. 2 and eq. 9);
            ``None`` turns spectral normalisation off: a plain ResNet with no inverse guarantee.
        activation: ``elu`` (paper default), ``lipswish``, ``tanh`` or ``softplus``; all
            1-Lipschitz with a continuous derivative.
        logdet: training-time estimator: ``exact`` (2D determinant), ``series`` (power series with
            exact traces), ``hutchinson`` (power series with stochastic traces, the paper's eq.
            6-7) or ``roulette`` (unbiased Russian roulette, Chen et al. 2019).
        n_terms: ``N``, the number of power-series terms for ``series`` and ``hutchinson``.
        n_probes: Hutchinson probe vectors per sample.
        probe: probe distribution, ``gaussian`` or ``rademacher``.
        n_exact_terms: terms always evaluated by the Russian-roulette estimator.
        n_power_iter: power iterations per training forward (the vectors persist between steps).
        spectral: how sigma is found for the normalisation: ``power`` (power iteration, the
            paper's) or ``exact`` (SVD every forward: slow, for verification).
        init: ``identity`` (each block's last layer starts near zero, so the block starts near the
            identity, as in Residual Flows; fits fastest, see docs/benchmarks.md) or ``boundary``
            (every layer starts with sigma = c).
        actnorm: an ActNorm layer after every block (paper, Appendix C).
        dim: data dimension (2 for the toy sets).
        scale_map: Glow only: the coupling's scale, ``sigmoid`` (Glow's code: ``y = (x + t) *
            sigmoid(raw + 2)``) or ``tanh`` (``y = x * exp(s) + t``, ``s = scale_bound *
            tanh(raw / scale_bound)``); a Glow config saved without it (before it existed) reads
            as ``tanh``. scale_bound: Glow's ``tanh`` form only: the bound on the log-scale.
        glow_activation: Glow only: the couplings' conditioner activation, ``elu`` (the default:
            the C engine trains it) or ``relu`` (Glow's code; trained through torch); a Glow config
            saved without it reads as ``elu``.
        seed: initialisation seed.
    """

    model: str = "iresnet"
    #: 32 narrow blocks rather than DESIGN.md's example of 8 blocks of 2-128-128-2 (the issue's
    #: yardstick for speed, ``benchmarks/throughput.py``): depth, not width, is what a c = 0.9 flow
    #: is short of; at equal training time it fits the toy sets closer with fewer weights (see
    #: docs/benchmarks.md, issue 6).
    n_blocks: int = 32
    hidden: tuple[int, ...] = (32, 32)
    coeff: float | None = 0.9
    activation: str = "elu"
    logdet: str = "exact"
    n_terms: int = 5
    n_probes: int = 1
    probe: str = "gaussian"
    n_exact_terms: int = 2
    n_power_iter: int = 1
    spectral: str = "power"
    init: str = "identity"
    actnorm: bool = True
    dim: int = 2
    scale_bound: float = 2.0
    scale_map: str = "sigmoid"
    glow_activation: str = "elu"
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        if not isinstance(self.n_blocks, int) or self.n_blocks < 1:
            raise ValueError(f"n_blocks must be a positive integer, got {self.n_blocks!r}")
        if len(self.hidden) < 1 or any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden must be one or more positive widths, got {self.hidden!r}")
        if self.coeff is not None:
            c = float(self.coeff)
            if not math.isfinite(c) or c <= 0:
                raise ValueError(
                    f"coeff (the Lipschitz coefficient c) must be > 0, got {self.coeff!r}"
                )
            if self.model == "iresnet" and c >= 1:
                raise ValueError(
                    f"coeff (the Lipschitz coefficient c) must be < 1 for an invertible i-ResNet, "
                    f"got {c}; "
                    "use coeff=None for an unconstrained (plain ResNet) flow"
                )
            object.__setattr__(self, "coeff", c)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.logdet not in LOGDET_MODES:
            raise ValueError(f"logdet must be one of {LOGDET_MODES}, got {self.logdet!r}")
        if not isinstance(self.n_terms, int) or self.n_terms < 1:
            raise ValueError(f"n_terms (N) must be an integer >= 1, got {self.n_terms!r}")
        if not isinstance(self.n_probes, int) or self.n_probes < 1:
            raise ValueError(f"n_probes must be an integer >= 1, got {self.n_probes!r}")
        if self.probe not in PROBES:
            raise ValueError(f"probe must be one of {PROBES}, got {self.probe!r}")
        if not isinstance(self.n_exact_terms, int) or self.n_exact_terms < 0:
            raise ValueError(f"n_exact_terms must be an integer >= 0, got {self.n_exact_terms!r}")
        if not isinstance(self.n_power_iter, int) or self.n_power_iter < 0:
            raise ValueError(f"n_power_iter must be an integer >= 0, got {self.n_power_iter!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        if self.spectral not in SPECTRAL_MODES:
            raise ValueError(f"spectral must be one of {SPECTRAL_MODES}, got {self.spectral!r}")
        if not isinstance(self.dim, int) or self.dim < 2:
            raise ValueError(f"dim must be an integer >= 2, got {self.dim!r}")
        if not (math.isfinite(self.scale_bound) and self.scale_bound > 0):
            raise ValueError(f"scale_bound must be > 0, got {self.scale_bound!r}")
        if self.scale_map not in SCALE_MAPS:
            raise ValueError(f"scale_map must be one of {SCALE_MAPS}, got {self.scale_map!r}")
        if self.glow_activation not in GLOW_ACTIVATIONS:
            raise ValueError(
                f"glow_activation must be one of {GLOW_ACTIVATIONS}, got {self.glow_activation!r}"
            )
        if not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")

    @property
    def constrained(self) -> bool:
        """True when spectral normalisation bounds Lip(g) (an invertible i-ResNet)."""
        return self.coeff is not None

    def replace(self, **changes: Any) -> FlowConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict; :meth:`from_dict` reverses it."""
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        if not d["extra"]:
            d.pop("extra")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FlowConfig:
        """Build from :meth:`to_dict` output; unknown keys are refused with a ValueError."""
        if not isinstance(d, dict):
            raise ValueError(f"a flow config must be a JSON object, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown config fields: {', '.join(unknown)}")
        d = dict(d)
        if d.get("model") == "glow":  # saved before these existed: the forms it was trained with
            d.setdefault("scale_map", "tanh")
            d.setdefault("glow_activation", "elu")
        if "hidden" in d:
            if not isinstance(d["hidden"], (list, tuple)):
                raise ValueError("hidden must be a list of widths")
            d["hidden"] = tuple(d["hidden"])
        try:
            return cls(**d)
        except TypeError as e:  # wrong types that dataclass construction itself rejects
            raise ValueError(f"invalid flow config: {e}") from None
