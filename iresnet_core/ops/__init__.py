"""The mathematics of one residual block, on plain tensors: no layers, no flows.

* :mod:`~iresnet_core.ops.spectral` — spectral normalisation with a coefficient ``c`` (Behrmann
  et al. 2019, Sec. 2-3, Algorithm 1's ``W / max(1, sigma / c)``);
* :mod:`~iresnet_core.ops.activations` — 1-Lipschitz activations with a continuous derivative;
* :mod:`~iresnet_core.ops.mlp` — the residual MLP ``g`` and its Jacobian in one pass;
* :mod:`~iresnet_core.ops.logdet` — ``ln det(I + J_g)``: exact, the power series (eq. 5-7,
  Theorem 3's bound) and Russian roulette (Chen et al. 2019);
* :mod:`~iresnet_core.ops.fixed_point` — the inverse ``x_{n+1} = y - g(x_n)`` (Algorithm 1) and
  Banach's bound on its error;
* :mod:`~iresnet_core.ops.affine` — ActNorm's affine map and its backward.

Example:
    >>> import torch
    >>> from iresnet_core.ops.fixed_point import fixed_point
    >>> from iresnet_core.ops.logdet import exact_logdet, series_logdet, truncation_bound
    >>> J = torch.tensor([[[0.5, 0.0], [0.0, -0.5]]], dtype=torch.float64)  # Lip(g) = 0.5
    >>> round(exact_logdet(J).item(), 4), round(series_logdet(J, 3).item(), 4)
    (-0.2877, -0.25)
    >>> round(truncation_bound(0.5, 3), 4)  # Theorem 3: at most this far from the exact value
    0.053
    >>> y = torch.ones(1, dtype=torch.float64)
    >>> run = fixed_point(lambda x: 0.5 * torch.tanh(x), y, max_iter=60, tol=1e-12)
    >>> run.converged, round(float(run.x + 0.5 * torch.tanh(run.x)), 6)  # x + g(x) = y
    (True, 1.0)
"""
