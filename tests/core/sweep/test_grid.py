"""The grid: the command line's and the files' cells, their keys, and the refusals."""

from __future__ import annotations

import pytest

from iresnet_core import DEFAULT_LR, FlowConfig, match_glow
from iresnet_core.sweep.grid import Cell, load_grid, parse_grid


def test_product_of_the_named_values_with_the_papers_aliases():
    cells = parse_grid("c=0.5,0.7 N=2,5,10 dataset=rings,checkerboard seeds=3 steps=40")
    assert len(cells) == 2 * 3 * 2 * 3
    combos = {(c.dataset, c.settings()["coeff"], c.settings()["n_terms"], c.seed) for c in cells}
    assert len(combos) == len(cells)
    assert {c.seed for c in cells} == {0, 1, 2}
    assert {c.steps for c in cells} == {40}
    assert len({c.key for c in cells}) == len(cells)


def test_named_seeds_hidden_widths_and_vanilla():
    cells = parse_grid("dataset=rings seed=3,7 hidden=16x16,32 c=none")
    assert sorted({c.seed for c in cells}) == [3, 7]
    assert {c.flow_config().hidden for c in cells} == {(16, 16), (32,)}
    assert {c.flow_config().coeff for c in cells} == {None}


def test_a_cell_builds_the_config_the_grid_names():
    (cell,) = parse_grid("dataset=moons c=0.7 N=4 blocks=3 hidden=8x8 logdet=series seed=5")
    assert cell.flow_config() == FlowConfig(
        n_blocks=3, hidden=(8, 8), coeff=0.7, n_terms=4, logdet="series", seed=5
    )


def test_glow_and_classifier_cells_ignore_what_they_do_not_read():
    cells = parse_grid("model=glow c=0.5,0.7,0.9 N=2,5 dataset=rings seeds=2 blocks=4")
    assert len(cells) == 2  # one Glow per seed, not one per (c, N)
    iresnet = FlowConfig(n_blocks=4, seed=0)
    assert cells[0].flow_config() == match_glow(iresnet)
    clf = parse_grid("model=classifier dataset=moons c=none,0.9 N=2,5 seeds=1")
    assert len(clf) == 2


def test_key_is_the_settings_not_the_order_nor_the_device():
    a = parse_grid("c=0.5 N=2 dataset=rings steps=10")[0]
    b = parse_grid("steps=10 dataset=rings N=2 c=0.5")[0]
    assert a.key == b.key and a.on("cuda").key == a.key
    assert parse_grid("c=0.5 N=3 dataset=rings steps=10")[0].key != a.key
    assert DEFAULT_LR["iresnet"] != 0.02  # a value given that is not the default
    assert parse_grid("c=0.5 N=2 dataset=rings steps=10 lr=0.02")[0].key != a.key


def test_sub_grids_are_pooled_without_duplicates():
    cells = parse_grid("dataset=rings c=0.5,0.9; dataset=rings c=0.9,0.7")
    assert sorted(c.settings()["coeff"] for c in cells) == [0.5, 0.7, 0.9]


def test_toml_and_yaml_files_give_the_same_cells(tmp_path):
    toml = tmp_path / "g.toml"
    toml.write_text(
        "[defaults]\nsteps = 20\nseeds = 2\nhidden = [16, 16]\n"
        '[[grid]]\ndataset = ["rings", "8gaussians"]\nc = [0.5, 0.9]\n'
        '[[grid]]\ndataset = "moons"\nmodel = "classifier"\nc = ["none", 0.9]\n'
    )
    yaml = tmp_path / "g.yaml"
    yaml.write_text(
        "defaults: {steps: 20, seeds: 2, hidden: [16, 16]}\n"
        "grid:\n"
        "  - {dataset: [rings, 8gaussians], c: [0.5, 0.9]}\n"
        "  - {dataset: moons, model: classifier, c: [none, 0.9]}\n"
    )
    a, b = load_grid(toml), load_grid(yaml)
    assert len(a) == 2 * 2 * 2 + 2 * 2
    assert sorted(c.key for c in a) == sorted(c.key for c in b)
    flat = tmp_path / "flat.toml"
    flat.write_text('dataset = "rings"\nc = [0.5, 0.9]\n')
    assert len(load_grid(flat)) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("c=0.5", "needs dataset"),
        ("dataset=rings wings=3", "unknown grid field 'wings'"),
        ("dataset=nowhere", "not one of the toy sets"),
        ("dataset=xor model=classifier,iresnet", "not one of the toy sets"),
        ("dataset=rings model=classifier", "not one of the classification sets"),
        ("dataset=rings c=1.5", "must be < 1"),
        ("dataset=rings seeds=0", "seeds takes a count"),
        ("dataset=rings seeds=2 seed=1", "either seeds"),
        ("dataset=rings steps=0", "steps must be a positive integer"),
        ("dataset=rings hidden=0", "positive widths"),
        ("dataset=rings c", "name=v1,v2"),
        ("", "empty grid"),
    ],
)
def test_bad_grids_are_refused_with_a_message_that_names_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        parse_grid(text)


def test_bad_files_are_refused(tmp_path):
    bad = tmp_path / "g.toml"
    bad.write_text("dataset = [")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_grid(bad)
    other = tmp_path / "g.json"
    other.write_text("{}")
    with pytest.raises(ValueError, match=".toml, .yaml"):
        load_grid(other)
    empty = tmp_path / "e.yaml"
    empty.write_text("defaults: {steps: 3}\n")
    with pytest.raises(ValueError, match="no grid"):
        load_grid(empty)


def test_a_cell_refuses_an_unknown_model():
    with pytest.raises(ValueError, match="model must be one of"):
        Cell("rings", model="realnvp")
