"""Shared test helpers: the repository's root and the Streamlit entry point, opening a page under
AppTest and checking it is clean, a weight scrambler, the shipped pre-trained flows and a fixed
set of blocks near their Lipschitz bound."""

from __future__ import annotations

import copy
import functools
import math
from pathlib import Path
from typing import Any

import torch

#: the repository's root
ROOT = Path(__file__).resolve().parent.parent
#: the app's entry point, for AppTest
APP = str(ROOT / "streamlit_app.py")


def open_app(script: str | Path = APP, timeout: float = 120, **query: Any) -> Any:
    """``script`` (the app by default) under Streamlit's AppTest, with ``query`` as its URL query
    parameters, after its first run (``timeout``: seconds each run may take)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(script), default_timeout=timeout)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def assert_clean(at: Any) -> None:
    """The page's last run raised nothing and shows no error box."""
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert not errors, errors


def scramble(module: torch.nn.Module, scale: float, seed: int = 0) -> torch.nn.Module:
    """Give every ``weight`` random entries of spectral size about ``scale`` (seeded), so that
    tests see a block far from its near-identity initialisation and the constraint at work."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("weight") and p.ndim == 2:
                p.copy_(
                    torch.randn(p.shape, generator=gen)
                    * scale
                    / (math.sqrt(p.shape[0]) + math.sqrt(p.shape[1]))
                )
    return module


@functools.cache
def _checkpoint(dataset: str) -> torch.nn.Module:
    """The shipped checkpoint, loaded once per process (callers get copies)."""
    import iresnet_core as ic

    return ic.load(ROOT / "assets" / "checkpoints" / dataset / "iresnet")


def near_bound_blocks() -> torch.nn.Module:
    """Six trained i-ResNet blocks (2-32-32-2, c = 0.9, each with its ActNorm; trained on moons)
    whose Jacobians reach their Lipschitz bound: a fixed test fixture in ``tests/data``, so the
    checks that need blocks near the bound keep their bite whatever the shipped checkpoints
    become (an untrained block's Lipschitz constant is about 1e-3, where every estimate is right
    within the tolerances)."""
    import iresnet_core as ic

    return ic.load(ROOT / "tests" / "data" / "moons_six_blocks").eval()


def trained_flow(dataset: str = "moons", n_blocks: int | None = None) -> torch.nn.Module:
    """The i-ResNet the app ships pre-trained on ``dataset`` (``assets/checkpoints``), in eval
    mode; with ``n_blocks`` only its first blocks (each with the ActNorm after it), a smaller flow
    whose blocks are as trained. Trained blocks sit near their Lipschitz bound, where a check of
    an inverse, a truncation or an estimator's bias has something to find (an untrained block's
    Lipschitz constant is about 1e-3: every estimate is right within the tolerances)."""
    import iresnet_core as ic

    full = copy.deepcopy(_checkpoint(dataset))
    if n_blocks is None:
        return full.eval()
    flow = ic.build_flow(full.cfg.replace(n_blocks=n_blocks))
    per_block = len(full.layers) // full.cfg.n_blocks  # the block, then its ActNorm
    flow.load_state_dict(
        {
            k: v
            for k, v in full.state_dict().items()
            if not k.startswith("layers.") or int(k.split(".")[1]) < per_block * n_blocks
        }
    )
    return flow.eval()
