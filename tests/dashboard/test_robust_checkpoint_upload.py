"""Checkpoints from outside (issue 7, item 5): the Playground's "load a checkpoint" uploader reads
only safetensors + a JSON config the core accepts, refuses everything else with a clear message
and keeps the current model; the checkpoint download round-trips through the UI."""

from __future__ import annotations

import io
import json
import pickle
import zipfile

import numpy as np
import pytest
import torch
from safetensors.torch import save as st_save
from streamlit.testing.v1 import AppTest

import iresnet_core as ic
from dashboard.state import UNKNOWN_TRAINED_STEPS, Playground, Settings
from dashboard.views.playground import STATE_KEY, handle_checkpoint
from tests.support import APP

S = Settings(models="both", blocks=2, width=16, grid=100, pretrained=False)
QUERY = {"models": "Both", "blocks": "2", "width": "16", "pretrained": "false"}


def _unzip(blob: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        return {n: z.read(n) for n in z.namelist()}


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in files.items():
            z.writestr(n, b)
    return buf.getvalue()


@pytest.fixture(scope="module")
def good() -> dict[str, bytes]:
    """A trained i-ResNet's checkpoint, as the Playground's download writes it."""
    pg = Playground(S.replace(models="iresnet", c=0.7, seed=3))
    pg.step(3)
    files = _unzip(pg.checkpoint_zip("iresnet"))
    assert sorted(files) == ["config.json", "model.safetensors"]
    return files


def _state(pg: Playground) -> tuple:
    return (
        {m: (id(r), r.step, r.origin) for m, r in pg.runs.items()},
        {m: [p.detach().clone() for p in r.flow.parameters()] for m, r in pg.runs.items()},
    )


def _same(a: tuple, b: tuple) -> bool:
    return a[0] == b[0] and all(
        all(torch.equal(x, y) for x, y in zip(a[1][m], b[1][m])) for m in a[1]
    )


def _cfg(good, **changes) -> bytes:
    d = json.loads(good["config.json"])
    d.update(changes)
    return json.dumps(d).encode()


def _weights(good, fn) -> bytes:
    from safetensors.torch import load as st_load

    t = st_load(good["model.safetensors"])
    fn(t)
    return st_save(t)


def _refusals(good):
    w, c = good["model.safetensors"], good["config.json"]
    state = {k: v for k, v in __import__("safetensors.torch", fromlist=["load"]).load(w).items()}
    torch_zip = io.BytesIO()
    torch.save(state, torch_zip)
    first = next(
        k for k, v in state.items() if v.dtype.is_floating_point
    )  # NaN needs a float tensor
    return [
        (
            "pickle",
            [("model.safetensors", pickle.dumps(state, protocol=4)), ("config.json", c)],
            "pickle",
        ),
        (
            "torch .pt zip",
            [("model.safetensors", torch_zip.getvalue()), ("config.json", c)],
            "pickle",
        ),
        (
            "truncated",
            [("model.safetensors", w[: len(w) // 2]), ("config.json", c)],
            "not a valid safetensors",
        ),
        (
            "empty weights",
            [("model.safetensors", b""), ("config.json", c)],
            "not a valid safetensors",
        ),
        (
            "junk weights",
            [("model.safetensors", b"hello world" * 50), ("config.json", c)],
            "not a valid safetensors",
        ),
        (
            "wrong shapes",
            [("model.safetensors", w), ("config.json", _cfg(good, hidden=[32, 32]))],
            "shape mismatch",
        ),
        (
            "missing tensors",
            [("model.safetensors", w), ("config.json", _cfg(good, n_blocks=3))],
            "missing",
        ),
        (
            "unexpected tensors",
            [("model.safetensors", w), ("config.json", _cfg(good, n_blocks=1))],
            "unexpected",
        ),
        (
            "glow config, i-ResNet weights",
            [("model.safetensors", w), ("config.json", _cfg(good, model="glow", coeff=None))],
            "do not match",
        ),
        (
            "NaN weights",
            [
                ("model.safetensors", _weights(good, lambda t: t[first].fill_(float("nan")))),
                ("config.json", c),
            ],
            "NaN",
        ),
        (
            "c = 1",
            [("model.safetensors", w), ("config.json", _cfg(good, coeff=1.0))],
            "must be < 1",
        ),
        (
            "c = 1.5",
            [("model.safetensors", w), ("config.json", _cfg(good, coeff=1.5))],
            "must be < 1",
        ),
        (
            "c = -1",
            [("model.safetensors", w), ("config.json", _cfg(good, coeff=-1))],
            "must be > 0",
        ),
        (
            "3D config",
            [("model.safetensors", w), ("config.json", _cfg(good, dim=3))],
            "3-dimensional",
        ),
        (
            "unknown field",
            [("model.safetensors", w), ("config.json", _cfg(good, evil="rm -rf"))],
            "unknown config fields",
        ),
        (
            "bad activation",
            [("model.safetensors", w), ("config.json", _cfg(good, activation="relu"))],
            "activation",
        ),
        (
            "config not JSON",
            [("model.safetensors", w), ("config.json", b"{not json")],
            "not valid JSON",
        ),
        ("config a list", [("model.safetensors", w), ("config.json", b"[1, 2]")], "JSON object"),
        (
            "config not UTF-8",
            [("model.safetensors", w), ("config.json", b"\xff\xfe\x00{")],
            "UTF-8",
        ),
        (
            "huge config",
            [
                ("model.safetensors", w),
                ("config.json", _cfg(good, n_blocks=64, hidden=[100000, 100000])),
            ],
            "at most 4,000,000",
        ),
        ("only the weights", [("model.safetensors", w)], "expected two files"),
        ("two configs", [("a.json", c), ("config.json", c)], "expected two files"),
        (
            "three files",
            [("model.safetensors", w), ("config.json", c), ("x.json", c)],
            "expected two files",
        ),
        ("no files", [], "no files"),
        ("zip without config", [("ckpt.zip", _zip({"model.safetensors": w}))], "no config.json"),
        ("zip of junk", [("ckpt.zip", b"PK\x03\x04" + b"\x00" * 100)], "not a readable ZIP"),
        (
            "zip bomb",
            [("ckpt.zip", _zip({"model.safetensors": bytes(65 * 2**20), "config.json": c}))],
            "unpacks to",
        ),
    ]


def test_every_refusal_has_a_clear_message_and_keeps_the_model(good):
    pg = Playground(S)
    pg.step(2)
    before = _state(pg)
    cases = _refusals(good)
    for name, files, words in cases:
        err = handle_checkpoint(pg, files)
        assert err and err.startswith("Checkpoint refused: ") and words in err, (name, err)
        assert _same(_state(pg), before), name
        assert not pg.notes
    assert len(cases) >= 25


def test_round_trip_in_the_ui(good):
    """Session A trains and downloads its i-ResNet (the ZIP the download button serves); session B
    uploads the ZIP (and then the two files) and shows the very same model; a refusal on screen
    is an st.error and keeps it."""
    a = AppTest.from_file(APP, default_timeout=120)
    for k, v in {**QUERY, "c": "0.8"}.items():
        a.query_params[k] = v
    a.run()
    for _ in range(3):
        a.button(key="step").click().run()
    assert not a.exception
    pg_a = a.session_state[STATE_KEY]
    labels = {d.label for d in a.get("download_button")}
    assert {"⬇ i-ResNet checkpoint (ZIP)", "⬇ Glow checkpoint (ZIP)"} <= labels
    blob = pg_a.checkpoint_zip("iresnet")  # what the deferred download button serves
    glow_blob = pg_a.checkpoint_zip("glow")

    b = AppTest.from_file(APP, default_timeout=120)
    for k, v in QUERY.items():
        b.query_params[k] = v
    b.run()
    glow_b = b.session_state[STATE_KEY].runs["glow"]
    assert b.button(key="ckpt_load").disabled  # nothing to load yet
    b.file_uploader(key="ckpt_files").set_value(
        [("playground_iresnet_checkpoint.zip", blob, "application/zip")]
    ).run()
    b.button(key="ckpt_load").click().run()
    assert not b.exception and not b.error
    pg_b = b.session_state[STATE_KEY]
    run = pg_b.runs["iresnet"]
    assert (
        run.origin == "uploaded" and run.cfg == pg_a.runs["iresnet"].cfg and run.cfg.coeff == 0.8
    )
    # how long it was trained is not in the ZIP: a decaying step size carries on as after
    # UNKNOWN_TRAINED_STEPS steps (a third of the starting one), a constant one as it was; and it
    # warms up
    assert run.trainer.decay_from == UNKNOWN_TRAINED_STEPS
    share = 1 / 3 if run.trainer.lr_decay is not None else 1.0
    assert run.trainer.step_size == pytest.approx(run.trainer.lr * share / ic.RESUME_WARMUP)
    # the weights session A showed (its running average), now trained on and shown in session B
    assert pg_a.runs["iresnet"].shown is not pg_a.runs["iresnet"].flow
    for p, q in zip(
        run.flow.state_dict().values(), pg_a.runs["iresnet"].shown.state_dict().values()
    ):
        assert torch.equal(p, q)
    assert pg_b.runs["glow"] is glow_b  # the other model stays
    assert any("Loaded i-ResNet" in i.value for i in b.info)
    assert any("from your checkpoint" in m.value for m in b.markdown)
    np.testing.assert_allclose(
        pg_b.view(run).density, pg_a.view(pg_a.runs["iresnet"]).density, atol=1e-6
    )
    # it trains on from these weights, and the sliders (still c=0.9 here) do not replace it on
    # rerun
    b.button(key="step").click().run()
    assert not b.exception and pg_b.runs["iresnet"] is run and run.step == 1
    # a refusal on screen: st.error with the message; the loaded model stays
    files = _unzip(blob)
    bad = [
        ("model.safetensors", files["model.safetensors"][:100], "application/octet-stream"),
        ("config.json", files["config.json"], "application/json"),
    ]
    b.file_uploader(key="ckpt_files").set_value(bad).run()
    b.button(key="ckpt_load").click().run()
    assert not b.exception
    assert [e.value for e in b.error] and "not a valid safetensors" in b.error[0].value
    assert b.session_state[STATE_KEY].runs["iresnet"] is run
    # the two files separately, and the Glow ZIP
    b.file_uploader(key="ckpt_files").set_value(
        [(n, files[n], "application/octet-stream") for n in ("config.json", "model.safetensors")]
    ).run()
    b.button(key="ckpt_load").click().run()
    assert not b.exception and not b.error and b.session_state[STATE_KEY].runs["iresnet"].step == 0
    b.file_uploader(key="ckpt_files").set_value([("g.zip", glow_blob, "application/zip")]).run()
    b.button(key="ckpt_load").click().run()
    assert (
        not b.exception
        and not b.error
        and b.session_state[STATE_KEY].runs["glow"].origin == "uploaded"
    )
    # Reset returns an uploaded model to its uploaded weights; moving c replaces it
    b.button(key="step").click().run()
    b.button(key="reset").click().run()
    pg_b = b.session_state[STATE_KEY]
    assert pg_b.runs["glow"].origin == "uploaded" and pg_b.runs["glow"].step == 0
    b.slider(key="c").set_value(0.5).run()
    assert not b.exception and b.session_state[STATE_KEY].runs["iresnet"].origin == "scratch"
    assert b.session_state[STATE_KEY].runs["glow"].origin == "uploaded"  # Glow ignores c


def test_checkpoint_download_is_consistent_while_training(good):
    """The download runs in a server thread while the script thread trains: it never reads
    half-updated weights (the Playground's lock), and its ZIP always loads."""
    import threading

    pg = Playground(S.replace(models="iresnet", lr=0.3))
    stop = threading.Event()

    def train():
        while not stop.is_set():
            pg.tick(0.02)

    t = threading.Thread(target=train)
    t.start()
    try:
        for _ in range(5):
            files = _unzip(pg.checkpoint_zip("iresnet"))
            ic.load_bytes(files["model.safetensors"], files["config.json"])
    finally:
        stop.set()
        t.join(10)
    assert not t.is_alive()
