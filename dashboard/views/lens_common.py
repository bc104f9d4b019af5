"""What the three lens pages share on screen: a chart with its export buttons, the figure pack,
the coefficient controls and the timing line. Imports Streamlit.

Follows the Playground's conventions: ``image_button_config`` for the camera button (PNG or SVG,
named after what the chart shows), deferred HTML and CSV downloads, a ZIP figure pack from
:mod:`dashboard.export`, and every control bound to the URL (``bind="query-params"``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import streamlit as st

from dashboard import export
from dashboard.controls import URL, is_presentation
from dashboard.figures.common import Chart, image_button_config
from dashboard.runtime import use_app_threads

__all__ = ["show_chart", "pack_button", "coeff_controls", "image_format", "Timer"]


def image_format(prefix: str) -> str:
    """The camera button's format (a rarely used control: hidden in presentation mode)."""
    if is_presentation():
        return st.session_state.get(f"{prefix}_img", "png")
    return st.sidebar.radio(
        "Camera button saves",
        ["png", "svg"],
        key=f"{prefix}_img",
        bind=URL,
        horizontal=True,
        persist_state="session",
        help="Format of the chart's camera (download) button.",
    )


def show_chart(chart: Chart, key: str, fmt: str = "png", **kwargs: Any) -> Any:
    """``st.plotly_chart`` with the camera button named after the chart, then HTML and CSV
    downloads (generated only when clicked). Extra keyword arguments go to ``st.plotly_chart``
    (selection)."""
    event = st.plotly_chart(
        chart.figure,
        key=key,
        theme=None,
        width="stretch",
        config=image_button_config(chart.slug, fmt=fmt),
        **kwargs,
    )
    if not is_presentation():
        a, b, _ = st.columns([1, 1, 2])
        a.download_button(
            "⬇ HTML",
            data=lambda ch=chart: export.chart_html(ch),
            file_name=f"{chart.slug}.html",
            mime="text/html",
            key=f"html_{key}",
            on_click="ignore",
            width="stretch",
            help="Standalone interactive HTML (plotly.js embedded, works offline).",
        )
        b.download_button(
            "⬇ CSV",
            data=lambda ch=chart: ch.csv(),
            file_name=f"{chart.slug}.csv",
            mime="text/csv",
            key=f"csv_{key}",
            on_click="ignore",
            width="stretch",
            help="The numbers behind the chart.",
        )
    return event


def pack_button(charts: list[Chart], config: dict[str, Any], name: str) -> None:
    """The page's figure pack: HTML, PNG/SVG (when Chromium is present), CSV and the settings as
    JSON."""
    if is_presentation():
        return
    st.download_button(
        "⬇ Figure pack (ZIP: HTML, PNG/SVG when Chromium is present, CSV, config JSON)",
        data=lambda ch=tuple(charts), cf=config: export.figure_pack(
            ch, cf, image_formats=("png", "svg")
        ),
        file_name=f"{name}_figure-pack.zip",
        mime="application/zip",
        key=f"pack_{name}",
        on_click="ignore",
    )


def coeff_controls(prefix: str, default_c: float | None) -> float | None:
    """The "unconstrained" toggle and the c slider (``?{prefix}_free=``, ``?{prefix}_c=``); returns
    c or None."""
    sb = st.sidebar
    free = sb.toggle(
        "Unconstrained (plain ResNet)",
        value=False,
        key=f"{prefix}_free",
        bind=URL,
        help="The same raw weights without spectral normalisation: no Lipschitz bound, "
        "no guarantee that the inverse exists or that the iteration converges.",
    )
    c = sb.slider(
        "Lipschitz coefficient c",
        0.05,
        0.99,
        float(default_c or 0.9),
        0.01,
        key=f"{prefix}_c",
        bind=URL,
        disabled=free,
        help="Every linear map of every block rescaled to W / max(1, σ/c), σ by SVD.",
    )
    return None if free else float(c)


class Timer:
    """Wall-clock of a page's recompute (compute + figures), shown as a caption and kept in
    ``st.session_state["_lens_timing"][page]`` for the benchmarks."""

    def __init__(self, page: str) -> None:
        # Streamlit runs the page in a thread of its own: torch on one thread there (the lenses'
        # small products crawled on two; dashboard/runtime.py).
        use_app_threads()
        self.page = page
        self.t0 = time.perf_counter()
        self.parts: dict[str, float] = {}

    def lap(self, name: str, fn: Callable[[], Any]) -> Any:
        t = time.perf_counter()
        out = fn()
        self.parts[name] = self.parts.get(name, 0.0) + time.perf_counter() - t
        return out

    def done(self) -> float:
        total = time.perf_counter() - self.t0
        st.session_state.setdefault("_lens_timing", {})[self.page] = {
            "total_s": total,
            **self.parts,
        }
        return total
