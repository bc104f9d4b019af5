"""What a change of the Playground's settings does to its models, and the typed notes that say so.

A change of settings does one of four things (:meth:`dashboard.state.Playground.apply`):

* new data (``dataset``, ``seed``): both models are rebuilt from step 0;
* another architecture (any field of a model's :class:`iresnet_core.FlowConfig` but the
  estimator's, or ``pretrained``): the model whose config changed is rebuilt (Glow does not see
  ``c`` or the estimator, so moving them keeps the Glow);
* another log-det estimator: set on the i-ResNet as it trains, no reset;
* a live setting (:data:`LIVE`): applied to each running model, no reset;

and every other field (the models shown, speed, grid, budget) changes only what is drawn. Each
change that a person should know about leaves a :class:`Note`; the page shows the newest note per
topic and model.

Example:
    >>> Note("reset", "i-ResNet reset to step 0 (c 0.9 → 0.5).", "iresnet").key
    ('reset', 'iresnet')
    >>> sorted(LIVE)
    ['average', 'batch', 'engine', 'glow_lr', 'lr', 'max_bad']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dashboard.model_run import ModelRun
from dashboard.settings import Settings

__all__ = ["Note", "TOPICS", "LIVE", "live_note"]

#: What a note is about: new data, a model rebuilt, the estimator switched live, a live setting,
#: a reset or checkpoint asked for by the person, and what a link said.
TOPICS = ("data", "reset", "estimator", "average", "engine", "checkpoint", "link")


@dataclass(frozen=True)
class Note:
    """A message about what happened: its topic (:data:`TOPICS`), its text and what it is about
    (the model, or the control a link set; ``None``: everything)."""

    topic: str
    text: str
    subject: str | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        """Notes with the same key say the same kind of thing: the page shows the newest."""
        return self.topic, self.subject

    def __str__(self) -> str:
        return self.text


def _average(run: ModelRun, s: Settings) -> None:
    run.trainer.set_average(s.average_decay())
    run.evaluate()  # the NLL on screen is of the weights shown, also while paused


def _max_bad(run: ModelRun, s: Settings) -> None:
    run.trainer.max_bad_steps = max(1, int(s.max_bad))


#: The settings that apply to a running model without a reset: field -> what it does to a model.
LIVE: dict[str, Callable[[ModelRun, Settings], None]] = {
    "lr": lambda run, s: run.trainer.set_lr(s.lr_for(run.model)),
    "glow_lr": lambda run, s: run.trainer.set_lr(s.lr_for(run.model)),
    "batch": lambda run, s: run.trainer.set_batch_size(int(s.batch)),
    "average": _average,
    "engine": lambda run, s: run.trainer.set_native(s.native),
    "max_bad": _max_bad,
}


def live_note(key: str, s: Settings, runs: list[ModelRun], average_steps: int) -> Note | None:
    """The note a live change of ``key`` leaves, if a person should see one."""
    if key == "average":
        text = (
            f"Showing the running average of the weights (about the last {average_steps} steps)."
            if s.average
            else "Showing the weights of the last step (no averaging)."
        )
        return Note("average", text)
    if key == "engine":
        engines = ", ".join(
            f"{'Glow' if r.model == 'glow' else 'i-ResNet'}: {r.trainer.engine}" for r in runs
        )
        return Note("engine", f"Training engine {s.engine} asked for ({engines}); no reset.")
    return None
