"""The Playground's controls as one table, and what a link may say about each of them.

Every sidebar control is a :class:`Control` row: the :class:`~dashboard.settings.Settings` field it
sets (which is also its URL query parameter), its widget, its choices or range, whether it is a
rarely used control hidden in presentation mode, and its help. The page draws the sidebar from the
table (:func:`dashboard.controls.render_controls`); nothing here imports Streamlit.

Links always work (:func:`read_link`): a value is accepted as the token a control writes into the
URL *or* as its label, in any case (``?models=iresnet``, ``?models=i-ResNet``, ``?MODELS=GLOW``);
a number out of range or malformed is clamped to the nearest allowed value, and a note says so
("c=5 is above 0.99: using 0.99"), never silently.

Example:
    >>> values, notes = read_link({"c": "5", "models": "iresnet", "lr": "abc"})
    >>> values["c"], values["models"], values["lr"]
    (0.99, 'i-ResNet', 0.01)
    >>> notes[0]
    'c=5 is above 0.99: using 0.99.'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import iresnet_core as ic
from dashboard.settings import CUSTOM, MAX_BAD_STEPS, SPEEDS, Settings

__all__ = ["Control", "PLAYGROUND", "SECTIONS", "read_link", "control"]

_D = Settings()
CHOICE_WIDGETS = ("selectbox", "radio", "segmented_control")
SECTIONS = ("Data", "Models", "Training")


@dataclass(frozen=True)
class Control:
    """One sidebar control.

    Attributes:
        key: the :class:`~dashboard.settings.Settings` field it sets, also its query parameter.
        label: what the sidebar shows.
        widget: ``selectbox``, ``radio``, ``segmented_control`` (choices), ``select_slider``
            (ordered choices, numbers or words), ``slider``, ``number_input`` (a range),
            ``toggle``.
        section: the sidebar heading it sits under.
        options: the choices' tokens (the values :class:`Settings` holds).
        labels: token -> the label shown for it (and accepted in links); missing: the token.
        bounds: ``(low, high)`` of a slider or number input.
        step: a slider's step.
        integer: the value is a whole number.
        rare: hidden in presentation mode (its value is kept for the session).
        help: the tooltip.
        fmt: how a numeric choice is shown.
    """

    key: str
    label: str
    widget: str
    section: str
    options: tuple[Any, ...] = ()
    labels: Mapping[Any, str] = field(default_factory=dict)
    bounds: tuple[float, float] | None = None
    step: float | None = None
    integer: bool = False
    rare: bool = False
    help: str = ""
    fmt: Callable[[Any], str] = str

    @property
    def default(self) -> Any:
        """The widget value of the default :class:`Settings`."""
        return self.widget_value(getattr(_D, self.key))

    def shown(self, token: Any) -> str:
        """The label of a choice."""
        return self.labels.get(token, self.fmt(token))

    def widget_value(self, token: Any) -> Any:
        """The widget's value for a :class:`Settings` value (a choice widget holds labels)."""
        return self.shown(token) if self.widget in CHOICE_WIDGETS and self.labels else token

    def setting(self, value: Any) -> Any:
        """The :class:`Settings` value for a widget value (a label back to its token)."""
        if self.widget in CHOICE_WIDGETS and self.labels:
            for token, label in self.labels.items():
                if label == value:
                    return token
        return value

    def parse(self, raw: str) -> tuple[Any, str | None]:
        """The widget value a link's ``raw`` text asks for, and a note when it had to be changed
        (clamped, or not understood: then the default)."""
        text = raw.strip()
        if self.widget == "toggle":
            low = text.lower()
            if low in ("true", "1", "yes", "on"):
                return True, None
            if low in ("false", "0", "no", "off"):
                return False, None
            return self.default, f"{self.key}={raw} is not true or false: using {self.default}."
        if self.options and not all(isinstance(o, (int, float)) for o in self.options):
            for token in self.options:
                if text.lower() in (str(token).lower(), self.shown(token).lower()):
                    return self.widget_value(token), None
            names = ", ".join(str(o) for o in self.options)
            using = self.shown(getattr(_D, self.key))
            return self.default, f"{self.key}={raw} is not one of {names}: using {using}."
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            shown = self.fmt(self.default)
            return self.default, f"{self.key}={raw} is not a number: using {shown}."
        if self.options:  # numbers to choose from: the nearest (on a log scale for positives)
            scale = math.log if number > 0 and min(self.options) > 0 else (lambda v: v)
            best = min(self.options, key=lambda o: abs(scale(o) - scale(number)))
            if best == number:
                return best, None
            return best, f"{self.key}={raw} is not one of the choices: using {self.fmt(best)}."
        lo, hi = self.bounds or (-math.inf, math.inf)
        value = int(round(number)) if self.integer else number
        if value < lo:
            return _num(lo, self.integer), f"{self.key}={raw} is below {lo:g}: using {lo:g}."
        if value > hi:
            return _num(hi, self.integer), f"{self.key}={raw} is above {hi:g}: using {hi:g}."
        if self.integer and value != number:
            return value, f"{self.key}={raw} is not a whole number: using {value}."
        return value, None


def _num(v: float, integer: bool) -> float | int:
    return int(v) if integer else float(v)


def _lr_help(model: str) -> str:
    if model == "glow":
        return "Glow's own step size (its schedule: see docs/benchmarks.md). Applies live."
    return (
        "The i-ResNet's step size at step 0; after t steps it is lr / √(1 + t / "
        f"{ic.LR_DECAY:g}) (a pre-trained model carries on where its training left off). "
        "Applies live, without a reset."
    )


_LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 2e-2, 3e-2, 6e-2, 0.1, 0.3, 1.0, 3.0, 10.0)
_ESTIMATORS = {
    "exact": "exact (2D det)",
    "series": "power series (exact traces)",
    "hutchinson": "Hutchinson (paper)",
    "roulette": "Russian roulette",
}
_AVERAGE_STEPS = round(1 / (1 - ic.AVERAGE_DECAY))

#: The Playground's sidebar, in order.
PLAYGROUND: tuple[Control, ...] = (
    Control(
        "dataset",
        "Dataset",
        "selectbox",
        "Data",
        (*ic.datasets.NAMES, CUSTOM),
        help="The FFJORD toy sets; 'custom' is your own points (a CSV upload or a drawing).",
    ),
    Control(
        "models",
        "Show",
        "radio",
        "Models",
        ("both", "iresnet", "glow"),
        {"both": "Both", "iresnet": "i-ResNet", "glow": "Glow"},
        help="Both: side by side; Glow is sized to about the i-ResNet's parameter count.",
    ),
    Control(
        "unconstrained",
        "Unconstrained (plain ResNet)",
        "toggle",
        "Models",
        help="Turn spectral normalisation off: no Lipschitz bound, no inverse guarantee.",
    ),
    Control(
        "c",
        "Lipschitz coefficient c",
        "slider",
        "Models",
        bounds=(0.05, 0.99),
        step=0.01,
        help="Every linear layer is scaled to spectral norm at most c.",
    ),
    Control(
        "estimator",
        "Log-det estimator",
        "selectbox",
        "Models",
        tuple(_ESTIMATORS),
        help="; ".join(f"**{k}**: {v}" for k, v in _ESTIMATORS.items()),
    ),
    Control(
        "N",
        "Series terms N",
        "slider",
        "Models",
        bounds=(1, 20),
        step=1,
        integer=True,
        help="Power-series terms for the series and Hutchinson estimators.",
    ),
    Control(
        "probes",
        "Hutchinson probes",
        "slider",
        "Models",
        bounds=(1, 8),
        step=1,
        integer=True,
        rare=True,
    ),
    Control("probe", "Probe distribution", "selectbox", "Models", ic.PROBES, rare=True),
    Control(
        "blocks",
        "Blocks",
        "slider",
        "Models",
        bounds=(1, 64),
        step=1,
        integer=True,
        help="Residual blocks (Glow: coupling steps). At c = 0.9 depth is what a flow is "
        "short of: narrow deep flows fit faster than wide shallow ones (docs/benchmarks.md).",
    ),
    Control(
        "width",
        "Hidden width",
        "select_slider",
        "Models",
        (16, 32, 64, 128, 256),
        integer=True,
        help="Each block is an MLP 2-w-w-2.",
    ),
    Control("activation", "Activation", "selectbox", "Models", ic.ACTIVATIONS, rare=True),
    Control(
        "lr",
        "Learning rate",
        "select_slider",
        "Training",
        _LRS,
        fmt=lambda v: f"{v:g}",
        help=_lr_help("iresnet"),
    ),
    Control(
        "glow_lr",
        "Glow learning rate",
        "select_slider",
        "Training",
        _LRS,
        fmt=lambda v: f"{v:g}",
        help=_lr_help("glow"),
    ),
    Control(
        "budget",
        "Budget",
        "segmented_control",
        "Training",
        ("equal steps", "equal time"),
        help="With both models shown: equal steps (each tick both advance the same number of "
        "steps, the slower one setting the pace) or equal time (each gets the same training "
        "time per tick). A comparison measures the algorithms at equal steps.",
    ),
    Control(
        "average",
        "Show the averaged weights",
        "toggle",
        "Training",
        help="On: the density, samples and NLL are those of the running average of the "
        f"weights over about the last {_AVERAGE_STEPS} steps. Off: the last step's weights "
        "(a single Step then shows its whole effect). Applies live, without a reset.",
    ),
    Control(
        "engine",
        "Training engine",
        "segmented_control",
        "Training",
        ("C kernel", "torch"),
        help="C kernel: loss and gradient of both models in one pass of a C engine built for "
        "this machine, the same numbers as torch's autograd; torch where it does not apply "
        "(the status line says why). Applies live, without a reset.",
    ),
    Control(
        "batch",
        "Batch size",
        "select_slider",
        "Training",
        (1, 16, 64, 128, 256, 500, 1000, 2000),
        integer=True,
        rare=True,
    ),
    Control(
        "seed", "Seed", "number_input", "Training", bounds=(0, 10_000), integer=True, rare=True
    ),
    Control(
        "grid",
        "Density grid (n × n)",
        "select_slider",
        "Training",
        (100, 120, 150, 200),
        integer=True,
        rare=True,
    ),
    Control(
        "speed",
        "Speed",
        "select_slider",
        "Training",
        tuple(SPEEDS),
        help="Training time per model per redraw; slow motion: one step per redraw.",
    ),
    Control(
        "pretrained",
        "Start from the pre-trained model",
        "toggle",
        "Training",
        help="Off: start from scratch (a fresh initialisation).",
    ),
    Control(
        "max_bad",
        "Stop training after this many non-finite steps in a row",
        "number_input",
        "Training",
        bounds=(1, 1000),
        integer=True,
        rare=True,
        help="A step whose loss, gradient or update is not finite is skipped (the last good "
        f"parameters stay); this many in a row pause training (default {MAX_BAD_STEPS}).",
    ),
)

_BY_KEY = {c.key: c for c in PLAYGROUND}


def control(key: str) -> Control:
    """The control of ``key``."""
    return _BY_KEY[key]


def read_link(
    params: Mapping[str, str | list[str]], controls: tuple[Control, ...] = PLAYGROUND
) -> tuple[dict[str, Any], list[str]]:
    """What a link's query parameters set: ``{key: widget value}`` for every known key (matched
    case-insensitively; the last of repeated values), and a note for each value that had to be
    clamped or was not understood. Unknown keys are left to the page (other controls)."""
    by_lower = {c.key.lower(): c for c in controls}
    values: dict[str, Any] = {}
    notes: list[str] = []
    for key, raw in params.items():
        c = by_lower.get(key.lower())
        if c is None:
            continue
        text = raw[-1] if isinstance(raw, list) else raw
        value, note = c.parse(text)
        values[c.key] = value
        if note:
            notes.append(note)
    return values, notes
