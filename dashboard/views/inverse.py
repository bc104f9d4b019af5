"""The fixed-point inverse page: how ``x_{n+1} = y - g(x_n)`` converges (or does not) as c moves.

Widgets -> :mod:`iresnet_core.analysis.inverse` (cached per model parameters and settings) ->
:mod:`dashboard.figures.inverse` -> ``st.plotly_chart``. The curves for c = 0.5, 0.7, 0.9, 0.99 are
computed once per model and iteration horizon; moving c recomputes only the current c and the
heatmap; moving n within the horizon only the heatmap; the tolerance only re-reads the curves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import torch

import iresnet_core as ic
from dashboard.controls import URL, is_presentation
from dashboard.figures.common import Chart, slug, table_to_csv
from dashboard.figures.inverse import (
    REF_COEFFS,
    CurveSet,
    coeff_color,
    coeff_label,
    convergence_figure,
    convergence_table,
    error_heatmap_figure,
    flow_error_figure,
    heatmap_table,
    iterations_rows,
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
from iresnet_core.analysis.frozen import FrozenFlow
from iresnet_core.analysis.inverse import InverseCurves

__all__ = ["render", "HORIZONS", "N_POINTS", "GRID"]

HORIZONS = (30, 100)  #: curves are computed to the smallest horizon >= n and sliced
N_POINTS = 32  #: data points whose worst case the curves show
GRID = 24  #: heatmap resolution (float32: the inverse runs on GRID^2 points)
TOLS = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-8, 1e-10, 1e-12]


@st.cache_data(max_entries=64, show_spinner="Running the fixed-point iteration…")
def _curves(
    key: str, coeffs: tuple, horizon: int, x: np.ndarray, _fz: FrozenFlow
) -> list[InverseCurves]:
    return ic.analysis.inverse_curves(_fz, x, list(coeffs), max_iter=horizon)


@st.cache_data(max_entries=64, show_spinner=False)
def _heat(key: str, c: float | None, bounds: tuple, n_grid: int, n_iter: int, _fz: FrozenFlow):
    return ic.analysis.inverse_error_grid(_fz, c, bounds, n_grid, n_iter, torch.float32)


def _clicked(heat_key: str) -> tuple[float, float] | None:
    state = st.session_state.get(heat_key)
    try:
        pts = state["selection"]["points"]
        if pts:
            return float(pts[0]["x"]), float(pts[0]["y"])
    except (KeyError, TypeError, IndexError, ValueError):
        pass
    return None


def _clear_point() -> None:
    st.session_state["_inv_click"] = st.session_state.get("_inv_click", 0) + 1


def _note(cur: InverseCurves, n: int, tol: float) -> str | None:
    """Plain words for a run without a guarantee (L >= 1): diverged, oscillating, or lucky."""
    L = cur.lipschitz
    if cur.coeff is not None and float(L.max()) < 1:
        return None
    bad = [i + 1 for i, v in enumerate(L) if v >= 1]
    head = (
        f"**No guarantee here.** Without the constraint, Lip(g) may be 1 or more (product bound "
        f"{float(L.max()):.2f} in block {int(np.argmax(L)) + 1}; ≥ 1 in {len(bad)} of {len(L)} "
        f"blocks): "
        "the fixed-point iteration is not a contraction, so Banach's theorem promises nothing. "
    )
    if cur.diverged.any():
        b = int(np.argmax(cur.diverged_at > 0))
        return head + (
            f"Here it **diverged**: in block {b + 1} the iterates blew up after "
            f"{int(cur.diverged_at[b])} iterations — the curves stop where the numbers left the "
            f"page."
        )
    last = cur.residual[:, -1]
    if np.nanmax(last) >= tol:
        worst = int(np.nanargmax(last))
        return head + (
            f"Here it **does not settle**: after {n} iterations block {worst + 1} still moves by "
            f"{float(last[worst]):.2g} per step — the iterates wander or oscillate instead of "
            f"converging, and x_n is not the inverse (whole-flow error "
            f"{float(cur.flow_error[-1]):.2g})."
        )
    return head + (
        "Here it happened to converge anyway on these points: the local slope of g is below 1 "
        "even though the bound is not — luck, not a guarantee."
    )


def render() -> None:
    """Draw the inverse page (call from the ``st.Page``)."""
    tour_bar()
    presentation = is_presentation()
    lm: LensModel = model_picker()
    sb = st.sidebar
    sb.header("Fixed-point inverse")
    c = coeff_controls("inv", lm.coeff)
    n_iter = sb.slider(
        "Iterations n",
        1,
        HORIZONS[-1],
        15,
        key="inv_n",
        bind=URL,
        help="Iterations per block: the heatmap shows the error after n (dashed line on the "
        "curves); "
        "the curves run to 30, or to 100 once n > 30.",
    )
    tol = sb.select_slider(
        "Tolerance",
        TOLS,
        value=1e-6,
        key="inv_tol",
        bind=URL,
        format_func=lambda v: f"{v:.0e}",
        help="The table counts the iterations until the residual falls below it.",
    )
    blocks = ["worst"] + [str(i + 1) for i in range(lm.fz.n_blocks)]
    block = sb.selectbox(
        "Curves of block",
        blocks,
        key="inv_block",
        bind=URL,
        format_func=lambda b: (
            "the worst block (max over blocks)" if b == "worst" else f"block {b}"
        ),
    )
    fmt = image_format("inv")

    timer = Timer("inverse")
    horizon = next(h for h in HORIZONS if h >= n_iter)
    heat_key = f"inv_heat_{st.session_state.get('_inv_click', 0)}"
    point = _clicked(heat_key)
    x = np.array([point], np.float32) if point is not None else lm.points(N_POINTS)
    # The reference curves do not depend on c: one batch per model, points and horizon. A c
    # that is one of them takes its curves from there; any other c computes its own.
    every_ref = timer.lap("curves", lambda: _curves(lm.key, REF_COEFFS, horizon, x, lm.fz))
    is_c = [c is not None and abs(r.coeff - c) <= 1e-9 for r in every_ref]
    ref = [r for r, same in zip(every_ref, is_c) if not same]
    cur = (
        every_ref[is_c.index(True)]
        if any(is_c)
        else timer.lap("curves", lambda: _curves(lm.key, (c,), horizon, x, lm.fz))[0]
    )
    heat = timer.lap("heatmap", lambda: _heat(lm.key, c, lm.bounds, GRID, n_iter, lm.fz))

    everything = sorted([*ref, cur], key=lambda r: (r.coeff is None, r.coeff or 0))
    shown = everything  # the whole horizon; n is marked
    b = None if block == "worst" else int(block) - 1

    def curveset(r: InverseCurves) -> CurveSet:
        res, err, bnd = r.worst() if b is None else (r.residual[b], r.error[b], r.bound[b])
        is_cur = r is cur or r.coeff == cur.coeff
        return CurveSet(
            coeff_label(r.coeff), coeff_color(r.coeff, is_cur), r.ns, res, err, bnd, is_cur
        )

    def build():
        sets = [curveset(r) for r in shown]
        where = (
            f"the point ({point[0]:.2f}, {point[1]:.2f})"
            if point
            else f"max over {len(x)} data points"
        )
        what = "worst block" if b is None else f"block {b + 1}"
        tag = coeff_label(c)
        conv = Chart(
            slug(lm.dataset, "inverse_convergence", what, tag, f"tol={tol:.0e}"),
            "Fixed-point convergence",
            convergence_figure(
                sets,
                tol=tol,
                n_mark=n_iter,
                title=f"Fixed-point iteration, {what} ({where})",
                subtitle=f"{lm.label} · current {tag} in red · Banach bound L^n/(1−L)‖x₁−x₀‖ "
                f"dashed",
                presentation=presentation,
            ),
            convergence_table(sets),
        )
        flow = Chart(
            slug(lm.dataset, "inverse_whole_flow", tag, f"n={n_iter}"),
            "Whole-flow reconstruction error",
            flow_error_figure(
                [
                    (
                        coeff_label(r.coeff),
                        coeff_color(r.coeff, r.coeff == cur.coeff),
                        r.flow_ns,
                        r.flow_error,
                        r.coeff == cur.coeff,
                    )
                    for r in shown
                ],
                tol=tol,
                n_mark=n_iter,
                title=f"Whole flow: n iterations in every block ({where})",
                presentation=presentation,
            ),
            {
                "c": np.concatenate(
                    [[coeff_label(r.coeff)] * len(r.flow_ns) for r in shown]
                ).astype(object),
                "n": np.concatenate([r.flow_ns for r in shown]),
                "error": np.concatenate([r.flow_error for r in shown]),
            },
        )
        xs, ys, err = heat
        hm = Chart(
            slug(lm.dataset, "inverse_error_map", tag, f"n={n_iter}"),
            "Reconstruction error over the plane",
            error_heatmap_figure(
                xs,
                ys,
                err,
                n=n_iter,
                label=tag,
                data=lm.points(400),
                point=point,
                bounds=lm.bounds,
                presentation=presentation,
            ),
            heatmap_table(xs, ys, err),
        )
        return conv, flow, hm

    conv, flow, hm = timer.lap("figures", build)
    table = iterations_rows(
        [coeff_label(r.coeff) + (" (current)" if r.coeff == cur.coeff else "") for r in shown],
        [r.lipschitz for r in shown],
        [list(r.iterations(tol)) for r in shown],
        [r.diverged_at for r in shown],
        [r.flow_iterations(tol) for r in shown],
        horizon,
    )
    total = timer.done()

    st.title(
        "Fixed-point inverse" if not presentation else "Inverting an i-ResNet: xₙ₊₁ = y − g(xₙ)"
    )
    if not presentation:
        st.caption(
            f"Looking at **{lm.label}** ({lm.dataset}). Each block y = x + g(x) is inverted by "
            f"iterating "
            "xₙ₊₁ = y − g(xₙ) from x₀ = y; with Lip(g) ≤ L < 1 the error shrinks at least like Lⁿ "
            "(Behrmann et al. 2019, Alg. 1). The same raw weights are renormalised for every c (σ "
            "by SVD)."
        )
    note = _note(cur, horizon, tol)
    if note:
        st.warning(note, icon="⚠️")
    show_chart(conv, "inv_conv", fmt)
    left, right = st.columns([1, 1])
    with left:
        show_chart(hm, heat_key, fmt, on_select="rerun", selection_mode="points")
        if point is None:
            st.caption("Click a point of the plane: the curves above switch to that single point.")
        else:
            st.button(
                f"Back to the data points (now: ({point[0]:.2f}, {point[1]:.2f}))",
                on_click=_clear_point,
                key="inv_unclick",
                icon=":material/close:",
            )
    with right:
        show_chart(flow, "inv_flow", fmt)
        st.markdown(
            f"**Iterations until the residual < {tol:.0e}** (within {horizon}; whole flow: its "
            f"error)"
        )
        st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")
        if not presentation:
            st.download_button(
                "⬇ CSV",
                table_to_csv(table),
                file_name=slug(lm.dataset, "inverse_iterations", coeff_label(c), f"tol={tol:.0e}")
                + ".csv",
                mime="text/csv",
                key="inv_table_csv",
                on_click="ignore",
            )
    pack_button(
        [conv, flow, hm],
        {
            "page": "inverse",
            "model": lm.label,
            "model_key": lm.key,
            "dataset": lm.dataset,
            "c": c,
            "iterations": n_iter,
            "tol": tol,
            "block": block,
            "point": point,
            "iterations_to_tol": table,
        },
        f"inverse_{lm.dataset}",
    )
    if not presentation:
        st.caption(f"Recomputed and drawn in {1e3 * total:.0f} ms (compute + figures).")
