"""Draw your own data: a canvas in the Playground's sidebar whose strokes become points.

``streamlit-drawable-canvas`` (0.13, a Streamlit component of the v2 kind, Fabric.js inside)
reports each stroke as a path; :mod:`dashboard.drawing` spreads points over the ink at the chosen
density, and "Use this drawing" hands them to the Playground as the CSV an upload would be
(:meth:`dashboard.state.Playground.upload`): the same checks, the same messages, the same reset
of both models onto the new data. Drawn data have no known density, hence no entropy floor.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.drawing import points_csv, stroke_paths, strokes_to_points

__all__ = ["draw_panel", "CANVAS_PX", "ERROR_KEY"]

CANVAS_PX = 232  #: the canvas's side in pixels (it fits the sidebar)
ERROR_KEY = "_draw_error"
_STATE_KEY = "_draw_strokes"  # the canvas's last strokes (its result, kept for the button)


def _use(pg: Any) -> None:
    """The button's callback: the drawing's points become the data (or the error is kept)."""
    strokes = st.session_state.get(_STATE_KEY) or []
    density = float(st.session_state.get("draw_density", 40))
    pts = strokes_to_points(strokes, (CANVAS_PX, CANVAS_PX), density=density, seed=0)
    name = f"your drawing ({len(pts):,} points)"
    err = pg.upload(points_csv(pts), name)
    st.session_state[ERROR_KEY] = err


def draw_panel(pg: Any) -> None:
    """The drawing panel, in the current container (the page calls it in the sidebar, under the
    CSV upload): brush width, points per 100 px of stroke, the canvas, the count of points it
    makes and a button that sends them to the models."""
    from streamlit_drawable_canvas import st_canvas

    with st.expander("…or draw your points", icon=":material/draw:"):
        a, b = st.columns(2)
        width = a.slider("Brush", 2, 40, 14, key="draw_brush", help="Stroke width in pixels.")
        density = b.slider(
            "Density",
            5,
            200,
            40,
            step=5,
            key="draw_density",
            help="Points per 100 pixels of stroke, spread across the brush width.",
        )
        result = st_canvas(
            stroke_width=int(width),
            stroke_color="#1f77b4",
            background_color="#f4f4f8",
            height=CANVAS_PX,
            width=CANVAS_PX,
            drawing_mode="freedraw",
            key="draw_canvas",
        )
        strokes = stroke_paths(result.json_data if result is not None else None)
        st.session_state[_STATE_KEY] = strokes
        n = len(strokes_to_points(strokes, (CANVAS_PX, CANVAS_PX), density=float(density)))
        st.caption(
            f"{len(strokes)} stroke(s) → {n:,} points"
            + ("" if n else ": draw on the canvas (it spans −4 to 4 on both axes)")
        )
        st.button(
            "Use this drawing",
            key="draw_use",
            on_click=_use,
            args=(pg,),
            disabled=n == 0,
            icon=":material/send:",
            width="stretch",
            help="Both models reset and train on these points (no entropy floor is known for "
            "them).",
        )
        err = st.session_state.get(ERROR_KEY)
        if err:
            st.error(err)
