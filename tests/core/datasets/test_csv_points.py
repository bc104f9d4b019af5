"""Tests of ``iresnet_core.datasets.load_csv`` (:mod:`iresnet_core.datasets.csv_points`): a
person's own points.

Good files in every common shape are read to the same numbers; bad ones are refused with a
ValueError that says what is wrong, and never with another exception.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from iresnet_core import datasets as ds

# --------------------------------------------------------------------------------------------
# load_csv: good files
# --------------------------------------------------------------------------------------------

POINTS = np.random.default_rng(42).normal(size=(50, 2)).round(6) * [3.0, 0.5]


def _csv(sep: str = ",", header: str | None = "x,y", points=POINTS, newline="\n") -> str:
    rows = [f"{a:.6f}{sep}{b:.6f}" for a, b in points]
    if header is not None:
        rows.insert(0, header)
    return newline.join(rows) + newline


@pytest.mark.parametrize("sep", [",", ";", "\t", " ", "  \t ", ", "])
@pytest.mark.parametrize("header", [None, "x{sep}y"])
def test_load_csv_separators_and_header(sep, header):
    text = _csv(sep, header.format(sep=sep) if header else None)
    got = ds.load_csv(text.encode())
    assert got.dtype == np.float32 and got.shape == POINTS.shape
    np.testing.assert_allclose(got, POINTS, atol=1e-5)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32"])
def test_load_csv_encodings(encoding):
    got = ds.load_csv(_csv(",", "x,y").encode(encoding))
    np.testing.assert_allclose(got, POINTS, atol=1e-5)


def test_load_csv_sources(tmp_path):
    data = _csv(";", "a;b").encode()
    path = tmp_path / "pts.csv"
    path.write_bytes(data)
    for source in (
        data,
        bytearray(data),
        path,
        str(path),
        io.BytesIO(data),
        io.StringIO(data.decode()),
        open(path, "rb"),
    ):
        got = ds.load_csv(source)
        np.testing.assert_allclose(got, POINTS, atol=1e-5)

    class Upload:  # Streamlit's UploadedFile: a BytesIO with .size, possibly read before
        def __init__(self, b):
            self._b, self.size = io.BytesIO(b), len(b)

        def read(self, n=-1):
            return self._b.read(n)

    np.testing.assert_allclose(ds.load_csv(Upload(data)), POINTS, atol=1e-5)
    buf = io.BytesIO(data)
    buf.read()  # already read once: getvalue() still gives the whole file
    np.testing.assert_allclose(ds.load_csv(buf), POINTS, atol=1e-5)


def test_load_csv_tolerates_common_variations():
    base = _csv(",", "x,y")
    variants = [
        base.replace("\n", "\r\n"),  # Windows line ends
        base.replace("\n", "\r"),  # old Mac line ends
        "# my points\n\n" + base.replace("\n", "\n\n"),  # comments, blank lines
        "\n".join("  " + line + "  " for line in base.splitlines()),  # extra whitespace
        "\n".join(line + "," for line in base.splitlines()),  # trailing separator
        "\n".join('"' + line.replace(",", '","') + '"' for line in base.splitlines()),  # quotes
        _csv(";", "x;y").replace(".", ","),  # decimal comma
        _csv("\t", "x\ty").replace(".", ","),
        base.replace("\n", "\n   \n", 3),  # whitespace-only lines
    ]
    for text in variants:
        np.testing.assert_allclose(ds.load_csv(text.encode()), POINTS, atol=1e-5)
    # a header in a legacy 8-bit encoding (e.g. Excel on Windows)
    np.testing.assert_allclose(
        ds.load_csv(("Länge,Höhe\n" + _csv(",", None)).encode("cp1252")), POINTS, atol=1e-5
    )


def test_load_csv_reads_the_largest_file_it_accepts():
    """A million rows, every one right; one more is refused (its speed: the latency benchmark)."""
    block = np.random.default_rng(1).normal(size=(1000, 2)).round(5)
    rows = "".join(f"{a:.5f},{b:.5f}\n" for a, b in block)
    data = ("x,y\n" + rows * (ds.MAX_ROWS // 1000)).encode()
    got = ds.load_csv(data)
    assert got.shape == (ds.MAX_ROWS, 2)
    np.testing.assert_allclose(got, np.tile(block, (ds.MAX_ROWS // 1000, 1)), atol=1e-5)
    with pytest.raises(ValueError, match=r"too many rows.*1,000,000"):
        ds.load_csv(data + b"0.5,0.5\n")


# --------------------------------------------------------------------------------------------
# load_csv: bad files, each refused with a ValueError that says what is wrong
# --------------------------------------------------------------------------------------------

GOOD_ROWS = "".join(f"{i},{(i * 7) % 11}\n" for i in range(20))


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", ["empty"]),
        (b"\n \n\t\n", ["empty"]),
        (b"# only a comment\n", ["empty"]),
        (b"x,y\n", ["header", "no data"]),
        (b"x,y\n\n\n", ["header", "no data"]),
        ("x\n" + "".join(f"{i}\n" for i in range(20)), ["1 column", "exactly 2"]),
        ("".join(f"{i},{i},{i}\n" for i in range(20)), ["3 columns", "exactly 2"]),
        ("".join(f"{i};{i};{i};{i}\n" for i in range(20)), ["4 columns"]),
        (
            "x,y\n1,2\n3,4\n5,6\nabc,8\n" + GOOD_ROWS,
            ["row 5", "column 1", "'abc'", "not a number"],
        ),
        ("x,y\n" + GOOD_ROWS + "1,two\n", ["row 22", "column 2", "'two'"]),
        ("x,y\n" + GOOD_ROWS + "1,2,3\n", ["row 22", "3 values"]),
        ("x,y\n" + GOOD_ROWS + "1,\n", ["row 22", "column 2", "empty"]),
        ("x,y\n1,2\n3,nan\n" + GOOD_ROWS, ["row 3", "NaN"]),
        ("x,y\n1,2\n3,4\n-inf,1\n" + GOOD_ROWS, ["row 4", "infinite"]),
        ("x,y\n1,2\n3,4\n5,inf\n" + GOOD_ROWS, ["row 4", "infinite"]),
        ("x,y\n" + "".join(f"{i},{i % 3}\n" for i in range(9)), ["9 data rows", "at least 10"]),
        ("1,2\n", ["at least 10"]),
        ("x,y\n" + GOOD_ROWS + "2e16,1\n", ["row 22", "±1e+15", "32-bit"]),
        ("x,y\n" + GOOD_ROWS.replace("3,", "-1.000001e15,", 1), ["±1e+15"]),
        (
            "x,y\n" + "".join(f"{i * 1e-17},{i}\n" for i in range(20)),
            ["spread in x (column 1)", "below 1e-15"],
        ),
        (
            "x,y\n" + "".join(f"{1e9 + i * 1e-3},{i}\n" for i in range(20)),
            ["spread in x (column 1)", "magnitude", "subtract an offset"],
        ),
        ("x,y\n" + "1.5,2.5\n" * 20, ["identical", "point mass"]),
        (
            "x,y\n" + "".join(f"{i},4\n" for i in range(20)),
            ["identical", "y (column 2)", "spread"],
        ),
        ("x,y\n" + "".join(f"7,{i}\n" for i in range(20)), ["identical", "x (column 1)"]),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, ["binary"]),
        (b"x,y\n1,2\x00\n" + GOOD_ROWS.encode(), ["binary"]),
        (bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8)), ["binary"]),
        (b"\xff\xfe\x00\xd8" + b"\x41", ["byte-order mark"]),  # broken UTF-16
    ],
)
def test_load_csv_refuses_bad_content(content, words):
    data = content.encode() if isinstance(content, str) else content
    with pytest.raises(ValueError) as info:
        ds.load_csv(data)
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)


def test_load_csv_refuses_large_files_before_reading(tmp_path, monkeypatch):
    big = b"0" * (ds.MAX_BYTES + 1)
    with pytest.raises(ValueError, match="50 MB"):
        ds.load_csv(big)
    with pytest.raises(ValueError, match="50 MB"):
        ds.load_csv(io.BytesIO(big))

    class Upload:  # Streamlit's UploadedFile says its size: refused without a read
        size = ds.MAX_BYTES + 1

        def read(self, *args):
            raise AssertionError("read a file already known to be too large")

    with pytest.raises(ValueError, match="50 MB"):
        ds.load_csv(Upload())
    path = tmp_path / "huge.csv"
    with open(path, "wb") as f:  # sparse: no 50 MB written
        f.truncate(ds.MAX_BYTES + 1)

    def no_open(*args, **kwargs):
        raise AssertionError("opened a file already known to be too large")

    monkeypatch.setattr("iresnet_core.datasets.csv_points.open", no_open, raising=False)
    with pytest.raises(ValueError, match="50 MB"):
        ds.load_csv(path)
    assert ds.MAX_BYTES == 50 * 2**20


def test_load_csv_never_raises_other_errors():
    """Random mutations of a good file: either points or a ValueError, nothing else."""
    rng = np.random.default_rng(0)
    good = _csv(",", "x,y").encode()
    junk = [
        b",",
        b";",
        b"\n",
        b"\t",
        b" ",
        b"x",
        b"\x00",
        b"\xff",
        b"\xc3",
        b"nan",
        b"-",
        b"e",
        b".",
        b'"',
        b"#",
        b"\r",
        b"1e400",
        b"\xef\xbb\xbf",
        b"\xfe\xff",
    ]
    for _ in range(300):
        data = bytearray(good)
        for _ in range(int(rng.integers(1, 6))):
            pos = int(rng.integers(0, len(data)))
            piece = junk[int(rng.integers(0, len(junk)))]
            if rng.random() < 0.5:
                data[pos : pos + 1] = piece
            else:
                del data[pos : pos + int(rng.integers(1, 40))]
        try:
            out = ds.load_csv(bytes(data))
        except ValueError:
            continue
        assert out.dtype == np.float32 and out.ndim == 2 and out.shape[1] == 2
        assert np.isfinite(out).all() and len(out) >= ds.MIN_ROWS


def test_load_csv_bad_sources(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        ds.load_csv(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="expected a path"):
        ds.load_csv(12)  # type: ignore[arg-type]


def test_constants():
    assert (ds.MAX_ROWS, ds.MIN_ROWS, ds.MAX_ABS) == (1_000_000, 10, 1e15)


@pytest.mark.parametrize("scale", [1e-12, 1e-6, 1e-2, 1e3, 1e9, 1e14])
def test_any_scale_is_accepted_as_it_is(scale):
    """Points far beyond the toy sets' scale are read in their own units, not refused (a
    trainer standardises them: iresnet_core.datasets.scaling)."""
    pts = np.random.default_rng(0).normal(size=(50, 2)) * scale
    text = "x,y\n" + "".join(f"{a:.17g},{b:.17g}\n" for a, b in pts)
    got = ds.load_csv(text.encode())
    np.testing.assert_allclose(got, pts, rtol=1e-6)
