"""Build a flow from its config, and count what it costs.

Example:
    >>> import iresnet_core as ic
    >>> flow = ic.build_flow(ic.FlowConfig(model="glow", n_blocks=4, hidden=(64, 64)))
    >>> ic.count_parameters(ic.FlowConfig(n_blocks=8)) > 0
    True
"""

from __future__ import annotations

import torch

from iresnet_core.config import FlowConfig
from iresnet_core.flows.flow import Flow

__all__ = ["build_flow", "count_parameters"]


def build_flow(cfg: FlowConfig) -> Flow:
    """A fresh flow for ``cfg``, initialised deterministically from ``cfg.seed``."""
    if not isinstance(cfg, FlowConfig):
        raise TypeError(f"build_flow needs a FlowConfig, got {type(cfg).__name__}")
    state = torch.random.get_rng_state()
    torch.manual_seed(cfg.seed)
    try:
        if cfg.model == "iresnet":
            from iresnet_core.flows.iresnet import build_iresnet

            return build_iresnet(cfg)
        from iresnet_core.flows.glow import build_glow

        return build_glow(cfg)
    finally:
        torch.random.set_rng_state(state)


def count_parameters(cfg: FlowConfig) -> int:
    """Trainable scalars of the flow ``cfg`` describes."""
    return build_flow(cfg).num_parameters()
