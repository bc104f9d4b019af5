"""Figure 2 (the paper's, to take away): a row per toy set, columns data, Glow, i-ResNet, every
model panel titled with its NLL minus entropy and its budget; the command line writes PNG, SVG
and PDF."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

import iresnet_core as ic
from dashboard import export
from dashboard.figure2_data import rows_from_checkpoints, rows_from_training
from dashboard.figures.figure2 import (
    COLUMNS,
    Figure2Row,
    ModelPanel,
    data_histogram,
    figure2,
    figure2_chart,
)


def _rows(names=("8gaussians", "rings", "moons")) -> list[Figure2Row]:
    xs = ys = np.linspace(-4, 4, 40)
    dens = np.exp(-0.5 * (xs[None, :] ** 2 + ys[:, None] ** 2)) / (2 * np.pi)
    rng = np.random.default_rng(0)
    rows = []
    for i, name in enumerate(names):
        models = {
            "glow": ModelPanel(xs, ys, dens, 0.1 + i, f"{1000 * (i + 1):,} steps"),
            "iresnet": ModelPanel(xs, ys, dens, 0.01 * (i + 1), f"{1000 * (i + 1):,} steps"),
        }
        rows.append(Figure2Row(name, rng.normal(size=(300, 2)), (-4, 4, -4, 4), models))
    return rows


def _axes(fig) -> list[str]:
    return sorted(k for k in fig.layout.to_plotly_json() if k.startswith("xaxis"))


def test_a_row_per_set_and_three_columns():
    rows = _rows()
    fig = figure2(rows)
    assert COLUMNS == ("data", "glow", "iresnet")
    assert len(_axes(fig)) == 3 * len(rows)  # one panel per (set, column)
    assert len(fig.data) == 3 * len(rows)
    # panel k of row r sits in column k: the same horizontal domain down every column, rows stacked
    lay = fig.layout
    for c in range(3):
        doms = {tuple(lay[f"xaxis{'' if k == 1 else k}"].domain) for k in range(c + 1, 9 + 1, 3)}
        assert len(doms) == 1
    tops = [lay[f"yaxis{'' if k == 1 else k}"].domain[1] for k in (1, 4, 7)]
    assert tops == sorted(tops, reverse=True) and len(set(tops)) == 3
    row_labels = [a.text for a in lay.annotations if a.textangle == -90]
    assert row_labels == [f"<b>{r.dataset}</b>" for r in rows]


def test_titles_carry_nll_minus_entropy_and_budget():
    rows = _rows()
    fig = figure2(rows)
    titles = [a.text for a in fig.layout.annotations if a.textangle != -90]
    assert len(titles) == 3 * len(rows)
    for r, row in enumerate(rows):
        data_t, glow_t, ires_t = titles[3 * r : 3 * r + 3]
        assert data_t.startswith("data") and "300 points" in data_t
        for t, model, label in ((glow_t, "glow", "Glow"), (ires_t, "iresnet", "i-ResNet")):
            p = row.models[model]
            assert t.startswith(label)
            assert f"NLL − entropy {p.excess:.3f} nats" in t
            assert p.budget in t


def test_a_missing_model_leaves_its_panel_empty_and_says_so():
    row = _rows(("rings",))[0]
    row = Figure2Row(row.dataset, row.data, row.bounds, {"iresnet": row.models["iresnet"]})
    fig = figure2([row])
    assert len(fig.data) == 2  # data and i-ResNet drawn, Glow not
    assert "no model" in fig.layout.annotations[1].text


def test_data_histogram_is_a_density_on_the_box():
    pts = np.random.default_rng(1).uniform(-1, 1, size=(5000, 2))
    xs, ys, d = data_histogram(pts, (-2, 2, -2, 2), bins=40)
    cell = (xs[1] - xs[0]) * (ys[1] - ys[0])
    assert d.shape == (40, 40) and np.isclose(d.sum() * cell, 1.0)
    # uniform on [-1, 1]^2: density 1/4 inside, nothing outside
    assert np.isclose(d[10:30, 10:30].mean(), 0.25, rtol=0.1) and d[:9].sum() == 0


def test_rows_from_training_measure_what_the_title_says():
    rows = rows_from_training(["8gaussians"], steps=3, grid=24, n_data=600)
    (row,) = rows
    for model in ("glow", "iresnet"):
        p = row.models[model]
        assert p.budget == "3 steps" and p.density.shape == (24, 24)
        assert np.isfinite(p.excess) and p.excess > -0.5  # the entropy is a floor (up to noise)
        cell = (p.xs[1] - p.xs[0]) * (p.ys[1] - p.ys[0])
        assert 0 < p.density.sum() * cell < 1.02  # a density: at most its whole mass on the box


def _checkpoints(root: Path, budget: str = "3,000 steps") -> None:
    """A tiny checkpoint of each model for 8gaussians, as `make assets` writes them."""
    data = ic.datasets.sample("8gaussians", 600, seed=0)
    for model in ("iresnet", "glow"):
        cfg = ic.FlowConfig(n_blocks=2, hidden=(8,))
        cfg = ic.match_glow(cfg) if model == "glow" else cfg
        flow = ic.build_flow(cfg)
        trainer = ic.Trainer(flow, data, lr=1e-3, seed=0)
        trainer.step(2)
        ic.save(
            trainer.eval_flow,
            root / "8gaussians" / model,
            metrics={"steps": 3000, "budget": budget, "nll_minus_entropy": 0.25},
        )


def test_rows_from_checkpoints_read_the_budget_and_the_gap(tmp_path):
    _checkpoints(tmp_path)
    (row,) = rows_from_checkpoints(["8gaussians"], root=tmp_path, grid=20, n_data=500)
    for model in ("glow", "iresnet"):
        assert row.models[model].budget == "3,000 steps"
        assert row.models[model].excess == 0.25
    (row,) = rows_from_checkpoints(["rings"], root=tmp_path, grid=20, n_data=500)
    assert row.models == {"glow": None, "iresnet": None}  # no checkpoints there: empty panels


def test_chart_table_holds_the_titles_numbers():
    chart = figure2_chart(_rows(("rings",)))
    lines = chart.csv().splitlines()
    assert lines[0] == "dataset,model,nll_minus_entropy,budget"
    assert lines[1] == 'rings,glow,0.1,"1,000 steps"'
    rows = list(csv.reader(io.StringIO(chart.csv())))
    assert rows[2] == ["rings", "iresnet", "0.01", "1,000 steps"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_cli_writes_png_svg_and_pdf(tmp_path):
    _checkpoints(tmp_path / "ckpt")
    out = tmp_path / "fig"
    argv = ["--figure2", "--from-checkpoints", "--sets", "8gaussians", "--grid", "30"]
    argv += ["--checkpoints", str(tmp_path / "ckpt"), "--out", str(out), "--scale", "1"]
    assert export.main(argv) == 0
    assert (out / "figure2.html").is_file() and (out / "figure2.csv").is_file()
    assert json.loads((out / "config.json").read_text())["source"] == "checkpoints"
    if export.chromium_path() is None:
        assert "No Chromium" in (out / "NOTE.txt").read_text()
        pytest.skip("no Chromium: kaleido cannot write PNG, SVG or PDF here")
    note = out / "NOTE.txt"
    if note.exists() and "Chromium" in note.read_text():  # kaleido could not start the browser
        pytest.skip(note.read_text())
    assert (out / "figure2.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "figure2.pdf").read_bytes()[:5] == b"%PDF-"
    svg = (out / "figure2.svg").read_text()
    assert "<svg" in svg and "NLL − entropy 0.250 nats" in svg and "3,000 steps" in svg


def test_cli_refuses_unknown_sets_and_both_sources(tmp_path, capsys):
    out = str(tmp_path / "x")
    assert export.main(["--figure2", "--sets", "nosuchset", "--out", out]) == 2
    assert "unknown toy sets" in capsys.readouterr().err
    assert export.main(["--figure2", "--from-checkpoints", "--steps", "5", "--out", out]) == 2


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_panel_makes_the_figure_from_the_checkpoints():
    """The button makes the figure of the sets chosen: a row per set, the model panels titled
    with their budget; PNG, SVG and PDF offered where a Chromium is found."""
    from streamlit.testing.v1 import AppTest

    app = Path(__file__).resolve().parent / "apps" / "figure2_app.py"
    at = AppTest.from_file(str(app), default_timeout=300).run()
    assert not at.exception and not at.get("plotly_chart")  # nothing drawn before the button
    at.multiselect(key="figure2_sets").set_value(["8gaussians", "rings"])
    at.button(key="figure2_make").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (chart,) = at.get("plotly_chart")
    spec = json.loads(chart.proto.spec)
    labels = [a["text"] for a in spec["layout"]["annotations"] if a.get("textangle") == -90]
    assert labels == ["<b>8gaussians</b>", "<b>rings</b>"]
    titles = [a["text"] for a in spec["layout"]["annotations"] if a.get("textangle") != -90]
    assert len(titles) == 6 and all("NLL − entropy" in t for t in titles[1::3] + titles[2::3])
    buttons = [b.proto.label for b in at.get("download_button")]
    if export.chromium_path() is not None:
        assert buttons[:3] == ["⬇ PNG", "⬇ SVG", "⬇ PDF"]
