"""iresnet_core: invertible residual networks (Behrmann et al., ICML 2019) and Glow on toy 2D data.

The science of the i-ResNet Playground: torch and numpy only, no plotting, no Streamlit; two small C
kernels (the density grid's and the fixed-point inverse's, :mod:`iresnet_core.native`) built where a
compiler is.

Example:
    >>> import iresnet_core as ic
    >>> cfg = ic.FlowConfig(model="iresnet", n_blocks=8, hidden=(128, 128), coeff=0.9)
    >>> flow = ic.build_flow(cfg)
    >>> data = ic.datasets.sample("8gaussians", 2000, seed=0)
    >>> trainer = ic.Trainer(flow, data, lr=1e-3, batch_size=500, seed=0)
    >>> metrics = trainer.step(10)
"""

from . import analysis, datasets, logdet, native
from .allocator import keep_freed_memory
from .checkpoint import load, load_bytes, save
from .compiled_nll import compiler_missing, not_compilable
from .config import ACTIVATIONS, LOGDET_MODES, MODELS, PROBES, SPECTRAL_MODES, FlowConfig
from .flow import ESTIMATOR_FIELDS, Flow
from .glow import match_glow
from .layers import BlockInverseInfo, InverseInfo
from .models import build_flow, count_parameters
from .threads import torch_threads
from .train import AVERAGE_DECAY, DEFAULT_LR, DEFAULT_LR_DECAY, LR_DECAY, RESUME_WARMUP, Trainer

__all__ = [
    "ACTIVATIONS", "LOGDET_MODES", "MODELS", "PROBES", "SPECTRAL_MODES",
    "FlowConfig", "Flow", "ESTIMATOR_FIELDS", "BlockInverseInfo", "InverseInfo", "Trainer", "AVERAGE_DECAY", "RESUME_WARMUP", "LR_DECAY", "DEFAULT_LR", "DEFAULT_LR_DECAY",
    "build_flow", "count_parameters", "match_glow", "save", "load", "load_bytes", "torch_threads", "keep_freed_memory",
    "not_compilable", "compiler_missing",
    "analysis", "datasets", "logdet", "native",
]
