"""Checkpoints as the Playground meets them: the pre-trained demos in ``assets/`` and the files a
person uploads. No Streamlit import; the core (:func:`iresnet_core.load_bytes`) does the loading
and refuses pickles, bad shapes, oversized or invalid configs.

A pre-trained checkpoint is read and its flow built once per process (:func:`load_pretrained`);
every session trains a copy of its own.
"""

from __future__ import annotations

import copy
import io
import json
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any

import iresnet_core as ic
from iresnet_core.checkpoint import CONFIG, WEIGHTS

__all__ = [
    "CHECKPOINT_DIR",
    "WEIGHTS",
    "CONFIG",
    "MAX_FILE_BYTES",
    "checkpoint_dir",
    "checkpoint_matches",
    "checkpoint_metrics",
    "load_pretrained",
    "shifted_history",
    "read_checkpoint_files",
    "checkpoint_zip",
]

CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "assets" / "checkpoints"
MAX_FILE_BYTES = 64 * 2**20  #: bytes per file of an uploaded checkpoint (and per ZIP member)


def checkpoint_dir(dataset: str, model: str, root: Path | None = None) -> Path:
    """``assets/checkpoints/<dataset>/<model>/``."""
    return (root or CHECKPOINT_DIR) / dataset / model


def checkpoint_matches(directory: Path, cfg: ic.FlowConfig) -> bool:
    """True when ``directory`` holds a checkpoint of exactly ``cfg`` (read from config.json, no
    weights)."""
    try:
        saved = json.loads((directory / "config.json").read_text())
        saved = saved.get("config", saved) if isinstance(saved, dict) else saved
        return (directory / "model.safetensors").is_file() and ic.FlowConfig.from_dict(
            saved
        ) == cfg
    except (OSError, ValueError, TypeError, AttributeError):
        return False


_loaded: dict[Path, tuple[tuple, Any]] = {}
_loaded_lock = threading.Lock()


def load_pretrained(directory: Path) -> Any:
    """The flow of the checkpoint in ``directory`` (:func:`iresnet_core.load`), a copy of its own
    for the caller to train. The files are read and the flow is built once per process, again
    only when a file changes (its size or time); building a flow initialises every layer before
    the weights replace them, which costs more than copying a built one.

    Example:
        >>> d = checkpoint_dir("8gaussians", "iresnet")
        >>> a, b = load_pretrained(d), load_pretrained(d)
        >>> a is b, a.cfg == b.cfg, a.cfg == ic.load(d).cfg
        (False, True, True)
    """
    directory = Path(directory)
    stamp = tuple(
        (s.st_size, s.st_mtime_ns) for s in ((directory / n).stat() for n in (WEIGHTS, CONFIG))
    )
    with _loaded_lock:  # one load of a directory at a time: a second session waits for the first
        hit = _loaded.get(directory)
        if hit is None or hit[0] != stamp:
            hit = (stamp, ic.load(directory))
            _loaded[directory] = hit
        return copy.deepcopy(hit[1])


def shifted_history(hist: Any, steps: int) -> dict[str, list[float]]:
    """A checkpoint's ``history`` moved to steps ``<= 0`` (the live run starts at 0); {} if
    unusable."""
    if not isinstance(hist, dict) or not hist.get("step"):
        return {}
    try:
        n = len(hist["step"])
        out = {
            k: [float(x) for x in v]
            for k, v in hist.items()
            if isinstance(v, list) and len(v) == n
        }
        out["step"] = [x - steps for x in out["step"]]
        return out
    except (TypeError, ValueError):
        return {}


def checkpoint_metrics(directory: Path) -> dict[str, Any]:
    """The checkpoint's metrics.json, or {} when it is missing or unreadable."""
    try:
        m = json.loads((directory / "metrics.json").read_text())
        return m if isinstance(m, dict) else {}
    except (OSError, ValueError):
        return {}


def read_checkpoint_files(files: list[tuple[str, bytes]]) -> tuple[bytes, bytes, str]:
    """``(weights, config, name)`` from uploaded files: a ``.json`` config and one weights file,
    or one ``.zip`` holding ``model.safetensors`` and ``config.json``. ValueError otherwise."""
    files = [(str(n), bytes(b)) for n, b in files or []]
    if not files:
        raise ValueError(
            "no files: upload model.safetensors and config.json (or the checkpoint ZIP)"
        )
    for n, b in files:
        if len(b) > MAX_FILE_BYTES:
            raise ValueError(
                f"{n} is {len(b) / 2**20:.0f} MiB; at most {MAX_FILE_BYTES // 2**20} MiB per file"
            )
    if len(files) == 1 and (
        files[0][0].lower().endswith(".zip") or files[0][1][:4] == b"PK\x03\x04"
    ):
        name, blob = files[0]
        try:
            with zipfile.ZipFile(io.BytesIO(blob)) as z:
                members = {Path(i.filename).name: i for i in z.infolist() if not i.is_dir()}
                need = (WEIGHTS, CONFIG)
                missing = [m for m in need if m not in members]
                if missing:
                    raise ValueError(
                        f"{name} holds no {' and no '.join(missing)} "
                        f"(it has: {', '.join(sorted(members)[:6]) or 'nothing'})"
                    )
                for m in need:  # a ZIP bomb is refused by its declared size, before inflating
                    if members[m].file_size > MAX_FILE_BYTES:
                        raise ValueError(
                            f"{m} in {name} unpacks to {members[m].file_size / 2**20:.0f} MiB; "
                            f"at most {MAX_FILE_BYTES // 2**20} MiB"
                        )
                weights, config = (z.read(members[m]) for m in need)
        except (
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            EOFError,
            NotImplementedError,
            RuntimeError,
        ) as e:
            raise ValueError(f"{name} is not a readable ZIP ({e})") from None
        return weights, config, name
    configs = [(n, b) for n, b in files if n.lower().endswith(".json")]
    others = [(n, b) for n, b in files if not n.lower().endswith(".json")]
    if len(configs) != 1 or len(others) != 1:
        got = ", ".join(n for n, _ in files)
        raise ValueError(
            f"expected two files, model.safetensors and config.json (or the checkpoint ZIP); got "
            f"{got}"
        )
    return others[0][1], configs[0][1], f"{others[0][0]} + {configs[0][0]}"


def checkpoint_zip(flow: Any) -> bytes:
    """``flow`` as a ZIP of ``model.safetensors`` + ``config.json``, written by
    :func:`iresnet_core.save`: the file :func:`read_checkpoint_files` reads back."""
    with tempfile.TemporaryDirectory(prefix="iresnet-ckpt-") as d:
        ic.save(flow, d)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for f in (WEIGHTS, CONFIG):
                z.write(Path(d) / f, f)
    return buf.getvalue()
