"""Tests of :mod:`dashboard.animation`: a Playground run recorded every k steps, rendered as a
GIF, an MP4 and an interactive HTML that hold the frames asked for, each frame drawn in the
figures' colour scale with the model's samples where they are."""

from __future__ import annotations

import re

import imageio.v2 as imageio_v2
import imageio.v3 as iio
import numpy as np
import pytest
from plotly.colors import hex_to_rgb, sample_colorscale, unlabel_rgb

from dashboard import animation as A
from dashboard.figures.common import DENSITY_COLORSCALE, MODEL_COLORS
from dashboard.state import Playground, Settings


def _small_playground(**kw) -> Playground:
    s = dict(blocks=2, width=16, pretrained=False, grid=40, n_samples=100)
    return Playground(Settings(**{**s, **kw}))


@pytest.fixture(scope="module")
def recording() -> A.Recording:
    pg = _small_playground()
    rec = A.record(pg, 7, 2)  # frames at steps 0, 2, 4, 6, 7
    return rec


def test_record_keeps_a_frame_every_k_steps_through_the_playground(recording):
    assert len(recording.frames) == A.frame_count(7, 2) == 5
    assert recording.models == ("iresnet", "glow")
    for model_index in (0, 1):
        steps = [f.panels[model_index].step for f in recording.frames]
        assert steps == [0, 2, 4, 6, 7]
    # the densities are the model's own at each step: training changed them
    first, last = recording.frames[0].panels[0], recording.frames[-1].panels[0]
    assert first.density.shape == (40, 40) and first.samples.shape == (100, 2)
    assert not np.allclose(first.density, last.density)


def test_record_reports_progress_to_the_end():
    pg = _small_playground(models="iresnet")
    heard: list[float] = []
    rec = A.record(pg, 4, 2, progress=lambda f, text: heard.append(f))
    assert pg.shown_runs[0].step == 4  # trained by the Playground itself
    assert heard == sorted(heard) and heard[-1] == pytest.approx(1.0)
    assert len(heard) == len(rec.frames) == 3


def test_gif_has_the_frames_asked_for(recording):
    heard: list[float] = []
    gif = A.render_gif(recording, progress=lambda f, text: heard.append(f))
    frames = iio.imread(gif, index=None, extension=".gif")
    assert frames.shape[0] == len(recording.frames)
    assert frames.shape[1] % 16 == 0 and frames.shape[2] % 16 == 0
    np.testing.assert_array_equal(frames[2][..., :3], A.rasterise(recording, 2))
    assert heard[-1] == pytest.approx(1.0)


def test_mp4_decodes_with_every_frame(recording, tmp_path):
    mp4 = A.render_mp4(recording, fps=5)
    assert mp4[4:8] == b"ftyp"
    (tmp_path / "a.mp4").write_bytes(mp4)
    with imageio_v2.get_reader(tmp_path / "a.mp4", format="FFMPEG") as r:
        frames = [f for f in r]
    assert len(frames) == len(recording.frames)
    assert frames[0].shape == A.rasterise(recording, 0).shape
    # lossy, but the picture is the frame's: mean absolute error of a few grey levels
    assert np.abs(frames[3].astype(int) - A.rasterise(recording, 3)).mean() < 8


def test_html_has_a_plotly_frame_per_recorded_frame_a_slider_and_play(recording):
    html = A.render_html(recording).decode()
    assert A.html_frame_count(html) == len(recording.frames)
    fig = A.html_figure(recording)
    assert len(fig.layout.sliders[0].steps) == len(recording.frames)
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["▶ Play", "❚❚ Pause"]
    assert [s.label for s in fig.layout.sliders[0].steps] == ["0", "2", "4", "6", "7"]
    assert "step 7" in fig.frames[-1].layout.annotations[0].text
    assert re.search(r"<script[^>]*>\s*/\*\*\s*\n?\s*\* plotly\.js", html)  # embedded: offline


def test_a_frame_shows_the_density_in_the_figures_colour_scale_and_the_samples_where_they_are():
    xs = ys = np.linspace(-4, 4, 81)
    # one bump at (2, -1): its peak pixel takes the top of the colour scale
    dens = np.exp(-0.5 * ((xs[None, :] - 2) ** 2 + (ys[:, None] + 1) ** 2)).astype(np.float32)
    panel = A.Panel("glow", 5, dens, np.array([[-2.0, 2.0]], np.float32))
    rec = A.Recording("bump", (-4.0, 4.0, -4.0, 4.0), xs, ys, [A.Frame((panel,))])
    img = A.rasterise(rec, 0)
    n, top = A.PANEL_PX, A.TITLE_PX
    plot = img[top : top + n, A.GAP_PX : A.GAP_PX + n]
    top_colour = np.array(unlabel_rgb(sample_colorscale(DENSITY_COLORSCALE, [1.0])[0]))
    low_colour = np.array(unlabel_rgb(sample_colorscale(DENSITY_COLORSCALE, [0.0])[0]))
    row, col = int((4 - (-1)) / 8 * n), int((2 + 4) / 8 * n)  # (2, -1) in pixels
    np.testing.assert_allclose(plot[row, col], top_colour, atol=12)
    np.testing.assert_array_equal(plot[5, 5], low_colour.round())
    srow, scol = int((4 - 2) / 8 * n), int((-2 + 4) / 8 * n)  # the sample (-2, 2)
    np.testing.assert_array_equal(plot[srow, scol], hex_to_rgb(MODEL_COLORS["glow"]))
    assert (plot[srow - 1, scol - 1] == 255).all()  # its white rim
    assert (img[:3] == 255).all() and (img[:top] < 100).any()  # the title is drawn


def test_render_splits_progress_over_the_formats(recording):
    heard: list[float] = []
    out = A.render(recording, ["gif", "html"], progress=lambda f, t: heard.append(f))
    assert set(out) == {"gif", "html"} and out["gif"][:6] == b"GIF89a"
    assert heard == sorted(heard) and heard[-1] == pytest.approx(1.0)
    assert max(f for f in heard if f <= 0.5) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown format"):
        A.render(recording, ["avi"])


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_200_frame_gif_of_the_default_view_is_under_10_mb():
    pg = Playground(Settings())  # the default view: both models, pre-trained
    rec = A.record(pg, 199, 1)
    assert len(rec.frames) == 200
    gif = A.render_gif(rec)
    assert iio.imread(gif, index=None, extension=".gif").shape[0] == 200
    assert len(gif) < 10e6
