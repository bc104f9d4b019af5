"""A sweep's grid: which training runs (cells) to make, from a line of text or a TOML/YAML file.

A grid names values for any :class:`~iresnet_core.config.FlowConfig` field, any training
setting (the :class:`~iresnet_core.training.trainer.Trainer`'s and the data's), the data sets and
the seeds; the cells are every combination (a Cartesian product). A file may hold several such
sub-grids, whose cells are pooled. Aliases follow the paper: ``c`` is ``coeff`` (the Lipschitz
coefficient), ``N`` is ``n_terms`` (power-series terms), ``blocks`` is ``n_blocks``; ``seeds=K``
means seeds ``0 .. K-1`` and ``seed=3,7`` names them.

On the command line (whitespace between fields, commas between values, ``;`` between sub-grids)::

    c=0.5,0.7,0.9 N=2,5,10 dataset=rings,checkerboard seeds=10 steps=3000 logdet=series

In a file (TOML shown; YAML takes the same keys), ``[defaults]`` apply to every ``[[grid]]``::

    [defaults]
    steps = 300
    seeds = 3
    [[grid]]
    dataset = ["rings", "8gaussians"]
    c = [0.5, 0.7, 0.9]
    [[grid]]
    model = ["iresnet", "glow"]

``model`` is ``iresnet``, ``glow`` (sized by :func:`~iresnet_core.flows.glow.match_glow` to the
i-ResNet the other fields describe: the paper's equal-parameter comparison) or ``classifier`` (the
paper's Table 1, :func:`iresnet_core.classify.table1_row`; its data sets are
:data:`iresnet_core.classify.data.CLASS_NAMES`). ``c=none`` (or ``vanilla``) is the unconstrained
network. A field that a model does not read is left out of its cell, so a Glow or a classifier is
not run once per value of ``N``.

Example:
    >>> cells = parse_grid("c=0.5,0.9 N=2,5 dataset=rings seeds=2 steps=10")
    >>> len(cells), cells[0].settings()["coeff"], cells[0].settings()["n_terms"]
    (8, 0.5, 2)
    >>> sorted(c.model for c in parse_grid("model=iresnet,glow c=0.5,0.9 dataset=rings"))
    ['glow', 'iresnet', 'iresnet']
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iresnet_core.classify.data import CLASS_NAMES
from iresnet_core.config import FlowConfig
from iresnet_core.datasets import toy
from iresnet_core.flows.glow import match_glow
from iresnet_core.training.trainer import DEFAULT_LR, DEFAULT_LR_DECAY

__all__ = [
    "Cell",
    "SWEEP_MODELS",
    "ALIASES",
    "FLOW_FIELDS",
    "TRAIN_FIELDS",
    "CLASSIFIER_FIELDS",
    "parse_grid",
    "load_grid",
    "expand",
]

SWEEP_MODELS = ("iresnet", "glow", "classifier")

#: The paper's symbols and short names for the fields they stand for.
ALIASES = {"c": "coeff", "N": "n_terms", "blocks": "n_blocks", "data": "dataset"}

#: FlowConfig fields a grid may set (``seed`` comes from the seeds, ``model`` is the cell's).
FLOW_FIELDS = tuple(
    f.name for f in dataclasses.fields(FlowConfig) if f.name not in ("model", "seed", "extra")
)
#: Fields of the flow that a Glow reads (the i-ResNet's own, e.g. ``coeff``, it does not).
GLOW_FIELDS = ("n_blocks", "hidden", "actnorm", "dim", "scale_bound")

#: Training settings of a density cell, with their defaults: the CLI's (the best known settings,
#: ``DEFAULT_LR``/``DEFAULT_LR_DECAY`` by model) and the C engine where it takes the flow.
TRAIN_FIELDS: dict[str, Any] = {
    "lr": None,  # None: DEFAULT_LR[model]
    "lr_decay": None,  # None: DEFAULT_LR_DECAY[model]; 0: constant
    "batch_size": 500,
    "n_data": 20000,
    "test_fraction": 0.2,
    "average": 0.98,
    "clip_grad": 10.0,
    "native": True,
}

#: The classifier's settings (Table 1), with the defaults of
#: :func:`iresnet_core.classify.table1_row`.
CLASSIFIER_FIELDS: dict[str, Any] = {
    "coeff": 0.9,
    "n_blocks": 4,
    "hidden": (64, 64),
    "dim": 2,
    "actnorm": True,
    "lr": 1e-2,
    "batch_size": 256,
    "n_data": 1000,
    "noise": None,
    "test_fraction": 0.3,
}

_CELL_FIELDS = ("dataset", "model", "seed", "seeds", "steps")
_KNOWN = set(_CELL_FIELDS) | set(FLOW_FIELDS) | set(TRAIN_FIELDS) | set(CLASSIFIER_FIELDS)


def _canonical(name: str) -> str:
    name = ALIASES.get(name, name)
    if name not in _KNOWN:
        raise ValueError(
            f"unknown grid field {name!r}; valid: {', '.join(sorted(_KNOWN | set(ALIASES)))}"
        )
    return name


@dataclass(frozen=True)
class Cell:
    """One training run of a sweep: a model, a data set, a seed, a number of steps and the fields
    the grid set (``options``; defaults for the rest).

    :meth:`settings` resolves every setting the run depends on, and :attr:`key` is a hash of
    them: two cells with the same key are the same run, which is how a rerun knows what is done.
    The ``device`` is where it runs, not what it computes, and is not part of the key.
    """

    dataset: str
    model: str = "iresnet"
    seed: int = 0
    steps: int = 300
    options: tuple[tuple[str, Any], ...] = ()
    device: str = field(default="cpu", compare=False)

    def __post_init__(self) -> None:
        if self.model not in SWEEP_MODELS:
            raise ValueError(f"model must be one of {SWEEP_MODELS}, got {self.model!r}")
        names = CLASS_NAMES if self.model == "classifier" else toy.NAMES
        if self.dataset not in names:
            raise ValueError(
                f"data set {self.dataset!r} is not one of the "
                f"{'classification' if self.model == 'classifier' else 'toy'} sets for model "
                f"{self.model!r}: {', '.join(names)}"
            )
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps must be a positive integer, got {self.steps!r}")
        if not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        keep = self._read_fields()
        opts = {k: v for k, v in dict(self.options).items() if k in keep}
        if "hidden" in opts:
            opts["hidden"] = tuple(int(h) for h in opts["hidden"])
        object.__setattr__(self, "options", tuple(sorted(opts.items())))
        if self.model != "classifier":
            self.flow_config()  # validated now, not on a worker

    def _read_fields(self) -> set[str]:
        if self.model == "classifier":
            return set(CLASSIFIER_FIELDS)
        return set(TRAIN_FIELDS) | set(GLOW_FIELDS if self.model == "glow" else FLOW_FIELDS)

    def flow_config(self) -> FlowConfig:
        """The flow this cell trains (a density cell): the i-ResNet of its fields, or the Glow of
        about its parameter count (:func:`~iresnet_core.flows.glow.match_glow`)."""
        if self.model == "classifier":
            raise ValueError("a classifier cell has no flow config")
        opts = {k: v for k, v in self.options if k in FLOW_FIELDS}
        try:
            cfg = FlowConfig(model="iresnet", seed=self.seed, **opts)
        except TypeError as e:
            raise ValueError(f"invalid flow settings: {e}") from None
        return match_glow(cfg) if self.model == "glow" else cfg

    def train_settings(self) -> dict[str, Any]:
        """The training settings, defaults filled in (density cells: :data:`TRAIN_FIELDS`, the
        learning rate and its decay by model; classifier cells: :data:`CLASSIFIER_FIELDS`)."""
        opts = dict(self.options)
        if self.model == "classifier":
            return {k: opts.get(k, d) for k, d in CLASSIFIER_FIELDS.items()}
        out = {k: opts.get(k, d) for k, d in TRAIN_FIELDS.items()}
        if out["lr"] is None:
            out["lr"] = DEFAULT_LR[self.model]
        if out["lr_decay"] is None:
            out["lr_decay"] = DEFAULT_LR_DECAY[self.model]
        out["lr_decay"] = out["lr_decay"] or None  # 0: a constant step size
        return out

    def settings(self) -> dict[str, Any]:
        """Everything the run depends on, as JSON-able values: the cell's key is their hash."""
        out: dict[str, Any] = {
            "dataset": self.dataset,
            "model": self.model,
            "seed": self.seed,
            "steps": self.steps,
        }
        if self.model == "classifier":
            out.update(self.train_settings())
            out["hidden"] = list(out["hidden"])
            return out
        cfg = self.flow_config().to_dict()
        cfg.pop("extra", None)
        if self.model == "glow":  # what the Glow reads, its matched widths among them
            cfg = {k: v for k, v in cfg.items() if k in (*GLOW_FIELDS, "seed")}
        out.update({k: v for k, v in cfg.items() if k != "seed"})
        out.update(self.train_settings())
        return out

    @property
    def key(self) -> str:
        """16 hex digits of the SHA-1 of :meth:`settings` (sorted JSON)."""
        text = json.dumps(self.settings(), sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def on(self, device: str) -> Cell:
        """The same cell, run on ``device`` (``"cpu"`` or ``"cuda"``)."""
        return dataclasses.replace(self, device=device)


# ------------------------------------------------------------------ values
def _scalar(text: str) -> Any:
    low = text.strip().lower()
    if low in ("none", "vanilla", "null"):
        return None
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def _hidden(value: Any) -> tuple[int, ...]:
    if isinstance(value, str):
        parts = value.replace("x", ",").replace("-", ",").split(",")
        value = [p for p in parts if p.strip()]
    if isinstance(value, int):
        value = [value]
    try:
        widths = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"hidden takes widths like 32x32, got {value!r}") from None
    if not widths or min(widths) < 1:
        raise ValueError(f"hidden takes positive widths like 32x32, got {value!r}")
    return widths


def _values(name: str, raw: Any) -> list[Any]:
    """The list of values a field takes; ``hidden``'s list of ints is one value, its list of
    lists (or of ``"32x32"`` strings) several."""
    if name == "hidden":
        if isinstance(raw, (list, tuple)) and raw and all(isinstance(v, int) for v in raw):
            return [_hidden(raw)]
        items = raw if isinstance(raw, (list, tuple)) else [raw]
        return [_hidden(v) for v in items]
    items = list(raw) if isinstance(raw, (list, tuple)) else [raw]
    return [_scalar(v) if isinstance(v, str) else v for v in items]


def expand(spec: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> list[Cell]:
    """The cells of one sub-grid: every combination of the values in ``spec`` (a field -> one
    value or a list), over ``defaults`` for the fields it does not name. Cells that come out
    the same (a Glow at several ``c``) appear once."""
    merged = {_canonical(k): v for k, v in (defaults or {}).items()}
    merged.update({_canonical(k): v for k, v in spec.items()})
    if "seeds" in merged and "seed" in merged:
        raise ValueError("give either seeds=K (seeds 0..K-1) or seed=a,b,... , not both")
    seeds_raw = merged.pop("seeds", None)
    if seeds_raw is not None:
        values = _values("seeds", seeds_raw)
        seeds_raw = values[0] if len(values) == 1 else values
        if not isinstance(seeds_raw, int) or isinstance(seeds_raw, bool) or seeds_raw < 1:
            raise ValueError(
                f"seeds takes a count K >= 1 (seeds 0..K-1), got {seeds_raw!r}; "
                "name seeds with seed=a,b,..."
            )
        seeds = list(range(seeds_raw))
    else:
        seeds = [int(s) for s in _values("seed", merged.pop("seed", 0))]
    if "dataset" not in merged:
        raise ValueError("a grid needs dataset=...")
    axes = {k: _values(k, v) for k, v in merged.items()}
    axes["seed"] = seeds
    for k, vals in axes.items():
        if not vals:
            raise ValueError(f"grid field {k} has no values")
    names = list(axes)
    cells: dict[str, Cell] = {}
    for combo in itertools.product(*(axes[k] for k in names)):
        d = dict(zip(names, combo))
        dataset, model = d.pop("dataset"), d.pop("model", "iresnet")
        seed, steps = d.pop("seed"), d.pop("steps", Cell.steps)
        cell = Cell(str(dataset), str(model), int(seed), steps, tuple(sorted(d.items())))
        cells.setdefault(cell.key, cell)
    return list(cells.values())


def _pool(grids: Iterable[list[Cell]]) -> list[Cell]:
    out: dict[str, Cell] = {}
    for cells in grids:
        for c in cells:
            out.setdefault(c.key, c)
    return list(out.values())


def parse_grid(text: str) -> list[Cell]:
    """The cells of a command-line grid: ``"c=0.5,0.9 N=2,5 dataset=rings seeds=3"``; sub-grids
    separated by ``;`` are pooled."""
    grids = []
    for part in text.split(";"):
        if not part.strip():
            continue
        spec: dict[str, Any] = {}
        for token in part.split():
            name, eq, value = token.partition("=")
            if not eq or not name or not value:
                raise ValueError(f"grid fields look like name=v1,v2; got {token!r}")
            if name in spec:
                raise ValueError(f"grid field {name!r} given twice")
            values = value.split(",")
            spec[name] = values if len(values) > 1 else values[0]
        grids.append(expand(spec))
    if not grids:
        raise ValueError("an empty grid")
    return _pool(grids)


def load_grid(path: str | Path) -> list[Cell]:
    """The cells of a grid file (``.toml``, ``.yaml``/``.yml``): one mapping of fields, or
    ``defaults`` and a list ``grid`` of such mappings (pooled)."""
    path = Path(path)
    text = path.read_text()
    if path.suffix == ".toml":
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{path}: not valid TOML: {e}") from None
    elif path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ValueError(f"{path}: not valid YAML: {e}") from None
    else:
        raise ValueError(f"{path}: a grid file is .toml, .yaml or .yml")
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: a grid file holds a mapping of fields")
    defaults = doc.pop("defaults", {}) or {}
    subs: Sequence[Mapping[str, Any]] = doc.pop("grid", None) or []
    if doc:  # fields at the top level: one more sub-grid
        if subs:
            raise ValueError(f"{path}: put fields in [defaults] or in [[grid]], not at the top")
        subs = [doc]
    if not subs:
        raise ValueError(f"{path}: no grid in it")
    return _pool(expand(s, defaults) for s in subs)
