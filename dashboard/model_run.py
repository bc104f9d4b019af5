"""One model in the Playground: its flow, trainer, origin, last metrics and cached view.

Plain data with a few derived properties; :class:`dashboard.state.Playground` builds, trains and
replaces these, and the page reads them. A model of own points trains on them standardised
(:class:`iresnet_core.datasets.Scaling`); its metrics and curves are given in the points' own
units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import iresnet_core as ic
from dashboard.play_rate import PlayRate
from dashboard.view import View
from iresnet_core.datasets.scaling import IDENTITY, Scaling

__all__ = ["ModelRun"]

_NLL_KEYS = ("loss", "train_nll", "test_nll")  # NLLs in nats per point: they move with the units


@dataclass
class ModelRun:
    """One model being trained: its flow, trainer, origin and last metrics."""

    model: str
    cfg: ic.FlowConfig
    flow: Any
    trainer: Any
    origin: str  #: "pre-trained" or "scratch"
    pretrained_steps: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    view: View | None = None
    #: the checkpoint's own curves, shifted to steps <= 0 (drawn left of the live run)
    pre_history: dict[str, list[float]] = field(default_factory=dict)
    #: an uploaded checkpoint's bytes (weights, config, name): Reset returns to it
    source: tuple[bytes, bytes, str] | None = None
    #: the step counter against the wall clock while playing (the status line's steps/s)
    rate: PlayRate = field(default_factory=PlayRate)
    #: the map from the data's units to those the model trains in (own points: standardised)
    scaling: Scaling = IDENTITY

    def own_units(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """The trainer's ``metrics`` with every NLL in the data's own units
        (:meth:`~iresnet_core.datasets.Scaling.nll`: the standard one minus the log-det)."""
        return {k: self.scaling.nll(v) if k in _NLL_KEYS else v for k, v in metrics.items()}

    @property
    def shown(self) -> Any:
        """The flow the page draws, saves and hands to the lenses: the trainer's running average
        of the weights when averaging is on (``ic.Trainer.eval_flow``), else the trained flow."""
        return getattr(self.trainer, "eval_flow", self.flow)

    def evaluate(self) -> None:
        """Put the exact NLL of the weights shown into :attr:`metrics` (before any training, after
        a switch of weights); a failure leaves the old numbers, never the page."""
        try:
            train, test = self.trainer.evaluate()
        except Exception:
            return
        self.metrics["train_nll"], self.metrics["test_nll"] = (
            self.scaling.nll(v) for v in (train, test)
        )

    @property
    def skipped(self) -> int:
        """Non-finite steps discarded so far (the trainer keeps the last good parameters)."""
        return int(getattr(self.trainer, "skipped_total", 0))

    @property
    def step(self) -> int:
        return int(self.trainer.step_count)

    @property
    def parameters(self) -> int:
        return int(self.flow.num_parameters())

    @property
    def history(self) -> dict[str, list[float]]:
        """The trainer's curves as plain lists (``step``, ``train_nll``, ``test_nll``), NLLs in the
        data's own units."""
        h = self.trainer.history
        live = h.as_dict() if hasattr(h, "as_dict") else {k: list(v) for k, v in dict(h).items()}
        if not self.scaling.is_identity:
            live = {
                k: [self.scaling.nll(v) for v in vs] if k in _NLL_KEYS else vs
                for k, vs in live.items()
            }
        if not self.pre_history:
            return live
        n = len(live.get("step", []))
        return {
            k: list(self.pre_history.get(k, [math.nan] * len(self.pre_history["step"])))
            + list(live.get(k, [math.nan] * n))
            for k in live
        }
