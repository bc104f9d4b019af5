"""iresnet_core: invertible residual networks (Behrmann et al., ICML 2019) and Glow on toy 2D data.

The science of the i-ResNet Playground: torch and numpy only, no plotting, no Streamlit.
Subpackages
by concept, each depending only on those listed before it:

* :mod:`~iresnet_core.ops` — the mathematics: 1-Lipschitz activations, spectral normalisation, the
  residual MLP with its Jacobian, the log-determinant estimators, the fixed-point iteration;
* :mod:`~iresnet_core.flows` — the layers (residual block, ActNorm, LU linear map, affine
  coupling),
  the :class:`Flow` and the two models, :func:`build_flow`;
* :mod:`~iresnet_core.kernels` — the C engine, built with the machine's compiler on first use;
* :mod:`~iresnet_core.training` — the :class:`Trainer`, the running average of the weights;
* :mod:`~iresnet_core.datasets`, :mod:`~iresnet_core.analysis`, :mod:`~iresnet_core.classify` —
  toy data, plain-array views for the pages, the classifier of the paper's Table 1.

Example:
    >>> import iresnet_core as ic
    >>> cfg = ic.FlowConfig(model="iresnet", n_blocks=8, hidden=(128, 128), coeff=0.9)
    >>> flow = ic.build_flow(cfg)
    >>> data = ic.datasets.sample("8gaussians", 2000, seed=0)
    >>> metrics = ic.Trainer(flow, data).step(10)
    >>> metrics["step"]
    10
"""

from iresnet_core import analysis, datasets, kernels
from iresnet_core.checkpoint import load, load_bytes, save
from iresnet_core.config import (
    ACTIVATIONS,
    LOGDET_MODES,
    MODELS,
    PROBES,
    SPECTRAL_MODES,
    FlowConfig,
)
from iresnet_core.flows.build import build_flow, count_parameters
from iresnet_core.flows.flow import ESTIMATOR_FIELDS, Flow
from iresnet_core.flows.glow import match_glow
from iresnet_core.flows.layers import BlockInverseInfo, InverseInfo
from iresnet_core.ops import logdet
from iresnet_core.training.trainer import (
    AVERAGE_DECAY,
    DEFAULT_LR,
    DEFAULT_LR_DECAY,
    LR_DECAY,
    MODEL_DEFAULT,
    RESUME_WARMUP,
    Trainer,
)

__all__ = [
    "ACTIVATIONS",
    "LOGDET_MODES",
    "MODELS",
    "PROBES",
    "SPECTRAL_MODES",
    "FlowConfig",
    "Flow",
    "ESTIMATOR_FIELDS",
    "BlockInverseInfo",
    "InverseInfo",
    "Trainer",
    "AVERAGE_DECAY",
    "RESUME_WARMUP",
    "LR_DECAY",
    "DEFAULT_LR",
    "DEFAULT_LR_DECAY",
    "MODEL_DEFAULT",
    "build_flow",
    "count_parameters",
    "match_glow",
    "save",
    "load",
    "load_bytes",
    "analysis",
    "datasets",
    "logdet",
    "kernels",
]
