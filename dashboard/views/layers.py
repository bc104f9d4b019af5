"""The Layers page: how each model carries the data to the Gaussian, block by block.

Widgets -> :mod:`iresnet_core.analysis.layers` (the walk through every layer, the partial
densities, the moves and the marks; cached per model parameters) ->
:mod:`dashboard.figures.layers` -> ``st.plotly_chart``. A depth slider shows the i-ResNet and Glow
side by side at the same depth fraction: the clouds after block k and the partial densities p_k;
a plotly animation plays every depth in the browser; the paths show each point's moves; the
rose and the curves measure the seed's claim that Glow moves along the axes.

The models are those of the lens pages (:func:`dashboard.lens_model.model_picker`): the
Playground's when this session trained one, else the pre-trained checkpoints, else fresh ones;
the Glow beside the i-ResNet comes from the same place.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

import iresnet_core as ic
from dashboard.controls import URL, is_presentation
from dashboard.figures.common import MODEL_COLORS, MODEL_LABELS, Chart, slug
from dashboard.figures.inverse import FREE_COLOR
from dashboard.figures.layers import (
    Panel,
    Rose,
    Series,
    Track,
    angle_figure,
    angle_table,
    cloud_figure,
    cloud_table,
    depth_animation,
    movement_figure,
    movement_table,
    paths_figure,
    paths_table,
    start_hue,
    view_box,
)
from dashboard.figures.playground import density_figure, density_table
from dashboard.lens_model import CHECKPOINTS, PLAYGROUND_KEY, LensModel, model_picker
from dashboard.views.lens_common import Timer, image_format, pack_button, show_chart
from iresnet_core.analysis.frozen import param_key
from iresnet_core.analysis.layers import (
    Marks,
    PartialDensity,
    Walk,
    angle_histogram,
    collapse_marks,
    depth_index,
    move_stats,
    partial_density,
    walk,
)

__all__ = ["render", "glow_beside", "N_CLOUD", "N_PATHS", "GRID", "SEED_CLAIM"]

N_CLOUD = 400  #: points in the clouds and the measured moves
N_PATHS = 150  #: points whose paths are drawn
GRID = 90  #: partial density grid (all depths at once, per model)
_GLOW_STORE = "_layers_glow"
_CHARTS = "_layers_charts"
FREE_LABEL = "ResNet (same weights, unconstrained)"
#: The seed report's explanation of the toy results (Sec. 4, "Toy data"), quoted on the page.
SEED_CLAIM = (
    "I think it's because invertible Resnet is a very symmetrical model with no bias in "
    "dimension, while Glow is biased in dimension. It requires us to shuffle the input in some "
    "way, and then split it in half, [...] which brings about the problem of asymmetry."
)
_MOVES = {"iresnet": "moves g(x)", "glow": "coupling shifts"}


@dataclass
class GlowModel:
    flow: Any
    key: str
    label: str


def glow_beside(lm: LensModel, state: MutableMapping[str, Any]) -> GlowModel:
    """The Glow to show next to the i-ResNet ``lm``, from the same place: the Playground's Glow
    (its shown weights), else the pre-trained Glow of the dataset, else a fresh Glow of about the
    default i-ResNet's parameter count; kept in ``state``.

    Example (a plain dict stands in for ``st.session_state``)::

        >>> from dashboard.lens_model import get_model
        >>> g = glow_beside(get_model("fresh", "8gaussians", {}), {})
        >>> g.flow.cfg.model, g.label
        ('glow', 'a fresh, untrained Glow (matched to the default i-ResNet)')
    """
    store = state.setdefault(_GLOW_STORE, {})
    if lm.source == "playground":
        runs = getattr(state.get(PLAYGROUND_KEY), "runs", None) or {}
        run = runs.get("glow")
        if run is not None and getattr(run, "flow", None) is not None:
            flow = run.shown
            ident = (id(flow), int(run.step))
            hit = store.get("playground")
            if hit is None or hit[0] != ident:
                label = f"the Playground's Glow, step {run.step:,} ({run.origin})"
                store["playground"] = (ident, GlowModel(flow, param_key(flow), label))
            return store["playground"][1]
    path = CHECKPOINTS / lm.dataset / "glow"
    source = "pretrained" if (path / "model.safetensors").is_file() else "fresh"
    if lm.source == "fresh":
        source = "fresh"
    k = (source, lm.dataset if source == "pretrained" else "")
    if k not in store:
        if source == "pretrained":
            flow = ic.load(path)
            label = f"the pre-trained Glow for {lm.dataset}"
        else:
            flow = ic.build_flow(ic.match_glow(ic.FlowConfig()))
            label = "a fresh, untrained Glow (matched to the default i-ResNet)"
        flow.eval()
        store[k] = GlowModel(flow, param_key(flow), label)
    return store[k]


@st.cache_data(max_entries=32, show_spinner=False)
def _walk(key: str, x: np.ndarray, _flow: Any) -> Walk:
    return walk(_flow, x)


@st.cache_data(max_entries=16, show_spinner="The partial densities at every depth…")
def _density(key: str, bounds: tuple, n: int, _flow: Any) -> PartialDensity:
    return partial_density(_flow, bounds, n)


@st.cache_data(max_entries=16, show_spinner="Lifting the constraint…")
def _free(key: str, x: np.ndarray, coeff: float, _flow: Any) -> tuple[Walk, Marks]:
    free = ic.analysis.with_coeff(_flow, None)
    w = walk(free, x)
    return w, collapse_marks(free, w, coeff)


def _kept(
    state: MutableMapping[str, Any], ident: tuple, build: Callable[[], dict[str, Chart]]
) -> dict[str, Chart]:
    """``build()``, kept in this session's ``state`` while ``ident`` stays the same: the charts
    that do not follow the depth (the animation's 33 frames, a few hundred paths through every
    layer) took most of a slider move's time to build again."""
    hit = state.get(_CHARTS)
    if hit is None or hit[0] != ident:
        state[_CHARTS] = (ident, build())
    return state[_CHARTS][1]


def _moving_layers(w: Walk) -> np.ndarray:
    moving = np.zeros(len(w.kinds), bool)
    moving[w.main] = True
    return moving


def _free_note(w: Walk, box: tuple[float, ...]) -> str:
    """Words for the unconstrained panel: how many paths end outside the view."""
    end = w.points[-1]
    out = int((~np.isfinite(end).all(1) | (np.abs(end) > box[1]).any(1)).sum())
    return f"{out}/{end.shape[0]} end off the view" if out else ""


def render() -> None:
    """Draw the Layers page (call from the ``st.Page``)."""
    presentation = is_presentation()
    lm: LensModel = model_picker()
    glow = glow_beside(lm, st.session_state)
    sb = st.sidebar
    sb.header("Through the layers")
    free = sb.toggle(
        "Paths without the constraint",
        value=False,
        key="lay_free",
        bind=URL,
        help="Adds the i-ResNet's raw weights without spectral normalisation (a plain ResNet) "
        "to the paths, with the places where a block folds the plane (det J ≤ 0) or brings two "
        "points closer than a block with Lip(g) ≤ c can (1 − c).",
    )
    fmt = image_format("lay")

    models = {"iresnet": (lm.flow, lm.key, lm.label), "glow": (glow.flow, glow.key, glow.label)}
    n_of = {m: len(ic.analysis.flow_blocks(f)) for m, (f, _, _) in models.items()}
    k_max = max(n_of.values())

    st.title("Through the layers" if not presentation else "From the data to the Gaussian")
    if not presentation:
        st.caption(
            f"**{lm.label}** and **{glow.label}** ({lm.dataset}). A block of the i-ResNet is a "
            "residual block x + g(x) and its ActNorm; a step of Glow is ActNorm, an invertible "
            "linear map and an affine coupling. Both models are shown at the same fraction of "
            "their depth."
        )
    k = st.slider(
        "Depth: blocks applied",
        0,
        k_max,
        k_max // 2,
        key="lay_k",
        bind=URL,
        help="0 is the data, the last block the latent. Each model shows the block nearest to "
        "the same fraction of its depth.",
    )
    fraction = k / k_max if k_max else 0.0

    timer = Timer("layers")
    x = lm.points(N_CLOUD)
    hue = start_hue(x)
    walks = {
        m: timer.lap("walk", lambda f=f, key=key: _walk(key, x, f))
        for m, (f, key, _) in models.items()
    }
    dens = {
        m: timer.lap("density", lambda f=f, key=key: _density(key, lm.bounds, GRID, f))
        for m, (f, key, _) in models.items()
    }
    depth = {m: depth_index(fraction, n_of[m]) for m in models}
    moves = {m: move_stats(w) for m, w in walks.items()}
    coeff = float(lm.coeff or 0.9)
    freed = timer.lap("free", lambda: _free(lm.key, x[:N_PATHS], coeff, lm.flow)) if free else None

    def build_depth() -> dict[str, Chart]:
        """The charts at the slider's depth."""
        tag = f"depth={fraction:.2f}"
        panels = [
            Panel(
                MODEL_LABELS[m], MODEL_COLORS[m], walks[m].cloud(depth[m]), hue, depth[m], n_of[m]
            )
            for m in models
        ]
        charts: dict[str, Chart] = {}
        charts["cloud"] = Chart(
            slug(lm.dataset, "layers_clouds", tag),
            "Point clouds at one depth",
            cloud_figure(
                panels,
                title=f"After {fraction:.0%} of the blocks, coloured by start",
                presentation=presentation,
            ),
            cloud_table(panels),
        )
        for m in models:
            pd, km = dens[m], depth[m]
            where = "none: the standard normal" if km == 0 else f"{km} blocks"
            charts[f"density_{m}"] = Chart(
                slug(lm.dataset, "layers_partial_density", m, f"block={km}"),
                f"{MODEL_LABELS[m]}: partial density",
                density_figure(
                    pd.xs,
                    pd.ys,
                    pd.density[km],
                    data=x,
                    layers=("density", "contours", "data"),
                    bounds=lm.bounds,
                    model=m,
                    title=f"{MODEL_LABELS[m]}: p after {km}/{n_of[m]} blocks",
                    subtitle=f"N(0, I) pulled back through {where} · "
                    f"mass {float(pd.mass[km]):.3f}",
                    presentation=presentation,
                    height=420,
                ),
                density_table(pd.xs, pd.ys, pd.density[km]),
            )
        return charts

    def build_fixed() -> dict[str, Chart]:
        """The charts that do not follow the depth slider (kept for the session)."""
        charts: dict[str, Chart] = {}
        frames = np.array(
            [[depth_index(f / k_max, n_of[m]) for m in models] for f in range(k_max + 1)]
        )
        charts["animation"] = Chart(
            slug(lm.dataset, "layers_animation"),
            "Every depth, animated",
            depth_animation(
                [MODEL_LABELS[m] for m in models],
                [MODEL_COLORS[m] for m in models],
                [walks[m].clouds for m in models],
                hue,
                frames,
                title="Every depth, from the data to the latent",
                presentation=presentation,
            ),
            {
                "frame": np.arange(k_max + 1),
                **{f"{m}_block": frames[:, i] for i, m in enumerate(models)},
            },
        )
        tracks = []
        for m in models:
            w = walks[m]
            pts = w.points[:, :N_PATHS]
            tracks.append(
                Track(MODEL_LABELS[m], MODEL_COLORS[m], pts, hue[:N_PATHS], _moving_layers(w))
            )
        if freed is not None:
            fw, marks = freed
            box = view_box(walks["iresnet"].points[:, :N_PATHS], q=99.5)
            note = _free_note(fw, box)
            inputs = fw.move_inputs
            tracks.append(
                Track(
                    "ResNet (unconstrained)",
                    FREE_COLOR,
                    fw.points,
                    hue[:N_PATHS],
                    _moving_layers(fw),
                    folds=inputs[marks.folded],
                    collapses=inputs[marks.collapsed],
                    box=box,
                    note=note,
                )
            )
        charts["paths"] = Chart(
            slug(lm.dataset, "layers_paths", "unconstrained" if free else None),
            "Paths through every layer",
            paths_figure(
                tracks,
                title="Paths: moves in colour, linear layers grey",
                presentation=presentation,
                height=480,
            ),
            paths_table(tracks),
        )
        roses = []
        for m in models:
            counts, centres = angle_histogram(moves[m].angle, bins=36)
            roses.append(
                Rose(MODEL_LABELS[m], MODEL_COLORS[m], counts, centres, moves[m].share, _MOVES[m])
            )
        charts["angles"] = Chart(
            slug(lm.dataset, "layers_move_directions"),
            "Direction of the moves",
            angle_figure(
                roses,
                title="Which way the blocks move the points",
                presentation=presentation,
            ),
            angle_table(roses),
        )
        series = [
            Series(
                MODEL_LABELS[m],
                MODEL_COLORS[m],
                np.arange(1, n_of[m] + 1) / n_of[m],
                moves[m].distance,
                moves[m].relative,
                moves[m].one_coordinate,
                _MOVES[m],
            )
            for m in models
        ]
        charts["movement"] = Chart(
            slug(lm.dataset, "layers_movement"),
            "Movement against depth",
            movement_figure(series, title="Block by block", presentation=presentation),
            movement_table(series),
        )
        return charts

    ident = (lm.key, glow.key, bool(free), presentation, len(x))
    charts = {
        **timer.lap("figures", build_depth),
        **timer.lap("figures", lambda: _kept(st.session_state, ident, build_fixed)),
    }
    total = timer.done()

    show_chart(charts["cloud"], "lay_cloud", fmt)
    left, right = st.columns(2)
    with left:
        show_chart(charts["density_iresnet"], "lay_density_iresnet", fmt)
    with right:
        show_chart(charts["density_glow"], "lay_density_glow", fmt)
    if not presentation:
        st.caption(
            "p after k blocks is the density the flow would have if it stopped there: "
            "log p_k(x) = log N(f_k(x)) + the first k exact log-determinants (the change of "
            "variables, Behrmann et al. 2019 eq. 1). It starts as the standard normal and ends as "
            "the model's density. Grid over the data's box; the moves below are measured on "
            f"{len(x)} held-out points."
        )

    st.subheader("Play through the depths")
    show_chart(charts["animation"], "lay_animation", fmt)
    if not presentation:
        st.caption(
            "▶ Play runs through every block in the browser. Each depth is drawn in its own view "
            "(its half-width in the corner): the trained i-ResNet's middle blocks may spread the "
            "points over tens of units. Dotted: the standard normal's contours at radius 1, 2, 3."
        )

    st.subheader("Paths")
    if freed is not None:
        fw, marks = freed
        folds, pairs = int(marks.folded.sum()), int(marks.pairs.sum())
        first = np.flatnonzero(marks.folded.any(1) | (marks.pairs > 0))
        if folds or pairs:
            st.warning(
                f"**Without the constraint the blocks fold or crush the plane.** {folds} times "
                f"a block's det J ≤ 0 at a point (×: nearby paths cross), {pairs} pairs brought "
                f"closer than 1 − c = {marks.threshold:.2f} times their distance (○), the first "
                f"in block {int(first[0]) + 1}. With Lip(g) ≤ c < 1 neither can happen.",
                icon="⚠️",
            )
        else:
            st.info(
                "Unconstrained, yet on these points no block folds the plane or brings two "
                "points closer than 1 − c allows. Nothing guarantees it.",
                icon="ℹ️",
            )
    show_chart(charts["paths"], "lay_paths", fmt)
    if not presentation:
        st.caption(
            f"{N_PATHS} points through every layer. In colour the blocks' nonlinear moves, g(x) "
            "of a residual block or the shift of a coupling; grey the linear layers (ActNorm, "
            "Glow's LU map), which turn and stretch the frame the coupling's axes live in."
        )

    st.subheader("Does Glow move along the axes? The seed's claim, measured")
    if not presentation:
        st.markdown(f"> {SEED_CLAIM}\n>\n> — the seed's reading report, on the toy densities")
    a, b, c_ = st.columns(3)
    a.metric("Glow: coupling moves along one coordinate", f"{100 * moves['glow'].share:.1f} %")
    b.metric(
        "i-ResNet: blocks' moves along one coordinate", f"{100 * moves['iresnet'].share:.1f} %"
    )
    c_.metric(
        "mean move / cloud spread (i-ResNet / Glow)",
        f"{100 * float(np.nanmean(moves['iresnet'].relative)):.0f} % / "
        f"{100 * float(np.nanmean(moves['glow'].relative)):.0f} %",
        help="Mean over the blocks of mean |move| divided by the root-mean-square distance of "
        "the points from their centre where the block meets them: the two models' intermediate "
        "clouds can differ in scale by a factor of ten.",
    )
    show_chart(charts["angles"], "lay_angles", fmt)
    show_chart(charts["movement"], "lay_movement", fmt)
    if not presentation:
        st.caption(
            "A coupling changes one half of the coordinates given the other, so in 2D every move "
            "it makes is along an axis of the frame it works in; the linear map before it turns "
            "that frame. An i-ResNet block moves both coordinates at once. A move counts as one "
            f"coordinate when the other coordinate changed by at most {moves['glow'].ulps:g} "
            "units in the last place (float32 rounding)."
        )
    pack_button(
        list(charts.values()),
        {
            "page": "layers",
            "iresnet": lm.label,
            "iresnet_key": lm.key,
            "glow": glow.label,
            "glow_key": glow.key,
            "dataset": lm.dataset,
            "depth_fraction": fraction,
            "blocks_shown": depth,
            "unconstrained_paths": bool(free),
            "one_coordinate_share": {m: moves[m].share for m in models},
        },
        f"layers_{lm.dataset}",
    )
    if not presentation:
        st.caption(f"Recomputed and drawn in {1e3 * total:.0f} ms (compute + figures).")
