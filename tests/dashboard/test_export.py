"""Figure packs and the CLI export: same figures as the page, complete even without a Chromium."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from dashboard import export
from dashboard.figures.playground import playground_charts


def _charts():
    xs = ys = np.linspace(-3, 3, 100)
    dens = np.exp(-0.5 * (xs[None] ** 2 + ys[:, None] ** 2)) / (2 * np.pi)
    pts = np.random.default_rng(0).normal(size=(200, 2))
    return playground_charts(
        dataset="moons",
        model="iresnet",
        xs=xs,
        ys=ys,
        density=dens,
        data=pts,
        samples=pts,
        history={"step": [1, 2], "train_nll": [3.0, 2.9], "test_nll": [3.1, 3.0]},
        entropy=2.393,
        tag="c=0.9_step=2",
    )


def test_chart_html_is_standalone():
    html = export.chart_html(_charts()[0])
    assert (
        html.lstrip().lower().startswith("<html")
        or "<!doctype" in html.lower()[:50]
        or "<html" in html[:200]
    )
    assert "plotly" in html and len(html) > 1_000_000  # plotly.js embedded: works offline
    assert "moons_iresnet_density_c=0.9_step=2" in html  # camera-button file name


def test_figure_pack_without_images_has_html_csv_config(monkeypatch):
    charts = _charts()
    data = export.figure_pack(charts, {"settings": {"c": 0.9}}, image_formats=())
    z = zipfile.ZipFile(io.BytesIO(data))
    names = set(z.namelist())
    for c in charts:
        assert f"html/{c.slug}.html" in names and f"csv/{c.slug}.csv" in names
    assert json.loads(z.read("config.json"))["settings"]["c"] == 0.9
    csv = z.read(f"csv/{charts[2].slug}.csv").decode()
    assert csv.splitlines()[0] == "step,train_nll,test_nll,entropy"
    assert csv.splitlines()[2].startswith("2,2.9,3,2.393")


def test_missing_chromium_degrades_with_a_note(monkeypatch):
    monkeypatch.setattr(export, "chromium_path", lambda: None)
    images, note = export.render_images(_charts(), ("png",))
    assert images == {} and "Chromium" in note
    z = zipfile.ZipFile(
        io.BytesIO(export.figure_pack(_charts(), {}, image_formats=("png", "pdf")))
    )
    assert "NOTE.txt" in z.namelist() and not any(n.startswith("png/") for n in z.namelist())


@pytest.mark.slow
@pytest.mark.skipif(export.chromium_path() is None, reason="no Chromium for kaleido")
def test_images_through_kaleido_at_scale_2():
    charts = _charts()[:1]
    images, note = export.render_images(
        charts, ("png", "pdf", "svg"), scale=2, width=400, height=300
    )
    assert note is None
    png = images[f"{charts[0].slug}.png"]
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (w, h) == (800, 600)  # 2x
    assert images[f"{charts[0].slug}.pdf"][:4] == b"%PDF"
    assert b"<svg" in images[f"{charts[0].slug}.svg"][:500]


@pytest.mark.slow
def test_cli_writes_the_pack(tmp_path):
    rc = export.main(
        [
            "--dataset",
            "moons",
            "--model",
            "both",
            "--out",
            str(tmp_path),
            "--formats",
            "",
            "--grid",
            "100",
            "--blocks",
            "2",
            "--width",
            "16",
            "--steps",
            "2",
            "--scratch",
            "--zip",
        ]
    )
    assert rc == 0
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["dataset"] == "moons" and set(cfg["models"]) == {"iresnet", "glow"}
    assert cfg["models"]["iresnet"]["step"] == 2
    htmls = sorted(p.name for p in (tmp_path / "html").iterdir())
    assert len(htmls) == 6 and htmls[0].startswith("moons_glow_density")
    dens_csv = (
        next((tmp_path / "csv").glob("moons_iresnet_density_*.csv")).read_text().splitlines()
    )
    assert len(dens_csv) == 1 + 100 * 100
    assert (tmp_path / "figure-pack.zip").is_file()


def test_cli_rejects_bad_config(tmp_path, capsys):
    assert (
        export.main(["--dataset", "moons", "--out", str(tmp_path), "--c", "-1", "--formats", ""])
        == 2
    )
    assert "coeff" in capsys.readouterr().err


def test_cli_animate_writes_gif_mp4_html_with_the_frames_asked_for(tmp_path, capsys):
    import imageio.v3 as iio

    from dashboard.animation import html_frame_count

    args = ["--animate", "--dataset", "moons", "--model", "iresnet", "--scratch", "--out"]
    args += [str(tmp_path), "--blocks", "2", "--width", "16", "--grid", "40"]
    rc = export.main(args + ["--steps", "6", "--every", "2", "--formats", "gif,mp4,html"])
    assert rc == 0
    assert iio.imread(tmp_path / "training.gif", index=None).shape[0] == 4  # steps 0, 2, 4, 6
    assert html_frame_count((tmp_path / "training.html").read_bytes()) == 4
    assert (tmp_path / "training.mp4").read_bytes()[4:8] == b"ftyp"
    assert "100%" in capsys.readouterr().err  # the progress line reached the end
    assert export.main(args + ["--steps", "4", "--formats", "avi"]) == 2
    assert "formats among gif,mp4,html" in capsys.readouterr().err
