"""The Classifier page: i-ResNet classifiers on toy 2D data and the paper's Table 1 (issue 5).

Behrmann et al. (ICML 2019), Table 1: constraining ``Lip(g)`` by a coefficient ``c`` costs little
accuracy and guarantees an inverse. Here a person picks a toy set and ``c`` (or the unconstrained
"vanilla" network), sees the decision boundary and the learned invertible map as a warped grid,
and fills a Table 1 in which the inverse is *measured*: reconstruction error after 100 fixed-point
iterations and the share of the plane where ``det J <= 0``.

Widgets (all bound to the URL) -> cached pure functions of :mod:`iresnet_core.classify` ->
figures of :mod:`dashboard.figures.classify` -> ``st.plotly_chart``. Trained views and Table 1
rows are cached with ``st.cache_data`` keyed by the settings, so a rerun never retrains.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import streamlit as st
import torch

from dashboard import export
from dashboard.controls import URL, is_presentation
from dashboard.figures.classify import classify_charts, format_error, table1_figure, table1_table
from dashboard.figures.common import Chart, image_button_config, slug
from dashboard.runtime import use_app_threads
from dashboard.views.tour import tour_bar
from iresnet_core import classify as C
from iresnet_core.classify import data as cd

__all__ = ["render", "Settings", "train_view", "table_row", "TABLE_KEY"]

TABLE_KEY = "_clf_table"  # session_state: the last filled Table 1 (settings + rows)
N_POINTS = 1000
GRID = 100
_WIDTHS = [16, 32, 64, 128]
_STEPS = [25, 50, 100, 200, 400, 800, 1600]
_DIMS = [2, 3, 4]
#: The paper's Table 1, CIFAR10 test error (%), for the caption.
PAPER_CIFAR10 = {
    "vanilla": 6.69,
    "c=0.9": 6.78,
    "c=0.8": 6.86,
    "c=0.7": 6.93,
    "c=0.6": 7.72,
    "c=0.5": 8.71,
}


@dataclass(frozen=True)
class Settings:
    """Everything the page's trained view depends on (hashable: the cache key)."""

    dataset: str = "moons"
    noise: float = 0.1
    test_fraction: float = 0.3
    c: float = 0.9
    unconstrained: bool = False
    blocks: int = 4
    width: int = 64
    dim: int = 2
    steps: int = 400
    seed: int = 0

    @property
    def coeff(self) -> float | None:
        return None if self.unconstrained else float(self.c)

    @property
    def label(self) -> str:
        return C.setting_label(self.coeff)

    def table_key(self) -> tuple:
        """What Table 1 depends on: everything but ``c`` and the unconstrained switch."""
        d = asdict(self)
        d.pop("c"), d.pop("unconstrained")
        return tuple(sorted(d.items()))


_D = Settings()


# ------------------------------------------------------------------ pure, cached computations
def _data(s: Settings) -> tuple[np.ndarray, ...]:
    x, y = cd.make(s.dataset, N_POINTS, noise=s.noise, seed=s.seed)
    return (x, y, *cd.split(x, y, s.test_fraction, s.seed))


@st.cache_data(max_entries=48, show_spinner=False)
def train_view(s: Settings) -> dict[str, Any]:
    """Train the classifier of ``s`` and return everything the page draws, as plain arrays."""
    use_app_threads()  # a thread of Streamlit's: one torch thread (dashboard/runtime.py)
    x, y, x_tr, y_tr, x_te, y_te = _data(s)
    model, metrics = C.train_classifier(
        x_tr,
        y_tr,
        x_te,
        y_te,
        coeff=s.coeff,
        dim=s.dim,
        n_blocks=s.blocks,
        hidden=(s.width, s.width),
        steps=s.steps,
        seed=s.seed,
    )
    bounds = C.plane_bounds(x)
    xs, ys, p = C.decision_grid(model, bounds, GRID)
    folds = C.fold_map(model, bounds, GRID)
    wg = C.warped_grid(model, bounds)
    recon, info = C.reconstruction_error(model, x_te, max_iter=100)
    with torch.no_grad():
        model.eval()
        z_tr = model.features(torch.as_tensor(x_tr))[:, :2].double().numpy()
        w, b = model.head.weight.double().numpy(), model.head.bias.double().numpy()
    lip = model.lipschitz_bound()
    return {
        "xs": xs,
        "ys": ys,
        "p": p,
        "folded": folds.folded,
        "fold_share": folds.share,
        "x_train": x_tr,
        "y_train": y_tr,
        "x_test": x_te,
        "y_test": y_te,
        "horizontal": wg.horizontal,
        "vertical": wg.vertical,
        "z_train": z_tr,
        "dim": s.dim,
        "head_a": w[1, :2] - w[0, :2],
        "head_b": float(b[1] - b[0]),
        "test_error": metrics["test_error"],
        "train_error": metrics["train_error"],
        "loss": metrics["loss"],
        "steps": metrics["step"],
        "skipped": metrics["skipped"],
        "train_time_s": metrics["train_time_s"],
        "lipschitz": lip,
        "reconstruction_error": recon,
        "inverse_converged": bool(info.converged),
        "guaranteed": s.coeff is not None and lip < 1,
        "parameters": model.num_parameters(),
    }


@st.cache_data(max_entries=256, show_spinner=False)
def table_row(s: Settings, coeff: float | None) -> dict[str, Any]:
    """One Table 1 row for the settings ``s`` (its ``c`` ignored) and the coefficient ``coeff``."""
    use_app_threads()  # a thread of Streamlit's: one torch thread (dashboard/runtime.py)
    return C.table1_row(
        s.dataset,
        coeff,
        s.steps,
        s.seed,
        n=N_POINTS,
        noise=s.noise,
        test_fraction=s.test_fraction,
        dim=s.dim,
        n_blocks=s.blocks,
        hidden=(s.width, s.width),
        fold_n=GRID,
    )


# ------------------------------------------------------------------ widgets
def _sidebar(presentation: bool) -> Settings:
    sb = st.sidebar
    keep = "session"
    sb.header("Data")
    names = list(cd.CLASS_NAMES)
    dataset = sb.selectbox(
        "Dataset",
        names,
        index=names.index(_D.dataset),
        key="clf_dataset",
        bind=URL,
        help="Two moons, two circles, two spirals, XOR: binary problems in the plane.",
    )
    noise = sb.slider("Noise (std)", 0.0, 0.5, _D.noise, 0.05, key="clf_noise", bind=URL)
    test_fraction = sb.slider(
        "Test fraction",
        0.1,
        0.5,
        _D.test_fraction,
        0.05,
        key="clf_test",
        bind=URL,
        help=f"Share of the {N_POINTS} points held out (stratified).",
    )
    sb.header("Model")
    unconstrained = sb.toggle(
        "Unconstrained (vanilla ResNet)",
        value=False,
        key="clf_free",
        bind=URL,
        help="The paper's 'vanilla' column: the same blocks without spectral normalisation; "
        "no inverse guarantee.",
    )
    c = sb.slider(
        "Lipschitz coefficient c",
        0.05,
        0.99,
        _D.c,
        0.01,
        key="clf_c",
        bind=URL,
        disabled=unconstrained,
        help="Every linear map of every block has spectral norm ≤ c, so Lip(g) < 1 and x + g(x) "
        "is invertible (Theorem 1).",
    )
    blocks = sb.slider("Blocks", 1, 16, _D.blocks, key="clf_blocks", bind=URL)
    width = sb.select_slider(
        "Hidden width",
        _WIDTHS,
        value=_D.width,
        key="clf_width",
        bind=URL,
        help="Each block is an MLP d-w-w-d (ELU), followed by ActNorm.",
    )
    dim = sb.select_slider(
        "Feature dimension (zero padding)",
        _DIMS,
        value=_D.dim,
        key="clf_dim",
        bind=URL,
        help="The 2D input is padded with zeros to this many coordinates: room to untangle "
        "classes a homeomorphism of the plane cannot (XOR, circles), still invertible.",
    )
    sb.header("Training")
    steps = sb.select_slider(
        "Steps (Adam, lr 0.01, batch 256)", _STEPS, value=_D.steps, key="clf_steps", bind=URL
    )
    seed = _D.seed
    if not presentation:
        seed = sb.number_input(
            "Seed", 0, 10_000, _D.seed, key="clf_seed", bind=URL, persist_state=keep
        )
    else:
        seed = st.session_state.get("clf_seed", seed)
    return Settings(
        dataset=dataset,
        noise=round(float(noise), 4),
        test_fraction=round(float(test_fraction), 4),
        c=round(float(c), 4),
        unconstrained=bool(unconstrained),
        blocks=int(blocks),
        width=int(width),
        dim=int(dim),
        steps=int(steps),
        seed=int(seed),
    )


def _downloads(chart: Chart, key: str) -> None:
    a, b = st.columns(2)
    a.download_button(
        "⬇ HTML",
        data=lambda ch=chart: export.chart_html(ch),
        file_name=f"{chart.slug}.html",
        mime="text/html",
        key=f"clf_html_{key}",
        on_click="ignore",
        width="stretch",
        help="Standalone interactive HTML (plotly.js embedded, works offline).",
    )
    b.download_button(
        "⬇ CSV",
        data=lambda ch=chart: ch.csv(),
        file_name=f"{chart.slug}.csv",
        mime="text/csv",
        key=f"clf_csv_{key}",
        on_click="ignore",
        width="stretch",
        help="The numbers behind the chart.",
    )


def _metrics(v: dict[str, Any], s: Settings) -> None:
    cols = st.columns(5)
    cols[0].metric(
        "Test error",
        f"{100 * v['test_error']:.1f}%",
        help=f"train error {100 * v['train_error']:.1f}%",
    )
    lip = v["lipschitz"]
    cols[1].metric(
        "Lip(g) bound, max block",
        f"{lip:.3g}",
        help="Product of the exact spectral norms of g's weights; < 1 certifies the inverse.",
    )
    cols[2].metric(
        "Reconstruction error",
        format_error(v["reconstruction_error"]),
        help="max ‖F⁻¹(F(x)) − x‖ over the test points after ≤ 100 fixed-point iterations per "
        "block.",
    )
    cols[3].metric(
        "Folds (det J ≤ 0)", f"{100 * v['fold_share']:.1f}%", help="Share of the plane shown."
    )
    cols[4].metric(
        "Guaranteed inverse",
        "Yes" if v["guaranteed"] else "No",
        help="Yes when constrained and the measured Lip(g) bound is below 1 in every block.",
    )
    st.caption(
        f"{s.label} · {v['steps']:,} steps in {v['train_time_s']:.1f} s · {v['parameters']:,} "
        f"parameters" + (f" · {v['skipped']} non-finite steps skipped" if v["skipped"] else "")
    )


# ------------------------------------------------------------------ Table 1
_ROW_LABELS = {
    "setting": "Setting",
    "test_error": "Test error %",
    "train_error": "Train error %",
    "guaranteed_inverse": "Guaranteed inverse",
    "reconstruction_error": "Recon. error (100 it)",
    "fold_share": "Folds % (det J ≤ 0)",
    "lipschitz": "Lip(g) ≤",
    "train_time_s": "Time (s)",
}


def _display_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        out.append(
            {
                _ROW_LABELS["setting"]: r["setting"],
                _ROW_LABELS["test_error"]: round(100 * r["test_error"], 2),
                _ROW_LABELS["train_error"]: round(100 * r["train_error"], 2),
                _ROW_LABELS["guaranteed_inverse"]: r["guaranteed_inverse"],
                _ROW_LABELS["reconstruction_error"]: format_error(r["reconstruction_error"]),
                _ROW_LABELS["fold_share"]: round(100 * r["fold_share"], 2),
                _ROW_LABELS["lipschitz"]: float(f"{r['lipschitz']:.4g}")
                if math.isfinite(r["lipschitz"])
                else None,
                _ROW_LABELS["train_time_s"]: round(r["train_time_s"], 2),
            }
        )
    return out


def _fill_table(s: Settings) -> list[dict[str, Any]]:
    total = len(C.TABLE1_COEFFS)
    bar = st.progress(0.0, text="Training …")
    rows = []
    for i, c in enumerate(C.TABLE1_COEFFS):
        bar.progress(
            i / total, text=f"Training {C.setting_label(c)} ({i + 1}/{total}, {s.steps} steps) …"
        )
        rows.append(table_row(s, c))
    bar.progress(1.0, text="Done.")
    bar.empty()
    return rows


def _table1(s: Settings, presentation: bool) -> None:
    st.subheader("Table 1, in 2D: what the constraint costs, and what it buys")
    if not presentation:
        st.caption(
            "The paper trains the same architecture without the constraint (vanilla) and with c = "
            "0.9 … 0.5: "
            "the error grows little while the inverse becomes guaranteed. Here every setting is "
            "trained on the "
            "current data and architecture, and the inverse is measured, not asserted."
        )
    pressed = st.button(
        f"Fill the table (train {len(C.TABLE1_COEFFS)} settings × {s.steps} steps)",
        key="clf_fill",
        type="primary",
        icon=":material/table_chart:",
    )
    if pressed:
        st.session_state[TABLE_KEY] = {"key": s.table_key(), "settings": s, "rows": _fill_table(s)}
    filled = st.session_state.get(TABLE_KEY)
    if not filled:
        st.info(
            "Press the button to train vanilla and c = 0.9, 0.8, 0.7, 0.6, 0.5 with the settings "
            "on the left "
            "(results are cached: a second press with the same settings is instant)."
        )
        return
    fs: Settings = filled["settings"]
    rows = filled["rows"]
    if filled["key"] != s.table_key():
        st.warning(
            f"The table below is for {fs.dataset}, {fs.blocks} blocks of width {fs.width}, dim "
            f"{fs.dim}, "
            f"{fs.steps} steps, seed {fs.seed}; the settings have changed since. Press the button "
            f"again."
        )
    st.dataframe(_display_rows(rows), hide_index=True, width="stretch", key="clf_table")
    paper = " · ".join(f"{k} {v:.2f}" for k, v in PAPER_CIFAR10.items())
    st.caption(
        f"Paper (Table 1, CIFAR10 test error %): {paper}; guaranteed inverse: vanilla No, c < 1 "
        f"Yes. "
        "Folds: share of the plane where the Jacobian determinant of the feature map is ≤ 0 (for "
        "a padded "
        "map, of the full d×d Jacobian at the plane): the map is not invertible there."
    )
    fig = table1_figure(rows, dataset=fs.dataset, presentation=presentation)
    chart = Chart(
        slug(fs.dataset, "table1", f"dim={fs.dim}", f"blocks={fs.blocks}", f"steps={fs.steps}"),
        "Table 1",
        fig,
        table1_table(rows),
    )
    st.plotly_chart(
        fig,
        key="clf_chart_table1",
        theme=None,
        config=image_button_config(chart.slug),
        width="stretch",
    )
    if not presentation:
        _downloads(chart, "table1")


# ------------------------------------------------------------------ page
def render() -> None:
    """Draw the Classifier page (call from the ``st.Page``)."""
    tour_bar()
    presentation = is_presentation()
    s = _sidebar(presentation)
    st.title("i-ResNet classifiers")
    if not presentation:
        st.caption(
            "The discriminative side of invertible residual networks (Behrmann et al., ICML "
            "2019): "
            f"a stack of i-ResNet blocks and a linear head, trained on "
            f"**{cd.CLASS_LABELS[s.dataset]}**. "
            "Move c, switch the constraint off, and watch the boundary, the map and the inverse."
        )
    with st.spinner(f"Training {s.label} ({s.steps} steps) …"):
        try:
            view = train_view(s)
        except ValueError as e:
            st.error(f"These settings are not valid: {e}")
            return
    _metrics(view, s)
    charts = classify_charts(view, dataset=s.dataset, setting=s.label, presentation=presentation)
    cols = st.columns(2)
    for col, chart, kind in zip(cols, charts, ("boundary", "warped")):
        with col:
            st.plotly_chart(
                chart.figure,
                key=f"clf_chart_{kind}",
                theme=None,
                config=image_button_config(chart.slug),
                width="stretch",
            )
            if not presentation:
                _downloads(chart, kind)
    if not view["guaranteed"] and not presentation:
        st.caption(
            "Vanilla: nothing bounds Lip(g), so the fixed-point inverse may diverge and the map "
            "may fold "
            "(dotted outline on the left; crossing grid lines on the right)."
        )
    st.divider()
    _table1(s, presentation)
