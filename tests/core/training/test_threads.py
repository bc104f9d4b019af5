"""``torch_threads``: the thread count for a block of work, restored, and the same numbers."""

from __future__ import annotations

import pytest
import torch

import iresnet_core as ic
from iresnet_core.training.threads import torch_threads


def test_restored_after_an_error_and_bad_counts_refused():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="inside"):
        with torch_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="at least one thread"):
        with torch_threads(0):
            pass
    assert torch.get_num_threads() == before


def test_one_thread_trains_the_same_model():
    """The Playground's bursts run on one thread: same steps, same losses as on two (to
    rounding)."""
    data = ic.datasets.sample("8gaussians", 600, seed=0)
    losses, params = [], []
    for n in (1, 2):
        flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(32, 32), seed=3))
        start = torch.cat([p.detach().flatten() for p in flow.parameters()])
        trainer = ic.Trainer(flow, data, lr=1e-2, batch_size=200, seed=0)
        with torch_threads(n):
            losses.append([trainer.step(1)["loss"] for _ in range(5)])
        params.append(torch.cat([p.detach().flatten() for p in flow.parameters()]))
        assert (params[-1] - start).abs().max() > 1e-3  # five steps moved the weights
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    torch.testing.assert_close(params[0], params[1], rtol=1e-4, atol=1e-5)
