r"""A person's own 2D points from a CSV file: read generously, refuse clearly.

:func:`load_csv` accepts a path, bytes or a file-like object (Streamlit's ``UploadedFile``):
an optional header, comma / semicolon / tab / whitespace separators, UTF-8 with or without BOM,
UTF-16/32. Anything that is not a usable 2D point set raises a ``ValueError`` whose message names
the problem (and the row where it helps): empty, header only, wrong column count, text in a
number column, NaN or infinity, too few or too many rows, over 50 MB, binary, coordinates beyond
what 32-bit floats hold with room to spare, no spread (or a spread too small for 32-bit floats to
resolve next to the points' offset). It never raises anything else for bad content.

Points of any scale in between are accepted as they are: a trainer standardises them
(:class:`~iresnet_core.datasets.scaling.Scaling`) and reports in their own units.

Example:
    >>> pts = load_csv(b"x,y\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(12)))
    >>> pts.shape, pts.dtype
    ((12, 2), dtype('float32'))
"""

from __future__ import annotations

import codecs
import io
import os
import warnings
from typing import IO, Union

import numpy as np

__all__ = [
    "load_csv",
    "MAX_ROWS",
    "MIN_ROWS",
    "MAX_BYTES",
    "MAX_ABS",
    "MIN_SPREAD",
    "MIN_RELATIVE_SPREAD",
]

MAX_ROWS = 1_000_000
MIN_ROWS = 10
MAX_BYTES = 50 * 2**20
#: coordinates beyond this are refused: a density in such units (about 1 / scale^2) would leave
#: the range of 32-bit floats; anything within is standardised for training, not refused
MAX_ABS = 1e15
#: the smallest spread of a coordinate accepted, for the same reason (densities near 1 / spread^2)
MIN_SPREAD = 1e-15
#: the smallest spread accepted relative to the largest magnitude: float32 has 24 bits, so points
#: that differ by less than this fraction of their offset collapse onto a few values
MIN_RELATIVE_SPREAD = 1e-5


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
    raise ValueError(f"expected a path, bytes or a file object, got {type(source).__name__}")


def _binary_error() -> ValueError:
    return ValueError(
        "the file looks binary, not a text CSV (it holds NUL or other control bytes); "
        "export your points as a UTF-8 CSV with two columns x, y"
    )


def _decode(data: bytes) -> str:
    """Bytes to text: BOM-aware UTF-8/16/32, UTF-16 without BOM, a legacy 8-bit fallback."""
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
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
            beyond ``±MAX_ABS``, no spread in a coordinate, a spread below ``MIN_SPREAD`` or
            below ``MIN_RELATIVE_SPREAD`` of the coordinate's largest magnitude.

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
            values = np.loadtxt(
                io.StringIO(body),
                delimiter=delim,
                dtype=np.float64,
                comments="#",
                skiprows=skip,
                usecols=usecols,
                ndmin=2,
            )
        except ValueError:
            pass
        if values is None or values.shape[1] != 2:
            try:  # slower: line by line, tolerating whitespace-only lines
                stripped = (line.split("#", 1)[0].strip() for line in body.split("\n"))
                rows = [r for r in stripped if r]
                rows = rows[int(header) :]
                if trailing:
                    rows = [line.rstrip(trailing).rstrip() for line in rows]
                values = np.loadtxt(rows, delimiter=delim, dtype=np.float64, comments="#", ndmin=2)
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
            f"±{MAX_ABS:g} (densities in such units would leave the range of 32-bit floats; "
            "any scale within is accepted and standardised for training)"
        )
    spread = values.max(axis=0) - values.min(axis=0)
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
    magnitude = np.abs(values).max(axis=0)
    for i, axis in enumerate(("x (column 1)", "y (column 2)")):
        if spread[i] < MIN_SPREAD:
            raise ValueError(
                f"the points' spread in {axis} is {spread[i]:.3g}, below {MIN_SPREAD:g}: "
                "densities in such units would leave the range of 32-bit floats "
                "(multiply the column by a power of ten)"
            )
        if spread[i] < MIN_RELATIVE_SPREAD * magnitude[i]:
            raise ValueError(
                f"the points' spread in {axis}, {spread[i]:.3g}, is below "
                f"{MIN_RELATIVE_SPREAD:g} of their magnitude, {magnitude[i]:.3g}: 32-bit floats "
                "cannot tell them apart (subtract an offset, e.g. the column's mean, first)"
            )
    return values.astype(np.float32)


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
