"""Command line: train a flow on a toy set (or your own CSV) and write a checkpoint.

    python -m iresnet_core train --dataset 8gaussians --model iresnet --steps 3000 --out runs/8g
    python -m iresnet_core assets --steps 3000          # the dashboard's pre-trained demos
    python -m iresnet_core sweep --grid "c=0.5,0.9 dataset=rings seeds=3" --out runs/s

``train`` writes ``model.safetensors``, ``config.json`` and ``metrics.json`` (the final exact test
NLL, the dataset's entropy and their difference among them). Bad options and bad data files are
refused before anything is written, with a message that names the problem (exit status 2).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from iresnet_core.checkpoint import CONFIG, METRICS, save
from iresnet_core.config import ACTIVATIONS, LOGDET_MODES, PROBES, FlowConfig
from iresnet_core.datasets import toy as datasets
from iresnet_core.flows.build import build_flow
from iresnet_core.flows.glow import match_glow
from iresnet_core.sweep import command as sweep_command
from iresnet_core.training.trainer import DEFAULT_LR, DEFAULT_LR_DECAY, LR_DECAY, Trainer

__all__ = [
    "main",
    "train_run",
    "DEFAULT_ASSET_DIR",
    "ASSET_STEPS",
    "budget_words",
    "record_budget",
]

DEFAULT_ASSET_DIR = Path(__file__).resolve().parent.parent / "assets" / "checkpoints"
#: Steps every pre-trained demo gets, both models alike: a comparison at an equal budget.
ASSET_STEPS = 3000


def _hidden(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(t) for t in text.replace("x", ",").split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--hidden takes widths like 128,128, got {text!r}"
        ) from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(
            f"--hidden takes positive widths like 128,128, got {text!r}"
        )
    return widths


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return v


def _non_negative_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not (math.isfinite(v) and v >= 0):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return v


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m iresnet_core",
        description="Train i-ResNet or Glow flows on toy 2D data (Behrmann et al. 2019).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser(
        "train",
        help="train one flow and write a checkpoint",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Train a flow by maximum likelihood; writes model.safetensors, "
        "config.json and metrics.json into --out.",
    )
    src = t.add_mutually_exclusive_group()
    src.add_argument(
        "--dataset", default="8gaussians", choices=datasets.NAMES, help="toy data set"
    )
    src.add_argument("--csv", type=Path, help="your own 2D points: a CSV of two numeric columns")
    t.add_argument(
        "--model",
        default="iresnet",
        choices=("iresnet", "glow"),
        help="iresnet, or glow sized to match the i-ResNet's parameter count",
    )
    t.add_argument("--steps", type=_positive_int, default=3000, help="Adam steps")
    t.add_argument(
        "--seconds",
        type=_positive_float,
        default=None,
        help="stop after this much training time instead (whichever comes first)",
    )
    t.add_argument("--out", type=Path, required=True, help="output directory")
    t.add_argument(
        "--n-blocks", type=_positive_int, default=FlowConfig.n_blocks, help="residual blocks"
    )
    t.add_argument(
        "--hidden",
        type=_hidden,
        default=FlowConfig.hidden,
        help="hidden widths of each block's MLP",
    )
    t.add_argument("--coeff", type=float, default=0.9, help="Lipschitz coefficient c, in (0, 1)")
    t.add_argument(
        "--unconstrained",
        action="store_true",
        help="no spectral normalisation: a plain ResNet, no inverse guarantee",
    )
    t.add_argument(
        "--activation", default="elu", choices=ACTIVATIONS, help="1-Lipschitz activation"
    )
    t.add_argument(
        "--logdet", default="exact", choices=LOGDET_MODES, help="log-det estimator in training"
    )
    t.add_argument("--n-terms", type=_positive_int, default=5, help="power-series terms N")
    t.add_argument("--n-probes", type=_positive_int, default=1, help="Hutchinson probes")
    t.add_argument("--probe", default="gaussian", choices=PROBES, help="probe distribution")
    t.add_argument("--no-actnorm", action="store_true", help="no ActNorm between blocks")
    t.add_argument(
        "--lr",
        type=_positive_float,
        default=None,
        help=f"Adam learning rate (default: {DEFAULT_LR['iresnet']:g} for the i-ResNet, "
        f"{DEFAULT_LR['glow']:g} for Glow)",
    )
    t.add_argument(
        "--lr-decay",
        type=_non_negative_float,
        default=None,
        metavar="TAU",
        help=f"the step size decays as lr / sqrt(1 + t / TAU) over t steps; 0: constant "
        f"(default: {LR_DECAY:g} for the i-ResNet, 0 for Glow)",
    )
    t.add_argument("--batch-size", type=_positive_int, default=500, help="points per step")
    t.add_argument(
        "--n-data", type=_positive_int, default=20000, help="points drawn from a toy set"
    )
    t.add_argument("--seed", type=int, default=0, help="seed for data, initialisation and batches")
    t.add_argument("--threads", type=_positive_int, default=None, help="torch CPU threads")
    t.add_argument(
        "--torch",
        action="store_true",
        help="train through torch even where the C engine takes the flow (by default the C "
        "engine trains every flow it takes, and the summary says which engine ran and why)",
    )
    # old spellings: the C engine is the default now and there is nothing to compile
    t.add_argument("--native", action="store_true", help=argparse.SUPPRESS)
    t.add_argument("--compile", action="store_true", help=argparse.SUPPRESS)
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    a = sub.add_parser(
        "assets",
        help="train the dashboard's pre-trained demo checkpoints",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    a.add_argument("--out", type=Path, default=DEFAULT_ASSET_DIR, help="assets directory")
    a.add_argument(
        "--steps",
        type=_positive_int,
        default=ASSET_STEPS,
        help="training steps per model, the same for both (an equal budget)",
    )
    a.add_argument("--datasets", nargs="+", default=list(datasets.NAMES), choices=datasets.NAMES)
    a.add_argument("--models", nargs="+", default=["iresnet", "glow"], choices=("iresnet", "glow"))
    sweep_command.add_parser(sub)
    return parser


def config_from_args(args: argparse.Namespace) -> FlowConfig:
    """The flow config the options describe (ValueError on bad values)."""
    cfg = FlowConfig(
        model="iresnet",
        n_blocks=args.n_blocks,
        hidden=args.hidden,
        coeff=None if args.unconstrained else args.coeff,
        activation=args.activation,
        logdet=args.logdet,
        n_terms=args.n_terms,
        n_probes=args.n_probes,
        probe=args.probe,
        actnorm=not args.no_actnorm,
        seed=args.seed,
    )
    return match_glow(cfg) if args.model == "glow" else cfg


def train_run(
    cfg: FlowConfig,
    data: np.ndarray,
    out: Path,
    *,
    steps: int,
    seconds: float | None,
    lr: float,
    batch_size: int,
    seed: int,
    dataset: str | None,
    quiet: bool = False,
    lr_decay: float | None = None,
    native: bool = True,
) -> dict:
    """Train ``cfg`` on ``data`` and write the checkpoint and metrics into ``out``: the C engine
    where it takes the flow (``native``; ``Trainer(native=True)``), else torch."""
    flow = build_flow(cfg)
    trainer = Trainer(
        flow, data, lr=lr, batch_size=batch_size, seed=seed, lr_decay=lr_decay, native=native
    )
    bar = None
    if not quiet:
        from tqdm import tqdm

        bar = tqdm(
            total=steps, desc=f"{cfg.model} {dataset or 'csv'}", unit="step", file=sys.stderr
        )
    start = time.perf_counter()
    metrics: dict = {}
    while trainer.step_count < steps and trainer.paused_reason is None:
        if seconds is not None and time.perf_counter() - start >= seconds:
            break
        metrics = trainer.run_for(0.5, max_steps=steps - trainer.step_count)
        if bar is not None:
            bar.n = trainer.step_count
            bar.set_postfix(test_nll=f"{metrics['test_nll']:.3f}", refresh=False)
            bar.refresh()
    if bar is not None:
        bar.close()
    entropy = datasets.entropy(dataset) if dataset else None
    train_nll, test_nll = trainer.evaluate()
    result = {
        "dataset": dataset,
        "model": cfg.model,
        "steps": trainer.step_count,
        "wall_seconds": round(time.perf_counter() - start, 2),
        "train_nll": train_nll,
        "test_nll": test_nll,
        "entropy": entropy,
        "nll_minus_entropy": (test_nll - entropy) if entropy is not None else None,
        "parameters": flow.num_parameters(),
        "lr": lr,
        "lr_decay": lr_decay,
        "batch_size": batch_size,
        "skipped_steps": trainer.skipped_total,
        "paused_reason": trainer.paused_reason,
        "engine": trainer.engine,
        "engine_reason": trainer.engine_reason,
        "native": trainer.native,
        "history": trainer.history.as_dict(),
    }
    save(trainer.eval_flow, out, metrics=result)  # the weights its NLL was measured on (averaged)
    return result


def _train(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        cfg = config_from_args(args)
        if args.csv is not None:
            if not args.csv.is_file():
                raise ValueError(f"no such file: {args.csv}")
            data, dataset = datasets.load_csv(args.csv), None
        else:
            data, dataset = (
                datasets.sample(args.dataset, args.n_data, seed=args.seed),
                args.dataset,
            )
        if args.out.exists() and not args.out.is_dir():
            raise ValueError(f"--out {args.out} exists and is not a directory")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    lr = args.lr if args.lr is not None else DEFAULT_LR[cfg.model]
    lr_decay = DEFAULT_LR_DECAY[cfg.model] if args.lr_decay is None else (args.lr_decay or None)
    result = train_run(
        cfg,
        data,
        args.out,
        steps=args.steps,
        seconds=args.seconds,
        lr=lr,
        batch_size=args.batch_size,
        seed=args.seed,
        dataset=dataset,
        quiet=args.quiet,
        lr_decay=lr_decay,
        native=not args.torch,
    )
    summary = {k: v for k, v in result.items() if k != "history"}
    print(json.dumps(summary, indent=2, default=float))
    return 0 if result["paused_reason"] is None else 1


def budget_words(steps: int) -> str:
    """A budget of ``steps`` in words, as a checkpoint's ``metrics.json`` records it under
    ``"budget"`` and the Playground shows it ("pre-trained, 3,000 steps").

    Example:
        >>> budget_words(3000), budget_words(1)
        ('3,000 steps', '1 step')
    """
    return f"{steps:,} step" + ("" if steps == 1 else "s")


def record_budget(directory: Path, steps: int) -> None:
    """Write the training budget into the checkpoint's ``config.json`` (under ``extra``, which a
    config's equality ignores, so the checkpoint still matches the flow it holds).

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> _ = (d / CONFIG).write_text('{"model": "glow", "extra": {"parameters": 1}}')
        >>> record_budget(d, 3000)
        >>> json.loads((d / CONFIG).read_text())["extra"]
        {'parameters': 1, 'steps': 3000, 'budget': '3,000 steps'}
    """
    cfg = json.loads((directory / CONFIG).read_text())
    cfg.setdefault("extra", {}).update(steps=int(steps), budget=budget_words(int(steps)))
    (directory / CONFIG).write_text(json.dumps(cfg, indent=2) + "\n")


def _assets(args: argparse.Namespace) -> int:
    """Both models of every toy set for ``args.steps`` steps each, with each model's tuned
    defaults (``DEFAULT_LR``, ``DEFAULT_LR_DECAY``) and the C engine where it takes the flow;
    each checkpoint's ``metrics.json`` records its ``"steps"`` and its ``"budget"`` in words."""
    base = FlowConfig()
    for name in args.datasets:
        data = datasets.sample(name, 20000, seed=0)
        for model in args.models:
            cfg = match_glow(base) if model == "glow" else base
            out = args.out / name / model
            r = train_run(
                cfg,
                data,
                out,
                steps=args.steps,
                seconds=None,
                lr=DEFAULT_LR[model],
                batch_size=500,
                seed=0,
                dataset=name,
                quiet=True,
                lr_decay=DEFAULT_LR_DECAY[model],
                native=True,
            )
            r["budget"] = budget_words(r["steps"])
            (out / METRICS).write_text(json.dumps(r, indent=2, default=float) + "\n")
            record_budget(out, r["steps"])
            print(
                f"{name:13s} {model:8s} steps={r['steps']:5d} test_nll={r['test_nll']:.3f} "
                f"entropy={r['entropy']:.3f} gap={r['nll_minus_entropy']:.3f}",
                flush=True,
            )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        return _train(args)
    if args.command == "sweep":
        return sweep_command.main(args)
    return _assets(args)
