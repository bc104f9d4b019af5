"""The checkpoints in ``assets/checkpoints`` are what the Playground opens with: every toy set has
both models, each of exactly the flow the default settings build (a checkpoint of another flow is
silently passed over and that model starts from scratch beside a trained rival), trained for the
same number of steps with its model's tuned defaults (issue 30: the same budget, the same care).
"""

from __future__ import annotations

import json

import pytest

import iresnet_core as ic
from dashboard.checkpoints import checkpoint_dir, checkpoint_matches
from dashboard.settings import Settings
from tests.support import ROOT

ROOT_DIR = ROOT / "assets" / "checkpoints"
MODELS = ("iresnet", "glow")


def _metrics(dataset: str, model: str) -> dict:
    return json.loads((checkpoint_dir(dataset, model, ROOT_DIR) / "metrics.json").read_text())


@pytest.mark.parametrize("dataset", ic.datasets.NAMES)
def test_both_models_of_every_set_match_the_default_flows(dataset):
    s = Settings()
    for model in MODELS:
        directory = checkpoint_dir(dataset, model, ROOT_DIR)
        assert checkpoint_matches(directory, s.flow_config(model)), (dataset, model)


@pytest.mark.parametrize("dataset", ic.datasets.NAMES)
def test_both_models_had_the_same_steps_and_their_tuned_defaults(dataset):
    m = {model: _metrics(dataset, model) for model in MODELS}
    assert m["iresnet"]["steps"] == m["glow"]["steps"] > 0
    for model in MODELS:
        cfg = json.loads((checkpoint_dir(dataset, model, ROOT_DIR) / "config.json").read_text())
        assert cfg["extra"]["steps"] == m[model]["steps"]  # the budget, in the config too
        assert cfg["extra"]["budget"] == m[model]["budget"] == f"{m[model]['steps']:,} steps"
        assert m[model]["lr"] == ic.DEFAULT_LR[model]
        assert m[model].get("lr_decay") == ic.DEFAULT_LR_DECAY[model]
