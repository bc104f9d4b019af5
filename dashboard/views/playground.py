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
from dashboard.charts import playground_charts_of
from dashboard.controls import URL, is_presentation
from dashboard.figures.common import MODEL_LABELS, image_button_config
from dashboard.figures.playground import LAYERS, gap_text
from dashboard.runtime import APP_THREADS, PLAY_THREADS, use_app_threads
from dashboard.settings import (
    CUSTOM,
    MAX_BAD_STEPS,
    SPEEDS,
    Settings,
    dataset_label,
    truncation_bound,
)
from dashboard.state import AVERAGE_STEPS, Playground, digest

__all__ = ["render", "handle_upload", "handle_checkpoint", "STATE_KEY"]

STATE_KEY = "playground"
TICK_S = 0.1  # run_every while playing; ticks that take longer simply run back to back
# Bursts train on one torch thread: the browser rendering the charts shares the two cores, and a
# step of many small parallel operations stalls at every barrier whose second thread it has taken.
# Measured in the server with the default "Both" view: the i-ResNet's rate inside its bursts went
# from 11 to 35 steps/s, the Glow's stayed at about 90 (iresnet_core.training.threads, issue 6).
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
# elements.
_NO_STALE_CSS = (
    "<style>.stElementContainer[data-stale='true']"
    "{opacity:1 !important;transition:none !important}</style>"
)

_MODEL_NAMES = {"both": "Both", "iresnet": "i-ResNet", "glow": "Glow"}
_ESTIMATORS = {
    "exact": "exact (2D det)",
    "series": "power series (exact traces)",
    "hutchinson": "Hutchinson (paper)",
    "roulette": "Russian roulette",
}
#: the status line's word on the compiled step (``ic.Trainer.compile_state``)
_COMPILE_STATUS = {
    "compiling": ":blue[compiling the step in the background…]",
    "compiled": "compiled step ✓",
    "failed": ":orange[compiling failed: uncompiled step]",
}
_WIDTHS = [16, 32, 64, 128, 256]
_LRS = [
    1e-4,
    3e-4,
    1e-3,
    3e-3,
    1e-2,
    2e-2,
    3e-2,
    6e-2,
    0.1,
    0.3,
    1.0,
    3.0,
    10.0,
]  # up to 10: to show what breaks
_BATCHES = [1, 16, 64, 128, 256, 500, 1000, 2000]
_GRIDS = [100, 120, 150, 200]
_D = Settings()


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
    sb = st.sidebar
    rare = not presentation  # rarely used controls are hidden in presentation mode
    keep = "session"
    sb.header("Data")
    names = list(ic.datasets.NAMES) + [CUSTOM]
    # Options are shown as their URL tokens (a bound widget writes the shown label into the link).
    dataset = sb.selectbox(
        "Dataset",
        names,
        index=names.index(_D.dataset),
        key="dataset",
        bind=URL,
        help="The FFJORD toy sets; 'custom' is your own points from a CSV upload.",
    )
    upload, slot = None, None
    if dataset == CUSTOM:
        up = sb.file_uploader("Your points (CSV, two columns)", type=["csv", "txt"], key="upload")
        if up is not None:
            upload = (up.getvalue(), up.name)
        slot = sb.empty()  # the upload's error or hint goes here
    sb.header("Models")
    shown = sb.radio(
        "Show",
        list(_MODEL_NAMES.values()),
        index=0,
        key="models",
        bind=URL,
        horizontal=True,
        help="Both: side by side; Glow is sized to about the i-ResNet's parameter count.",
    )
    models = {v: k for k, v in _MODEL_NAMES.items()}.get(shown, "both")
    unconstrained = sb.toggle(
        "Unconstrained (plain ResNet)",
        value=False,
        key="unconstrained",
        bind=URL,
        help="Turn spectral normalisation off: no Lipschitz bound, no inverse guarantee.",
    )
    c = sb.slider(
        "Lipschitz coefficient c",
        0.05,
        0.99,
        _D.c,
        0.01,
        key="c",
        bind=URL,
        disabled=unconstrained,
        help="Every linear layer is scaled to spectral norm at most c.",
    )
    estimator = sb.selectbox(
        "Log-det estimator",
        list(_ESTIMATORS),
        key="estimator",
        bind=URL,
        help="; ".join(f"**{k}**: {v}" for k, v in _ESTIMATORS.items()),
    )
    n_terms = sb.slider(
        "Series terms N",
        1,
        20,
        _D.N,
        key="N",
        bind=URL,
        help="Power-series terms for the series and Hutchinson estimators.",
    )
    probes, probe = _D.probes, _D.probe
    if rare:
        probes = sb.slider(
            "Hutchinson probes", 1, 8, _D.probes, key="probes", bind=URL, persist_state=keep
        )
        probe = sb.selectbox(
            "Probe distribution",
            ["gaussian", "rademacher"],
            key="probe",
            bind=URL,
            persist_state=keep,
        )
    else:
        probes = st.session_state.get("probes", probes)
        probe = st.session_state.get("probe", probe)
    blocks = sb.slider(
        "Blocks",
        1,
        64,
        _D.blocks,
        key="blocks",
        bind=URL,
        help="Residual blocks (Glow: coupling steps). At c = 0.9 depth is what a flow is short "
        "of: "
        "32 narrow blocks fit much faster than 8 wide ones with 3.5x the weights.",
    )
    width = sb.select_slider(
        "Hidden width",
        _WIDTHS,
        value=_D.width,
        key="width",
        bind=URL,
        help="Each block is an MLP 2-w-w-2.",
    )
    activation = _D.activation
    if rare:
        activation = sb.selectbox(
            "Activation", list(ic.ACTIVATIONS), key="activation", bind=URL, persist_state=keep
        )
    else:
        activation = st.session_state.get("activation", activation)
    sb.header("Training")
    lr = sb.select_slider(
        "Learning rate",
        _LRS,
        value=_D.lr,
        key="lr",
        bind=URL,
        format_func=lambda v: f"{v:g}",
        help=f"The i-ResNet's step size at step 0; after t steps it is lr / √(1 + t / "
        f"{ic.LR_DECAY:g}) "
        "(a pre-trained model carries on where its training left off). Applies live, without a "
        "reset.",
    )
    glow_lr = sb.select_slider(
        "Glow learning rate",
        _LRS,
        value=_D.glow_lr,
        key="glow_lr",
        bind=URL,
        format_func=lambda v: f"{v:g}",
        help="Glow's own (it is unstable above about 3e-3). Applies live.",
    )
    average = sb.toggle(
        "Show the averaged weights",
        value=_D.average,
        key="average",
        bind=URL,
        help="On: the density, samples and NLL are those of the running average of the "
        f"weights over about the last {AVERAGE_STEPS} steps, which sits closer to the optimum "
        f"than "
        "the last step at a high learning rate. Off: the last step's weights (a single "
        "Step then shows its whole effect). Applies live, without a reset.",
    )
    compiled = sb.toggle(
        "Fast training step",
        value=_D.compiled,
        key="compiled",
        bind=URL,
        help="Trains the i-ResNet's exact loss fast. With ELU (the default) a C kernel built "
        "for this machine computes loss and gradient in one pass: about 3x the steps per "
        "second of the compiled graph, nothing to wait for. Other activations go through "
        "torch.compile (a few graphs of four blocks each, about twice the eager step): it "
        "compiles in the background (about half a minute the first time for an "
        "architecture and batch size on this machine, seconds after) while training goes on "
        "uncompiled; the status line says when it is done. On by default where a C++ compiler "
        "is found (IRESNET_COMPILE=0 starts it off). Exact log-det only. Applies live, without a "
        "reset.",
    )
    batch, seed, grid = _D.batch, _D.seed, _D.grid
    if rare:
        batch = sb.select_slider(
            "Batch size", _BATCHES, value=_D.batch, key="batch", bind=URL, persist_state=keep
        )
        seed = sb.number_input(
            "Seed", 0, 10_000, _D.seed, key="seed", bind=URL, persist_state=keep
        )
        grid = sb.select_slider(
            "Density grid (n × n)", _GRIDS, value=_D.grid, key="grid", bind=URL, persist_state=keep
        )
    else:
        batch = st.session_state.get("batch", batch)
        seed = st.session_state.get("seed", seed)
        grid = st.session_state.get("grid", grid)
    speed = sb.select_slider(
        "Speed",
        list(SPEEDS),
        value=_D.speed,
        key="speed",
        bind=URL,
        help="Training time per model per redraw; slow motion: one step per redraw.",
    )
    pretrained = sb.toggle(
        "Start from the pre-trained model",
        value=True,
        key="pretrained",
        bind=URL,
        help="Off: start from scratch (a fresh initialisation).",
    )
    max_bad = _D.max_bad
    if rare:
        max_bad = sb.number_input(
            "Stop training after this many non-finite steps in a row",
            1,
            1000,
            _D.max_bad,
            key="max_bad",
            bind=URL,
            persist_state=keep,
            help="A step whose loss, gradient or update is not finite is skipped (the last "
            "good parameters stay); this many in a row pause training.",
        )
    else:
        max_bad = st.session_state.get("max_bad", max_bad)
    return (
        Settings(
            dataset=dataset,
            models=models,
            c=float(c),
            unconstrained=bool(unconstrained),
            estimator=estimator,
            N=int(n_terms),
            probes=int(probes),
            probe=probe,
            blocks=int(blocks),
            width=int(width),
            activation=activation,
            lr=float(lr),
            glow_lr=float(glow_lr),
            batch=int(batch),
            average=bool(average),
            compiled=bool(compiled),
            seed=int(seed),
            pretrained=bool(pretrained),
            speed=speed,
            grid=int(grid),
            max_bad=int(max_bad or MAX_BAD_STEPS),
        ),
        upload,
        slot,
    )


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
    pg.notes.append(
        "Reset: models back to step 0"
        + (
            " (from the pre-trained checkpoint where one exists)."
            if pg.settings.pretrained
            else "."
        )
    )


def _transport(pg: Playground) -> None:
    b1, b2, b3, info = st.columns([1, 1, 1, 5], vertical_alignment="center")
    b1.button(
        "Pause" if pg.playing else "Play",
        key="play",
        on_click=_toggle_play,
        type="primary",
        icon=":material/pause:" if pg.playing else ":material/play_arrow:",
        width="stretch",
    )
    b2.button(
        "Step",
        key="step",
        on_click=_step,
        icon=":material/skip_next:",
        width="stretch",
        help="One optimiser step per model.",
    )
    b3.button(
        "Reset",
        key="reset",
        on_click=_reset,
        icon=":material/restart_alt:",
        width="stretch",
        help="Back to step 0.",
    )
    with info:
        layers = st.pills(
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
    """The i-ResNet's step size now, or the one its warm-up ramps towards (not the ramp's 1 %)."""
    if trainer.warmup_left:
        done = trainer.warmup - trainer.warmup_left
        return f"lr {trainer.decayed_lr:.2g} after warm-up ({done}/{trainer.warmup})"
    return f"lr now {trainer.step_size:.2g}"


def _status(run, view, pg: Playground) -> str:
    m = run.metrics
    sps = m.get("steps_per_s")
    live = run.rate.per_s() if pg.playing else None
    lip = view.lip
    if live is not None:  # the counter's own pace, redraws included; the trainer's alone beside it
        own = run.rate.trainer_per_s()
        speed = f"{live:,.0f} steps/s" + (f" (trainer {own:,.0f})" if own else "")
    else:
        speed = f"{sps:,.0f} steps/s" if sps else "— steps/s"
    parts = [
        f"**step {run.step:,}**"
        + (f" (+{run.pretrained_steps:,} pre-trained)" if run.pretrained_steps else ""),
        speed,
        *(
            [_step_size(run.trainer)] if run.trainer.lr_decay is not None else []
        ),  # the decay at work
        ("Lip ≤ " + (f"{lip:.3f}" if np.isfinite(lip) else "n/a"))
        if run.model == "iresnet"
        else "Lip n/a (Glow)",
        f"{run.parameters:,} parameters",
    ]
    compile_state = run.trainer.compile_state
    if getattr(run.trainer, "native", False):
        parts.append(
            "C kernel step ✓"
            if run.cfg.logdet == "exact"
            else "C kernel step (exact log-det only: torch now)"
        )
    elif compile_state is not None:
        parts.append(
            _COMPILE_STATUS[compile_state]
            if compile_state != "compiled" or run.cfg.logdet == "exact"
            else "compiled step (exact log-det only: uncompiled now)"
        )
    if run.skipped:
        parts.append(f":orange[{run.skipped:,} non-finite steps skipped]")
    tb = truncation_bound(run.cfg)
    if tb is not None:
        parts.append(f"series truncation ≤ {tb:.3f} nats/block")
    if run.model == "iresnet":
        inv = (
            "inverse ✗ diverged"
            if view.inverse_diverged
            else f"inverse {'✓' if view.inverse_converged else '≈'} {view.inverse_iterations} it"
        )
        parts.append(inv)
    return " · ".join(parts)


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
        with ic.torch_threads(TRAIN_THREADS):
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
    # the i-ResNet's does) then pushes no chart below its neighbour's.
    for run, col in zip(runs, st.columns(len(runs))):
        view = run.view  # computed (once) by playground_charts_of above
        with col:
            st.markdown(
                f"### {MODEL_LABELS[run.model]}"
                + {"pre-trained": " · *pre-trained*", "uploaded": " · *from your checkpoint*"}.get(
                    run.origin, " · *from scratch*"
                )
            )
            st.caption(_status(run, view, pg))
            test = run.metrics.get("test_nll")
            if test is None and run.history.get("test_nll"):
                test = run.history["test_nll"][-1]
            st.markdown(gap_text(test, pg.entropy))
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
    if pg.playing and not _in_timed_tick():
        time.sleep(
            FLUSH_S
        )  # let the server send this run's charts before the first tick (see FLUSH_S)


def _in_timed_tick() -> bool:
    """Whether this run is the fragment's own (a timed tick) rather than the whole page's."""
    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)


def render() -> None:
    """Draw the Playground page (call from the ``st.Page``)."""
    presentation = is_presentation()
    settings, upload, slot = _sidebar(presentation)
    pg = _pg(settings)
    if slot is not None:
        err = handle_upload(pg, *upload) if upload else None
        if err:
            slot.error(err)
        elif pg.user_points is None:
            slot.info(
                "Upload a CSV of 2D points (two numeric columns, optional header). "
                "Until then the previous data stay."
            )
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
    latest: dict[str, str] = {}  # one note per subject: fast slider drags make several resets
    for n in notes:
        latest[n.split(" ")[0]] = n
    notes_box = st.container()
    for n in latest.values():
        notes_box.info(n, icon=":material/restart_alt:")
    _transport(pg)
    st.html(_NO_STALE_CSS)
    run_every = TICK_S if pg.playing else None
    st.fragment(_live, run_every=run_every)()
    pg.notes_shown(notes, noted)  # only a run that got here has shown them
