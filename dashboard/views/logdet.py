"""The log-determinant page: the power series against the exact value, Hutchinson's spread, the
biased truncated series against unbiased Russian roulette, their cost, and the error over the
plane.

Widgets -> :mod:`iresnet_core.analysis.logdet` (the error grid cached per model parameters and c)
-> :mod:`dashboard.figures.logdet` -> ``st.plotly_chart``. The grid's error is computed for
every N at once per c; N, the probe count and the distribution only recompute the estimators on
the test points.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

import iresnet_core as ic
from dashboard.controls import URL, is_presentation
from dashboard.figures.common import Chart, slug
from dashboard.figures.inverse import coeff_label
from dashboard.figures.logdet import (
    cost_figure,
    cost_table,
    estimators_figure,
    estimators_table,
    hutchinson_figure,
    hutchinson_table,
    series_heatmap_figure,
    truncation_figure,
    truncation_table,
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

__all__ = ["render", "mean_sd", "number", "N_MAX", "N_POINTS", "N_DRAWS", "GRID", "COST_NS"]

N_MAX = 20
N_POINTS = 64  #: test points the curves average over
N_DRAWS = 300  #: draws of the stochastic estimators (over the first 32 test points)
GRID = 36
COST_NS = (1, 2, 5, 10, 15, 20)


@st.cache_data(max_entries=64, show_spinner=False)
def _series_grid(key: str, c: float | None, bounds: tuple, n_grid: int, _fz: FrozenFlow):
    return ic.analysis.series_error_grid(_fz, bounds, n_grid, N_MAX, coeff=c, every_n=True)


@st.cache_data(max_entries=16, show_spinner="Timing the estimators (once per architecture)…")
def _cost(arch: str, n_points: int, _flow) -> dict[str, np.ndarray]:
    x = np.random.default_rng(0).normal(size=(n_points, 2)).astype(np.float32)
    return ic.analysis.estimator_cost(_flow, x, list(COST_NS), repeats=2)


def number(x: float, digits: int = 3, sign: bool = False) -> str:
    """``x`` with ``digits`` decimals, or in scientific notation once it is too large for a metric
    box (a diverging series reaches 1e10 and more)."""
    spec = ("+" if sign else "") + (f".{digits}f" if abs(x) < 1e5 or not np.isfinite(x) else ".3e")
    return format(x, spec)


def mean_sd(draws: np.ndarray) -> tuple[str, str]:
    """``(mean, "± sd")`` of an estimator's finite draws, the second saying how many diverged
    (without the constraint a series can overflow; every draw may)."""
    v = np.asarray(draws, dtype=float).ravel()
    ok = v[np.isfinite(v)]
    if ok.size == 0:
        return "diverged", f"all {v.size} draws"
    spread = f"± {number(ok.std())} sd"
    return number(
        ok.mean()
    ), spread if ok.size == v.size else f"{spread}; {v.size - ok.size} of {v.size} diverged"


def render() -> None:
    """Draw the log-determinant page (call from the ``st.Page``)."""
    tour_bar()
    presentation = is_presentation()
    lm: LensModel = model_picker()
    sb = st.sidebar
    sb.header("Log-determinant")
    c = coeff_controls("ld", lm.coeff)
    n_terms = sb.slider(
        "Series terms N",
        1,
        N_MAX,
        5,
        key="ld_N",
        bind=URL,
        help="Terms of ln det(I+J) = Σ (−1)^(k+1) tr(J^k)/k kept by the truncated estimators.",
    )
    probes = sb.slider(
        "Hutchinson probes",
        1,
        16,
        1,
        key="ld_probes",
        bind=URL,
        help="Probe vectors v per point: tr(A) ≈ mean of vᵀAv.",
    )
    probe = sb.radio(
        "Probe distribution", ["gaussian", "rademacher"], key="ld_probe", bind=URL, horizontal=True
    )
    fmt = image_format("ld")

    timer = Timer("logdet")
    x = lm.points(N_POINTS)
    xd = x[:32]  # the stochastic estimators' draws run over the first 32 test points
    lips = lm.fz.lipschitz(c)

    def stats():
        A = ic.analysis
        ld = A.truncation_curve(lm.fz, x, N_MAX, probes, probe, n_draws=64, seed=1, coeff=c)
        h = A.hutchinson_draws(lm.fz, xd, n_terms, probes, probe, N_DRAWS, seed=2, coeff=c)
        r = A.roulette_draws(lm.fz, xd, N_DRAWS, n_probes=probes, probe=probe, seed=3, coeff=c)
        return (
            ld,
            ld.hutchinson_q,
            h,
            r,
            A.mean_logdet(lm.fz, xd, coeff=c),
            A.mean_logdet(lm.fz, xd, n_terms, coeff=c),
        )

    ld, q, h, r, exact_d, series_d = timer.lap("estimators", stats)
    xs, ys, grid_err = timer.lap(
        "heatmap", lambda: _series_grid(lm.key, c, lm.bounds, GRID, lm.fz)
    )
    tag = coeff_label(c)
    K = lm.fz.n_blocks
    bias = ld.series_total - ld.exact_total

    def build():
        bound_lip = np.nansum(ld.bound_lip, axis=0) if np.isfinite(ld.bound_lip).all() else None
        tr = Chart(
            slug(lm.dataset, "logdet_truncation", tag),
            "Truncation error against N",
            truncation_figure(
                ld.ns,
                ld.error_total,
                ld.bound_c,
                bound_lip,
                n_terms=n_terms,
                n_blocks=K,
                error_blocks=ld.error,
                title=f"Truncation error vs N ({tag}, mean over {len(x)} points)",
                presentation=presentation,
            ),
            truncation_table(ld.ns, ld.error_total, ld.bound_c, bound_lip, K),
        )
        hu = Chart(
            slug(lm.dataset, "logdet_hutchinson", tag, f"P={probes}", probe),
            "Hutchinson spread",
            hutchinson_figure(
                ld.ns,
                q,
                bias,
                n_terms=n_terms,
                n_probes=probes,
                probe=probe,
                title=f"Hutchinson spread, {probes} {probe} probe{'s' if probes > 1 else ''}",
                presentation=presentation,
            ),
            hutchinson_table(ld.ns, q, bias),
        )
        es = Chart(
            slug(lm.dataset, "logdet_series_vs_roulette", tag, f"N={n_terms}", f"P={probes}"),
            "Truncated series against Russian roulette",
            estimators_figure(
                exact_d,
                series_d,
                h,
                r,
                n_terms=n_terms,
                title=f"Biased truncated series (N={n_terms}) vs unbiased Russian roulette, "
                f"{N_DRAWS} draws",
                presentation=presentation,
            ),
            estimators_table(exact_d, series_d, h, r),
        )
        hm = Chart(
            slug(lm.dataset, "logdet_error_map", tag, f"N={n_terms}"),
            "Truncation error over the plane",
            series_heatmap_figure(
                xs,
                ys,
                grid_err[n_terms - 1],
                n_terms=n_terms,
                data=lm.points(400),
                bounds=lm.bounds,
                title=f"|exact − series_N| at N={n_terms} ({tag})",
                presentation=presentation,
            ),
            {
                "x": np.meshgrid(xs, ys)[0].ravel(),
                "y": np.meshgrid(xs, ys)[1].ravel(),
                "error": grid_err[n_terms - 1].ravel(),
            },
        )
        return tr, hu, es, hm

    tr, hu, es, hm = timer.lap("figures", build)
    total = timer.done()

    st.title("Log-determinant" if not presentation else "Estimating ln det(I + J_g)")
    if not presentation:
        st.caption(
            f"Looking at **{lm.label}** ({lm.dataset}). ln det(I+J_g) = Σₖ (−1)^(k+1) tr(J_gᵏ)/k "
            f"converges "
            "when Lip(g) < 1; cut after N terms its error per block is at most d(−ln(1−c) − "
            "Σ_{k≤N} cᵏ/k) "
            "(Theorem 3). Hutchinson replaces the traces by vᵀJᵏv; Russian roulette (Residual "
            "Flows) draws "
            "the number of terms at random and reweights them, which removes the bias."
        )
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("exact log-det (blocks, mean)", number(exact_d, 4))
    m2.metric(
        f"series, N={n_terms}",
        number(series_d, 4),
        f"{number(series_d - exact_d, 4, sign=True)} bias",
        delta_color="off",
    )
    for box, name, draws in ((m3, "Hutchinson", h), (m4, "roulette", r)):
        mean, spread = mean_sd(draws)
        box.metric(f"{name}, mean of draws", mean, spread, delta_color="off", delta_arrow="off")
    if c is None or float(lips.max()) >= 1:
        st.warning(
            f"**No guarantee here.** Without the constraint some block has Lip(g) ≥ 1 (product "
            f"bound "
            f"{float(lips.max()):.2f}): the power series need not converge, Theorem 3's bound is "
            f"infinite "
            "(not drawn), and Russian roulette's variance can be unbounded — watch the error grow "
            "with N "
            "instead of shrinking.",
            icon="⚠️",
        )
    a, b = st.columns(2)
    with a:
        show_chart(tr, "ld_trunc", fmt)
    with b:
        show_chart(hu, "ld_hutch", fmt)
    show_chart(es, "ld_est", fmt)
    a, b = st.columns(2)
    with a:
        show_chart(hm, "ld_heat", fmt)
    with b:
        # Last, once the rest is on screen: timing the estimators takes a second or so on the first
        # visit with an architecture (then it is cached).
        cost = _cost(f"{lm.cfg.n_blocks}x{lm.cfg.hidden}-{lm.cfg.activation}", 256, lm.flow)
        co = Chart(
            slug(lm.dataset, "logdet_cost", f"{K}blocks"),
            "Cost per estimator",
            cost_figure(
                COST_NS,
                cost,
                n_terms=n_terms,
                n_points=256,
                title="Cost per forward + backward",
                presentation=presentation,
            ),
            cost_table(COST_NS, cost),
        )
        show_chart(co, "ld_cost", fmt)
    pack_button(
        [tr, hu, es, co, hm],
        {
            "page": "logdet",
            "model": lm.label,
            "model_key": lm.key,
            "dataset": lm.dataset,
            "c": c,
            "N": n_terms,
            "probes": probes,
            "probe": probe,
        },
        f"logdet_{lm.dataset}",
    )
    if not presentation:
        st.caption(
            f"Recomputed and drawn in {1e3 * total:.0f} ms (compute + figures; the cost chart is "
            f"measured "
            "once per architecture)."
        )
