"""Per-session training state of the Playground: data, one run per model, cached views.

No Streamlit import: the page keeps one :class:`Playground` in ``st.session_state`` (one per
browser session, never shared through a cache) and drives it; tests drive it directly.

* :class:`~dashboard.settings.Settings` (re-exported here) is plain data, one field per sidebar
  control (the field names are the URL query parameters).
* :meth:`Playground.apply` compares new settings with the current ones: the learning rate applies
  live; a change of a model's architecture rebuilds that model, a change of data rebuilds both,
  and each rebuild leaves a note saying so.
* :meth:`Playground.tick` trains every shown model for a time budget (TensorFlow Playground's
  "Play"); :meth:`Playground.view` computes the density grid and the samples once per model step.

Example:
    >>> pg = Playground(Settings(models="iresnet", blocks=2, width=16))
    >>> pg.step(3)["iresnet"]["step"]
    3
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

import iresnet_core as ic
from dashboard.changes import LIVE, Note, live_note
from dashboard.checkpoints import (
    CHECKPOINT_DIR,
    checkpoint_dir,
    checkpoint_matches,
    checkpoint_metrics,
    checkpoint_zip,
    load_pretrained,
    read_checkpoint_files,
    shifted_history,
)
from dashboard.model_run import ModelRun
from dashboard.settings import (
    CUSTOM,
    MAX_BAD_STEPS,
    MODEL_CHOICES,
    SPEEDS,
    Settings,
    dataset_bounds,
    dataset_entropy,
    dataset_label,
    describe,
    truncation_bound,
    what_changed,
)
from dashboard.view import View, shared_view
from iresnet_core.checkpoint import parse_config
from iresnet_core.datasets.scaling import IDENTITY, TOY_SPREAD

__all__ = [
    "Settings",
    "ModelRun",
    "View",
    "Playground",
    "CUSTOM",
    "MODEL_CHOICES",
    "SPEEDS",
    "CHECKPOINT_DIR",
    "MAX_WARNINGS",
    "checkpoint_dir",
    "dataset_bounds",
    "dataset_entropy",
    "dataset_label",
    "describe",
    "truncation_bound",
    "MAX_BAD_STEPS",
    "AVERAGE_STEPS",
    "N_DATA",
    "UNKNOWN_TRAINED_STEPS",
]

#: points drawn from a toy set, a fifth held out (as ``python -m iresnet_core train`` draws them):
#: with the decaying step size fewer points overfit (see docs/benchmarks.md)
N_DATA = 20000
#: a checkpoint that does not say how long it was trained carries on at ``lr / 3``, the step size
#: after this many steps of the decay (``ic.LR_DECAY``)
UNKNOWN_TRAINED_STEPS = 8 * ic.LR_DECAY
EVAL_EVERY_S = 1.0  #: the exact train/test NLL is refreshed at most this often while playing
AVERAGE_STEPS = round(1 / (1 - ic.AVERAGE_DECAY))  #: the running average's memory, in steps
MAX_WARNINGS = (
    6  #: warnings kept on screen (a long session with many pauses must not pile them up)
)


class Playground:
    """The state behind one browser session's Playground page.

    Args:
        settings: the initial controls.
        checkpoint_root: where pre-trained checkpoints live (``assets/checkpoints``).
    """

    def __init__(
        self, settings: Settings | None = None, checkpoint_root: Path | None = None
    ) -> None:
        self.settings = settings or Settings()
        self.checkpoint_root = checkpoint_root or CHECKPOINT_DIR
        self.user_points: np.ndarray | None = None
        self.user_name: str | None = None
        self.playing = False
        self.notes: list[Note] = []  # one-shot messages: resets, loaded checkpoints
        # the settings when the notes were last shown: fast slider drags (several reruns, some cut
        # short before they draw) say "c 0.9 → 0.85", not only the last of the small moves
        self._noted = self.settings
        self.warnings: list[str] = []  # divergence, skipped steps (cleared on reset)
        self.runs: dict[str, ModelRun] = {}
        self.data_key: tuple = ()
        self.data = np.zeros((0, 2), np.float32)
        #: own points train standardised, toy sets as they are (iresnet_core.datasets.Scaling)
        self.scaling: ic.datasets.Scaling = IDENTITY
        self.train_data = self.data
        self.upload_digest: str | None = (
            None  # sha1 of the last accepted upload (reruns resend it)
        )
        self._bounds: tuple[tuple, tuple[float, float, float, float]] | None = None
        # Held while training or snapshotting a model: a deferred download runs in a server thread
        # while the script thread trains, and must not read half-updated weights.
        self.lock = threading.RLock()
        self._load_data(self.settings)
        for model in self.settings.shown():
            self.runs[model] = self._build(model, self.settings)

    # ------------------------------------------------------------------ data
    def _data_key(self, s: Settings) -> tuple:
        if s.dataset == CUSTOM:
            return (CUSTOM, self.user_name, id(self.user_points))
        return (s.dataset, s.seed)

    def _load_data(self, s: Settings) -> None:
        if s.dataset == CUSTOM:
            if self.user_points is None:
                raise ValueError("no points uploaded yet")
            self.data = self.user_points
            self.scaling = ic.datasets.Scaling.fit(self.data, spread=TOY_SPREAD)
        else:
            self.data = np.asarray(
                ic.datasets.sample(s.dataset, N_DATA, seed=int(s.seed)), dtype=np.float32
            )
            self.scaling = IDENTITY
        self.train_data = (
            self.data if self.scaling.is_identity else self.scaling.transform(self.data)
        )
        self.data_key = self._data_key(s)

    @property
    def dataset(self) -> str:
        return self.data_key[0] if self.data_key else self.settings.dataset

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        # cached per data set: up to a million uploaded points must not be scanned every redraw
        if self._bounds is None or self._bounds[0] != self.data_key:
            self._bounds = (self.data_key, dataset_bounds(self.dataset, self.data))
        return self._bounds[1]

    @property
    def entropy(self) -> float | None:
        return dataset_entropy(self.dataset)

    def upload(self, content: bytes | str, name: str = "points.csv") -> str | None:
        """Take an uploaded CSV as "your own points". Returns an error message, or ``None`` on
        success.

        On error nothing changes: the previous data and models stay as they were.
        """
        try:
            pts = np.asarray(ic.datasets.load_csv(content), dtype=np.float32)
        except ValueError as e:
            return f"{name}: {e}"
        except Exception as e:  # a parser bug must not take the page down
            return f"{name}: could not read the file ({type(e).__name__}: {e})"
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 10 or not np.isfinite(pts).all():
            return f"{name}: expected at least 10 finite 2D points, got shape {tuple(pts.shape)}"
        self.user_points, self.user_name = pts, name
        self.upload_digest = digest(content)
        return None

    # ---------------------------------------------------------------- models
    def _build(self, model: str, s: Settings, *, scratch: bool = False) -> ModelRun:
        cfg = s.flow_config(model)
        directory = checkpoint_dir(self.dataset, model, self.checkpoint_root)
        flow, origin, pre_steps, pre_hist = None, "scratch", 0, {}
        if (
            s.pretrained
            and not scratch
            and self.dataset != CUSTOM
            and checkpoint_matches(directory, cfg)
        ):
            try:
                flow = load_pretrained(directory)  # read once per process, copied
                origin = "pre-trained"
                m = checkpoint_metrics(directory)
                pre_steps = int(m.get("steps", m.get("step", 0)) or 0)
                pre_hist = shifted_history(m.get("history"), pre_steps)
            except Exception as e:  # a broken checkpoint: say so and start fresh
                text = f"Could not load the {model} checkpoint ({e}); starting from scratch."
                self.notes.append(Note("checkpoint", text, model))
                flow = None
        if flow is None:
            flow = ic.build_flow(cfg)
        trainer = self._trainer(
            flow, s, trained=origin == "pre-trained", trained_steps=pre_steps or None
        )
        run = ModelRun(
            model=model,
            cfg=cfg,
            flow=flow,
            trainer=trainer,
            origin=origin,
            pretrained_steps=pre_steps,
            pre_history=pre_hist,
            scaling=self.scaling,
        )
        saved = checkpoint_metrics(directory) if origin == "pre-trained" else {}
        if isinstance(
            saved.get("test_nll"), (int, float)
        ):  # the checkpoint says: no need to evaluate
            run.metrics = {
                "train_nll": saved.get("train_nll"),
                "test_nll": float(saved["test_nll"]),
            }
        else:
            run.evaluate()  # the NLL at step 0, so "NLL - entropy" shows before any training
        return run

    def _trainer(
        self, flow: Any, s: Settings, *, trained: bool, trained_steps: int | None = None
    ) -> Any:
        """A trainer for ``flow``. One that starts from ``trained`` weights (a checkpoint) ramps
        its step size up, so that Play does not throw the model off its optimum, and carries on
        with the decay where ``trained_steps`` of training left it (:data:`UNKNOWN_TRAINED_STEPS`
        when the checkpoint does not say)."""
        decay_from = (
            0
            if not trained
            else UNKNOWN_TRAINED_STEPS
            if trained_steps is None
            else max(0, int(trained_steps))
        )
        return ic.Trainer(
            flow,
            self.train_data,
            lr=s.lr_for(flow.cfg.model),
            batch_size=int(s.batch),
            seed=int(s.seed),
            eval_every_s=EVAL_EVERY_S,
            max_bad_steps=max(1, int(s.max_bad)),
            average=s.average_decay(),
            warmup=ic.RESUME_WARMUP if trained else 0,
            lr_decay=s.lr_decay_for(flow.cfg.model),
            decay_from=decay_from,
            native=s.native,
        )

    def apply(self, s: Settings) -> list[Note]:
        """Move to new settings. Returns the notes explaining any reset (also kept in
        ``self.notes``)."""
        with self.lock:
            return self._apply(s)

    def pending_notes(self) -> tuple[list[Note], Settings]:
        """The notes not yet shown, and the settings they bring the person up to. The page shows
        them and calls :meth:`notes_shown` when its run has reached the end: a run cut short by a
        newer one (a fast slider drag) leaves them pending, so the next run's note still says what
        changed since the person last saw one ("c 0.9 → 0.85", not "c 0.88 → 0.85")."""
        return list(self.notes), self.settings

    def notes_shown(self, notes: list[Note], settings: Settings) -> None:
        """``notes`` and ``settings`` from :meth:`pending_notes` are on screen: drop those notes
        (newer ones stay) and describe later resets from ``settings``."""
        with self.lock:
            if self.notes[: len(notes)] == notes:
                self.notes = self.notes[len(notes) :]
            self._noted = settings

    def _apply(self, s: Settings) -> list[Note]:
        old, notes = self.settings, []
        since = self._noted  # the settings the person last saw described
        # "your own points" without an upload keeps the old data until points arrive
        data_changed = (
            not (s.dataset == CUSTOM and self.user_points is None)
            and self._data_key(s) != self.data_key
        )
        if data_changed:
            self._load_data(s)
            what = (
                dataset_label(s.dataset)
                if s.dataset != CUSTOM
                else f"your points ({self.user_name})"
            )
            notes.append(Note("data", f"Data changed to {what}: models reset to step 0."))
            self.runs.clear()
            self.warnings.clear()
        for model in [m for m in self.runs if m in s.shown()]:
            run = self.runs[model]
            new_cfg = s.flow_config(model)
            # An uploaded model is not what the sidebar describes: only a change of the controls
            # (not the difference between them and the upload) replaces it.
            base = old.flow_config(model) if run.source is not None else run.cfg
            estimator = {f: getattr(new_cfg, f) for f in ic.ESTIMATOR_FIELDS}
            same_arch = new_cfg == base.replace(**estimator) and s.pretrained == old.pretrained
            if new_cfg != base and same_arch:  # the estimator is not the architecture: no reset
                run.flow.set_estimator(**estimator)
                run.cfg = new_cfg if run.source is None else run.cfg.replace(**estimator)
                if model == "iresnet":  # Glow's log-det is exact whatever the estimator says
                    text = (
                        "i-ResNet trains on with the new estimator "
                        f"({what_changed(since, old, s)}); no reset."
                    )
                    notes.append(Note("estimator", text, model))
            elif not same_arch:
                reason = what_changed(since, old, s)
                self.runs[model] = self._build(model, s)
                if not data_changed:
                    text = f"{_label(model)} reset to step 0 ({reason})."
                    notes.append(Note("reset", text, model))
        for model in s.shown():
            if model not in self.runs:
                self.runs[model] = self._build(model, s)
        for key in [f for f in LIVE if getattr(s, f) != getattr(old, f)]:  # the live settings
            for run in self.runs.values():
                LIVE[key](run, s)
                self.resume(run)  # after a divergence pause, a new setting is worth a try
            note = live_note(key, s, self.shown_runs, AVERAGE_STEPS)
            if note is not None:
                notes.append(note)
        self.settings = s
        self.notes.extend(notes)
        return notes

    def reset(self, *, scratch: bool = False) -> None:
        """Rebuild every shown model (from the checkpoint when pre-trained is on, unless
        ``scratch``; an uploaded checkpoint returns to its uploaded weights)."""
        with self.lock:
            runs = {}
            for m in self.settings.shown():
                old = self.runs.get(m)
                if old is not None and old.source is not None and not scratch:
                    runs[m] = self._run_from_bytes(*old.source)
                else:
                    runs[m] = self._build(m, self.settings, scratch=scratch)
            self.runs = runs
            self.warnings.clear()
            self.playing = False

    def resume(self, run: ModelRun | None = None) -> None:
        """Clear a trainer's self-imposed pause (after divergence) so Play can continue."""
        for r in [run] if run is not None else self.shown_runs:
            if getattr(r.trainer, "paused_reason", None) and hasattr(r.trainer, "resume"):
                r.trainer.resume()
        self.warnings = [w for w in self.warnings if "paused" not in w]

    @property
    def shown_runs(self) -> list[ModelRun]:
        return [self.runs[m] for m in self.settings.shown() if m in self.runs]

    # -------------------------------------------------------------- training
    def _after(self, run: ModelRun, m: dict[str, Any]) -> None:
        run.metrics = dict(m)
        label = "Glow" if run.model == "glow" else "i-ResNet"
        reason = getattr(run.trainer, "paused_reason", None)
        if reason:
            self.playing = False
            self._warn(f"{label}, step {run.step}: {reason}", f"{label}, step ")
        elif m.get("skipped"):
            why = m.get("skip_reason") or "non-finite loss or gradient"
            total = m.get("skipped_total", run.skipped)
            msg = (
                f"{label}: skipped {m.get('skipped')} non-finite step(s) in the last burst "
                f"({why}); "
                f"{total} in all, the last good parameters were kept."
            )
            self._warn(msg, f"{label}: skipped")

    def _warn(self, msg: str, replaces: str | None = None) -> None:
        """Show ``msg`` once, replacing older warnings that start with ``replaces``; keep the
        newest :data:`MAX_WARNINGS` (a long session with many pauses must not pile them up)."""
        kept = [w for w in self.warnings if w != msg and not (replaces and w.startswith(replaces))]
        self.warnings = (kept + [msg])[-MAX_WARNINGS:]

    def step(self, k: int = 1) -> dict[str, dict[str, Any]]:
        """``k`` optimiser steps for every shown model; returns each model's metrics."""
        with self.lock:
            return self._step(k)

    def _step(self, k: int) -> dict[str, dict[str, Any]]:
        out = {}
        for run in self.shown_runs:
            if getattr(run.trainer, "paused_reason", None):
                continue
            out[run.model] = self._guarded(run, lambda run=run: run.trainer.step(int(k)))
        return out

    def tick(self, budget_s: float | None = None) -> dict[str, dict[str, Any]]:
        """One Play tick: each shown model trains for the speed's time budget (one step in slow
        motion). With both models shown and the budget "equal steps" (the default), both advance
        the same number of steps, as many as the two together fit into their joint budget at
        their measured paces (the slower one sets the pace); with "equal time", each trains for
        the budget on its own."""
        budget = SPEEDS.get(self.settings.speed, 0.25) if budget_s is None else budget_s
        with self.lock:
            if budget <= 0:
                out = self._step(1)
            elif self.budget_in_time or len(self.shown_runs) < 2:
                out = self._burst(float(budget))
            else:
                out = self._step(self._equal_steps(float(budget)))
        now = time.perf_counter()
        for run in self.shown_runs:
            run.rate.add(now, run.step, float(getattr(run.trainer, "wall_time", 0.0)))
        return out

    @property
    def budget_in_time(self) -> bool:
        """Whether the shown models get equal training time rather than equal steps."""
        return self.settings.budget == "equal time" and len(self.shown_runs) > 1

    def _equal_steps(self, budget: float) -> int:
        """The steps each model takes this tick under "equal steps": the models' joint budget
        (``budget`` each) over the sum of their seconds per step in their last bursts (1 step
        before every model has one)."""
        per_step = 0.0
        for run in self.shown_runs:
            rate = run.metrics.get("steps_per_s")
            if not rate or not rate > 0:
                return 1
            per_step += 1.0 / rate
        return max(1, int(budget * len(self.shown_runs) / per_step))

    def _burst(self, budget: float) -> dict[str, dict[str, Any]]:
        out = {}
        for run in self.shown_runs:
            if getattr(run.trainer, "paused_reason", None):
                continue
            out[run.model] = self._guarded(run, lambda run=run: run.trainer.run_for(budget))
        return out

    def _guarded(self, run: ModelRun, fn) -> dict[str, Any]:
        try:
            m = fn()
        except Exception as e:  # never a traceback on the page: pause and say what happened
            self.playing = False
            label = "Glow" if run.model == "glow" else "i-ResNet"
            self._warn(
                f"{label} stopped at step {run.step}: {type(e).__name__}: {e}", f"{label} stopped"
            )
            return {}
        m = run.own_units(m)  # NLLs of own points in their units
        self._after(run, m)
        return m

    # ----------------------------------------------------------- checkpoints
    def load_checkpoint(self, files: list[tuple[str, bytes]]) -> str | None:
        """Load a person's checkpoint: ``model.safetensors`` + ``config.json`` (or the ZIP that
        :meth:`checkpoint_zip` writes). Returns an error message, or ``None`` on success.

        Only safetensors weights and a JSON config that the core accepts are read
        (:func:`iresnet_core.load_bytes`: no pickles, matching names and shapes, finite weights,
        c < 1 for an i-ResNet). On error nothing changes. The loaded model replaces the shown
        model of its kind (i-ResNet or Glow) and trains on the current data from its weights.
        """
        try:
            weights, config, name = read_checkpoint_files(files)
            run = self._run_from_bytes(weights, config, name)
        except ValueError as e:
            return f"Checkpoint refused: {e}"
        except Exception as e:  # a bug in a reader must not take the page down
            return f"Checkpoint refused: could not read it ({type(e).__name__}: {e})"
        with self.lock:
            self.runs[run.model] = run
            self.warnings = [w for w in self.warnings if not w.startswith(_label(run.model))]
        shown = (
            ""
            if run.model in self.settings.shown()
            else (f" It is hidden while 'Show' is not {_label(run.model)} or Both.")
        )
        text = (
            f"Loaded {_label(run.model)} from {name}: {describe(run.cfg)}; it trains on from "
            "these weights. Moving an architecture control replaces it." + shown
        )
        self.notes.append(Note("checkpoint", text, run.model))
        return None

    def _run_from_bytes(self, weights: bytes, config: bytes, name: str) -> ModelRun:
        cfg = parse_config(config)
        if cfg.dim != 2:
            raise ValueError(
                f"the config is for {cfg.dim}-dimensional data; the Playground's points are 2D"
            )
        flow = ic.load_bytes(weights, config)  # refuses oversized configs before building anything
        trainer = self._trainer(flow, self.settings, trained=True)
        run = ModelRun(
            model=flow.cfg.model,
            cfg=flow.cfg,
            flow=flow,
            trainer=trainer,
            origin="uploaded",
            source=(bytes(weights), bytes(config), name),
            scaling=self.scaling,
        )
        run.evaluate()
        return run

    def checkpoint_zip(self, model: str) -> bytes:
        """The weights on screen of ``model`` (:attr:`ModelRun.shown`: the running average when
        averaging is on) as a ZIP of ``model.safetensors`` + ``config.json``, written by
        :func:`iresnet_core.save` (the files :meth:`load_checkpoint` reads back)."""
        with self.lock:  # not while a burst updates the weights (downloads run in a server thread)
            return checkpoint_zip(self.runs[model].shown)

    # ----------------------------------------------------------------- views
    def view(self, run: ModelRun, max_age_s: float | None = None) -> View:
        """The density grid and samples of ``run`` at its current step (computed once per step).

        With ``max_age_s`` a view of an older step of the same model is reused while younger than
        that: during Play the density redraws every so often, not every tick (GAN Lab's rule).
        """
        s = self.settings
        key = (run.step, id(run.shown), self.bounds, int(s.grid), int(s.n_samples))
        if run.view is not None and run.view.key == key:
            return run.view
        if (
            max_age_s is not None
            and run.view is not None
            and run.view.key[1:] == key[1:]
            and time.perf_counter() - run.view.made_at < max_age_s
        ):
            return run.view
        run.view = shared_view(  # a step-0 view once per process, the others computed
            run.shown, run.step, self.bounds, int(s.grid), int(s.n_samples), key, run.scaling
        )
        return run.view

    def views(self, max_age_s: float | None = None) -> list[View]:
        """:meth:`view` of every shown model. With ``max_age_s`` (Play) at most one view that is
        there already is recomputed per call, the oldest of those older than ``max_age_s``: the
        models' redraws take turns, so one tick computes, and the browser redraws, one model's
        density and samples rather than both at once."""
        runs = self.shown_runs
        if max_age_s is None:
            return [self.view(r) for r in runs]
        now = time.perf_counter()
        turn = max(runs, key=lambda r: now - r.view.made_at if r.view is not None else math.inf)
        return [self.view(r, max_age_s if r is turn else math.inf) for r in runs]

    def config_json(self) -> dict[str, Any]:
        """Everything needed to reproduce the screen: settings, data, each model's config and
        metrics."""
        return {
            "settings": self.settings.to_dict(),
            "dataset": self.dataset,
            "data_points": int(len(self.data)),
            "entropy": self.entropy,
            "models": {
                r.model: {
                    "config": r.cfg.to_dict(),
                    "step": r.step,
                    "origin": r.origin,
                    "pretrained_steps": r.pretrained_steps,
                    "parameters": r.parameters,
                    "metrics": {k: _jsonable(v) for k, v in r.metrics.items()},
                }
                for r in self.shown_runs
            },
        }


def _label(model: str) -> str:
    return "Glow" if model == "glow" else "i-ResNet"


def digest(content: bytes | str) -> str:
    """A short fingerprint of an upload (reruns resend the same file; it is read once)."""
    raw = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else bytes(content)
    return hashlib.sha1(raw).hexdigest()


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.floating, float)):
        return float(v) if math.isfinite(float(v)) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (str, int, bool)) or v is None:
        return v
    return str(v)
