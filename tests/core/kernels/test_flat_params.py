"""Flat parameters: every parameter and gradient a view of one buffer, the training numbers
unchanged."""

import pytest
import torch

import iresnet_core as ic
from iresnet_core.kernels.flat_params import FlatParameters
from iresnet_core.training.averaging import warmup_decay


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))


def test_parameters_and_gradients_are_views_of_the_buffers():
    net = _net()
    values = torch.cat([p.detach().reshape(-1).clone() for p in net.parameters()])
    flat = FlatParameters(list(net.parameters()))
    assert torch.equal(flat.data, values)  # the values are kept
    with torch.no_grad():
        flat.data.mul_(2.0)  # what the optimiser does to the buffer, the module sees
    assert torch.equal(torch.cat([p.detach().reshape(-1) for p in net.parameters()]), 2 * values)
    x = torch.randn(7, 2)
    flat.zero_grad()
    net(x).square().sum().backward()
    ref = _net()
    with torch.no_grad():
        for p, q in zip(ref.parameters(), net.parameters()):
            p.copy_(q)
    ref(x).square().sum().backward()
    assert torch.equal(flat.grad, torch.cat([p.grad.reshape(-1) for p in ref.parameters()]))
    flat.zero_grad()
    assert float(flat.grad.abs().max()) == 0.0 and all(
        float(p.grad.abs().max()) == 0.0 for p in net.parameters()
    )


def test_replaced_gradients_and_data_are_bound_again_and_dtype_changes_refused():
    net = _net()
    flat = FlatParameters(list(net.parameters()))
    net.zero_grad(set_to_none=True)  # cuts the gradient views off
    with torch.no_grad():
        net[0].bias.data = torch.full((5,), 3.0)  # and one parameter's data
    assert not flat.intact()
    flat.zero_grad()
    assert flat.intact() and torch.equal(flat.data[10:15], torch.full((5,), 3.0))
    net(torch.randn(4, 2)).sum().backward()
    assert float(flat.grad.abs().sum()) > 0  # the backward pass lands in the flat gradient again
    net.double()
    with pytest.raises(RuntimeError, match="dtype"):
        flat.zero_grad()
    with pytest.raises(ValueError, match="no parameters"):
        FlatParameters([])


def test_trainer_steps_match_per_tensor_adam():
    """Adam and the running average are elementwise: on one flat buffer they give the per-tensor
    numbers."""
    data = ic.datasets.sample("moons", 1000, seed=0)
    flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16, 16), seed=0))
    twin = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16, 16), seed=0))
    # torch's loss and a constant step size on both sides: the subject is Adam on one buffer
    kw = dict(lr=1e-2, batch_size=100, seed=0, lr_decay=None, native=False)
    trainer = ic.Trainer(flow, data, average=0.9, **kw)
    ref_trainer = ic.Trainer(twin, data, **kw)  # for its batches and flow
    params = list(twin.parameters())
    for p in params:  # per-tensor again: the reference trains with its own Adam over the list
        p.data = p.data.clone()
        p.grad = None
    adam = torch.optim.Adam(params, lr=1e-2, fused=True)
    avg = [p.detach().clone() for p in params]
    for step in range(1, 6):
        assert trainer._one_step()[2] is None
        idx = torch.randint(ref_trainer.train_x.shape[0], (100,), generator=ref_trainer.generator)
        adam.zero_grad(set_to_none=True)
        twin.nll(ref_trainer.train_x[idx]).backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        adam.step()
        w = 1.0 - warmup_decay(0.9, step)
        avg = [a.lerp(p.detach(), w) for a, p in zip(avg, params)]
    for p, q in zip(flow.parameters(), params):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-5, atol=1e-6)
    for a, q in zip(trainer.eval_flow.parameters(), avg):
        torch.testing.assert_close(a.detach(), q, rtol=1e-5, atol=1e-6)


def test_two_trainers_of_one_flow_take_the_parameters_over_in_turn():
    data = ic.datasets.sample("moons", 1000, seed=0)
    flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16, 16), seed=0))
    first = ic.Trainer(flow, data, lr=1e-2, batch_size=100, seed=0)
    first.step(2)
    second = ic.Trainer(flow, data, lr=1e-2, batch_size=100, seed=1)
    second.step(2)
    values = torch.cat([p.detach().reshape(-1) for p in flow.parameters()]).clone()
    assert torch.equal(second._flat.data, values) and not torch.equal(first._flat.data, values)
    assert first._one_step()[2] is None  # takes them back from where the second left them
    assert first._flat.intact() and not second._flat.intact()
    moved = torch.cat([p.detach().reshape(-1) for p in flow.parameters()])
    assert torch.equal(first._flat.data, moved) and 0 < float((moved - values).abs().max()) < 0.05
