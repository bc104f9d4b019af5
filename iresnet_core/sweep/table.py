"""A sweep's results: one table, a row per finished cell, as Parquet with a CSV beside it.

The columns are the cell's key, its main settings (one column each, so a table filters and groups
without parsing), all its settings as JSON, then what :func:`~iresnet_core.sweep.cell.run_cell`
measured (:data:`~iresnet_core.sweep.cell.MEASURES`). A row is added as soon as its cell finishes
and the files are replaced atomically (written aside, then renamed), so a sweep killed at any
moment leaves a valid table of the cells it finished; a rerun reads their keys and skips them.

Example:
    >>> import tempfile, pathlib
    >>> from iresnet_core.sweep.grid import Cell
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> cell = Cell("rings", seed=1, steps=5)
    >>> append_rows(out, [result_row(cell, {"test_nll": 3.0})])
    >>> [r["key"] for r in read_rows(out)] == [cell.key], finished_keys(out) == {cell.key}
    (True, True)
    >>> sorted(p.name for p in out.iterdir())
    ['results.csv', 'results.parquet']
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from iresnet_core.sweep.cell import MEASURES
from iresnet_core.sweep.grid import Cell

__all__ = [
    "PARQUET",
    "CSV",
    "SETTING_COLUMNS",
    "COLUMNS",
    "schema",
    "result_row",
    "read_rows",
    "finished_keys",
    "append_rows",
    "results_path",
]

PARQUET = "results.parquet"
CSV = "results.csv"

#: The settings that get a column of their own (all of them are in ``settings``, as JSON).
SETTING_COLUMNS: dict[str, str] = {
    "key": "str",
    "dataset": "str",
    "model": "str",
    "seed": "int",
    "steps": "int",
    "coeff": "float",
    "n_terms": "int",
    "logdet": "str",
    "n_blocks": "int",
    "hidden": "str",
    "lr": "float",
    "batch_size": "int",
    "settings": "str",
}

#: The table's columns and their kinds: settings, measurements, when the row was written.
COLUMNS: dict[str, str] = {**SETTING_COLUMNS, **MEASURES, "finished_at": "str"}


def schema() -> Any:
    """The table's Arrow schema (pyarrow is imported here: only a sweep needs it)."""
    import pyarrow as pa

    types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
    return pa.schema([(k, types[t]) for k, t in COLUMNS.items()])


def results_path(out: str | Path) -> Path:
    """The Parquet file of a sweep's output folder (``out`` may also name the file itself)."""
    out = Path(out)
    return out if out.suffix == ".parquet" else out / PARQUET


def result_row(
    cell: Cell, measured: Mapping[str, Any], finished_at: str | None = None
) -> dict[str, Any]:
    """The table row of a finished cell: its settings' columns and ``measured``. Settings a
    model does not have (a Glow's ``coeff``, a classifier's ``logdet``) are empty."""
    s = cell.settings()
    row: dict[str, Any] = {
        "key": cell.key,
        "dataset": cell.dataset,
        "model": cell.model,
        "seed": cell.seed,
        "steps": cell.steps,
        "coeff": s.get("coeff") if cell.model != "glow" else None,
        "n_terms": s.get("n_terms") if cell.model == "iresnet" else None,
        "logdet": s.get("logdet") if cell.model == "iresnet" else None,
        "n_blocks": s.get("n_blocks"),
        "hidden": "x".join(str(h) for h in s.get("hidden", ())),
        "lr": s.get("lr"),
        "batch_size": s.get("batch_size"),
        "settings": json.dumps(s, sort_keys=True, default=str),
        "finished_at": finished_at,
    }
    for k, kind in MEASURES.items():
        v = measured.get(k)
        if kind == "float" and v is not None:
            v = float(v)
        row[k] = v
    return row


def read_rows(out: str | Path) -> list[dict[str, Any]]:
    """The rows of a sweep's table (``[]`` when there is none yet)."""
    path = results_path(out)
    if not path.exists():
        return []
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def finished_keys(out: str | Path) -> set[str]:
    """Keys of the cells the table already has: a rerun skips them."""
    path = results_path(out)
    if not path.exists():
        return set()
    import pyarrow.parquet as pq

    return set(pq.read_table(path, columns=["key"]).column("key").to_pylist())


def _clean(v: Any) -> Any:
    return None if isinstance(v, float) and math.isnan(v) else v


def _replace(table: Any, path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(table, tmp)
    os.replace(tmp, path)


def append_rows(out: str | Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Add ``rows`` to the table in ``out`` (created if missing; a row whose key is already
    there replaces it) and rewrite the Parquet file and the CSV beside it."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = results_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = [{k: _clean(r.get(k)) for k in COLUMNS} for r in rows]
    keys = {r["key"] for r in new}
    old = [r for r in read_rows(path) if r["key"] not in keys]
    table = pa.Table.from_pylist(old + new, schema=schema())
    _replace(table, path, pq.write_table)
    _replace(table, path.with_name(CSV), pacsv.write_csv)
