"""Toy 2D data sets (the standard FFJORD recipes), their entropy floors, and a person's own points.

Every toy set is a fixed distribution on the plane, sampled reproducibly from a seed. Its
*entropy* ``H(p) = -E_p[log p(x)]`` (nats) is the lowest expected negative log-likelihood any
model can reach, so ``NLL - entropy`` is the honest distance of a fit from perfect.

The recipes follow FFJORD's ``toy_data.py`` (Grathwohl et al., ICLR 2019), which the i-ResNet
paper (Behrmann et al., ICML 2019, Appendix C) uses for its 2D experiments. Where FFJORD draws
a fixed, evenly spaced grid of angles or equal counts per component (``rings``, ``pinwheel``,
``2spirals``), this module draws the same distribution i.i.d., so that a train set and a test
set drawn with different seeds are independent samples of one density. ``circles``, ``moons``
and ``swissroll`` call scikit-learn exactly as FFJORD does, with a ``random_state`` derived
from the seed.

Example:
    >>> x = sample("8gaussians", 1000, seed=0)
    >>> x.shape, x.dtype
    ((1000, 2), dtype('float32'))
    >>> round(entropy("checkerboard"), 4)
    3.4657
"""

from __future__ import annotations

import codecs
import io
import math
import os
import warnings
from collections.abc import Callable
from typing import IO, Union

import numpy as np

__all__ = [
    "NAMES", "LABELS", "MAX_ROWS", "MIN_ROWS", "MAX_BYTES", "MAX_ABS",
    "sample", "entropy", "bounds", "extent", "load_csv",
]

NAMES: tuple[str, ...] = (
    "8gaussians", "checkerboard", "rings", "circles", "moons", "swissroll", "2spirals", "pinwheel",
)

LABELS: dict[str, str] = {
    "8gaussians": "8 Gaussians",
    "checkerboard": "Checkerboard",
    "rings": "Rings",
    "circles": "Circles",
    "moons": "Moons",
    "swissroll": "Swiss roll",
    "2spirals": "Two spirals",
    "pinwheel": "Pinwheel",
}

MAX_ROWS = 1_000_000
MIN_ROWS = 10
MAX_BYTES = 50 * 2**20
MAX_ABS = 1e6

# Entropy floors in nats (the table in DESIGN.md). tests/test_datasets.py recomputes each from
# the exact density and checks agreement within 0.01: checkerboard is uniform on 8 squares of
# area 4 (ln 32); 8gaussians by a grid integral (2.8319); rings and circles by a radial integral
# of the Bessel-I0 density (2.6232, 3.2681); moons, swissroll, 2spirals and pinwheel by Monte
# Carlo over quadrature densities of their recipes (2.391, 2.667, 2.644, 2.316; +-0.003).
_ENTROPY: dict[str, float] = {
    "8gaussians": 2.834,
    "checkerboard": math.log(32.0),
    "rings": 2.626,
    "circles": 3.267,
    "moons": 2.393,
    "swissroll": 2.666,
    "2spirals": 2.638,
    "pinwheel": 2.32,
}

# Square plotting boxes (xmin, xmax, ymin, ymax) that hold essentially all the mass.
_BOUNDS: dict[str, tuple[float, float, float, float]] = {
    "8gaussians": (-4.0, 4.0, -4.0, 4.0),
    "checkerboard": (-4.5, 4.5, -4.5, 4.5),
    "rings": (-3.5, 3.5, -3.5, 3.5),
    "circles": (-4.0, 4.0, -4.0, 4.0),
    "moons": (-4.0, 4.0, -4.0, 4.0),
    "swissroll": (-3.5, 3.5, -3.5, 3.5),
    "2spirals": (-4.0, 4.0, -4.0, 4.0),
    "pinwheel": (-4.5, 4.5, -4.5, 4.5),
}


# --------------------------------------------------------------------------------------------
# Samplers: each takes (n, rng) and returns float64 (n, 2).
# --------------------------------------------------------------------------------------------

def _sklearn_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _eight_gaussians(n: int, rng: np.random.Generator) -> np.ndarray:
    angles = np.arange(8) * (np.pi / 4.0)
    centres = 4.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    k = rng.integers(0, 8, size=n)
    x = centres[k] + 0.5 * rng.standard_normal((n, 2))
    return x / 1.414


def _checkerboard(n: int, rng: np.random.Generator) -> np.ndarray:
    x1 = rng.random(n) * 4.0 - 2.0
    x2 = rng.random(n) - rng.integers(0, 2, size=n) * 2.0 + np.floor(x1) % 2
    return np.stack([x1, x2], axis=1) * 2.0


def _rings(n: int, rng: np.random.Generator) -> np.ndarray:
    radii = np.array([1.0, 0.75, 0.5, 0.25]) * 3.0
    r = radii[rng.integers(0, 4, size=n)]
    theta = rng.random(n) * (2.0 * np.pi)
    x = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    return x + 0.08 * rng.standard_normal((n, 2))


def _circles(n: int, rng: np.random.Generator) -> np.ndarray:
    from sklearn.datasets import make_circles

    x, _ = make_circles(n_samples=n, factor=0.5, noise=0.08, random_state=_sklearn_seed(rng))
    return x * 3.0


def _moons(n: int, rng: np.random.Generator) -> np.ndarray:
    from sklearn.datasets import make_moons

    x, _ = make_moons(n_samples=n, noise=0.1, random_state=_sklearn_seed(rng))
    return x * 2.0 + np.array([-1.0, -0.2])


def _swissroll(n: int, rng: np.random.Generator) -> np.ndarray:
    from sklearn.datasets import make_swiss_roll

    x, _ = make_swiss_roll(n_samples=n, noise=1.0, random_state=_sklearn_seed(rng))
    return x[:, [0, 2]] / 5.0


def _two_spirals(n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.sqrt(rng.random(n)) * (3.0 * np.pi)  # 540 degrees
    arm = np.stack([-np.cos(t) * t + rng.random(n) * 0.5,
                    np.sin(t) * t + rng.random(n) * 0.5], axis=1)
    sign = np.where(rng.random(n) < 0.5, 1.0, -1.0)[:, None]
    return sign * arm / 3.0 + 0.1 * rng.standard_normal((n, 2))


def _pinwheel(n: int, rng: np.random.Generator) -> np.ndarray:
    k = rng.integers(0, 5, size=n)
    features = rng.standard_normal((n, 2)) * np.array([0.3, 0.1])
    features[:, 0] += 1.0
    angles = 2.0 * np.pi * k / 5.0 + 0.25 * np.exp(features[:, 0])
    c, s = np.cos(angles), np.sin(angles)
    # FFJORD: einsum("ti,tij->tj", features, [[c, -s], [s, c]])
    r, t = features[:, 0], features[:, 1]
    return 2.0 * np.stack([r * c + t * s, -r * s + t * c], axis=1)


_SAMPLERS: dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {
    "8gaussians": _eight_gaussians,
    "checkerboard": _checkerboard,
    "rings": _rings,
    "circles": _circles,
    "moons": _moons,
    "swissroll": _swissroll,
    "2spirals": _two_spirals,
    "pinwheel": _pinwheel,
}


def _check_name(name: str) -> None:
    if name not in _SAMPLERS:
        raise ValueError(f"unknown data set {name!r}; valid names: {', '.join(NAMES)}")


def sample(name: str, n: int, seed: int = 0) -> np.ndarray:
    """Draws ``n`` points of the toy set ``name``, fully determined by ``seed``.

    Returns:
        A float32 array of shape ``(n, 2)``.

    Raises:
        ValueError: for an unknown name or ``n < 1``.

    Example:
        >>> a = sample("moons", 500, seed=1)
        >>> bool((a == sample("moons", 500, seed=1)).all())
        True
    """
    _check_name(name)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    return np.ascontiguousarray(_SAMPLERS[name](int(n), rng), dtype=np.float32)


def entropy(name: str) -> float | None:
    """The entropy floor of a toy set in nats: the lowest expected NLL any model can reach.

    Returns ``None`` for a name that is not a toy set (a person's own data has no known density).

    Example:
        >>> entropy("checkerboard") == math.log(32)
        True
        >>> entropy("my_upload.csv") is None
        True
    """
    return _ENTROPY.get(name)


def bounds(name: str) -> tuple[float, float, float, float]:
    """A square plotting box ``(xmin, xmax, ymin, ymax)`` holding essentially all of a toy set.

    Example:
        >>> bounds("8gaussians")
        (-4.0, 4.0, -4.0, 4.0)
    """
    _check_name(name)
    return _BOUNDS[name]


def extent(points: np.ndarray, margin: float = 0.1) -> tuple[float, float, float, float]:
    """A square box ``(xmin, xmax, ymin, ymax)`` around arbitrary 2D points (a person's own data).

    The box is centred on the points' bounding box; its side is the larger of the two spans,
    widened by ``margin`` (a fraction of the side) on each edge. Points with no spread get a
    box of side 2.

    Example:
        >>> extent(np.array([[0.0, 0.0], [2.0, 1.0]]), margin=0.0)
        (0.0, 2.0, -0.5, 1.5)
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] < 1:
        raise ValueError(f"points must have shape (n, 2) with n >= 1, got {p.shape}")
    if margin < 0 or not math.isfinite(margin):
        raise ValueError(f"margin must be a finite number >= 0, got {margin!r}")
    p = p[np.isfinite(p).all(axis=1)]
    if len(p) == 0:
        raise ValueError("points contain no finite row")
    lo, hi = p.min(axis=0), p.max(axis=0)
    centre = (lo + hi) / 2.0
    side = float((hi - lo).max())
    if side <= 0.0:
        side = 2.0
    half = side / 2.0 * (1.0 + 2.0 * margin)
    cx, cy = float(centre[0]), float(centre[1])
    return (cx - half, cx + half, cy - half, cy + half)


# --------------------------------------------------------------------------------------------
# A person's own points from a CSV file.
# --------------------------------------------------------------------------------------------

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes], IO[str]]

_DELIMS: tuple[str | None, ...] = (",", ";", "\t", None)  # None: any run of whitespace
_DELIM_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", None: "whitespace"}
_SNIFF_LINES = 50


def _too_big(size: int) -> ValueError:
    return ValueError(
        f"the file is {size / 2**20:.1f} MiB, larger than the 50 MB limit "
        f"(at most {MAX_ROWS:,} rows of x, y are accepted)"
    )


def _read_bytes(source: Source) -> bytes | str:
    """Reads the raw content, refusing anything over MAX_BYTES before reading it whole."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > MAX_BYTES:
            raise _too_big(len(data))
        return data
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            size = os.path.getsize(path)
        except OSError as exc:
            raise ValueError(f"cannot read {path!r}: {exc.strerror or exc}") from None
        if size > MAX_BYTES:
            raise _too_big(size)
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_BYTES + 1)
        except OSError as exc:
            raise ValueError(f"cannot read {path!r}: {exc.strerror or exc}") from None
        if len(data) > MAX_BYTES:
            raise _too_big(len(data))
        return data
    if hasattr(source, "read"):
        size = getattr(source, "size", None)  # Streamlit's UploadedFile
        if isinstance(size, (int, np.integer)) and size > MAX_BYTES:
            raise _too_big(int(size))
        if hasattr(source, "getvalue"):  # BytesIO, UploadedFile: the whole buffer
            data = source.getvalue()
        else:
            data = source.read(MAX_BYTES + 1)
        if isinstance(data, str):
            if len(data) > MAX_BYTES:
                raise _too_big(len(data.encode("utf-8", "surrogatepass")))
            return data
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ValueError(f"the file object returned {type(data).__name__}, not bytes or text")
        data = bytes(data)
        if len(data) > MAX_BYTES:
            raise _too_big(len(data))
        return data
    raise ValueError(
        f"expected a path, bytes or a file object, got {type(source).__name__}"
    )


def _binary_error() -> ValueError:
    return ValueError(
        "the file looks binary, not a text CSV (it holds NUL or other control bytes); "
        "export your points as a UTF-8 CSV with two columns x, y"
    )


def _decode(data: bytes) -> str:
    """Bytes to text: BOM-aware UTF-8/16/32, UTF-16 without BOM, a legacy 8-bit fallback."""
    for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                       (codecs.BOM_UTF8, "utf-8-sig"),
                       (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                raise ValueError(
                    f"the file starts with a {codec.upper().replace('-SIG', '')} byte-order mark "
                    "but is not valid text in that encoding (is it binary?)"
                ) from None
    b = np.frombuffer(data, dtype=np.uint8)
    if b.size >= 4 and b.size % 2 == 0:
        # UTF-16 without a byte-order mark: ASCII text with every other byte zero.
        if not b[1::2].any() and b[0::2].all():
            return data.decode("utf-16-le", errors="strict")
        if not b[0::2].any() and b[1::2].all():
            return data.decode("utf-16-be", errors="strict")
    controls = (b < 9) | ((b > 13) & (b < 32) & (b != 26)) | (b == 127)
    n_controls = int(np.count_nonzero(controls))
    if n_controls and (not b.all() or n_controls > max(2, b.size // 100)):
        raise _binary_error()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Not UTF-8 but free of control bytes: an 8-bit legacy encoding (e.g. a header written by a
    # spreadsheet in Windows-1252). Numbers are ASCII in every such encoding.
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _is_number(s: str) -> bool:
    s = s.strip()
    if not s or "_" in s:
        return False
    try:
        float(s)
    except ValueError:
        return False
    return True


def _fields(line: str, delim: str | None, decimal: str) -> list[str]:
    if decimal == ",":
        line = line.replace(",", ".")
    parts = line.split(delim) if delim is not None else line.split()
    return [p.strip() for p in parts]


def _sniff(lines: list[str]) -> tuple[str | None, str]:
    """Chooses (delimiter, decimal mark) from a few data lines.

    A candidate wins if every sampled line splits into the same number (>= 2) of fields that
    all read as numbers. Failing that (a typo, text, ragged rows), the candidate whose field
    count is most consistent wins, so that the row-precise check can name the problem.
    """
    candidates = [(d, dec) for d in _DELIMS for dec in (".", ",") if not (d == "," and dec == ",")]
    best: tuple[tuple[float, float, int], tuple[str | None, str]] | None = None
    for rank, (delim, dec) in enumerate(candidates):
        split = [_fields(line, delim, dec) for line in lines]
        counts = [len(f) for f in split]
        modal = max(set(counts), key=counts.count)
        numeric = [all(_is_number(x) for x in f) for f in split]
        if modal >= 2 and all(c == modal for c in counts) and all(numeric):
            return delim, dec
        if modal < 2:
            continue
        score = (counts.count(modal) / len(counts), sum(numeric) / len(numeric), -rank)
        if best is None or score > best[0]:
            best = (score, (delim, dec))
    if best is None:
        return ",", "."  # one column everywhere
    return best[1]


def _row_error(
    text: str, header: bool, delim: str | None, dec: str, trailing: str | None
) -> ValueError | None:
    """The first row-precise problem in the data (slow path, only after bulk parsing failed)."""
    skipped_header = not header
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not skipped_header:
            skipped_header = True
            continue
        if trailing:
            line = line.rstrip(trailing).rstrip()
        fields = _fields(line, delim, dec)
        if len(fields) != 2:
            return ValueError(
                f"row {lineno} has {len(fields)} values ({line[:60]!r}); every row needs "
                f"exactly 2, x and y, separated by a {_DELIM_NAMES[delim]}"
            )
        for col, value in enumerate(fields, start=1):
            if not value:
                return ValueError(f"row {lineno}, column {col} is empty; every row needs x and y")
            if not _is_number(value):
                return ValueError(
                    f"row {lineno}, column {col}: {value[:40]!r} is not a number "
                    "(text in a number column)"
                )
    return None


def load_csv(source: Source) -> np.ndarray:
    """Reads a person's own 2D points from a CSV file: float32, shape ``(n, 2)``.

    Accepts a path, bytes, or a file object with ``.read()`` (e.g. Streamlit's ``UploadedFile``).
    The file holds two columns, x and y, with an optional header row; values are separated by
    commas, semicolons, tabs or whitespace (a decimal comma is read with ``;``/tab/space
    separators); UTF-8 (with or without BOM) and UTF-16/32 with a BOM are decoded; blank lines
    and lines starting with ``#`` are skipped.

    Raises:
        ValueError: with a plain-words message for every problem with the content: empty file,
            header only, not two columns, text or NaN/infinity in a row, fewer than ``MIN_ROWS``
            or more than ``MAX_ROWS`` rows, more than ``MAX_BYTES``, binary content, a coordinate
            beyond ``±MAX_ABS``, or no spread in a coordinate.

    Example:
        >>> pts = load_csv(b"x,y\\n" + b"".join(b"%d,%d\\n" % (i, i * i) for i in range(10)))
        >>> pts.shape, pts.dtype
        ((10, 2), dtype('float32'))
    """
    raw = _read_bytes(source)
    text = raw if isinstance(raw, str) else _decode(raw)
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        raise _binary_error()
    if '"' in text:
        text = text.replace('"', "")  # quoted fields ("1.5","2.0"); numbers never hold quotes
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")

    head = _content_lines(text, limit=1 + _SNIFF_LINES)
    if not head:
        raise ValueError("the file is empty: it holds no rows of x, y")
    lines = [line for _, line in head]
    # Trailing separators on every row ("1,2,") leave an empty last field: drop them.
    trailing = None
    for sep in (",", ";", "\t"):
        if all(line.endswith(sep) for line in lines[1:] or lines):
            lines = [line.rstrip(sep).rstrip() for line in lines]
            trailing = sep
            break
    delim, dec = _sniff(lines[1:] or lines)
    first = _fields(lines[0], delim, dec)
    header = not any(_is_number(f) for f in first)
    data_head = lines[1:] if header else lines
    if not data_head:
        shown = ", ".join(f for f in first if f)[:60]
        raise ValueError(f"the file has a header row ({shown}) but no data rows below it")

    counts = [len(_fields(line, delim, dec)) for line in data_head]
    n_cols = max(set(counts), key=counts.count)
    if n_cols != 2:
        hint = " (if the first column is a row index, delete it)" if n_cols == 3 else ""
        noun = "column" if n_cols == 1 else "columns"
        raise ValueError(f"found {n_cols} {noun} but need exactly 2, x and y{hint}")

    skip = head[0][0] if header else 0  # physical lines up to and including the header
    if text.count("\n") + 1 - skip > MAX_ROWS:  # an upper bound; count exactly only then
        n_rows = sum(1 for line in text.split("\n") if line.split("#", 1)[0].strip()) - int(header)
        if n_rows > MAX_ROWS:
            raise ValueError(
                f"too many rows: {n_rows:,}; at most {MAX_ROWS:,} points are accepted "
                "(subsample your data)"
            )

    body = text.replace(",", ".") if dec == "," else text
    usecols = (0, 1) if trailing else None
    values = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:  # fast: numpy's C parser over the whole text
            values = np.loadtxt(io.StringIO(body), delimiter=delim, dtype=np.float64,
                                comments="#", skiprows=skip, usecols=usecols, ndmin=2)
        except ValueError:
            pass
        if values is None or values.shape[1] != 2:
            try:  # slower: line by line, tolerating whitespace-only lines
                stripped = (line.split("#", 1)[0].strip() for line in body.split("\n"))
                rows = [r for r in stripped if r]
                rows = rows[int(header):]
                if trailing:
                    rows = [line.rstrip(trailing).rstrip() for line in rows]
                values = np.loadtxt(rows, delimiter=delim, dtype=np.float64,
                                    comments="#", ndmin=2)
                if values.shape != (len(rows), 2):
                    values = None
            except ValueError:
                values = None
    if values is None:
        err = _row_error(text, header, delim, dec, trailing)
        if err is not None:
            raise err
        raise ValueError("could not read the numbers: every row needs two numbers, x and y")
    if len(values) > MAX_ROWS:
        raise ValueError(
            f"too many rows: {len(values):,}; at most {MAX_ROWS:,} points are accepted "
            "(subsample your data)"
        )

    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        bad = int(np.argmin(finite))
        kind = "a NaN" if np.isnan(values[bad]).any() else "an infinite"
        raise ValueError(
            f"row {_file_row(text, header, bad)} holds {kind} value (NaN or infinite "
            "coordinates are not allowed)"
        )
    if len(values) < MIN_ROWS:
        raise ValueError(
            f"only {len(values)} data rows; a density needs at least {MIN_ROWS} points"
        )
    too_big = np.abs(values) > MAX_ABS
    if too_big.any():
        bad = int(np.argmax(too_big.any(axis=1)))
        v = values[bad][too_big[bad]][0]
        raise ValueError(
            f"row {_file_row(text, header, bad)} holds {v:g}; coordinates must be within "
            f"±1e6 — rescale your data (e.g. standardise each column)"
        )
    points = values.astype(np.float32)
    spread = points.max(axis=0) - points.min(axis=0)
    if not spread.any():
        raise ValueError(
            "all points are identical; a flow cannot fit a point mass (it needs spread in x and y)"
        )
    if not spread.all():
        axis = "x (column 1)" if spread[0] == 0 else "y (column 2)"
        raise ValueError(
            f"every point has an identical {axis}: zero spread in that coordinate, "
            "and a flow cannot fit a density concentrated on a line"
        )
    return points


def _content_lines(text: str, limit: int | None = None) -> list[tuple[int, str]]:
    """(1-based line number, stripped line) of non-blank, non-comment lines, at most ``limit``."""
    out: list[tuple[int, str]] = []
    pos, lineno, n = 0, 0, len(text)
    while pos < n and (limit is None or len(out) < limit):
        end = text.find("\n", pos)
        if end < 0:
            end = n
        lineno += 1
        line = text[pos:end].strip()
        if line and line[0] != "#":
            out.append((lineno, line))
        pos = end + 1
    return out


def _file_row(text: str, header: bool, index: int) -> int:
    """The 1-based line number in the file of data row ``index`` (0-based)."""
    seen = -1 if header else 0
    for lineno, raw in enumerate(text.split("\n"), start=1):
        if not raw.split("#", 1)[0].strip():
            continue
        if seen == index:
            return lineno
        seen += 1
    return index + 1
