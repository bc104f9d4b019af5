"""AppTest of the Playground page: it runs for every dataset and model choice, its charts follow
the controls, Step/Reset move the counter, bad uploads and diverging runs never break it."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

import iresnet_core as ic
from dashboard.settings import ENGINES
from dashboard.state import CUSTOM, Playground, Settings
from dashboard.views.playground import STATE_KEY, _step_size, handle_upload
from tests.support import APP, ROOT, assert_clean, open_app

SMALL = {"blocks": "2", "width": "16", "grid": "100"}  # tiny models keep each run short


def _app(timeout: float = 180, **query) -> AppTest:
    return open_app(APP, timeout, **query)


def _specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _density_z(at: AppTest, i: int = 0) -> str:
    """The density trace of chart ``i`` as it travels to the browser (bdata / list JSON)."""
    return json.dumps(_specs(at)[i]["data"][0]["z"])


def _counter(at: AppTest) -> list[int]:
    text = next(m.value for m in at.subheader if m.value.startswith("Step"))
    return [int(n.replace(",", "")) for n in re.findall(r"(?:i-ResNet|Glow) ([\d,]+)", text)]


def _pg(at: AppTest) -> Playground:
    return at.session_state[STATE_KEY]


def test_defaults_run_and_show_everything():
    at = _app()
    assert_clean(at)
    specs = _specs(at)
    assert len(specs) == 6  # density, samples, NLL for each of the two models
    titles = [s["layout"]["title"]["text"] for s in specs]
    assert titles[0].startswith("i-ResNet: density") and titles[3].startswith("Glow: density")
    z = specs[0]["data"][0]
    assert z["type"] == "contour" and z["contours"]["coloring"] == "heatmap"
    assert (
        len(
            specs[0]["data"][0]["x"]["bdata"]
            if isinstance(specs[0]["data"][0]["x"], dict)
            else specs[0]["data"][0]["x"]
        )
        > 0
    )
    assert _counter(at) == [0, 0]
    pg = _pg(at)
    assert pg.runs["iresnet"].view.density.shape == (100, 100)  # >= 100 x 100
    assert abs(pg.runs["iresnet"].view.mass - 1) < 0.05
    captions = " ".join(c.value for c in at.caption)
    assert "steps/s" in captions and "parameters" in captions and "Lip ≤" in captions
    # each model's step size is on its status line while it warms up or decays, each as its own
    # trainer takes it (the ramp's target, not its first 1 %); a constant one after warm-up is not
    shown = [
        r.trainer for r in pg.shown_runs if r.trainer.warmup_left or r.trainer.lr_decay is not None
    ]
    assert shown  # a pre-trained model warms up, and Glow's step size decays
    for tr in shown:
        if tr.warmup_left:
            assert f"lr {tr.decayed_lr:.2g} after warm-up (0/{tr.warmup})" in captions
        else:
            assert f"lr now {tr.step_size:.2g}" in captions
    assert captions.count("after warm-up") + captions.count("lr now") == len(shown)
    assert any("NLL − entropy" in m.value for m in at.markdown)
    # the entropy floor is drawn on the NLL chart
    assert any(
        abs(s.get("y0", 0) - ic.datasets.entropy("8gaussians")) < 1e-6
        for s in specs[2]["layout"]["shapes"]
    )
    # camera button: PNG at 2x with a meaningful name
    cfg = json.loads(at.get("plotly_chart")[0].proto.config)
    assert cfg["toImageButtonOptions"]["scale"] == 2
    assert cfg["toImageButtonOptions"]["filename"].startswith(
        "8gaussians_iresnet_density_c=0.9_step=0"
    )
    labels = [d.label for d in at.get("download_button")]
    assert (
        labels.count("⬇ HTML") == 6
        and labels.count("⬇ CSV") == 6
        and any("Figure pack" in label for label in labels)
    )


@pytest.mark.parametrize("dataset", ic.datasets.NAMES)
def test_every_dataset(dataset):
    at = _app(dataset=dataset, models="i-ResNet", **SMALL)
    assert_clean(at)
    assert _pg(at).dataset == dataset
    assert len(_specs(at)) == 3
    assert all(c.proto.spec for c in at.get("plotly_chart"))


@pytest.mark.parametrize("models,n", [("Both", 6), ("i-ResNet", 3), ("Glow", 3)])
def test_every_model_choice(models, n):
    at = _app(models=models, **SMALL)
    assert_clean(at)
    assert len(_specs(at)) == n
    at.button(key="step").click().run()
    assert_clean(at)
    assert _counter(at) == [1] * (n // 3)


def test_controls_change_the_charts():
    at = _app(models="i-ResNet", **SMALL)
    base = [c.proto.spec for c in at.get("plotly_chart")]
    seen = [base[0]]

    at.slider(key="c").set_value(0.5).run()
    assert_clean(at)
    assert any(
        "i-ResNet reset to step 0 (c 0.9 → 0.5)" in i.value for i in at.info
    )  # reset, and said so
    seen.append(at.get("plotly_chart")[0].proto.spec)

    at.selectbox(key="estimator").set_value("series").run()
    assert_clean(at)
    seen.append(at.get("plotly_chart")[0].proto.spec)
    assert "series N=5" in _specs(at)[0]["layout"]["title"]["subtitle"]["text"]

    at.slider(key="N").set_value(12).run()
    assert_clean(at)
    seen.append(at.get("plotly_chart")[0].proto.spec)
    assert "series N=12" in _specs(at)[0]["layout"]["title"]["subtitle"]["text"]
    assert "truncation ≤" in " ".join(c.value for c in at.caption)

    at.selectbox(key="dataset").set_value("moons").run()
    assert_clean(at)
    seen.append(at.get("plotly_chart")[0].proto.spec)
    assert any("Data changed" in i.value for i in at.info)
    assert len(set(seen)) == len(seen), (
        "every control change must change the density chart the page sends"
    )
    # the data behind the samples chart changed with the dataset
    assert _specs(at)[1]["data"][0] != json.loads(base[1])["data"][0]


def test_different_estimators_train_differently():
    """Same start, one step with N=1 vs N=20 series: different densities after the step."""
    zs = []
    for n in ("1", "20"):
        at = _app(models="i-ResNet", estimator="series", N=n, c="0.95", **SMALL)
        at.button(key="step").click().run()
        assert_clean(at)
        zs.append(_density_z(at))
    assert zs[0] != zs[1]


def test_learning_rate_is_live_no_reset():
    at = _app(models="i-ResNet", **SMALL)
    at.button(key="step").click().run()
    run = _pg(at).runs["iresnet"]
    at.select_slider(key="lr").set_value(0.01).run()
    assert_clean(at)
    assert _pg(at).runs["iresnet"] is run and _counter(at) == [1]
    assert run.trainer.lr == pytest.approx(0.01)
    assert not [i.value for i in at.info if "reset" in i.value]


def test_averaged_weights_toggle_live_and_the_charts_follow():
    at = _app(models="i-ResNet", **SMALL)
    for _ in range(3):
        at.button(key="step").click().run()
    run = _pg(at).runs["iresnet"]
    assert run.trainer.average == ic.AVERAGE_DECAY
    assert run.shown is run.trainer.eval_flow and run.shown is not run.flow
    z_avg = _density_z(at)
    at.toggle(key="average").set_value(False).run()
    assert_clean(at)
    assert _pg(at).runs["iresnet"] is run and _counter(at) == [3]  # no reset
    assert run.trainer.average is None and run.shown is run.flow
    assert _density_z(at) != z_avg  # the last step's weights are drawn now
    # and the NLL printed is theirs, though paused
    assert run.metrics["test_nll"] == pytest.approx(run.trainer.evaluate()[1])
    assert any("last step" in i.value for i in at.info)


def test_step_advances_and_changes_density_reset_returns_to_zero():
    at = _app(models="i-ResNet", **SMALL)
    z0 = _density_z(at)
    at.button(key="step").click().run()
    at.button(key="step").click().run()
    assert_clean(at)
    assert _counter(at) == [2]
    z2 = _density_z(at)
    assert z2 != z0
    at.button(key="reset").click().run()
    assert_clean(at)
    assert _counter(at) == [0]
    assert _density_z(at) == z0  # same seed, same start


def test_play_trains_a_burst_and_pause_stops():
    at = _app(models="i-ResNet", speed="slow motion", **SMALL)
    at.button(key="play").click().run()  # the fragment runs with the page: one tick
    assert_clean(at)
    assert _pg(at).playing and _counter(at)[0] >= 1
    assert at.button(key="play").label == "Pause"
    at.button(key="play").click().run()
    assert not _pg(at).playing and at.button(key="play").label == "Play"
    n = _counter(at)[0]
    at.run()
    assert _counter(at)[0] == n


def _image_names(at: AppTest) -> list[str]:
    return [
        json.loads(c.proto.config)["toImageButtonOptions"]["filename"]
        for c in at.get("plotly_chart")
    ]


def test_charts_keep_their_plotly_config_while_playing():
    """A changed config makes plotly.js purge and redraw a chart (a blank flash): while playing,
    tick after tick, each chart's config (its camera button's file name) stays the same; paused,
    the name carries the step again."""
    at = _app(models="i-ResNet", speed="slow motion", **SMALL)
    assert all("_step=0" in n for n in _image_names(at))
    at.button(key="play").click().run()
    first, steps = _image_names(at), _counter(at)
    at.run()
    assert_clean(at)
    assert _counter(at)[0] > steps[0]  # it trained on
    assert _image_names(at) == first and all(n.endswith("_live") for n in first)
    at.button(key="play").click().run()  # pause
    n = _counter(at)[0]
    assert all(f"_step={n}" in name for name in _image_names(at))


def test_upload_good_then_bad_keeps_the_good_data():
    at = _app(models="i-ResNet", **SMALL)
    at.selectbox(key="dataset").set_value(CUSTOM).run()
    assert_clean(at)
    assert _pg(at).dataset == "8gaussians"  # nothing uploaded yet: old data stay
    pts = np.random.default_rng(0).normal(size=(300, 2))
    good = "x,y\n" + "\n".join(f"{a:.4f},{b:.4f}" for a, b in pts)
    at.file_uploader(key="upload").set_value(("mine.csv", good.encode(), "text/csv")).run()
    assert_clean(at)
    pg = _pg(at)
    assert pg.dataset == CUSTOM and len(pg.data) == 300 and pg.entropy is None
    run_before = pg.runs["iresnet"]
    at.file_uploader(key="upload").set_value(("bad.csv", b"x,y\n1,2\nhello,3\n", "text/csv")).run()
    assert not at.exception
    errs = [e.value for e in at.error]
    assert errs and "bad.csv" in errs[0]
    pg = _pg(at)
    assert len(pg.data) == 300 and pg.runs["iresnet"] is run_before


def test_handle_upload_directly():
    pg = Playground(Settings(models="iresnet", blocks=2, width=16, grid=100))
    data = pg.data.copy()
    err = handle_upload(pg, b"\x00\x01binary", "x.bin")
    assert err and "x.bin" in err
    assert handle_upload(pg, b"1,2,3\n4,5,6\n", "three.csv")
    np.testing.assert_array_equal(pg.data, data)
    assert pg.user_points is None


def test_url_reopens_the_same_setup():
    at = _app(
        dataset="rings", models="Glow", c="0.5", N="7", estimator="hutchinson", lr="0.01", **SMALL
    )
    assert_clean(at)
    s = _pg(at).settings
    assert (s.dataset, s.models, s.c, s.N, s.estimator, s.lr, s.blocks, s.width, s.grid) == (
        "rings",
        "glow",
        0.5,
        7,
        "hutchinson",
        0.01,
        2,
        16,
        100,
    )


def test_presentation_hides_rare_controls_and_keeps_values():
    at = _app(models="i-ResNet", **SMALL)
    n_widgets = len(at.sidebar.get("slider")) + len(at.sidebar.get("selectbox"))
    at.toggle(key="presentation").set_value(True).run()
    assert_clean(at)
    assert len(at.sidebar.get("slider")) + len(at.sidebar.get("selectbox")) < n_widgets
    assert _pg(at).settings.blocks == 2 and _pg(at).settings.grid == 100
    assert json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["font"]["size"] == 20


def test_divergence_pauses_with_a_warning_not_a_traceback(monkeypatch):
    at = _app(models="i-ResNet", **SMALL)
    trainer = _pg(at).runs["iresnet"].trainer

    def bad_burst(seconds, max_steps=None):
        trainer.paused_reason = (
            "training paused: 20 steps in a row were not finite (non-finite loss)"
        )
        return {"step": trainer.step_count, "skipped": 20, "skip_reason": "non-finite loss"}

    monkeypatch.setattr(trainer, "run_for", bad_burst)
    at.button(key="play").click().run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any("not finite" in w for w in warnings), warnings
    assert not _pg(at).playing


@pytest.mark.parametrize("engine", ENGINES)
def test_divergence_for_real_at_lr_10_unconstrained_pauses_and_keeps_the_last_good_model(engine):
    """No mock: lr 10 without the constraint makes every step after the first non-finite, on
    either engine. The steps are skipped and counted, training pauses after ``max_bad`` of them
    in a row with a warning, and the model kept is the last good one (finite, still drawn)."""
    pg = Playground(
        Settings(
            models="iresnet",
            unconstrained=True,
            lr=10.0,
            blocks=2,
            width=16,
            grid=100,
            pretrained=False,
            engine=engine,
            max_bad=5,
        )
    )
    run = pg.runs["iresnet"]
    pg.playing = True
    for _ in range(20):
        pg.tick(0.05)
        if not pg.playing:
            break
    # the first step initialises the ActNorms through torch; the failing ones ran on the engine
    assert run.trainer.engine == engine and run.step == 1
    assert not pg.playing and run.trainer.paused_reason
    assert "5 steps in a row were not finite" in run.trainer.paused_reason
    assert run.trainer.skipped_total >= 5 and run.skipped >= 5
    assert any("paused" in w and "not finite" in w for w in pg.warnings), pg.warnings
    assert all(torch.isfinite(p).all() for p in run.flow.parameters())
    assert np.isfinite(pg.view(run).density).all()


def test_pretrained_checkpoint_is_shown_at_once_and_scratch_is_one_click(tmp_path):
    s = Settings(models="both", blocks=2, width=16, grid=100)
    for model in ("iresnet", "glow"):
        flow = ic.build_flow(s.flow_config(model))
        ic.Trainer(flow, ic.datasets.sample("8gaussians", 1000, seed=0), seed=0).step(3)
        ic.save(flow, tmp_path / "8gaussians" / model, metrics={"steps": 3})
    pg = Playground(s, checkpoint_root=tmp_path)
    assert [r.origin for r in pg.shown_runs] == ["pre-trained", "pre-trained"]
    assert pg.runs["iresnet"].pretrained_steps == 3 and pg.runs["iresnet"].step == 0
    # trained weights resume with a warm-up (Play must not throw them off); scratch needs none
    assert [r.trainer.warmup for r in pg.shown_runs] == [ic.RESUME_WARMUP] * 2
    # each model's own schedule (ic.DEFAULT_LR_DECAY); a decaying step size carries on from
    # where the checkpoint's training left it
    assert [(r.trainer.lr_decay, r.trainer.decay_from) for r in pg.shown_runs] == [
        (ic.DEFAULT_LR_DECAY["iresnet"], 3),
        (ic.DEFAULT_LR_DECAY["glow"], 3),
    ]
    fresh = Playground(s.replace(pretrained=False), checkpoint_root=tmp_path)
    assert [(r.trainer.lr_decay, r.trainer.decay_from) for r in fresh.shown_runs] == [
        (ic.DEFAULT_LR_DECAY["iresnet"], 0),
        (ic.DEFAULT_LR_DECAY["glow"], 0),
    ]
    assert ic.DEFAULT_LR_DECAY["glow"] is not None  # the resumed decay above is at work
    z_pre = pg.view(pg.runs["iresnet"]).density
    z_fresh = fresh.view(fresh.runs["iresnet"]).density
    assert not np.allclose(z_pre, z_fresh)
    # "start from scratch": one toggle; c moved away from the checkpoint's: i-ResNet from scratch,
    # Glow kept
    notes = pg.apply(s.replace(pretrained=False))
    assert [r.origin for r in pg.shown_runs] == ["scratch", "scratch"] and notes
    assert [r.trainer.warmup for r in pg.shown_runs] == [0, 0]
    pg2 = Playground(s, checkpoint_root=tmp_path)
    glow = pg2.runs["glow"]
    pg2.apply(s.replace(c=0.5))
    assert pg2.runs["iresnet"].origin == "scratch" and pg2.runs["glow"] is glow
    # a broken checkpoint falls back to scratch with a note
    (tmp_path / "moons" / "iresnet").mkdir(parents=True)
    (tmp_path / "moons" / "iresnet" / "config.json").write_text(
        json.dumps(s.flow_config("iresnet").to_dict())
    )
    (tmp_path / "moons" / "iresnet" / "model.safetensors").write_bytes(b"garbage")
    pg3 = Playground(s.replace(dataset="moons", models="iresnet"), checkpoint_root=tmp_path)
    assert pg3.runs["iresnet"].origin == "scratch" and any(
        "checkpoint" in n.text for n in pg3.notes
    )


def test_a_note_cut_short_by_a_newer_run_is_described_from_what_was_seen():
    """A fast slider drag: the run that made a note can be cut short by the next one before the
    note is on screen. The next run's note then covers both moves, "c 0.9 → 0.85", not "c 0.88 →
    0.85" (the browser test waits for exactly that text); once shown, a note is gone."""
    s = Settings(models="iresnet", blocks=2, width=16, grid=100, pretrained=False)
    pg = Playground(s)
    pg.apply(s.replace(c=0.88))
    first, _ = pg.pending_notes()  # the page read it, then a newer run stopped this one
    assert len(first) == 1 and "c 0.9 → 0.88" in first[0].text
    pg.apply(s.replace(c=0.85))
    notes, noted = pg.pending_notes()
    assert notes[0] == first[0] and "c 0.9 → 0.85" in notes[-1].text  # the page keeps the latest
    pg.notes_shown(notes, noted)  # this run reached its end
    assert pg.pending_notes()[0] == []
    pg.apply(s.replace(c=0.8))
    assert "c 0.85 → 0.8" in pg.pending_notes()[0][-1].text


def test_each_model_has_its_own_learning_rate():
    at = _app(**SMALL)
    pg = at.session_state[STATE_KEY]
    assert {r.model: r.trainer.lr for r in pg.shown_runs} == ic.DEFAULT_LR
    at.select_slider(key="glow_lr").set_value(1e-3).run()
    assert_clean(at)
    lrs = {r.model: r.trainer.lr for r in pg.shown_runs}
    assert lrs == {"iresnet": ic.DEFAULT_LR["iresnet"], "glow": 1e-3}
    assert not [i.value for i in at.info if "reset" in i.value]


def test_server_config_keeps_the_live_loop_cheap():
    """The Streamlit config the app ships with: no file watcher walking .venv, no forced full
    garbage collection after every 0.1 s tick (together they cut live training to a tenth)."""
    import tomllib

    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["fileWatcherType"] == "none"
    assert cfg["runner"]["postScriptGC"] is False


def test_status_gives_the_step_size_the_warm_up_ramps_towards_then_the_one_taken():
    data = ic.datasets.sample("8gaussians", 500, seed=0)
    flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16, 16)))
    tr = ic.Trainer(flow, data, lr=0.06, seed=0, lr_decay=1000, decay_from=3000, warmup=10)
    assert _step_size(tr) == "lr 0.03 after warm-up (0/10)"  # not the ramp's first step, 0.003
    tr.step(4)
    assert _step_size(tr) == "lr 0.03 after warm-up (4/10)"
    tr.step(6)
    assert _step_size(tr) == f"lr now {0.06 / (1 + 3010 / 1000) ** 0.5:.2g}"


@pytest.mark.parametrize("activation", ["elu", "lipswish"])
def test_the_engine_switches_live_between_the_c_kernel_and_torch_and_says_so(activation):
    """The shipped default trains through the C engine; switching to torch (and back) keeps the
    models, their steps and their weights, and the status line names the engine."""
    at = _app(models="Both", activation=activation, **SMALL)
    at.button(key="step").click().run()
    runs = _pg(at).runs
    trainer = runs["iresnet"].trainer
    assert trainer.engine == "C kernel" or activation != "elu"
    at.segmented_control(key="engine").set_value("torch").run()
    assert_clean(at)
    assert _pg(at).runs["iresnet"] is runs["iresnet"] and _counter(at) == [1, 1]  # no reset
    assert trainer.engine == "torch" and runs["glow"].trainer.engine == "torch"
    assert any("Training engine torch asked for" in i.value for i in at.info)
    texts = [c.value for c in at.caption]
    assert any("torch (torch asked for" in t for t in texts), texts
    before = [p.detach().clone() for p in trainer.flow.parameters()]
    at.segmented_control(key="engine").set_value("C kernel").run()
    at.button(key="step").click().run()
    assert_clean(at)
    assert _counter(at) == [2, 2]
    assert any(not torch.equal(a, p) for a, p in zip(before, trainer.flow.parameters()))
    if trainer.engine == "C kernel":
        assert any("C kernel ✓" in c.value for c in at.caption)


def test_equal_steps_keeps_both_models_at_the_same_step_through_play_and_step(monkeypatch):
    """The default budget: each Play tick advances both models by the same number of steps, and
    the status line and the sentence under the charts say so. The trainers' clock is the test's:
    a step takes 1/64 s of it, so the paces and the step counts are exact on any machine."""
    from iresnet_core.training import trainer as trainer_module

    now = [0.0]
    monkeypatch.setattr(trainer_module, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    at = _app(models="Both", pretrained="false", **SMALL)
    pg = _pg(at)
    assert pg.settings.budget == "equal steps"
    for run in pg.shown_runs:

        def step(real=run.trainer._one_step):
            now[0] += 1 / 64
            return real()

        monkeypatch.setattr(run.trainer, "_one_step", step)
    for _ in range(5):
        pg.tick(0.2)
    steps = [r.step for r in pg.shown_runs]
    # the first tick measures the paces (one step each), the next ones fit 0.4 s / (2/64 s) = 12
    assert steps == [1 + 4 * 12] * 2
    at.button(key="step").click().run()
    assert_clean(at)
    assert _counter(at) == [steps[0] + 1] * 2
    assert any("budget: equal steps" in c.value for c in at.caption)
    assert any(
        m.value.startswith(f"After {steps[0] + 1:,} steps each: i-ResNet") for m in at.markdown
    )


def test_equal_time_gives_each_model_its_own_steps_and_the_nll_curve_seconds():
    at = _app(models="Both", pretrained="false", budget="equal time", **SMALL)
    pg = _pg(at)
    assert pg.budget_in_time
    pg.tick(0.3)
    at.run()
    assert_clean(at)
    assert any("budget: equal time" in c.value for c in at.caption)
    assert any(m.value.startswith("After about") for m in at.markdown)
    nll = [s for s in _specs(at) if s["layout"]["title"]["text"].endswith("NLL")]
    assert nll and all(s["layout"]["xaxis"]["title"]["text"] == "seconds of training" for s in nll)


def test_a_link_out_of_range_or_in_other_words_opens_what_it_meant_and_says_so():
    at = _app(
        models="iresnet", c="5", blocks="abc", **{k: v for k, v in SMALL.items() if k != "blocks"}
    )
    assert_clean(at)
    pg = _pg(at)
    assert pg.settings.models == "iresnet" and pg.settings.c == 0.99
    infos = " ".join(i.value for i in at.info)
    assert "c=5 is above 0.99: using 0.99." in infos
    assert "blocks=abc is not a number" in infos
