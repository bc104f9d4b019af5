"""The invertible models: layers with a log-determinant, stacked into a flow.

A flow maps data ``x`` to a standard normal ``z = F(x)`` and scores it by the change of variables,
``log p(x) = log N(F(x); 0, I) + log |det J_F(x)|`` (Behrmann et al. 2019, eq. 1). Each concept
lives in one module:

* :mod:`~iresnet_core.flows.layers` — the protocol every layer follows (``x -> (y, logdet)``,
  ``inverse(y) -> (x, info)``) and what an iterative inverse reports;
* :mod:`~iresnet_core.flows.iresnet` — the invertible residual block ``x + g(x)`` with
  ``Lip(g) < 1`` (Sec. 2-3) and the i-ResNet built of them;
* :mod:`~iresnet_core.flows.glow` — Glow's LU linear map and affine coupling (Kingma & Dhariwal
  2018), :mod:`~iresnet_core.flows.actnorm` — ActNorm, which both models use;
* :mod:`~iresnet_core.flows.flow` — :class:`~iresnet_core.flows.flow.Flow`, the stack;
  :mod:`~iresnet_core.flows.build` — :func:`~iresnet_core.flows.build.build_flow` from a config;
* :mod:`~iresnet_core.flows.engine` — where a faster engine plugs in.

Example:
    >>> import torch
    >>> from iresnet_core.config import FlowConfig
    >>> from iresnet_core.flows.build import build_flow
    >>> flow = build_flow(FlowConfig(n_blocks=2, hidden=(16,))).eval()
    >>> [type(layer).__name__ for layer in flow.layers]
    ['InvertibleResidualBlock', 'ActNorm', 'InvertibleResidualBlock', 'ActNorm']
    >>> x = torch.randn(8, 2)
    >>> z, logdet = flow(x)
    >>> x_back, info = flow.inverse(z)
    >>> bool((x_back - x).abs().max() < 1e-5), info.converged
    (True, True)
"""
