"""The Lipschitz page: power iteration against the SVD, product bounds against what the blocks do,
and how the flow bends the plane as c moves — with folds once the constraint is off.

Widgets -> :mod:`iresnet_core.analysis.spectral` and :func:`iresnet_core.analysis.warped_grid`
(cached per model parameters and settings) ->
:mod:`dashboard.figures.lipschitz` -> ``st.plotly_chart``.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

import iresnet_core as ic
from dashboard.controls import URL, is_presentation
from dashboard.figures.common import Chart, slug
from dashboard.figures.inverse import coeff_label
from dashboard.figures.lipschitz import (
    block_lipschitz_figure,
    block_lipschitz_table,
    power_figure,
    power_table,
    warp_figure,
    warp_strip_figure,
    warp_table,
)
from dashboard.lens_model import LensModel, model_picker
from dashboard.views.lens_common import (
    Timer,
    coeff_controls,
    image_format,
    pack_button,
    show_chart,
)
from dashboard.views.tour import tour_bar
from iresnet_core.analysis import BlockLipschitz, PowerTrace, WarpedGrid
from iresnet_core.analysis.frozen import AS_BUILT, FrozenFlow

__all__ = ["render", "K_MAX", "STRIP_COEFFS"]

K_MAX = 50
STRIP_COEFFS = (0.3, 0.6, 0.9, 0.99, None)
N_POINTS = 256


@st.cache_data(max_entries=64, show_spinner=False)
def _power(key: str, c: float | None, _fz: FrozenFlow) -> PowerTrace:
    return ic.analysis.power_iteration_trace(_fz, K_MAX, seed=0, coeff=c)


@st.cache_data(max_entries=64, show_spinner=False)
def _blocklip(key: str, c: float | None, x: np.ndarray, _fz: FrozenFlow) -> BlockLipschitz:
    return ic.analysis.block_lipschitz(_fz, x, coeff=c)


@st.cache_data(max_entries=64, show_spinner=False)
def _warp(key: str, c: float | None, bounds: tuple, _fz: FrozenFlow) -> WarpedGrid:
    return ic.analysis.warped_grid(_fz, bounds, n_lines=13, n_points=50, n_det=36, coeff=c)


@st.cache_data(max_entries=16, show_spinner="Bending the plane for five values of c…")
def _strip(key: str, bounds: tuple, _fz: FrozenFlow) -> list[WarpedGrid]:
    return [
        ic.analysis.warped_grid(_fz, bounds, n_lines=11, n_points=40, n_det=24, coeff=c)
        for c in STRIP_COEFFS
    ]


def _as_trained(lm: LensModel) -> np.ndarray | None:
    """Product bounds of the model's own normalised weights (power-iteration sigma), or None if
    unconstrained."""
    return None if lm.coeff is None else lm.fz.lipschitz(AS_BUILT)


def render() -> None:
    """Draw the Lipschitz page (call from the ``st.Page``)."""
    tour_bar()
    presentation = is_presentation()
    lm: LensModel = model_picker()
    sb = st.sidebar
    sb.header("Lipschitz constants")
    c = coeff_controls("lip", lm.coeff)
    k = sb.slider(
        "Power iterations k",
        1,
        K_MAX,
        10,
        key="lip_k",
        bind=URL,
        help="Iterations of v ← Wᵀu/‖·‖, u ← Wv/‖·‖ from a random start; uᵀWv estimates σ from "
        "below.",
    )
    blocks = [str(i + 1) for i in range(lm.fz.n_blocks)]
    block = sb.selectbox("Layers of block", blocks, key="lip_block", bind=URL)
    fmt = image_format("lip")

    timer = Timer("lipschitz")
    x = lm.points(N_POINTS)
    pw = timer.lap("power", lambda: _power(lm.key, c, lm.fz))
    bl_ = timer.lap("blocks", lambda: _blocklip(lm.key, c, x, lm.fz))
    bound, emp = bl_.product_bound, bl_.empirical
    w = timer.lap("warp", lambda: _warp(lm.key, c, lm.bounds, lm.fz))
    strip = timer.lap("strip", lambda: _strip(lm.key, lm.bounds, lm.fz))
    trained = _as_trained(lm)
    tag = coeff_label(c)
    depth = len(lm.fz.hidden) + 1
    b = int(block) - 1

    def build():
        show = list(range(b * depth, (b + 1) * depth))
        est = pw.estimates[:, : k + 1]
        po = Chart(
            slug(lm.dataset, "lipschitz_power_iteration", tag, f"k={k}"),
            "Power iteration against the SVD",
            power_figure(
                pw.names,
                est,
                pw.exact,
                k=k,
                show=show,
                title=f"Power iteration from a random start, weights under {tag}",
                presentation=presentation,
            ),
            power_table(pw.names, est, pw.exact),
        )
        bl = Chart(
            slug(lm.dataset, "lipschitz_blocks", tag),
            "Product bound against empirical Lipschitz",
            block_lipschitz_figure(
                bound,
                emp,
                coeff=c,
                trained=trained if c == lm.coeff else None,
                depth=depth,
                title=f"Per block ({tag})",
                presentation=presentation,
            ),
            block_lipschitz_table(bound, emp, trained if c == lm.coeff else None),
        )
        wa = Chart(
            slug(lm.dataset, "lipschitz_warped_grid", tag),
            "Warped grid",
            warp_figure(
                w.lines_x,
                w.lines_z,
                w.det_lines,
                w.xs,
                w.ys,
                w.det,
                label=tag,
                folds=w.folds,
                title=f"How the flow bends the plane ({tag})",
                presentation=presentation,
            ),
            warp_table(w.lines_x, w.lines_z, w.det_lines),
        )
        st_ = Chart(
            slug(lm.dataset, "lipschitz_warped_strip"),
            "Warped grid as c grows",
            warp_strip_figure(
                [(coeff_label(s.coeff), s.lines_z, s.det_lines, s.folds) for s in strip],
                current=tag,
                title="The same raw weights as c grows, and unconstrained",
                presentation=presentation,
            ),
            {
                "c": np.array([coeff_label(s.coeff) for s in strip], dtype=object),
                "fold_share": np.array([s.folds for s in strip]),
            },
        )
        return po, bl, wa, st_

    po, bl, wa, strip_chart = timer.lap("figures", build)
    total = timer.done()

    st.title(
        "Lipschitz constants" if not presentation else "One constant, three problems: Lip(g) < 1"
    )
    if not presentation:
        st.caption(
            f"Looking at **{lm.label}** ({lm.dataset}). Spectral normalisation rescales each "
            f"weight to "
            "W / max(1, σ/c); the block's Lipschitz constant is then at most the product of the "
            "norms. "
            "Power iteration estimates σ from below — the paper's warning: a normalisation with "
            "an "
            "underestimated σ lets the true norm exceed c."
        )
    gaps = (pw.exact - pw.estimates[:, k]) / pw.exact
    m1, m2, m3 = st.columns(3)
    m1.metric(f"largest underestimate after k={k}", f"{100 * float(np.nanmax(gaps)):.2g} %")
    m2.metric("largest product bound", f"{float(np.max(bound)):.3f}")
    m3.metric("folds: share of the plane with det\u00a0J\u00a0≤\u00a00", f"{100 * w.folds:.1f} %")
    if w.folds > 0:
        st.warning(
            f"**The map folds the plane.** With {'the constraint off' if c is None else tag}, det "
            f"J_F ≤ 0 on "
            f"{100 * w.folds:.1f} % of the box (red): there F is not locally invertible, two "
            f"points land "
            "on the same z, and the density formula breaks down. With c < 1 this cannot happen.",
            icon="⚠️",
        )
    elif c is None:
        st.info(
            "Unconstrained, yet no fold on this box: the raw weights happen to keep det J_F > 0 "
            "here. "
            "Nothing guarantees it.",
            icon="ℹ️",
        )
    show_chart(po, "lip_power", fmt)
    a, b_ = st.columns([2, 1])
    with a:
        show_chart(wa, "lip_warp", fmt)
    with b_:
        show_chart(bl, "lip_blocks", fmt)
    show_chart(strip_chart, "lip_strip", fmt)
    pack_button(
        [po, bl, wa, strip_chart],
        {
            "page": "lipschitz",
            "model": lm.label,
            "model_key": lm.key,
            "dataset": lm.dataset,
            "c": c,
            "k": k,
            "block": block,
        },
        f"lipschitz_{lm.dataset}",
    )
    if not presentation:
        st.caption(f"Recomputed and drawn in {1e3 * total:.0f} ms (compute + figures).")
