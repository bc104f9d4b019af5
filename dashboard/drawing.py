"""Strokes drawn on a canvas become 2D points: the person's own data set, drawn.

The canvas (``streamlit-drawable-canvas``, Fabric.js underneath) reports each free-hand stroke
as a path of ``M`` / ``Q`` / ``L`` commands in canvas pixels (y pointing down) and its brush
width. :func:`stroke_paths` reads those paths as polylines (quadratic pieces evaluated along
their curve); :func:`strokes_to_points` spreads points uniformly over the ink: along each stroke
at ``density`` points per 100 pixels of its length, across it uniformly within the brush width,
so what is drawn thick is data with spread, and a flow can fit it. The points land in the box
``[-4, 4]^2`` (the toy sets' scale), y pointing up; :func:`points_csv` writes them as the CSV an
upload would be, so that they go through the same checks and messages.

No Streamlit import (``dashboard.views.draw`` is the panel).

Example:
    >>> stroke = {"type": "path", "strokeWidth": 10,
    ...           "path": [["M", 0, 100], ["L", 200, 100]]}
    >>> pts = strokes_to_points(stroke_paths({"objects": [stroke]}), (200, 200), density=50)
    >>> pts.shape, bool(abs(pts[:, 1]).max() <= 0.2), float(pts[:, 0].min()) >= -4
    ((100, 2), True, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Stroke", "BOX", "MAX_POINTS", "stroke_paths", "strokes_to_points", "points_csv"]

BOX = (-4.0, 4.0, -4.0, 4.0)  #: where the canvas lands in the data plane (the toy sets' scale)
MAX_POINTS = 20_000  #: a drawing gives at most this many points (the toy sets' count)
_CURVE_STEPS = 8  # points per quadratic piece of a path


@dataclass(frozen=True)
class Stroke:
    """One free-hand stroke: its centre line in canvas pixels ``(m, 2)`` and its brush width."""

    line: np.ndarray
    width: float


def _quad(p0: np.ndarray, c: np.ndarray, p1: np.ndarray) -> np.ndarray:
    t = np.linspace(0.0, 1.0, _CURVE_STEPS + 1)[1:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * c + t**2 * p1


def stroke_paths(json_data: Mapping[str, Any] | None) -> list[Stroke]:
    """The free-hand strokes in a Fabric.js canvas JSON (``CanvasResult.json_data``; Fabric 6
    names the type ``"Path"``, older versions ``"path"``); other objects (shapes, text) are
    skipped, and so are paths that do not parse.

    Example:
        >>> s = stroke_paths({"objects": [{"type": "path", "strokeWidth": 4,
        ...                   "path": [["M", 0, 0], ["Q", 5, 0, 10, 0]]}]})
        >>> s[0].width, s[0].line[[0, -1]].tolist()
        (4.0, [[0.0, 0.0], [10.0, 0.0]])
    """
    strokes = []
    for obj in (json_data or {}).get("objects", []) or []:
        if not isinstance(obj, Mapping) or str(obj.get("type", "")).lower() != "path":
            continue
        pts: list[np.ndarray] = []
        try:
            for cmd in obj.get("path") or []:
                op, args = cmd[0], np.asarray(cmd[1:], dtype=np.float64)
                if op in ("M", "L") and args.size == 2:
                    pts.append(args[None, :])
                elif op == "Q" and args.size == 4 and pts:
                    pts.append(_quad(pts[-1][-1], args[:2], args[2:]))
            width = float(obj.get("strokeWidth") or 1.0)
        except (TypeError, ValueError, IndexError):
            continue
        if pts:
            line = _placed(np.concatenate(pts), obj)
            if line is not None and np.isfinite(line).all():
                strokes.append(Stroke(line, max(width, 1.0)))
    return strokes


def _placed(line: np.ndarray, obj: Mapping[str, Any]) -> np.ndarray | None:
    """A path's points where the canvas shows them. Fabric keeps a path's commands as drawn and
    moves, scales and turns the object around its centre (``left``, ``top`` with
    ``originX = originY = "center"``, Fabric 6 and later): a stroke moved in the canvas's edit
    mode lands where it was moved to. Other origins (older Fabric) are taken as drawn."""
    if obj.get("originX") != "center" or obj.get("originY") != "center":
        return line
    try:
        centre = np.array([float(obj["left"]), float(obj["top"])])
        scale = np.array([float(obj.get("scaleX", 1)), float(obj.get("scaleY", 1))])
        angle = np.deg2rad(float(obj.get("angle", 0) or 0))
    except (KeyError, TypeError, ValueError):
        return line
    if obj.get("flipX"):
        scale[0] = -scale[0]
    if obj.get("flipY"):
        scale[1] = -scale[1]
    own = (line.min(axis=0) + line.max(axis=0)) / 2  # the path's own centre
    c, s = np.cos(angle), np.sin(angle)
    turn = np.array([[c, -s], [s, c]])
    return ((line - own) * scale) @ turn.T + centre


def strokes_to_points(
    strokes: Sequence[Stroke],
    canvas: tuple[int, int],
    *,
    density: float = 40.0,
    seed: int = 0,
    box: tuple[float, float, float, float] = BOX,
) -> np.ndarray:
    """Points spread uniformly over the ink of ``strokes`` on a ``canvas`` of ``(width,
    height)`` pixels, in the data plane ``box``: float32 ``(n, 2)``, at most
    :data:`MAX_POINTS` (then thinned evenly).

    ``density`` is points per 100 pixels of stroke length (a dot, a stroke of no length, gets
    one point per ``100 / density`` pixels of its width). Each point sits at a uniform position
    along the stroke and a uniform offset across it within the brush width.
    """
    rng = np.random.default_rng(seed)
    w, h = (float(v) for v in canvas)
    parts = []
    for s in strokes:
        line = np.asarray(s.line, dtype=np.float64).reshape(-1, 2)
        seg = np.diff(line, axis=0)
        lengths = np.hypot(seg[:, 0], seg[:, 1])
        total = float(lengths.sum())
        n = max(1, int(round(max(total, s.width) * density / 100.0)))
        if total <= 0:  # a dot: a disc of the brush width
            r = s.width / 2 * np.sqrt(rng.random(n))
            a = 2 * np.pi * rng.random(n)
            parts.append(line[0] + np.stack([r * np.cos(a), r * np.sin(a)], 1))
            continue
        at = rng.random(n) * total
        cum = np.concatenate([[0.0], np.cumsum(lengths)])
        i = np.clip(np.searchsorted(cum, at, side="right") - 1, 0, len(seg) - 1)
        keep = lengths[i] > 0
        i, at = i[keep], at[keep]
        frac = (at - cum[i]) / lengths[i]
        centre = line[i] + frac[:, None] * seg[i]
        normal = np.stack([-seg[i, 1], seg[i, 0]], 1) / lengths[i][:, None]
        offset = (rng.random(len(i)) - 0.5) * s.width
        parts.append(centre + offset[:, None] * normal)
    if not parts:
        return np.zeros((0, 2), np.float32)
    px = np.concatenate(parts)
    if len(px) > MAX_POINTS:
        px = px[np.linspace(0, len(px) - 1, MAX_POINTS).astype(int)]
    x0, x1, y0, y1 = box
    x = x0 + px[:, 0] / w * (x1 - x0)
    y = y1 - px[:, 1] / h * (y1 - y0)  # canvas y points down, the plane's up
    return np.stack([x, y], 1).astype(np.float32)


def points_csv(points: np.ndarray) -> bytes:
    """``x,y`` CSV of the points, the file an upload of them would be.

    Example:
        >>> points_csv(np.array([[1.0, -0.5]]))
        b'x,y\\n1,-0.5\\n'
    """
    rows = "".join(f"{x:.7g},{y:.7g}\n" for x, y in np.asarray(points, dtype=np.float64))
    return ("x,y\n" + rows).encode()
