"""Binary classification metrics with an explicit positive class."""

from __future__ import annotations

import numpy as np


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, positive: int = 1) -> dict[str, float]:
    """Accuracy, balanced accuracy, sensitivity and specificity.

    Parameters
    ----------
    y_true, y_pred
        Integer class indices.
    positive
        Index of the positive class (sensitivity is its recall; specificity is the
        recall of all other samples).

    Returns
    -------
    dict with keys ``accuracy``, ``balanced_accuracy``, ``sensitivity``,
    ``specificity``. A recall over an empty class is NaN.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    pos = y_true == positive
    neg = ~pos
    sens = float(np.mean(y_pred[pos] == positive)) if pos.any() else float("nan")
    spec = float(np.mean(y_pred[neg] != positive)) if neg.any() else float("nan")
    acc = float(np.mean(y_true == y_pred)) if y_true.size else float("nan")
    bal = float(np.nanmean([sens, spec])) if pos.any() or neg.any() else float("nan")
    return {"accuracy": acc, "balanced_accuracy": bal, "sensitivity": sens, "specificity": spec}
