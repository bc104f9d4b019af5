"""The Playground's state drawn: the charts of every shown model at its current view.

The bridge between :class:`dashboard.state.Playground` (data, runs, views; it draws nothing) and
the pure figure functions of :mod:`dashboard.figures.playground`. No Streamlit import.
"""

from __future__ import annotations

from dashboard.figures.playground import playground_charts
from dashboard.settings import describe
from dashboard.state import Playground

__all__ = ["playground_charts_of"]


def playground_charts_of(
    pg: Playground,
    *,
    layers: tuple[str, ...] = ("density", "contours"),
    presentation: bool = False,
    max_age_s: float | None = None,
    step_in_names: bool = True,
) -> list:
    """Every chart the Playground shows right now (three per shown model), drawn by
    :func:`dashboard.figures.playground.playground_charts`; the page (its charts and figure pack),
    the export command line and the latency benchmark call this.

    ``step_in_names=False`` leaves the step out of the charts' file names. The page does so while
    playing: the name is the camera button's plotly config, and plotly.js redraws a chart from
    scratch (blank for a moment) whenever its config changes, so a name with the step in it made
    every chart flicker on every tick.
    """
    charts = []
    for run, v in zip(pg.shown_runs, pg.views(max_age_s)):
        c = "free" if run.cfg.coeff is None else f"c={run.cfg.coeff:g}"
        step = f"step={run.step}" if step_in_names else "live"
        tag = f"{c}_{step}" if run.model == "iresnet" else step
        charts += playground_charts(
            dataset=pg.dataset,
            model=run.model,
            xs=v.xs,
            ys=v.ys,
            density=v.density,
            data=pg.data,
            samples=v.samples,
            history=run.history,
            entropy=pg.entropy,
            bounds=pg.bounds,
            layers=layers,
            presentation=presentation,
            tag=tag,
            density_step=v.step,
            subtitle=describe(run.cfg, pg.dataset),
            loss_label=(
                f"train loss ({run.cfg.logdet}, N={run.cfg.n_terms})"
                if run.cfg.logdet in ("series", "hutchinson")
                else f"train loss ({run.cfg.logdet})"
                if run.cfg.logdet != "exact"
                else None
            )
            if run.model == "iresnet"
            else None,
            x_axis="seconds" if pg.budget_in_time else "step",
        )
    return charts
