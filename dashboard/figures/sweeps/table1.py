"""Table 1 over seeds: the classifier's test error per setting with its measured inverse.

The classifier's cells (:func:`~dashboard.figures.sweeps.cells.classifier_rows`: vanilla, then c
falling), a row or a bar per data set and setting:

* :func:`table1_frame` — the table as text: test error and fold share as ``mean ± sd``, the
  guaranteed and the converged inverse as seeds out of n, the largest reconstruction error, the
  mean Lipschitz bound;
* :func:`table1_chart` — Table 1 in 2D: bars of the mean test error with the sd as error bars, a
  group per data set, ✓ where the inverse converged in every seed.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"model": ["classifier"] * 4, "dataset": ["moons"] * 4,
    ...     "coeff": [None, None, 0.9, 0.9], "seed": [0, 1, 0, 1],
    ...     "test_error": [0.05, 0.07, 0.06, 0.06], "fold_share": [0.1, 0.1, 0.0, 0.0],
    ...     "guaranteed_inverse": [False, False, True, True],
    ...     "inverse_converged": [False, False, True, True],
    ...     "reconstruction_error": [float("inf")] * 2 + [1e-9] * 2,
    ...     "lipschitz": [3.0, 3.0, 0.9, 0.9]})
    >>> table1_frame(df)[["setting", "test error %", "guaranteed inverse", "max recon. error"]]
       setting test error % guaranteed inverse max recon. error
    0  vanilla      6 ± 1.4                0/2              inf
    1    c=0.9        6 ± 0                2/2            1e-09
    >>> list(table1_chart(df).figure.data[0].text)
    ['✗', '✓']
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from ..common import Chart, house_layout, slug
from .cells import classifier_rows, over_seeds, pm
from .panels import DATASET_COLORS, chart_table, empty_chart

__all__ = ["table1_frame", "table1_chart"]


def table1_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Table 1 over seeds, one row per data set and setting (vanilla first, then c falling):
    test error in % and the fold share in % as ``mean ± sd``; guaranteed inverse and converged
    inverse as seeds out of n; the largest reconstruction error over the seeds; the mean
    Lipschitz bound."""
    d = classifier_rows(df)
    cols = [
        "data set",
        "setting",
        "test error %",
        "guaranteed inverse",
        "inverse converged",
        "max recon. error",
        "folds %",
        "Lip(g) ≤",
        "seeds",
    ]
    if d.empty:
        return pd.DataFrame(columns=cols)
    out = []
    for (ds, setting), g in d.sort_values(["dataset", "order"]).groupby(
        ["dataset", "setting"], sort=False
    ):
        err = 100 * g["test_error"].astype(float)
        folds = 100 * g["fold_share"].astype(float)
        recon = g["reconstruction_error"].astype(float).fillna(math.inf)
        out.append(
            {
                "data set": ds,
                "setting": setting,
                "test error %": pm(err.mean(), err.std(), 3),
                "guaranteed inverse": f"{int(g['guaranteed_inverse'].fillna(False).sum())}"
                f"/{len(g)}",
                "inverse converged": f"{int(g['inverse_converged'].fillna(False).sum())}/{len(g)}",
                "max recon. error": f"{recon.max():.2g}",
                "folds %": pm(folds.mean(), folds.std(), 2),
                "Lip(g) ≤": f"{g['lipschitz'].astype(float).mean():.3g}",
                "seeds": len(g),
            }
        )
    return pd.DataFrame(out, columns=cols)


def table1_chart(df: pd.DataFrame, *, presentation: bool = False, height: int = 380) -> Chart:
    """Test error per setting, bars of the mean over seeds with the sd as error bars, a group per
    data set; the label says whether the inverse converged in every seed (✓) or not (✗)."""
    name = slug("sweep", "table1")
    title = "Table 1 in 2D: classifier test error (mean ± sd over seeds)"
    d = classifier_rows(df)
    if d.empty:
        return empty_chart(name, title, presentation, "no classifier cells in this table")
    d = d.assign(err=100 * d["test_error"].astype(float))
    settings = list(dict.fromkeys(d.sort_values("order")["setting"]))
    traces, table = [], []
    for i, ds in enumerate(dict.fromkeys(d["dataset"])):
        part = d[d["dataset"] == ds]
        s = over_seeds(part, ["setting"], "err").set_index("setting").reindex(settings)
        conv = part.groupby("setting")["inverse_converged"].apply(
            lambda v: bool(v.fillna(False).all())
        )
        text = [f"{'✓' if conv.get(st, False) else '✗'}" for st in settings]
        traces.append(
            go.Bar(
                x=settings,
                y=s["mean"],
                error_y=dict(type="data", array=s["sd"].fillna(0), visible=True),
                name=ds,
                marker_color=DATASET_COLORS[i % len(DATASET_COLORS)],
                text=text,
                textposition="outside",
                cliponaxis=False,
                customdata=s["n"],
                hovertemplate=f"{ds} %{{x}}: %{{y:.2f}}% (n=%{{customdata}})<extra></extra>",
            )
        )
        table.append(s.reset_index().assign(dataset=ds))
    layout = house_layout(title=title, presentation=presentation, height=height)
    layout.update(
        barmode="group",
        xaxis=dict(title=dict(text="setting (vanilla: no constraint; ✓ inverse converged)")),
        yaxis=dict(title=dict(text="test error (%)"), rangemode="tozero"),
    )
    frame = pd.concat(table, ignore_index=True)[["dataset", "setting", "mean", "sd", "n"]]
    return Chart(name, title, go.Figure(data=traces, layout=layout), chart_table(frame))
