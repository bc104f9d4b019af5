"""Bad uploads never break the Playground (issue 7, item 1).

Generated files go through the page's own upload path
(:func:`dashboard.views.playground.handle_upload` on a :class:`Playground` that already holds a
good upload and a trained step, and a few of them through the real page in AppTest): each one is
refused with a message that names the problem, or, where the data are usable (semicolons, tabs,
extra whitespace, UTF-16, a decimal comma), read correctly. After a refusal the state is exactly
what it was: data, points, models, weights.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from dashboard.state import CUSTOM, Playground, Settings
from dashboard.views.playground import STATE_KEY, handle_upload
from tests.support import APP

TINY = dict(models="iresnet", blocks=2, width=16, grid=100, pretrained=False)

RNG = np.random.default_rng(7)
PTS = RNG.normal(size=(60, 2)).round(4)
ROWS = [f"{a:.4f},{b:.4f}" for a, b in PTS]
GOOD = "x,y\n" + "\n".join(ROWS) + "\n"


def _csv(rows, header="x,y", sep=",", end="\n") -> str:
    return (
        (header + end if header is not None else "")
        + end.join(r.replace(",", sep) for r in rows)
        + end
    )


def _million_rows() -> bytes:
    return b"x,y\n" + b"0.5,1.5\n1.5,0.25\n" * 500_001  # 1,000,002 rows, ~9.5 MB


def _over_50mb() -> bytes:
    return b"x,y\n" + b"1.0000001,2.0000001\n" * 2_800_000  # ~53 MiB


#: (name, content, words the error must contain); every one is refused
BAD: list[tuple[str, bytes | None, tuple[str, ...]]] = [
    ("empty.csv", b"", ("empty",)),
    ("blank-lines.csv", b"\n\n  \n\n", ("empty",)),
    ("header-only.csv", b"x,y\n", ("header", "no data rows")),
    (
        "three-columns.csv",
        _csv([r + ",1" for r in ROWS], "i,x,y").encode(),
        ("3 columns", "exactly 2"),
    ),
    (
        "one-column.csv",
        _csv([r.split(",")[0] for r in ROWS], "x").encode(),
        ("1 column", "exactly 2"),
    ),
    ("ragged.csv", (GOOD + "1,2,3\n").encode(), ("row 62", "3 values")),
    ("text.csv", (GOOD + "hello,world\n").encode(), ("row 62", "not a number")),
    ("prose.txt", b"Dear colleague,\nplease find attached my points.\nBest\n", ("1 column",)),
    ("nan.csv", (GOOD + "nan,1\n").encode(), ("row 62", "NaN")),
    ("inf.csv", (GOOD + "1,inf\n").encode(), ("row 62", "infinite")),
    ("minus-inf.csv", (GOOD + "-inf,-inf\n").encode(), ("infinite",)),
    ("million-rows.csv", None, ("too many rows", "1,000,000")),  # generated lazily (large)
    ("fifty-mb.csv", None, ("50 MB",)),
    ("random.bin", RNG.integers(0, 256, 4096, dtype=np.uint8).tobytes(), ("binary",)),
    ("model.pt", b"PK\x03\x04" + bytes(range(256)) * 8, ("binary",)),
    ("pickle.pkl", b"\x80\x04\x95" + bytes(200), ("binary",)),
    ("single-point.csv", b"x,y\n1,2\n", ("only 1 data rows", "at least 10")),
    ("few-points.csv", _csv(ROWS[:9]).encode(), ("only 9 data rows",)),
    ("same-point.csv", _csv(["1.5,-2.0"] * 200).encode(), ("identical",)),
    ("all-zero.csv", _csv(["0,0"] * 50, header=None).encode(), ("identical",)),
    ("one-line.csv", _csv([f"{i},3" for i in range(50)]).encode(), ("identical y",)),
    ("huge.csv", (GOOD + "1e30,1\n").encode(), ("1e+30", "±1e+15")),
    ("huge-neg.csv", _csv([f"{-1e30 * (i + 1)},{i}" for i in range(20)]).encode(), ("±1e+15",)),
    ("utf16-garbage.csv", "x,y\n1,2\n".encode("utf-16")[:-1], ("binary",)),
]

#: (name, content): usable data in another dialect, read as the same 60 points
GOOD_DIALECTS: list[tuple[str, bytes]] = [
    ("semicolons.csv", _csv(ROWS, "x;y", ";").encode()),
    ("tabs.tsv", _csv(ROWS, "x\ty", "\t").encode()),
    (
        "whitespace.txt",
        (
            "  x    y  \n" + "\n".join(f"   {a:.4f}   \t {b:.4f}   " for a, b in PTS) + "\n\n"
        ).encode(),
    ),
    ("utf16.csv", GOOD.encode("utf-16")),
    ("utf8-bom.csv", b"\xef\xbb\xbf" + GOOD.encode()),
    ("crlf.csv", GOOD.replace("\n", "\r\n").encode()),
    (
        "decimal-comma.csv",
        _csv([f"{a:.4f};{b:.4f}".replace(".", ",") for a, b in PTS], "x;y").encode(),
    ),
    (
        "quoted.csv",
        ('"x","y"\n' + "\n".join(f'"{a:.4f}","{b:.4f}"' for a, b in PTS) + "\n").encode(),
    ),
    ("trailing-comma.csv", ("x,y,\n" + "\n".join(r + "," for r in ROWS) + "\n").encode()),
    ("no-header.csv", _csv(ROWS, header=None).encode()),
]


def _content(name: str, content: bytes | None) -> bytes:
    if content is not None:
        return content
    return _million_rows() if name == "million-rows.csv" else _over_50mb()


def _fingerprint(pg: Playground) -> tuple:
    """Everything a refused upload must leave alone."""
    weights = {
        m: hashlib.sha1(
            b"".join(p.detach().numpy().tobytes() for p in r.flow.parameters())
        ).hexdigest()
        for m, r in pg.runs.items()
    }
    return (
        pg.data_key,
        pg.dataset,
        hashlib.sha1(pg.data.tobytes()).hexdigest(),
        id(pg.user_points),
        pg.user_name,
        pg.upload_digest,
        pg.settings,
        {m: (id(r), r.step) for m, r in pg.runs.items()},
        weights,
    )


@pytest.fixture(scope="module")
def trained() -> Playground:
    """A Playground on "your own points" (a good upload) with one training step done."""
    torch.manual_seed(0)
    pg = Playground(Settings(**TINY))
    assert handle_upload(pg, GOOD.encode(), "mine.csv") is None
    pg.apply(pg.settings.replace(dataset=CUSTOM))
    pg.step(1)
    assert pg.dataset == CUSTOM and len(pg.data) == 60
    return pg


@pytest.mark.parametrize("name,content,words", BAD, ids=[b[0] for b in BAD])
def test_bad_upload_is_named_and_keeps_the_state(trained, name, content, words):
    before = _fingerprint(trained)
    err = handle_upload(trained, _content(name, content), name)
    assert err, f"{name} was accepted"
    assert err.startswith(name + ":"), err  # the message names the file ...
    for w in words:  # ... and the problem
        assert w in err, (w, err)
    assert (
        "Traceback" not in err and "could not read the file" not in err
    )  # a named error, not a fallback
    assert _fingerprint(trained) == before


@pytest.mark.parametrize("name,content", GOOD_DIALECTS, ids=[g[0] for g in GOOD_DIALECTS])
def test_usable_dialects_are_read_correctly(name, content):
    pg = Playground(Settings(**TINY))
    assert handle_upload(pg, content, name) is None
    np.testing.assert_allclose(pg.user_points, PTS.astype(np.float32), rtol=0, atol=1e-6)
    pg.apply(pg.settings.replace(dataset=CUSTOM))
    assert pg.dataset == CUSTOM and pg.data.shape == (60, 2)


def test_random_mutations_never_raise_and_never_half_apply(trained):
    """Byte flips, cuts and insertions of a good file: accepted as an (n, 2) finite set, or refused
    with a message and no change at all."""
    rng = np.random.default_rng(1)
    base = bytearray(GOOD.encode())
    outcomes = set()
    for i in range(60):
        b = bytearray(base)
        for _ in range(int(rng.integers(1, 6))):
            kind, pos = rng.integers(0, 4), int(rng.integers(0, len(b)))
            if kind == 0:
                b[pos] = int(rng.integers(0, 256))
            elif kind == 1:
                b = b[:pos]
            elif kind == 2:
                b[pos:pos] = bytes(
                    rng.choice(list(b",;\t\n.-eE x\x00\xff"), size=int(rng.integers(1, 4)))
                )
            else:
                del b[pos : pos + int(rng.integers(1, 20))]
        before = _fingerprint(trained)
        fresh = Playground.__new__(Playground)  # only to read the file: no models built
        fresh.user_points = fresh.user_name = fresh.upload_digest = None
        err = Playground.upload(fresh, bytes(b), f"m{i}.csv")
        if err is None:
            pts = fresh.user_points
            assert (
                pts.ndim == 2 and pts.shape[1] == 2 and len(pts) >= 10 and np.isfinite(pts).all()
            )
            outcomes.add("read")
        else:
            assert err.startswith(f"m{i}.csv: ") and "Traceback" not in err
            err2 = handle_upload(trained, bytes(b), f"m{i}.csv")
            assert err2 == err and _fingerprint(trained) == before
            outcomes.add("refused")
    assert outcomes == {"read", "refused"}  # the mutations exercised both paths


def test_same_refused_file_is_not_parsed_again_on_rerun(trained, monkeypatch):
    calls = []
    real = Playground.upload
    monkeypatch.setattr(
        Playground, "upload", lambda self, c, n: calls.append(n) or real(self, c, n)
    )
    big = _million_rows()
    first = handle_upload(trained, big, "again.csv")
    assert first and "too many rows" in first
    assert handle_upload(trained, big, "again.csv") == first  # a rerun resends the file
    assert calls == ["again.csv"]


def test_bad_uploads_in_the_page_show_st_error_and_keep_the_model():
    """The real page (AppTest): a good upload, then a series of bad ones; each shows st.error with
    the named problem, no exception, and the same data and model stay on screen."""
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in {
        "models": "i-ResNet",
        "blocks": "2",
        "width": "16",
        "pretrained": "false",
    }.items():
        at.query_params[k] = v
    at.run()
    at.selectbox(key="dataset").set_value(CUSTOM).run()
    at.file_uploader(key="upload").set_value(("mine.csv", GOOD.encode(), "text/csv")).run()
    assert not at.exception
    at.button(key="step").click().run()
    pg = at.session_state[STATE_KEY]
    assert pg.dataset == CUSTOM and pg.runs["iresnet"].step == 1
    before = _fingerprint(pg)
    spec = at.get("plotly_chart")[1].proto.spec  # the samples chart: data behind it
    cases = [
        b
        for b in BAD
        if b[0]
        in (
            "empty.csv",
            "header-only.csv",
            "random.bin",
            "huge.csv",
            "nan.csv",
            "same-point.csv",
            "million-rows.csv",
        )
    ]
    for name, content, words in cases:
        name = (
            name.rsplit(".", 1)[0] + ".csv"
        )  # the uploader takes .csv/.txt only (binary content inside)
        at.file_uploader(key="upload").set_value((name, _content(name, content), "text/csv")).run()
        assert not at.exception, (name, [e.value for e in at.exception])
        errors = [e.value for e in at.error]
        assert (
            len(errors) == 1 and errors[0].startswith(name) and all(w in errors[0] for w in words)
        ), errors
        assert _fingerprint(at.session_state[STATE_KEY]) == before, name
        assert at.get("plotly_chart")[1].proto.spec == spec
    # a usable file in another dialect replaces the data (and says so)
    at.file_uploader(key="upload").set_value(("semi.csv", GOOD_DIALECTS[0][1], "text/csv")).run()
    assert not at.exception and not at.error
    assert any("Data changed" in i.value for i in at.info)
