"""The ``sweep`` subcommand: counts a grid without Ray, refuses bad input before anything runs."""

from __future__ import annotations

import json

import pytest

from iresnet_core.cli import main


def test_dry_run_counts_the_cells_of_a_file_and_of_a_line(tmp_path, capsys):
    grid = tmp_path / "g.yaml"
    grid.write_text("dataset: [rings, moons]\nc: [0.5, 0.9]\nseeds: 2\n")
    assert main(["sweep", str(grid), "--out", str(tmp_path / "o"), "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out) == {"cells": 8, "finished": 0, "to_run": 8}
    assert main(["sweep", "--grid", "dataset=rings N=2,5", "--out", "x", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["cells"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "dataset=rings c=2"], "must be < 1"),
        ([], "give a grid file or --grid"),
        (["nowhere.toml"], "no such grid file"),
        (["--grid", "dataset=rings", "--workers", "0"], "--workers must be at least 1"),
    ],
)
def test_bad_input_is_refused_with_status_2(tmp_path, capsys, args, message):
    assert main(["sweep", *args, "--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_tune_lr_range_is_checked(capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "--grid", "dataset=rings", "--out", "o", "--tune-lr", "0.1:0.01"])
    assert "0 < LOW < HIGH" in capsys.readouterr().err
