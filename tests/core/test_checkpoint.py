"""Checkpoints: identical outputs after a round trip; pickles, junk and mismatches refused."""

import json
import pickle

import pytest
import torch

import iresnet_core as ic


@pytest.mark.parametrize("model", ["iresnet", "glow"])
def test_round_trip_gives_identical_outputs(tmp_path, model):
    cfg = ic.FlowConfig(
        model=model, n_blocks=3, hidden=(16, 16), coeff=0.8 if model == "iresnet" else None
    )
    flow = ic.build_flow(cfg)
    trainer = ic.Trainer(
        flow, ic.datasets.sample("rings", 1000, 0), lr=3e-3, batch_size=100, seed=0
    )
    trainer.step(10)
    flow.eval()
    ic.save(flow, tmp_path, metrics={"test_nll": 1.0})
    loaded = ic.load(tmp_path)
    x = torch.randn(50, 2)
    with torch.no_grad():
        assert torch.equal(flow.log_prob(x), loaded.log_prob(x))
        assert torch.equal(flow.inverse(x)[0], loaded.inverse(x)[0])
    assert loaded.cfg == flow.cfg
    assert json.loads((tmp_path / "metrics.json").read_text())["test_nll"] == 1.0


def saved(tmp_path):
    flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(8,)))
    ic.save(flow, tmp_path)
    return flow


def test_pickle_is_refused(tmp_path):
    flow = saved(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(pickle.dumps(flow.state_dict()))
    with pytest.raises(ValueError, match="pickle"):
        ic.load(tmp_path)


def test_torch_save_is_refused(tmp_path):
    flow = saved(tmp_path)
    torch.save(flow.state_dict(), tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="pickle|safetensors"):
        ic.load(tmp_path)


def test_truncated_file_is_refused(tmp_path):
    saved(tmp_path)
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="safetensors"):
        ic.load(tmp_path)


def test_wrong_shapes_are_refused(tmp_path):
    saved(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["hidden"] = [9]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="shape mismatch"):
        ic.load(tmp_path)


def test_missing_tensors_are_refused(tmp_path):
    saved(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["n_blocks"] = 3
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="missing"):
        ic.load(tmp_path)


def test_bad_configs_are_refused(tmp_path):
    saved(tmp_path)
    for text, word in [
        ("{not json", "JSON"),
        ('{"coeff": 1.5}', "< 1"),
        ('{"coeff": -1}', "coeff"),
        ('{"evil": 1}', "unknown"),
        ("[1, 2]", "object"),
    ]:
        (tmp_path / "config.json").write_text(text)
        with pytest.raises(ValueError, match=word):
            ic.load(tmp_path)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(ValueError, match="config.json"):
        (tmp_path / "model.safetensors").write_bytes(b"")
        ic.load(tmp_path)
    with pytest.raises(ValueError, match="no checkpoint directory"):
        ic.load(tmp_path / "nope")


def test_oversized_config_is_refused_before_anything_is_built(tmp_path):
    saved(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["hidden"] = [100_000, 100_000]  # 10^10 weights: building it would exhaust the memory
    with pytest.raises(ValueError, match="at most 4,000,000"):
        ic.load_bytes((tmp_path / "model.safetensors").read_bytes(), json.dumps(cfg))
