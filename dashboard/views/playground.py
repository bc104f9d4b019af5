"""The Playground page: train an i-ResNet and a Glow live, side by side (TensorFlow Playground for
flows).

Widgets -> :class:`dashboard.state.Playground` (one per session, in ``st.session_state``) ->
figures from :mod:`dashboard.figures.playground` -> ``st.plotly_chart``. Training runs in an
``st.fragment`` that reruns every tick while playing (``run_every=None`` when paused) and does a
time-budgeted burst of optimiser steps per tick; no Streamlit call happens outside the script
thread.
"""

from __future__ import annotations

import time

import numpy as np
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

import iresnet_core as ic
from dashboard import export
from dashboard.changes import Note
from dashboard.charts import playground_charts_of
from dashboard.control_list import PLAYGROUND, SECTIONS
from dashboard.controls import URL, apply_link, is_presentation, render_control
from dashboard.figures.common import MODEL_LABELS, image_button_config
from dashboard.figures.playground import LAYERS, Standing, comparison_text, gap_text
from dashboard.model_run import ModelRun
from dashboard.runtime import APP_THREADS, PLAY_THREADS, use_app_threads
from dashboard.settings import CUSTOM, Settings, dataset_label, truncation_bound
from dashboard.state import Playground, digest
from dashboard.view import View
from dashboard.views.draw import draw_panel
from dashboard.views.figure2 import figure2_panel
from dashboard.views.recording import recording_panel
from dashboard.views.tour import tour_bar
from iresnet_core.training.threads import torch_threads

__all__ = ["render", "handle_upload", "handle_checkpoint", "STATE_KEY"]

STATE_KEY = "playground"
TICK_S = 0.1  # run_every while playing; ticks that take longer simply run back to back
# Bursts train on one torch thread: the browser rendering the charts shares the two cores, and a
# step of many small parallel operations stalls at every barrier whose second thread it has taken
# (iresnet_core/training/threads.py; docs/benchmarks.md).
TRAIN_THREADS = 1
REDRAW_S = 1.0  # while playing, the density grid and samples are recomputed at most this often
#: A full-page run while playing (the Play click, any control moved during Play) ends with this
#: pause, so that the server sends its charts before the first timed tick starts. Streamlit drops a
#: fragment's unsent deltas when the fragment's next run starts (``AppSession._clear_queue`` on
#: SCRIPT_STARTED) but keeps the full run's "finished" message: the browser was told the page had
#: finished without its charts, cleared them and showed a blank chart area for 1-1.5 s after every
#: Play. (Timed ticks do not need it: their "finished" does not clear the page.)
FLUSH_S = 0.05
# Live redraws replace every chart several times a second: no greying-out of not-yet-redrawn
# elements. Play and Pause take the same width, so that the row does not shift when one becomes
# the other.
_PAGE_CSS = (
    "<style>.stElementContainer[data-stale='true']"
    "{opacity:1 !important;transition:none !important}"
    ".st-key-play button{min-width:6.5em}</style>"
)

_D = Settings()
_NOTE_ICONS = {"link": ":material/link:", "checkpoint": ":material/save:"}


def _pg(settings: Settings | None = None) -> Playground:
    """This session's Playground (built on first use, from the controls as the URL set them)."""
    pg = st.session_state.get(STATE_KEY)
    if pg is None:
        s = settings or _D
        if s.dataset == CUSTOM:  # nothing uploaded in a fresh session yet
            s = s.replace(dataset=_D.dataset)
        pg = Playground(s)
        st.session_state[STATE_KEY] = pg
    return pg


def handle_upload(pg: Playground, content: bytes | None, name: str) -> str | None:
    """Take an uploaded CSV; returns the error to show, or ``None``. On error nothing changes.

    Every rerun resends the file that sits in the uploader: the same accepted file is not read
    again, and the same refused file is not parsed again (its error is shown again).
    """
    if content is None:
        return None
    key = digest(content)
    if pg.user_name == name and pg.user_points is not None and pg.upload_digest == key:
        return None  # the same file, seen again on a rerun
    refused = getattr(pg, "_refused_upload", None)
    if refused is not None and refused[0] == (name, key):
        return refused[1]
    if getattr(pg, "_upload_seen", None) == (name, key):
        return None  # taken before, then replaced by a drawing: the uploader only resends it
    pg._upload_seen = (name, key)
    err = pg.upload(content, name)
    pg._refused_upload = ((name, key), err) if err else None
    return err


CKPT_FILES, CKPT_ERROR = "ckpt_files", "_ckpt_error"


def handle_checkpoint(pg: Playground, files) -> str | None:
    """Load the checkpoint in the uploader's ``files`` (UploadedFile objects or ``(name, bytes)``);
    returns the error to show, or ``None``. On error the current models stay."""
    pairs = [
        (f.name, f.getvalue()) if hasattr(f, "getvalue") else (f[0], f[1]) for f in files or []
    ]
    return pg.load_checkpoint(pairs)


def _load_checkpoint() -> None:
    err = handle_checkpoint(_pg(), st.session_state.get(CKPT_FILES))
    st.session_state[CKPT_ERROR] = err


def _checkpoint_panel(pg: Playground) -> None:
    """Sidebar: load a checkpoint (model.safetensors + config.json, or its ZIP); download each
    model's."""
    with st.sidebar.expander("Checkpoint: load or download", icon=":material/save:"):
        files = st.file_uploader(
            "model.safetensors + config.json, or the checkpoint ZIP",
            type=["safetensors", "json", "zip"],
            accept_multiple_files=True,
            key=CKPT_FILES,
            help="Only safetensors weights and a JSON config are read; nothing is unpickled.",
        )
        st.button(
            "Load checkpoint",
            key="ckpt_load",
            on_click=_load_checkpoint,
            disabled=not files,
            icon=":material/upload:",
            width="stretch",
        )
        err = st.session_state.get(CKPT_ERROR)
        if err:
            st.error(err)
        for run in pg.shown_runs:
            st.download_button(
                f"⬇ {MODEL_LABELS[run.model]} checkpoint (ZIP)",
                data=lambda m=run.model: pg.checkpoint_zip(m),
                file_name=f"{pg.dataset}_{run.model}_step{run.step}_checkpoint.zip",
                mime="application/zip",
                key=f"ckpt_dl_{run.model}",
                on_click="ignore",
                width="stretch",
                help="model.safetensors + config.json of the current weights (load it back "
                "above).",
            )


def _sidebar(presentation: bool) -> tuple[Settings, tuple[bytes, str] | None, object]:
    """The controls of :data:`dashboard.control_list.PLAYGROUND`, section by section; returns the
    settings, an uploaded CSV (bytes, name) and the slot for its message."""
    values: dict[str, object] = {}
    upload, slot = None, None
    for section in SECTIONS:
        st.sidebar.header(section)
        for c in PLAYGROUND:
            if c.section != section:
                continue
            values[c.key] = render_control(
                c, presentation, disabled=c.key == "c" and bool(values.get("unconstrained"))
            )
            if c.key == "dataset" and values["dataset"] == CUSTOM:
                up = st.sidebar.file_uploader(
                    "Your points (CSV, two columns)", type=["csv", "txt"], key="upload"
                )
                if up is not None:
                    upload = (up.getvalue(), up.name)
                slot = st.sidebar.container()  # the upload's error or hint, and the canvas
    return Settings(**values), upload, slot  # type: ignore[arg-type]


# ------------------------------------------------------------------ buttons
def _toggle_play() -> None:
    pg = _pg()
    pg.playing = not pg.playing
    for run in pg.shown_runs:
        run.rate.reset()  # the steps/s of Play count from this press
    if pg.playing:
        pg.warnings = [w for w in pg.warnings if "skipped" not in w]
        pg.resume()  # after a divergence pause, Play tries again (e.g. with a lower learning rate)


def _step() -> None:
    pg = _pg()
    pg.playing = False
    pg.step(1)


def _reset() -> None:
    pg = _pg()
    pg.reset()
    where = " (from the pre-trained checkpoint where one exists)" if pg.settings.pretrained else ""
    pg.notes.append(Note("reset", f"Reset: models back to step 0{where}."))


def _transport(pg: Playground) -> None:
    # one row whose buttons are as wide as their labels: in columns of fixed shares presentation
    # mode's larger type cut them ("Pause" to "P…" at 1400 px, "Step" to "St…" at 1280) and the
    # layer pills ran out of the row
    row = st.container(horizontal=True, vertical_alignment="center", gap="small")
    row.button(
        "Pause" if pg.playing else "Play",
        key="play",
        on_click=_toggle_play,
        type="primary",
        icon=":material/pause:" if pg.playing else ":material/play_arrow:",
        width="content",
    )
    row.button(
        "Step",
        key="step",
        on_click=_step,
        icon=":material/skip_next:",
        width="content",
        help="One optimiser step per model.",
    )
    row.button(
        "Reset",
        key="reset",
        on_click=_reset,
        icon=":material/restart_alt:",
        width="content",
        help="Back to step 0.",
    )
    layers = row.pills(
        "Layers",
        LAYERS,
        selection_mode="multi",
        default=["density", "contours"],
        key="layers",
        bind=URL,
        label_visibility="collapsed",
    )
    st.session_state["_layers"] = tuple(layers or ())


# --------------------------------------------------------------- live view
def _step_size(trainer: ic.Trainer) -> str:
    """A model's step size now, or the one its warm-up ramps towards (not the ramp's 1 %)."""
    if trainer.warmup_left:
        done = trainer.warmup - trainer.warmup_left
        return f"lr {trainer.decayed_lr:.2g} after warm-up ({done}/{trainer.warmup})"
    return f"lr now {trainer.step_size:.2g}"


def _status(run: ModelRun, view: View, pg: Playground) -> str:
    """The model's status line: its steps, then what changes as it trains, then its setup."""
    return " · ".join([_steps(run), *_live_status(run, view, pg), *_setup_status(run, pg)])


def _steps(run: ModelRun) -> str:
    """The model's steps in this session, and the pre-trained ones before them."""
    pre = f" (+{run.pretrained_steps:,} pre-trained)" if run.pretrained_steps else ""
    return f"**step {run.step:,}**{pre}"


def _live_status(run: ModelRun, view: View, pg: Playground) -> list[str]:
    """What changes as the model trains: its pace, its Lipschitz bound and inverse (the
    i-ResNet's), its skipped steps."""
    sps = run.metrics.get("steps_per_s")
    live = run.rate.per_s() if pg.playing else None
    if live is not None:  # the counter's own pace, redraws included; the trainer's alone beside it
        own = run.rate.trainer_per_s()
        speed = f"{live:,.0f} steps/s" + (f" (trainer {own:,.0f})" if own else "")
    else:
        speed = f"{sps:,.0f} steps/s" if sps else "— steps/s"
    parts = [speed]
    if run.model == "iresnet":
        parts.append("Lip ≤ " + (f"{view.lip:.3f}" if np.isfinite(view.lip) else "n/a"))
        parts.append(
            "inverse ✗ diverged"
            if view.inverse_diverged
            else f"inverse {'✓' if view.inverse_converged else '≈'} {view.inverse_iterations} it"
        )
    else:
        parts.append("Lip n/a (Glow)")
    if run.skipped:
        parts.append(f":orange[{run.skipped:,} non-finite steps skipped]")
    return parts


def _setup_status(run: ModelRun, pg: Playground) -> list[str]:
    """How the model is set up: its step size where a decay or warm-up moves it, its size, its
    engine, the budget of the comparison, the series' truncation bound."""
    parts = []
    if run.trainer.lr_decay is not None or run.trainer.warmup_left:
        parts.append(_step_size(run.trainer))  # the decay or the warm-up at work
    parts += [f"{run.parameters:,} parameters", _engine_word(run)]
    if len(pg.shown_runs) > 1:
        parts.append(f"budget: {pg.settings.budget}")
    tb = truncation_bound(run.cfg)
    if tb is not None:
        parts.append(f"series truncation ≤ {tb:.3f} nats/block")
    return parts


def _origin(run) -> str:
    """Where the model's weights come from, with the budget a checkpoint was trained for."""
    if run.origin == "pre-trained":
        return (
            f"pre-trained, {run.pretrained_steps:,} steps"
            if run.pretrained_steps
            else ("pre-trained")
        )
    return {"uploaded": "from your checkpoint"}.get(run.origin, "from scratch")


def _standing(run) -> Standing:
    """The model's place in the comparison sentence: all its steps (pre-trained ones too), its
    training time in this session, its test NLL."""
    nll = _test_nll(run)
    return Standing(
        MODEL_LABELS[run.model],
        run.pretrained_steps + run.step,
        float(run.trainer.wall_time),
        None if nll is None else float(nll),
    )


def _engine_word(run) -> str:
    """Which engine trains the model, and why not the C engine where it does not."""
    trainer = run.trainer
    if trainer.engine == "C kernel":
        return "C kernel ✓"
    if trainer.native:  # the engine takes the flow, not this estimator
        return f"torch ({run.cfg.logdet} log-det: the C kernel trains the exact one)"
    reason = trainer.engine_reason or "torch asked for"
    return f"torch ({reason})"


def _downloads(chart, key: str) -> None:
    """HTML and CSV of one chart, generated only when clicked (deferred ``data=callable``)."""
    a, b = st.columns(2)
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


def _live() -> None:
    # a run is a thread of its own: one torch thread, two for a timed tick's redraw
    # (dashboard/runtime.py)
    use_app_threads(PLAY_THREADS if _in_timed_tick() else APP_THREADS)
    pg = _pg()
    presentation = is_presentation()
    was_playing = pg.playing
    t0 = time.perf_counter()
    if pg.playing:
        with torch_threads(TRAIN_THREADS):
            pg.tick()
    train_s = time.perf_counter() - t0
    warnings_box = st.container()  # a stable place: the charts below keep theirs (see render)
    for w in pg.warnings:
        warnings_box.warning(w, icon="⚠️")
    if was_playing and not pg.playing:
        st.rerun()  # stop the timer: the page reruns with run_every=None
    runs = pg.shown_runs
    counter = " · ".join(f"{MODEL_LABELS[r.model]} {r.step:,}" for r in runs)
    st.subheader(
        f"Step &nbsp;`{counter}`" + ("&nbsp; :red[● training]" if pg.playing else ""), anchor=False
    )
    t1 = time.perf_counter()
    # while playing, the grids redraw every REDRAW_S, or less often when they cost more than a
    # third of it
    cost = max((r.view.seconds for r in runs if r.view is not None), default=0.0)
    max_age = max(REDRAW_S, 3 * cost) if pg.playing else None
    # while playing, the file names leave the step out: a changing name is a changing plotly
    # config, which plotly.js answers with a blank-then-redraw of the chart (flicker on every tick)
    charts = playground_charts_of(
        pg,
        layers=st.session_state.get("_layers", ("density", "contours")),
        presentation=presentation,
        max_age_s=max_age,
        step_in_names=not pg.playing,
    )
    draw_s = time.perf_counter() - t1
    # Headers and charts in two rows of columns: a status line that wraps in one column (at 1400 px
    # the i-ResNet's does) then pushes no chart below its neighbour's. In presentation mode the
    # charts come first, under one sentence (the comparison, or the one model's distance from its
    # floor), and the headers follow them: on a projector's 1280 x 720 the status lines had pushed
    # every chart below the fold.
    if not presentation:
        _headers(runs, pg, presentation=False)
    if len(runs) > 1:
        st.markdown(comparison_text([_standing(r) for r in runs], pg.entropy, pg.settings.budget))
    elif presentation:
        st.markdown(gap_text(_test_nll(runs[0]), pg.entropy))
    if presentation:  # what changes as they train, over each model's charts
        for run, col in zip(runs, st.columns(len(runs))):
            col.caption(" · ".join(_live_status(run, run.view, pg)))
    for i, (run, col) in enumerate(zip(runs, st.columns(len(runs)))):
        with col:
            mine = list(zip(("density", "samples", "nll"), charts[3 * i : 3 * i + 3]))
            if len(runs) == 1:  # one model: density and samples side by side, NLL below
                slots = list(st.columns(2)) + [st.container()]
            else:
                slots = [st.container() for _ in mine]
            for (kind, chart), slot in zip(mine, slots):
                with slot:
                    # a stable key: the chart updates in place every tick instead of remounting
                    st.plotly_chart(
                        chart.figure,
                        key=f"chart_{run.model}_{kind}",
                        theme=None,
                        config=image_button_config(chart.slug),
                        width="stretch",
                    )
                    if not presentation:
                        _downloads(chart, f"{run.model}_{kind}")
    if presentation:
        _headers(runs, pg, presentation=True)
    st.session_state["_charts"] = charts
    st.session_state["_timing"] = {
        "train_s": train_s,
        "draw_s": draw_s,
        "view_s": sum((r.view.seconds if r.view else 0.0) for r in runs),
    }
    if not presentation:
        cfg = pg.config_json()
        st.download_button(
            "⬇ Figure pack (ZIP: HTML, PNG/PDF when Chromium is present, CSV, config JSON)",
            data=lambda ch=tuple(charts), cf=cfg: export.figure_pack(ch, cf),
            file_name=f"playground_{pg.dataset}_figure-pack.zip",
            mime="application/zip",
            key="pack",
            on_click="ignore",
        )
        recording_panel(pg)
    if pg.playing and not _in_timed_tick():
        time.sleep(
            FLUSH_S
        )  # let the server send this run's charts before the first tick (see FLUSH_S)


def _test_nll(run: ModelRun) -> float | None:
    """The model's latest test NLL (this tick's, else the last in its history)."""
    test = run.metrics.get("test_nll")
    if test is None and run.history.get("test_nll"):
        test = run.history["test_nll"][-1]
    return test


def _headers(runs: list[ModelRun], pg: Playground, *, presentation: bool) -> None:
    """Each model's name and origin, its status line and its distance from the data's entropy, a
    column per model. In presentation mode, under the charts: the status line's setup only (its
    live part is over the charts), and the distance only with two models (with one, it is the
    sentence over the charts)."""
    for run, col in zip(runs, st.columns(len(runs))):
        with col:
            st.markdown(f"### {MODEL_LABELS[run.model]} · *{_origin(run)}*")
            if presentation:
                st.caption(" · ".join([_steps(run), *_setup_status(run, pg)]))
            else:
                st.caption(_status(run, run.view, pg))  # the view playground_charts_of computed
            if not presentation or len(runs) > 1:
                st.markdown(gap_text(_test_nll(run), pg.entropy))


def _in_timed_tick() -> bool:
    """Whether this run is the fragment's own (a timed tick) rather than the whole page's."""
    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)


def render() -> None:
    """Draw the Playground page (call from the ``st.Page``)."""
    tour_bar()  # the guided tour's bar, while a tour runs
    presentation = is_presentation()
    link_notes = apply_link(PLAYGROUND)  # before the widgets: what the link meant, said out loud
    settings, upload, slot = _sidebar(presentation)
    pg = _pg(settings)
    pg.notes.extend(Note("link", text, text.split("=")[0]) for text in link_notes)
    if slot is not None:
        err = handle_upload(pg, *upload) if upload else None
        if err:
            slot.error(err)
        elif pg.user_points is None:
            slot.info(
                "Upload a CSV of 2D points (two numeric columns, optional header). "
                "Until then the previous data stay."
            )
        with slot:
            draw_panel(pg)
    # Messages that come and go (a refused setting, a reset's note) live in one container, so that
    # the elements after it keep their place in the page: one element fewer above the charts moved
    # every chart to a new position, and the browser drew them anew (a flash of 3-11 charts on the
    # Play that followed a slider move).
    messages = st.container()
    try:
        pg.apply(settings)
    except ValueError as e:  # a config the core refuses: say which, keep the models
        messages.error(f"These settings are not valid: {e}")
    if not presentation:
        _checkpoint_panel(pg)
    st.title("i-ResNet Playground" if not presentation else "i-ResNet vs Glow, live")
    if not presentation:
        st.caption(
            "Invertible residual networks (Behrmann et al., ICML 2019) next to Glow, trained live "
            "on "
            f"**{dataset_label(pg.dataset)}**. Move a slider, press Play."
        )
    notes, noted = pg.pending_notes()
    latest = {n.key: n for n in notes}  # one per topic and model: fast slider drags make several
    notes_box = st.container()
    for n in latest.values():
        notes_box.info(n.text, icon=_NOTE_ICONS.get(n.topic, ":material/info:"))
    _transport(pg)
    st.html(_PAGE_CSS)
    run_every = TICK_S if pg.playing else None
    st.fragment(_live, run_every=run_every)()
    if not presentation:
        with st.expander("The paper's Figure 2: every toy set, Glow and i-ResNet at one budget"):
            figure2_panel()
    pg.notes_shown(notes, noted)  # only a run that got here has shown them
