"""A cell is a direct run of the library: the same numbers as ``Trainer`` by hand; its
measurements keep the mathematics' promises; the table keeps one row per cell."""

from __future__ import annotations

import math

import pytest
import torch

import iresnet_core as ic
from iresnet_core import classify
from iresnet_core.ops.logdet import truncation_bound
from iresnet_core.sweep.cell import run_cell
from iresnet_core.sweep.grid import parse_grid
from iresnet_core.sweep.runner import placement
from iresnet_core.sweep.table import (
    append_rows,
    finished_keys,
    read_rows,
    result_row,
    results_path,
)
from iresnet_core.training.threads import torch_threads

TINY = "blocks=2 hidden=16 steps=30 n_data=2000 batch_size=200"


def direct_run(dataset: str, seed: int, cfg: ic.FlowConfig, steps: int, **kw) -> ic.Trainer:
    """What a person writes: build, sample, train (one torch thread, as a sweep's worker)."""
    with torch_threads(1):
        flow = ic.build_flow(cfg)
        data = ic.datasets.sample(dataset, kw.pop("n_data"), seed=seed)
        trainer = ic.Trainer(flow, data, seed=seed, **kw)
        trainer.step(steps)
        return trainer


@pytest.mark.parametrize("logdet", ["series", "exact"])
def test_a_cells_numbers_are_a_direct_trainer_run(logdet):
    (cell,) = parse_grid(f"dataset=rings c=0.7 N=3 logdet={logdet} seed=4 {TINY}")
    row = run_cell(cell)
    cfg = ic.FlowConfig(n_blocks=2, hidden=(16,), coeff=0.7, n_terms=3, logdet=logdet, seed=4)
    t = direct_run(
        "rings",
        4,
        cfg,
        30,
        n_data=2000,
        batch_size=200,
        lr=ic.DEFAULT_LR["iresnet"],
        lr_decay=ic.DEFAULT_LR_DECAY["iresnet"],
        native=True,
    )
    with torch_threads(1):
        train_nll, test_nll = t.evaluate()
    assert row["test_nll"] == test_nll and row["train_nll"] == train_nll
    assert row["nll_minus_entropy"] == test_nll - ic.datasets.entropy("rings")
    assert row["steps_done"] == 30 and row["parameters"] == t.flow.num_parameters()
    assert row["lipschitz"] == ic.analysis.lipschitz_bound(t.eval_flow)


def test_a_cells_measurements_keep_the_papers_promises():
    (cell,) = parse_grid(f"dataset=8gaussians c=0.9 N=2 logdet=series seed=0 {TINY}")
    row = run_cell(cell)
    # Theorem 1: Lip(g) < 1, so the fixed-point inverse converges to the true input
    assert row["lipschitz"] < 1 and row["inverse_converged"]
    assert 1 <= row["inverse_iterations"] <= 100 and row["reconstruction_error"] < 1e-6
    # Theorem 3: the truncation error of the whole flow is within the blocks' bounds
    assert row["series_bound"] == pytest.approx(2 * truncation_bound(0.9, 2))
    assert 0 <= row["series_error"] <= row["series_bound"]
    # power iteration approaches sigma from below
    assert row["sigma_underestimate"] >= 0
    assert row["steps_per_s"] > 0 and row["device"] == "cpu"


def test_lower_c_needs_fewer_iterations_on_the_same_run():
    rows = [
        run_cell(c)
        for c in sorted(
            # a large lr, so that the short run takes its blocks off the identity
            parse_grid(f"dataset=rings c=0.3,0.9 logdet=exact seed=1 lr=0.06 {TINY}"),
            key=lambda c: c.settings()["coeff"],
        )
    ]
    # Banach: the error after n iterations is at most L^n / (1 - L) ||x_1 - x_0||
    assert rows[0]["inverse_iterations"] < rows[1]["inverse_iterations"]


def test_glow_cell_matches_parameters_and_has_no_fixed_point_inverse():
    cells = parse_grid(f"dataset=rings model=iresnet,glow logdet=exact seed=0 {TINY}")
    rows = {c.model: run_cell(c) for c in cells}
    assert (
        abs(rows["glow"]["parameters"] - rows["iresnet"]["parameters"])
        <= 0.1 * rows["iresnet"]["parameters"]
    )
    assert math.isnan(rows["glow"]["inverse_iterations"]) and rows["glow"]["lipschitz"] != 0
    assert math.isfinite(rows["glow"]["test_nll"])


def test_a_classifier_cell_is_a_table1_row():
    (cell,) = parse_grid("model=classifier dataset=moons c=0.8 blocks=2 hidden=16 steps=40 seed=2")
    row = run_cell(cell)
    with torch_threads(1):
        ref = classify.table1_row("moons", 0.8, 40, 2, n_blocks=2, hidden=(16,))
    for k in ("test_error", "train_error", "reconstruction_error", "fold_share", "lipschitz"):
        assert row[k] == ref[k], k
    assert row["guaranteed_inverse"] == (ref["guaranteed_inverse"] == "Yes")


def test_placement_goes_to_a_gpu_only_where_the_cluster_has_one():
    assert placement({"CPU": 2.0}) == (0.0, "cpu")
    assert placement({"CPU": 2.0, "GPU": 0.0}, "auto") == (0.0, "cpu")
    assert placement({"CPU": 8.0, "GPU": 1.0}) == (0.125, "cuda")  # the CPU slots share it
    assert placement({"CPU": 1.0, "GPU": 4.0}) == (1.0, "cuda")  # never more than one a cell
    assert placement({"CPU": 8.0, "GPU": 1.0}, "cpu") == (0.0, "cpu")
    assert placement({"CPU": 8.0, "GPU": 2.0}, "cuda", 0.5) == (0.5, "cuda")
    with pytest.raises(ValueError, match="no GPU"):
        placement({"CPU": 8.0}, "cuda")
    with pytest.raises(ValueError, match="device must be"):
        placement({"CPU": 8.0}, "tpu")


def test_a_cell_asked_for_cuda_without_one_trains_on_the_cpu():
    (cell,) = parse_grid(f"dataset=rings seed=0 {TINY}")
    if torch.cuda.is_available():  # pragma: no cover - no GPU on the project's machines
        pytest.skip("this machine has a GPU")
    assert run_cell(cell.on("cuda"))["test_nll"] == run_cell(cell)["test_nll"]


def test_the_table_keeps_one_row_per_cell_with_a_csv_beside_it(tmp_path):
    cells = parse_grid("dataset=rings c=none,0.5 seed=0 steps=3")
    append_rows(tmp_path, [result_row(cells[0], {"test_nll": 1.0, "inverse_converged": None})])
    append_rows(tmp_path, [result_row(cells[1], {"test_nll": 2.0, "steps_done": 3})])
    append_rows(tmp_path, [result_row(cells[0], {"test_nll": 1.5})])  # a cell run again
    rows = {r["key"]: r for r in read_rows(tmp_path)}
    assert set(rows) == finished_keys(tmp_path) == {c.key for c in cells}
    assert rows[cells[0].key]["test_nll"] == 1.5 and rows[cells[0].key]["coeff"] is None
    assert rows[cells[1].key]["coeff"] == 0.5 and rows[cells[1].key]["steps_done"] == 3
    csv = (tmp_path / "results.csv").read_text().splitlines()
    assert len(csv) == 3 and csv[0].startswith('"key","dataset","model"')
    assert results_path(tmp_path / "results.parquet") == tmp_path / "results.parquet"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_points_given_as_a_tensor_train_as_the_same_array():
    """The GPU path hands the Trainer a tensor on the device; on the CPU it is the same run."""
    data = ic.datasets.sample("rings", 1000, seed=0)
    cfg = ic.FlowConfig(n_blocks=2, hidden=(8,), seed=0)
    a = ic.Trainer(ic.build_flow(cfg), data, seed=0).step(5)["test_nll"]
    b = ic.Trainer(ic.build_flow(cfg), torch.as_tensor(data).double(), seed=0).step(5)["test_nll"]
    assert a == b
