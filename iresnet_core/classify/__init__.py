"""i-ResNet classifiers on toy 2D data: the discriminative side of Behrmann et al. (ICML 2019).

* :mod:`~iresnet_core.classify.model` — :class:`IResNetClassifier` (invertible features of the
  flow's own residual blocks, then a linear head) and :class:`ClassifierTrainer`;
* :mod:`~iresnet_core.classify.analysis` — what the Classifiers page shows: the decision grid,
  the warped grid, folds, and Table 1 in miniature with a measured-inverse column;
* :mod:`~iresnet_core.classify.data` — the labelled toy sets (moons, circles, spirals, xor).

Example:
    >>> from iresnet_core import classify
    >>> x, y = classify.data.make("moons", 100, seed=0)
    >>> x.shape, sorted(set(y.tolist()))
    ((100, 2), [0, 1])
"""

from iresnet_core.classify import data
from iresnet_core.classify.analysis import (
    INPUT_DIM,
    TABLE1_COEFFS,
    TABLE1_COLUMNS,
    Bounds,
    ClassifierInverseInfo,
    ClassifierTrainer,
    FoldMap,
    IResNetClassifier,
    WarpedGrid,
    decision_grid,
    evaluate_setting,
    fold_map,
    fold_share,
    grid_points,
    plane_bounds,
    reconstruction_error,
    setting_label,
    table1,
    table1_row,
    train_classifier,
    warped_grid,
)

__all__ = [
    "data",
    "INPUT_DIM",
    "TABLE1_COEFFS",
    "TABLE1_COLUMNS",
    "IResNetClassifier",
    "ClassifierInverseInfo",
    "ClassifierTrainer",
    "FoldMap",
    "WarpedGrid",
    "Bounds",
    "plane_bounds",
    "grid_points",
    "decision_grid",
    "warped_grid",
    "fold_map",
    "fold_share",
    "reconstruction_error",
    "setting_label",
    "train_classifier",
    "evaluate_setting",
    "table1_row",
    "table1",
]
