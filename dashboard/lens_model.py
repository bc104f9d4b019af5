"""Which i-ResNet the lens pages (inverse, log-determinant, Lipschitz) look at, per browser
session.

In order of preference: the Playground's i-ResNet when the person has one in this session
(``st.session_state["playground"]``, a :class:`dashboard.state.Playground`), else the pre-trained
checkpoint of the chosen dataset (``assets/checkpoints/<dataset>/iresnet/``, a copy of its own
from :func:`dashboard.checkpoints.load_pretrained`), else a fresh
``ic.build_flow(ic.FlowConfig())``. Every flow lives in this session's ``st.session_state``;
nothing model-like goes into a cache shared between sessions (the checkpoint's files are read once
per process, every session gets its own copy of the flow). What the pages
cache (``st.cache_data``) are plain arrays keyed by :func:`iresnet_core.analysis.frozen.param_key`,
the hash of the parameters, so two sessions only ever share results of identical numbers.

Example (without Streamlit: a plain dict stands in for ``st.session_state``)::

    >>> lm = get_model("fresh", "8gaussians", {})
    >>> lm.source, lm.fz.n_blocks == ic.FlowConfig().n_blocks
    ('fresh', True)
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import iresnet_core as ic
from dashboard.checkpoints import load_pretrained
from iresnet_core.analysis.frozen import FrozenFlow, freeze, param_key

__all__ = [
    "LensModel",
    "SOURCES",
    "SOURCE_LABELS",
    "PLAYGROUND_KEY",
    "checkpoint_datasets",
    "playground_run",
    "get_model",
    "model_picker",
]

PLAYGROUND_KEY = "playground"  #: ``dashboard.views.playground.STATE_KEY``
_STORE = "_lens_models"  #: this session's flows, by (source, dataset)
CHECKPOINTS = Path(__file__).resolve().parent.parent / "assets" / "checkpoints"
SOURCES = ("playground", "pretrained", "fresh")
SOURCE_LABELS = {
    "playground": "the Playground's i-ResNet",
    "pretrained": "pre-trained checkpoint",
    "fresh": "fresh (untrained)",
}
N_POINTS = 512  #: data points handed to the pages (they take what they need from the front)


@dataclass
class LensModel:
    """The model a lens page analyses, with its identity and its data.

    Attributes:
        flow: the i-ResNet (this session's object; the pages never train or modify it).
        fz: its raw weights frozen as float64 (see :func:`iresnet_core.analysis.frozen.freeze`).
        key: hash of the config and parameters: the cache key of everything computed from it.
        source: ``"playground"``, ``"pretrained"`` or ``"fresh"``; ``label`` says it in words.
        dataset, bounds, data: the toy set, its view box and up to 512 of its points.
    """

    flow: Any
    fz: FrozenFlow
    key: str
    source: str
    label: str
    dataset: str
    bounds: tuple[float, float, float, float]
    data: np.ndarray

    @property
    def cfg(self) -> ic.FlowConfig:
        return self.flow.cfg

    @property
    def coeff(self) -> float | None:
        return self.flow.cfg.coeff

    def points(self, n: int) -> np.ndarray:
        return self.data[:n]


def checkpoint_datasets(root: Path | None = None) -> list[str]:
    """Datasets with a pre-trained i-ResNet checkpoint."""
    root = root or CHECKPOINTS
    return [d for d in ic.datasets.NAMES if (root / d / "iresnet" / "model.safetensors").is_file()]


def playground_run(state: MutableMapping[str, Any]) -> Any | None:
    """The Playground's i-ResNet :class:`dashboard.state.ModelRun` in this session, if any."""
    pg = state.get(PLAYGROUND_KEY)
    runs = getattr(pg, "runs", None) or {}
    run = runs.get("iresnet")
    if run is None or getattr(run, "flow", None) is None or run.flow.cfg.model != "iresnet":
        return None
    return run


def _data(dataset: str) -> np.ndarray:
    # held-out points: another seed than the Playground's training data
    return np.asarray(ic.datasets.sample(dataset, N_POINTS, seed=20190), dtype=np.float32)


def get_model(source: str, dataset: str, state: MutableMapping[str, Any]) -> LensModel:
    """The model for ``source`` (falling back playground -> pretrained -> fresh), kept in
    ``state``."""
    store = state.setdefault(_STORE, {})
    if source == "playground":
        run = playground_run(state)
        if run is not None:
            pg = state[PLAYGROUND_KEY]
            flow = (
                run.shown
            )  # what the Playground draws: the averaged weights when averaging is on
            ident = (id(flow), int(run.step))
            hit = store.get("playground")
            if hit is None or hit[0] != ident:
                data = np.asarray(pg.data, dtype=np.float32)
                rng = np.random.default_rng(0)
                data = (
                    data[rng.permutation(len(data))[:N_POINTS]] if len(data) > N_POINTS else data
                )
                lm = LensModel(
                    flow,
                    freeze(flow),
                    param_key(flow),
                    "playground",
                    f"the Playground's i-ResNet, step {run.step:,} ({run.origin})",
                    pg.dataset,
                    tuple(float(b) for b in pg.bounds),
                    data,
                )
                store["playground"] = (ident, lm)
                hit = store["playground"]
            return hit[1]
        source = "pretrained"
    if source == "pretrained" and dataset not in checkpoint_datasets():
        source = "fresh"
    if dataset not in ic.datasets.NAMES:
        dataset = ic.datasets.NAMES[0]
    k = (source, dataset)
    if k not in store:
        if source == "pretrained":
            flow = load_pretrained(CHECKPOINTS / dataset / "iresnet")
            label = f"the pre-trained i-ResNet for {dataset}"
        else:
            flow = ic.build_flow(ic.FlowConfig())
            label = "a fresh, untrained i-ResNet (default config)"
        flow.eval()
        store[k] = LensModel(
            flow,
            freeze(flow),
            param_key(flow),
            source,
            label,
            dataset,
            tuple(float(b) for b in ic.datasets.bounds(dataset)),
            _data(dataset),
        )
    return store[k]


def model_picker() -> LensModel:
    """Sidebar: which model (bound to ``?model=``) and, for checkpoints and fresh models, which
    dataset (``?data=``); both shared by the three lens pages. Returns the model."""
    import streamlit as st

    from .controls import URL

    have_pg = playground_run(st.session_state) is not None
    options = list(SOURCES) if have_pg else ["pretrained", "fresh"]
    sb = st.sidebar
    sb.header("Model")
    source = sb.radio(
        "Look at",
        options,
        key="model",
        bind=URL,
        persist_state="session",
        format_func=lambda s: SOURCE_LABELS[s],
        help="The Playground's model when you trained one in this session; otherwise a "
        "pre-trained checkpoint or a fresh initialisation.",
    )
    dataset = None
    if source != "playground":
        names = list(ic.datasets.NAMES)
        have = checkpoint_datasets()
        dataset = sb.selectbox(
            "Dataset",
            names,
            key="data",
            bind=URL,
            persist_state="session",
            index=names.index(have[0]) if have else 0,
            format_func=lambda d: (
                d + ("" if d in have or source == "fresh" else " (no checkpoint: fresh)")
            ),
        )
    return get_model(source, dataset or ic.datasets.NAMES[0], st.session_state)
