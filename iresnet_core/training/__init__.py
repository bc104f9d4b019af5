"""Maximum-likelihood training of a flow, and what evaluation looks at.

* :mod:`~iresnet_core.training.trainer` — :class:`Trainer`: Adam on the exact (or estimated)
  negative log-likelihood, through the C engine where it takes the flow, each model's tuned
  defaults, non-finite steps discarded;
* :mod:`~iresnet_core.training.averaging` — the running average of the weights that evaluation
  and display use;
* :mod:`~iresnet_core.training.history` — bounded training curves;
* :mod:`~iresnet_core.training.threads` — torch's thread count for a block of work.

Example:
    >>> import iresnet_core as ic
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,)))
    >>> trainer = ic.Trainer(flow, ic.datasets.sample("moons", 500, seed=0))
    >>> trainer.step(3)["step"], trainer.history.columns[:2]
    (3, ('step', 'seconds'))
"""
