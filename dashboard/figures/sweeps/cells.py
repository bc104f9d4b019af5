"""The results table read over seeds: which cells each claim rests on, and their mean ± sd.

Plain pandas on the results table (one row per cell, :mod:`iresnet_core.sweep.table`'s columns);
no plotly. The charts and the claims' verdicts read the table through these only (defined here
only), so a chart and the verdict on the same claim rest on the same cells:

* :func:`over_seeds` — ``mean``, ``sd`` (ddof 1) and ``n`` of a column over seeds, by settings;
  :func:`pm` — a mean and its spread as ``"mean ± sd"``;
* :func:`density_rows` — a density model's cells; :func:`series_rows` — the i-ResNet's cells
  trained with the power series (:data:`SERIES_MODES`) at a given c: the heatmap, Appendix E;
* :func:`classifier_rows` — the classifier's cells with their ``setting`` (``"vanilla"`` or
  ``"c=0.9"``) and the ``order`` Table 1 lists them in (vanilla, then c falling);
* :func:`figure2_rows` — Figure 2's cells: the i-ResNet with the exact log-det, and Glow.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"model": ["iresnet"] * 4, "dataset": ["rings"] * 4,
    ...     "coeff": [0.5, 0.5, 0.9, 0.9], "n_terms": [2] * 4, "logdet": ["series"] * 4,
    ...     "seed": [0, 1, 0, 1], "nll_minus_entropy": [0.1, 0.3, 0.2, 0.2]})
    >>> s = over_seeds(df, ["coeff"], "nll_minus_entropy")
    >>> s["mean"].round(3).tolist(), s["sd"].round(3).tolist(), s["n"].tolist()
    ([0.2, 0.2], [0.141, 0.0], [2, 2])
    >>> pm(0.2, 0.1414), pm(0.2, float("nan"))
    ('0.2 ± 0.14', '0.2')
    >>> len(series_rows(df)), len(figure2_rows(df)), len(classifier_rows(df))
    (4, 0, 0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "SERIES_MODES",
    "pm",
    "over_seeds",
    "density_rows",
    "series_rows",
    "classifier_rows",
    "figure2_rows",
]

#: Log-det modes whose training depends on N (the power series).
SERIES_MODES = ("series", "hutchinson")


def pm(mean: float, sd: float, digits: int = 3) -> str:
    """``"mean ± sd"`` (the sd left out when it is NaN: a single seed)."""
    if mean is None or not np.isfinite(mean):
        return "–"
    if sd is None or not np.isfinite(sd):
        return f"{mean:.{digits}g}"
    return f"{mean:.{digits}g} ± {sd:.2g}"


def over_seeds(df: pd.DataFrame, by: Sequence[str], value: str) -> pd.DataFrame:
    """``by`` columns, then ``mean``, ``sd`` (over seeds, ddof 1; NaN for one seed) and ``n`` of
    ``value``; NaN values (a diverged inverse) are left out of mean and sd but not of ``n``."""
    if df.empty or value not in df:
        return pd.DataFrame(columns=[*by, "mean", "sd", "n"])
    g = df.groupby(list(by), dropna=False)[value]
    out = g.agg(["mean", "std", "size"]).reset_index()
    return out.rename(columns={"std": "sd", "size": "n"})


def density_rows(df: pd.DataFrame, model: str = "iresnet") -> pd.DataFrame:
    """The table's rows of density cells of ``model``."""
    if df.empty or "model" not in df:
        return df.iloc[0:0]
    return df[df["model"] == model]


def series_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The i-ResNet's cells trained with the power series (:data:`SERIES_MODES`) at a given c."""
    d = density_rows(df)
    return d[d["logdet"].isin(SERIES_MODES) & d["coeff"].notna()] if not d.empty else d


def _setting(coeff: Any) -> str:
    return (
        "vanilla"
        if coeff is None or (isinstance(coeff, float) and math.isnan(coeff))
        else (f"c={coeff:g}")
    )


def classifier_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The classifier's cells, a copy with ``setting`` (``"vanilla"`` where c is none, else
    ``"c=0.9"``) and ``order`` (-1 for vanilla, else -c: vanilla first, then c falling)."""
    if df.empty or "model" not in df:
        return df.iloc[0:0]
    d = df[df["model"] == "classifier"].copy()
    d["setting"] = [_setting(c) for c in d["coeff"]]
    d["order"] = [-1.0 if s == "vanilla" else -c for s, c in zip(d["setting"], d["coeff"])]
    return d


def figure2_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Figure 2's cells: Glow's, and the i-ResNet's trained with the exact log-det."""
    if df.empty or "model" not in df:
        return df.iloc[0:0]
    glow = df["model"] == "glow"
    exact = (df["model"] == "iresnet") & (df["logdet"] == "exact")
    return df[glow | exact]
