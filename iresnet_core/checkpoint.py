"""Checkpoints: weights in safetensors, the config in JSON. Nothing is ever unpickled.

A checkpoint directory holds ``model.safetensors`` and ``config.json`` (and, from the CLI,
``metrics.json``). :func:`load` rebuilds the flow from the config, then checks that every tensor
name and shape matches before copying the weights in; anything else is refused with a
``ValueError`` that says what is wrong. :func:`load_bytes` does the same for uploaded files.

Example:
    >>> import iresnet_core as ic, tempfile, torch
    >>> from pathlib import Path
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,)))
    >>> d = tempfile.mkdtemp()
    >>> _ = ic.save(flow, d)
    >>> sorted(p.name for p in Path(d).iterdir())
    ['config.json', 'model.safetensors']
    >>> same = ic.load(d)
    >>> pairs = zip(flow.state_dict().values(), same.state_dict().values())
    >>> same.cfg == flow.cfg, all(torch.equal(a, b) for a, b in pairs)
    (True, True)
    >>> (Path(d) / "model.safetensors").write_bytes(b"not a checkpoint")
    16
    >>> ic.load(d)
    Traceback (most recent call last):
    ...
    ValueError: ...
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load_bytes
from safetensors.torch import save_file

from iresnet_core.config import FlowConfig
from iresnet_core.flows.build import build_flow
from iresnet_core.flows.flow import Flow

__all__ = [
    "save",
    "load",
    "load_bytes",
    "parse_config",
    "estimate_parameters",
    "WEIGHTS",
    "CONFIG",
    "METRICS",
    "MAX_PARAMETERS",
]

WEIGHTS, CONFIG, METRICS = "model.safetensors", "config.json", "metrics.json"
_FORMAT = "iresnet-playground/1"
_MAX_BYTES = 200 * 2**20
#: A config from outside may describe at most this many weights (checked before anything is built).
MAX_PARAMETERS = 4_000_000


def estimate_parameters(cfg: FlowConfig) -> int:
    """An upper estimate of the weights ``cfg`` describes, without building it."""
    dims = [cfg.dim, *cfg.hidden, 2 * cfg.dim]
    mlp = sum((a + 1) * b for a, b in zip(dims[:-1], dims[1:]))
    return int(cfg.n_blocks) * (mlp + 4 * cfg.dim * cfg.dim + 4 * cfg.dim)


def save(flow: Flow, directory: str | Path, metrics: dict[str, Any] | None = None) -> Path:
    """Write ``model.safetensors`` + ``config.json`` (+ ``metrics.json``) into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # A flow in training holds its parameters as views of one buffer
    # (iresnet_core.kernels.flat_params): each tensor gets storage of its own, which every
    # safetensors version accepts.
    tensors = {
        k: v.detach().cpu().clone(memory_format=torch.contiguous_format)
        for k, v in flow.state_dict().items()
    }
    save_file(tensors, str(directory / WEIGHTS), metadata={"format": _FORMAT})
    (directory / CONFIG).write_text(json.dumps(flow.cfg.to_dict(), indent=2) + "\n")
    if metrics is not None:
        (directory / METRICS).write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    return directory


def load(directory: str | Path) -> Flow:
    """Rebuild a flow from a directory written by :func:`save`."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"no checkpoint directory at {directory}")
    for name in (WEIGHTS, CONFIG):
        if not (directory / name).is_file():
            raise ValueError(f"checkpoint {directory} has no {name}")
    return load_bytes((directory / WEIGHTS).read_bytes(), (directory / CONFIG).read_bytes())


def parse_config(config: bytes | str | dict[str, Any]) -> FlowConfig:
    """A :class:`FlowConfig` from JSON text or a dict, with a clear error for anything else."""
    if isinstance(config, (bytes, bytearray)):
        try:
            config = config.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("config.json is not UTF-8 text") from None
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except json.JSONDecodeError as e:
            raise ValueError(
                f"config.json is not valid JSON ({e.msg} at line {e.lineno})"
            ) from None
    return FlowConfig.from_dict(config)


def load_bytes(weights: bytes, config: bytes | str | dict[str, Any]) -> Flow:
    """Rebuild a flow from the bytes of ``model.safetensors`` and of ``config.json``."""
    cfg = parse_config(config)
    n = estimate_parameters(cfg)
    if n > MAX_PARAMETERS:
        raise ValueError(
            f"the config describes about {n:,} weights; at most {MAX_PARAMETERS:,} are accepted "
            "(fewer blocks or a smaller hidden width)"
        )
    if len(weights) > _MAX_BYTES:
        raise ValueError(f"the weights file is larger than {_MAX_BYTES // 2**20} MB")
    if weights[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05") or weights[:2] == b"PK":
        raise ValueError(
            "the weights file is a pickle (or a torch .pt zip); only safetensors is accepted"
        )
    try:
        tensors = st_load_bytes(bytes(weights))
    except (SafetensorError, Exception) as e:  # safetensors raises several types on junk
        raise ValueError(f"the weights file is not a valid safetensors file ({e})") from None
    flow = build_flow(cfg)
    expected = flow.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ValueError(
            "the weights do not match the config: "
            + (
                f"missing {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
                if missing
                else ""
            )
            + ("; " if missing and unexpected else "")
            + (
                f"unexpected {', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''}"
                if unexpected
                else ""
            )
        )
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise ValueError(
                f"shape mismatch for {name}: the file has {tuple(tensor.shape)}, "
                f"the config needs {tuple(expected[name].shape)}"
            )
        if tensor.dtype.is_floating_point and not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"the weights contain NaN or infinite values ({name})")
    flow.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()}, strict=True)
    flow.eval()
    return flow
