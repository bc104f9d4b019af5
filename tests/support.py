"""Shared test helpers: the repository's root and the Streamlit entry point, and a weight
scrambler."""

from __future__ import annotations

import math
from pathlib import Path

import torch

#: the repository's root
ROOT = Path(__file__).resolve().parent.parent
#: the app's entry point, for AppTest
APP = str(ROOT / "streamlit_app.py")


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
