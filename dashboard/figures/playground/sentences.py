"""The sentences under the Playground's charts: text, not figures.

* :func:`gap_text` — one model's test NLL and its distance from the dataset's entropy, the floor
  no model goes under (none for own points: their density is unknown); the NLL chart writes it in
  its corner too;
* :class:`Standing` and :func:`comparison_text` — where each shown model stands, and one plain
  sentence comparing them at the Playground's budget (equal steps or equal time).

Example:
    >>> gap_text(2.874, 2.834)
    'test NLL 2.874 · NLL − entropy +0.040 nats'
    >>> gap_text(None, 2.834)
    'test NLL —'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Standing", "comparison_text", "gap_text"]


def gap_text(nll: float | None, entropy: float | None) -> str:
    """``"test NLL 2.91 · NLL − entropy 0.08 nats"``; for own points (uploaded or drawn: no known
    density, so no entropy floor) the NLL alone, with the reason the floor is missing."""
    if nll is None or not np.isfinite(nll):
        return "test NLL —"
    if entropy is None:
        return (
            f"test NLL {nll:.3f} nats · no entropy floor: the density your points come from "
            "is unknown"
        )
    return f"test NLL {nll:.3f} · NLL − entropy {nll - entropy:+.3f} nats"


@dataclass(frozen=True)
class Standing:
    """Where one model stands: its label, the steps and seconds it has trained, its test NLL."""

    label: str
    steps: int
    seconds: float
    nll: float | None


def comparison_text(standings: Sequence[Standing], entropy: float | None, budget: str) -> str:
    """One plain sentence comparing the models at the same budget, e.g. ``"After 2,000 steps
    each: i-ResNet 0.040 nats from perfect, Glow 0.310."``; ``budget`` is ``"equal steps"`` or
    ``"equal time"``. Where the steps differ under equal steps (checkpoints trained apart, or a
    model reset), it says each model's own count instead of "each".

    Example:
        >>> comparison_text([Standing("i-ResNet", 2000, 30.0, 2.874), Standing("Glow", 2000, 9.0,
        ...                  3.144)], 2.834, "equal steps")
        'After 2,000 steps each: i-ResNet 0.040 nats from perfect, Glow 0.310.'
    """

    def gap(s: Standing) -> str:
        if s.nll is None or not np.isfinite(s.nll):
            return "—"
        if entropy is None:
            return f"test NLL {s.nll:.3f}"
        return f"{s.nll - entropy:.3f}"

    first = standings[0]
    first_gap = gap(first) + (" nats from perfect" if entropy is not None else " nats")
    rest = ", ".join(f"{s.label} {gap(s)}" for s in standings[1:])
    if budget == "equal time":
        secs = min(s.seconds for s in standings)
        counts = ", ".join(f"{s.label} {s.steps:,}" for s in standings)
        return (
            f"After about {secs:,.0f} s of training here each ({counts} steps): "
            f"{first.label} {first_gap}, {rest}."
        )
    if len({s.steps for s in standings}) == 1:
        return f"After {first.steps:,} steps each: {first.label} {first_gap}, {rest}."
    parts = [f"{s.label} after {s.steps:,} steps {gap(s)}" for s in standings]
    return "Not the same number of steps (pre-trained or reset apart): " + "; ".join(parts) + "."
