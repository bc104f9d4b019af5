"""Tests of :mod:`dashboard.drawing` (canvas strokes -> points) and of a drawing sent to the
Playground: the points lie on the ink, at the asked density, and go through the upload's checks."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.drawing import (
    BOX,
    MAX_POINTS,
    Stroke,
    points_csv,
    stroke_paths,
    strokes_to_points,
)
from dashboard.settings import CUSTOM
from dashboard.state import Playground, Settings
from dashboard.views.playground import handle_upload

CANVAS = (200, 200)


def _path(*cmds, **obj):
    return {"type": "Path", "strokeWidth": 10, "path": [list(c) for c in cmds], **obj}


def test_paths_are_read_as_polylines_and_other_objects_skipped():
    data = {
        "objects": [
            _path(("M", 0, 0), ("Q", 10, 0, 10, 10), ("L", 20, 10)),
            {"type": "Rect", "left": 1, "top": 2},
            {"type": "path", "path": "garbage"},
        ]
    }
    (s,) = stroke_paths(data)
    assert s.width == 10
    assert s.line[0].tolist() == [0, 0] and s.line[-1].tolist() == [20, 10]
    # the quadratic piece follows the curve: its midpoint is (7.5, 2.5), not on the chord
    assert np.isclose(s.line, [7.5, 2.5]).all(axis=1).any()
    assert stroke_paths(None) == [] and stroke_paths({"objects": None}) == []


def test_a_moved_and_scaled_stroke_lands_where_the_canvas_shows_it():
    drawn = _path(("M", 10, 10), ("L", 30, 10), originX="center", originY="center")
    moved = {**drawn, "left": 100.0, "top": 50.0, "scaleX": 2.0}
    (s,) = stroke_paths({"objects": [moved]})
    np.testing.assert_allclose(s.line, [[80, 50], [120, 50]])
    turned = {**drawn, "left": 20.0, "top": 10.0, "angle": 90}
    np.testing.assert_allclose(stroke_paths({"objects": [turned]})[0].line, [[20, 0], [20, 20]])


@pytest.mark.parametrize("density", [10, 40, 150])
def test_points_lie_on_the_ink_at_the_asked_density(density):
    stroke = Stroke(np.array([[20.0, 100.0], [180.0, 100.0]]), width=16)  # 160 px, horizontal
    pts = strokes_to_points([stroke], CANVAS, density=density, seed=1)
    assert len(pts) == round(160 * density / 100)
    px = (pts[:, 0] - BOX[0]) / 8 * 200  # back to canvas pixels
    py = (BOX[3] - pts[:, 1]) / 8 * 200  # canvas y points down
    assert px.min() >= 20 - 1e-3 and px.max() <= 180 + 1e-3
    assert np.abs(py - 100).max() <= 8 + 1e-3  # within half the brush width
    if density >= 40:  # spread uniformly across the brush, not on the centre line
        assert (py - 100).std() == pytest.approx(16 / np.sqrt(12), rel=0.25)  # uniform, 16 px


def test_a_dot_is_a_disc_and_many_strokes_are_capped():
    dot = Stroke(np.array([[100.0, 100.0]]), width=20)
    pts = strokes_to_points([dot], CANVAS, density=100)
    assert len(pts) == 20 and (np.hypot(*pts.T) <= 0.4 + 1e-6).all()  # radius 10 px = 0.4
    long = Stroke(np.array([[0.0, 0.0], [200.0, 200.0]] * 200), width=10)
    assert len(strokes_to_points([long], CANVAS, density=200)) == MAX_POINTS


def _custom(pg: Playground) -> None:
    pg.apply(pg.settings.replace(dataset=CUSTOM))


def test_a_drawing_goes_through_the_upload_and_replaces_an_uploaded_file():
    pg = Playground(Settings(models="iresnet", blocks=2, width=16, pretrained=False))
    upload = points_csv(np.random.default_rng(0).normal(size=(50, 2)))
    assert handle_upload(pg, upload, "mine.csv") is None
    _custom(pg)
    assert pg.dataset == CUSTOM and len(pg.data) == 50
    stroke = Stroke(np.array([[20.0, 20.0], [180.0, 180.0]]), width=12)
    drawn = strokes_to_points([stroke], CANVAS, density=40)
    assert pg.upload(points_csv(drawn), "your drawing") is None
    _custom(pg)
    np.testing.assert_allclose(pg.data, drawn, atol=1e-6)
    assert any("your drawing" in n.text for n in pg.notes)  # the reset says so
    assert pg.entropy is None  # no floor for drawn data
    # the uploader resends its file on every rerun: the drawing stays
    assert handle_upload(pg, upload, "mine.csv") is None
    _custom(pg)
    np.testing.assert_allclose(pg.data, drawn, atol=1e-6)
    # a drawing the checks refuse (a single short dot: too few points) says what an upload says
    few = strokes_to_points([Stroke(np.array([[5.0, 5.0]]), width=2)], CANVAS, density=100)
    err = pg.upload(points_csv(few), "your drawing")
    assert err is not None and "at least 10" in err
    np.testing.assert_allclose(pg.data, drawn, atol=1e-6)  # nothing changed
