"""Figure 2 to take away: a panel that makes the paper's figure (a row per toy set; data, Glow,
i-ResNet) from the pre-trained checkpoints or from fresh runs at a budget, shows it and offers it
as PNG, SVG and PDF.

A thin view: :mod:`dashboard.figure2_data` computes the rows, :mod:`dashboard.figures.figure2`
draws them, :func:`dashboard.export.figure2_images` renders the files (kaleido; without a Chromium
the buttons are left out and the chart's camera button still saves a PNG). Call
:func:`figure2_panel` from any page.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

import iresnet_core as ic
from dashboard import export
from dashboard.figure2_data import rows_from_checkpoints, rows_from_training
from dashboard.figures.common import image_button_config
from dashboard.figures.figure2 import Figure2Row, figure2_chart

__all__ = ["figure2_panel", "SOURCES"]

#: Where the models come from: the pre-trained checkpoints, or fresh runs at a budget.
SOURCES = ("pre-trained checkpoints", "fresh runs")
_MIME = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}


@st.cache_data(max_entries=8, show_spinner=False)
def _from_checkpoints(sets: tuple[str, ...]) -> list[Figure2Row]:
    return rows_from_checkpoints(sets)


@st.cache_data(max_entries=4, show_spinner=False)
def _from_training(sets: tuple[str, ...], steps: int) -> list[Figure2Row]:
    bar = st.progress(0.0, text="Training …")
    total = 2 * len(sets) * steps
    done: dict[tuple[str, str], int] = {}

    def progress(name: str, model: str, step: int) -> None:
        done[name, model] = step
        bar.progress(
            min(1.0, sum(done.values()) / total), text=f"Training {model} on {name}: {step:,}"
        )

    rows = rows_from_training(sets, steps=steps, progress=progress)
    bar.empty()
    return rows


@st.cache_data(max_entries=8, show_spinner=False)
def _image(_chart: Any, key: str, fmt: str) -> bytes:
    """One static image of the figure (``key`` names the figure for the cache)."""
    images, note = export.figure2_images(_chart, [fmt])
    if f"figure2.{fmt}" not in images:
        raise RuntimeError(note or f"no {fmt} was made")
    return images[f"figure2.{fmt}"]


def figure2_panel(key: str = "figure2") -> None:
    """The panel: where the models come from, the toy sets, the button that makes the figure, the
    figure, and its PNG, SVG and PDF downloads. Widget keys start with ``key``."""
    st.markdown(
        "**Figure 2 of the paper** — a row per toy set: the data, Glow and the i-ResNet at the "
        "same budget, each panel titled with its test NLL minus the entropy (nats from a "
        "perfect fit)."
    )
    a, b = st.columns([2, 1])
    source = a.radio("Models", SOURCES, horizontal=True, key=f"{key}_source")
    steps = int(
        b.number_input(
            "Steps per model",
            min_value=50,
            max_value=20000,
            value=3000,
            step=250,
            key=f"{key}_steps",
            disabled=source == SOURCES[0],
            help="Fresh runs: both models train this many steps with the library's defaults.",
        )
    )
    sets = st.multiselect(
        "Toy sets", ic.datasets.NAMES, default=list(ic.datasets.NAMES), key=f"{key}_sets"
    )
    if st.button("Make Figure 2", key=f"{key}_make", type="primary", disabled=not sets):
        with st.spinner("Drawing the densities …"):
            rows = (
                _from_checkpoints(tuple(sets))
                if source == SOURCES[0]
                else _from_training(tuple(sets), steps)
            )
        made = f"{source}|{','.join(sets)}|{steps if source == SOURCES[1] else ''}"
        st.session_state[f"{key}_chart"] = (made, figure2_chart(rows))
    held = st.session_state.get(f"{key}_chart")
    if held is None:
        return
    made, chart = held
    st.plotly_chart(
        chart.figure,
        key=f"{key}_figure",
        theme=None,
        config=image_button_config("figure2", fmt="png"),
    )
    if export.chromium_path() is None:
        st.caption(
            "No Chromium on this machine: PNG, SVG and PDF files are not available here "
            "(the chart's camera button saves a PNG)."
        )
        return
    cols = st.columns(4)
    for col, fmt in zip(cols, ("png", "svg", "pdf")):
        col.download_button(
            f"⬇ {fmt.upper()}",
            data=lambda fmt=fmt: _image(chart, made, fmt),
            file_name=f"figure2.{fmt}",
            mime=_MIME[fmt],
            key=f"{key}_{fmt}",
            on_click="ignore",
            width="stretch",
        )
    cols[3].download_button(
        "⬇ CSV",
        data=lambda: chart.csv(),
        file_name="figure2.csv",
        mime="text/csv",
        key=f"{key}_csv",
        on_click="ignore",
        width="stretch",
        help="The titles' numbers: NLL minus entropy and budget per panel.",
    )
