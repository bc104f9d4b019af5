"""The Playground's "record the next N steps" panel: training as an animation, from the page.

:func:`recording_panel` shows the controls (steps, a frame every k steps, formats) and a button.
The button pauses Play and asks for a whole-page run (a timed tick of the live fragment would
otherwise interrupt a recording that takes a while); that run trains and draws through the
Playground itself (:func:`dashboard.animation.record`), renders the asked formats
(:func:`dashboard.animation.render`) under an ``st.progress`` bar, and keeps the files in the
session for the download buttons (which hand them over only when clicked).
"""

from __future__ import annotations

from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dashboard import animation

__all__ = ["recording_panel", "RESULT_KEY"]

REQUEST_KEY = "_recording_request"  #: (steps, every, formats) asked for, not yet recorded
RESULT_KEY = "_recording"  #: the last recording's files and what it holds
_LABELS = {"gif": "GIF", "mp4": "MP4", "html": "HTML"}
#: the share of the progress bar for training and drawing the frames (the rest: encoding them)
_RECORD_SHARE = 0.8


def _ask(pg: Any) -> None:
    """The button's callback: pause Play, remember what to record."""
    pg.playing = False
    formats = [f for f in st.session_state.get("rec_formats") or [] if f in animation.FORMATS]
    st.session_state[REQUEST_KEY] = (
        int(st.session_state.get("rec_steps", 200)),
        int(st.session_state.get("rec_every", 2)),
        formats or ["gif"],
    )


def _in_fragment_run() -> bool:
    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)


def _record(pg: Any, steps: int, every: int, formats: list[str]) -> dict[str, Any]:
    bar = st.progress(0.0, text="Recording…")

    def recording(fraction: float, text: str) -> None:
        bar.progress(min(1.0, _RECORD_SHARE * fraction), text=text)

    def rendering(fraction: float, text: str) -> None:
        bar.progress(min(1.0, _RECORD_SHARE + (1 - _RECORD_SHARE) * fraction), text=text)

    start = min((r.step for r in pg.shown_runs), default=0)
    rec = animation.record(pg, steps, every, progress=recording)
    files = animation.render(rec, formats, progress=rendering)
    bar.empty()
    return {
        "files": files,
        "frames": len(rec.frames),
        "steps": (start, start + steps),
        "every": every,
        "stem": f"{pg.dataset}_training_steps{start}-{start + steps}",
    }


def recording_panel(pg: Any) -> None:
    """The record panel of the Playground page ``pg`` (a :class:`dashboard.state.Playground`):
    controls, the Record button, a progress bar while it runs, download buttons after."""
    result = st.session_state.get(RESULT_KEY)
    with st.expander(
        "Record the training as an animation (GIF, MP4, interactive HTML)",
        icon=":material/movie:",
        expanded=REQUEST_KEY in st.session_state or result is not None,
    ):
        a, b, c = st.columns([1, 1, 2], vertical_alignment="bottom")
        steps = a.number_input("Steps to record", 1, 20_000, 200, step=50, key="rec_steps")
        every = b.number_input(
            "A frame every … steps",
            1,
            1000,
            2,
            key="rec_every",
            help="A frame draws each model's density and samples (a fraction of a second "
            "each): fewer frames record faster.",
        )
        c.pills(
            "Formats",
            list(animation.FORMATS),
            selection_mode="multi",
            default=list(animation.FORMATS),
            format_func=_LABELS.get,
            key="rec_formats",
        )
        n = animation.frame_count(int(steps), int(every))
        st.button(
            f"Record the next {int(steps):,} steps ({n:,} frames)",
            key="rec_go",
            on_click=_ask,
            args=(pg,),
            icon=":material/fiber_manual_record:",
            help="Pauses Play, trains both models on from here and draws them every few steps; "
            "the files are ready to download when the bar is full.",
        )
        request = st.session_state.get(REQUEST_KEY)
        if request is not None:
            if _in_fragment_run():  # a timed tick must not cut the recording short
                st.rerun(scope="app")
            del st.session_state[REQUEST_KEY]
            result = _record(pg, *request)
            st.session_state[RESULT_KEY] = result
        if result:
            first, last = result["steps"]
            st.caption(
                f"Recorded steps {first:,}–{last:,}, a frame every {result['every']} "
                f"({result['frames']} frames)."
            )
            cols = st.columns(max(1, len(result["files"])))
            for col, (fmt, data) in zip(cols, result["files"].items()):
                col.download_button(
                    f"⬇ {_LABELS[fmt]} ({len(data) / 1e6:.1f} MB)",
                    data=lambda data=data: data,
                    file_name=f"{result['stem']}.{fmt}",
                    mime=animation.MIME[fmt],
                    key=f"rec_dl_{fmt}",
                    on_click="ignore",
                    width="stretch",
                )
