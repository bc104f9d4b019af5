"""The Sweeps page: a sweep's results table, summarised over seeds, as the paper's claims.

A person opens the results that ``python -m iresnet_core sweep`` wrote (the shipped ones in
``assets/sweeps/`` by default, so the page is never empty, or an uploaded ``results.parquet`` /
``results.csv``) and sees the paper's claims over seeds: NLL minus the entropy over c x N, Table 1
in 2D with the measured inverse, the inverse's iterations against c (Appendix D), the series bias
against N (Appendix E) and the i-ResNet against Glow (Figure 2), each exported like every chart.

Widgets -> cached table load -> figures of :mod:`dashboard.figures.sweeps` -> ``st.plotly_chart``.
Nothing trains here: the sweep runs on the command line, on Ray (``docs/sweeps.md``).
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard.controls import URL, is_presentation
from dashboard.figures import sweeps as F
from dashboard.views.lens_common import image_format, pack_button, show_chart

__all__ = ["render", "load_table", "SHIPPED", "REQUIRED"]

#: The sweep shipped with the app (``assets/sweeps/grid.toml``, run as ``docs/sweeps.md`` says).
SHIPPED = Path(__file__).resolve().parents[2] / "assets" / "sweeps" / "results.parquet"
#: Columns a table must have to be read as a sweep's results.
REQUIRED = ("key", "model", "dataset", "seed")
_SOURCES = ("Shipped results", "Upload a table")


@st.cache_data(max_entries=8, show_spinner=False)
def load_table(data: bytes, name: str) -> pd.DataFrame:
    """A results table from the bytes of a ``.parquet`` or ``.csv`` file (ValueError with a clear
    message when it is neither, or lacks the columns of a sweep's table)."""
    buf = io.BytesIO(data)
    try:
        df = pd.read_csv(buf) if name.lower().endswith(".csv") else pd.read_parquet(buf)
    except Exception as e:  # pyarrow and pandas raise many kinds
        raise ValueError(f"{name} is not a readable Parquet or CSV table ({e})") from None
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(
            f"{name} is not a sweep's results table: no column {', '.join(missing)} "
            "(python -m iresnet_core sweep writes results.parquet and results.csv)"
        )
    return df


def _source() -> tuple[bytes, str] | None:
    sb = st.sidebar
    sb.header("Results")
    source = sb.radio("Table", _SOURCES, key="sw_source", bind=URL)
    if source == _SOURCES[0]:
        if not SHIPPED.exists():
            st.warning(f"No shipped results at {SHIPPED}: run the sweep of docs/sweeps.md.")
            return None
        return SHIPPED.read_bytes(), SHIPPED.name
    up = sb.file_uploader(
        "results.parquet or results.csv",
        type=["parquet", "csv"],
        key="sw_upload",
        help="The table `python -m iresnet_core sweep --out DIR` wrote into DIR.",
    )
    if up is None:
        st.info("Upload a results table (Parquet or CSV) in the sidebar.")
        return None
    return up.getvalue(), up.name


def _summary(df: pd.DataFrame, name: str) -> None:
    cols = st.columns(4)
    cols[0].metric("Cells", f"{len(df):,}")
    cols[1].metric("Data sets", df["dataset"].nunique())
    cols[2].metric("Seeds", df["seed"].nunique())
    if "seconds" in df:
        cols[3].metric(
            "Compute", f"{df['seconds'].sum() / 60:.1f} min", help="Sum of the cells' times."
        )
    models = ", ".join(f"{m} {n}" for m, n in df["model"].value_counts().items())
    st.caption(f"{name} · cells by model: {models}")


def render() -> None:
    """Draw the Sweeps page (call from the ``st.Page``)."""
    presentation = is_presentation()
    st.title("Sweeps")
    if not presentation:
        st.caption(
            "The paper's claims over seeds and grids: every cell is one training run of "
            "`python -m iresnet_core sweep` (on Ray, locally or on a cluster), summarised here as "
            "mean ± sd over seeds. Toy scale: see docs/sweeps.md for what the shipped grid is."
        )
    got = _source()
    if got is None:
        return
    data, name = got
    try:
        df = load_table(data, name)
    except ValueError as e:
        st.error(str(e))
        return
    fmt = image_format("sw")
    _summary(df, name)
    st.subheader("The claims, checked")
    st.dataframe(
        F.claims(df),
        hide_index=True,
        width="stretch",
        key="sw_claims",
        column_config={
            "claim": st.column_config.TextColumn(width="medium"),
            "verdict": st.column_config.TextColumn(width="medium"),
            "measured": st.column_config.TextColumn(width="large"),
        },
    )
    charts = F.sweep_charts(df, presentation=presentation)
    heat, table1, iters, bias, glow = charts
    st.subheader("Fit: NLL − entropy over c × N")
    show_chart(heat, "sw_heat", fmt)
    st.subheader("Table 1 in 2D")
    show_chart(table1, "sw_table1", fmt)
    frame = F.table1_frame(df)
    if not frame.empty:
        st.dataframe(frame, hide_index=True, width="stretch", key="sw_table1_frame")
    st.subheader("The inverse and the series")
    left, right = st.columns(2)
    with left:
        show_chart(iters, "sw_iters", fmt)
    with right:
        show_chart(glow, "sw_glow", fmt)
    show_chart(bias, "sw_bias", fmt)
    pack_button(charts, {"results": name, "cells": len(df)}, "sweeps")
