"""The Sweeps figures: means and spreads over seeds drawn where they belong, and the claims'
verdicts follow the numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dashboard.figures import sweeps as F
from iresnet_core.sweep.grid import parse_grid
from iresnet_core.sweep.table import result_row


def table(grid: str, measure) -> pd.DataFrame:
    """A results table of ``grid`` with made-up measurements ``measure(settings, seed)``."""
    rows = [result_row(c, measure(c.settings(), c.seed)) for c in parse_grid(grid)]
    return pd.DataFrame(rows)


def density(s, seed):
    c, n = s["coeff"], s.get("n_terms", 5)
    return {
        "nll_minus_entropy": c + 1 / n + 0.01 * seed,
        "inverse_iterations": 10 * math.log(0.9) / math.log(c) + seed,
        "series_error": c ** (3 * n),
        "series_bound": 8 * c**n,
        "sigma_underestimate": 1e-4 * (seed + 1),
        "sigma_over_c": 1.0,
        "parameters": 100,
    }


SERIES = "dataset=rings,8gaussians c=0.5,0.7,0.9 N=2,5,20 logdet=series seeds=3"


def test_heatmap_cells_are_the_means_over_seeds_with_their_spread():
    df = table(SERIES, density)
    chart = F.gap_heatmap(df)
    assert [t.type for t in chart.figure.data] == ["heatmap", "heatmap"]
    rings = chart.figure.data[0]
    assert list(rings.y) == ["c=0.5", "c=0.7", "c=0.9"] and list(rings.x) == ["N=2", "N=5", "N=20"]
    # c + 1/N + 0.01 seed over seeds 0, 1, 2: mean c + 1/N + 0.01, sd 0.01
    assert rings.z[2][0] == pytest.approx(0.9 + 0.5 + 0.01)
    assert "± 0.01" in rings.text[2][0] and "n=3" in rings.text[2][0]
    assert rings.zmin == chart.figure.data[1].zmin  # one colour scale for every panel
    assert len(chart.table["mean"]) == 18 and set(chart.table["n"]) == {3}
    assert chart.csv().startswith("dataset,coeff,n_terms,mean,sd,n")


def test_iterations_and_bias_charts_carry_error_bars_and_the_bound():
    df = table(SERIES, density)
    it = F.iterations_chart(df)
    line = it.figure.data[0]
    assert list(line.x) == [0.5, 0.7, 0.9]
    # seeds add 0, 1, 2, pooled over the three N: the sd of (0, 1, 2) x 3, ddof 1
    assert np.allclose(line.error_y.array, np.std([0, 1, 2] * 3, ddof=1))
    bias = F.bias_chart(df)
    names = [t.name for t in bias.figure.data]
    assert "c=0.9" in names and "bound c=0.9" in names
    bound = next(t for t in bias.figure.data if t.name == "bound c=0.9")
    assert np.allclose(bound.y, [8 * 0.9**n for n in (2, 5, 20)])
    assert bias.figure.layout.yaxis.type == "log"


def classifier(s, seed):
    c = s["coeff"]
    return {
        "test_error": 0.05 if c is None else 0.05 + (0.9 - c) / 10 + 0.001 * seed,
        "train_error": 0.0,
        "guaranteed_inverse": c is not None,
        "inverse_converged": c is not None,
        "reconstruction_error": math.inf if c is None else 1e-9,
        "fold_share": 0.1 if c is None else 0.0,
        "lipschitz": 3.0 if c is None else c,
    }


def test_table1_over_seeds_orders_vanilla_then_falling_c():
    df = table("model=classifier dataset=moons,circles c=none,0.9,0.5 seeds=2", classifier)
    frame = F.table1_frame(df)
    assert list(frame["setting"][:3]) == ["vanilla", "c=0.9", "c=0.5"]
    assert list(frame["guaranteed inverse"][:3]) == ["0/2", "2/2", "2/2"]
    assert frame["max recon. error"][0] == "inf"
    chart = F.table1_chart(df)
    assert [t.name for t in chart.figure.data] == ["circles", "moons"] or [
        t.name for t in chart.figure.data
    ] == ["moons", "circles"]
    assert list(chart.figure.data[0].text) == ["✗", "✓", "✓"]


def test_claims_follow_the_numbers():
    df = pd.concat(
        [
            table(SERIES, density),
            table("model=classifier dataset=moons c=none,0.9,0.7,0.5 seeds=2", classifier),
            table(
                "dataset=rings model=iresnet,glow logdet=exact seeds=2",
                lambda s, seed: {
                    "nll_minus_entropy": 0.1 if s["model"] == "iresnet" else 0.3,
                    "parameters": 100,
                },
            ),
        ]
    )
    out = F.claims(df).set_index(F.claims(df)["claim"].str.split(":").str[0])
    assert out.loc["Table 1", "verdict"] == "holds"
    # made-up iterations fall as 1/|ln c|: per 0.2 of c the ratio is about 2-3
    assert "ratio per 0.2" in out.loc["Appendix D", "measured"]
    assert out.loc["Appendix E", "verdict"] == "holds"  # 0.9^60 < 0.01 at N = 20
    assert out.loc["Figure 2", "verdict"] == "holds"
    assert out.loc["Power iteration underestimates the spectral norm", "verdict"] == "holds"
    worse = df.copy()
    worse.loc[worse["model"] == "glow", "nll_minus_entropy"] = 0.0
    worse.loc[worse["n_terms"] == 20, "series_error"] = 0.05
    assert F.claims(worse).iloc[3]["verdict"] == "does not hold"
    assert F.claims(worse).iloc[2]["verdict"] == "does not hold"


def test_every_chart_says_so_when_the_table_has_nothing_for_it():
    df = table("model=classifier dataset=moons c=0.9 seeds=1", classifier)
    charts = F.sweep_charts(df)
    assert [len(c.figure.data) for c in charts] == [0, 1, 0, 0, 0]
    assert all(c.figure.layout.annotations for c in charts if not c.figure.data)
    assert set(F.claims(df.iloc[0:0])["verdict"]) == {"not measured"}
