"""The command line: a real (short) training run, its files, and refusals that write nothing."""

import json
import subprocess
import sys

import pytest

import iresnet_core as ic
from iresnet_core.cli import main


def test_train_writes_checkpoint_and_metrics(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(
        [
            "train",
            "--dataset",
            "moons",
            "--steps",
            "30",
            "--n-blocks",
            "2",
            "--hidden",
            "32,32",
            "--out",
            str(out),
            "--quiet",
            "--n-data",
            "2000",
        ]
    )
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 30
    assert (metrics["lr"], metrics["lr_decay"]) == (
        ic.DEFAULT_LR["iresnet"],
        ic.DEFAULT_LR_DECAY["iresnet"],
    )  # the Playground's
    assert metrics["entropy"] == pytest.approx(ic.datasets.entropy("moons"))
    assert metrics["nll_minus_entropy"] == pytest.approx(metrics["test_nll"] - metrics["entropy"])
    flow = ic.load(out)
    assert flow.cfg.hidden == (32, 32) and flow.cfg.n_blocks == 2
    # The checkpoint holds the weights whose NLL the metrics report (the running average).
    again = ic.Trainer(flow, ic.datasets.sample("moons", 2000, seed=0), seed=0, average=None)
    assert again.evaluate()[1] == pytest.approx(metrics["test_nll"], abs=1e-5)


def test_train_glow_is_parameter_matched(tmp_path):
    out = tmp_path / "g"
    assert (
        main(
            [
                "train",
                "--model",
                "glow",
                "--steps",
                "5",
                "--n-blocks",
                "2",
                "--hidden",
                "32",
                "--out",
                str(out),
                "--quiet",
                "--n-data",
                "500",
            ]
        )
        == 0
    )
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"] == "glow"
    assert (
        json.loads((out / "metrics.json").read_text())["lr_decay"] == ic.DEFAULT_LR_DECAY["glow"]
    )  # Glow's own schedule
    assert (
        main(
            [
                "train",
                "--steps",
                "2",
                "--n-blocks",
                "2",
                "--hidden",
                "16",
                "--lr-decay",
                "0",
                "--out",
                str(tmp_path / "c"),
                "--quiet",
                "--n-data",
                "500",
            ]
        )
        == 0
    )
    assert (
        json.loads((tmp_path / "c" / "metrics.json").read_text())["lr_decay"] is None
    )  # 0: constant
    assert (
        abs(cfg["extra"]["parameters"] - cfg["extra"]["matched_to"]) / cfg["extra"]["matched_to"]
        < 0.1
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, word",
    [
        (["--coeff", "0"], "coeff"),
        (["--coeff", "1.2"], "< 1"),
        (["--lr", "-1"], "positive"),
        (["--lr-decay", "-5"], ">= 0"),
        (["--n-terms", "0"], "positive"),
        (["--n-blocks", "0"], "positive"),
        (["--hidden", "a,b"], "widths"),
    ],
)
def test_bad_options_are_refused_and_nothing_is_written(tmp_path, args, word):
    out = tmp_path / "nothing"
    proc = subprocess.run(
        [sys.executable, "-m", "iresnet_core", "train", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert word in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "content, word",
    [
        (b"", "empty"),
        (b"x,y\n", "header"),
        (b"1,2,3\n" * 20, "column"),
        (b"1,2\n" * 5, "10"),
        (b"\x00\x01\x02\xff" * 100, "binary"),
    ],
)
def test_bad_csv_is_refused_and_nothing_is_written(tmp_path, capsys, content, word):
    f = tmp_path / "points.csv"
    f.write_bytes(content)
    out = tmp_path / "nothing"
    assert main(["train", "--csv", str(f), "--out", str(out), "--quiet"]) == 2
    assert word in capsys.readouterr().err.lower()
    assert not out.exists()


def test_help_explains_every_option():
    proc = subprocess.run(
        [sys.executable, "-m", "iresnet_core", "train", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    for opt in (
        "--dataset",
        "--csv",
        "--model",
        "--steps",
        "--out",
        "--coeff",
        "--unconstrained",
        "--logdet",
        "--n-terms",
        "--lr",
        "--batch-size",
        "--seed",
        "--torch",
    ):
        assert opt in proc.stdout


def test_train_takes_the_c_engine_by_default_to_torch_s_fit(tmp_path, capsys):
    """The default run trains through the C engine and says so; ``--torch`` trains through torch
    and reaches the same NLL (the same loss and gradient, to float rounding)."""
    # (a small lr: at a large one float rounding grows to 1e-3 in 20 steps)
    args = [
        "train",
        "--steps",
        "20",
        "--n-blocks",
        "2",
        "--hidden",
        "16,16",
        "--batch-size",
        "200",
        "--lr",
        "0.005",
        "--quiet",
    ]
    summaries = {}
    for flag in (None, "--torch"):
        assert main(args + ["--out", str(tmp_path / str(flag))] + ([flag] if flag else [])) == 0
        summaries[flag] = json.loads(capsys.readouterr().out)
    kernel, torch_path = summaries[None], summaries["--torch"]
    assert kernel["engine"] == "C kernel" and kernel["steps"] == 20
    assert torch_path["engine"] == "torch" and "torch asked for" in torch_path["engine_reason"]
    assert kernel["test_nll"] == pytest.approx(
        torch_path["test_nll"], abs=1e-3
    )  # the same loss, the same steps


@pytest.mark.slow
def test_assets_give_both_models_the_same_budget_and_record_it(tmp_path, capsys):
    """`make assets`: every model of a set trains the same number of steps with its own defaults,
    and its metrics and config say so in steps and in words (what the Playground shows:
    "pre-trained, 3,000 steps"); the checkpoints load and match the Playground's architecture."""
    from iresnet_core.cli import ASSET_STEPS

    assert ASSET_STEPS == 3000
    rc = main(["assets", "--steps", "4", "--datasets", "moons", "--out", str(tmp_path)])
    assert rc == 0
    for model in ("iresnet", "glow"):
        d = tmp_path / "moons" / model
        m = json.loads((d / "metrics.json").read_text())
        assert (m["steps"], m["budget"]) == (4, "4 steps")
        extra = json.loads((d / "config.json").read_text())["extra"]
        assert (extra["steps"], extra["budget"]) == (4, "4 steps")  # in the config as well
        assert (m["lr"], m["lr_decay"]) == (ic.DEFAULT_LR[model], ic.DEFAULT_LR_DECAY[model])
        cfg = ic.FlowConfig()
        assert ic.load(d).cfg == (ic.match_glow(cfg) if model == "glow" else cfg)
