"""Apply a saved model (MPS or TTN) to new samples.

Features must be what the model was trained on: per-gene values in [0, 1]. Two scaling
policies for a raw table (log values, or counts/linear values turned into log values as
``prepare`` does):

- ``cohort`` (default): each gene's min–max over the new samples themselves, without
  labels. Works across platforms and scales (the model sees where a sample lies within
  its own cohort), but needs a cohort of many samples covering both classes' range.
- ``train``: the training split's min–max stored in the prepared AnnData (``var``
  ``scale_min``/``scale_max``), clipped to [0, 1]. Only for samples measured like the
  training data (same platform, same transformation).

A prepared ``.h5ad`` is used as it is: its ``.X`` is already scaled.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mpsomics.core.errors import InputError
from mpsomics.validation.cohorts import minmax

SCALINGS = ("cohort", "train")


def train_scaled(log_values: pd.DataFrame, reference_var: pd.DataFrame) -> pd.DataFrame:
    """Min–max of ``log_values`` (samples x genes) by the training ``scale_min``/``scale_max``."""
    lo = reference_var.loc[log_values.columns, "scale_min"].to_numpy(dtype=float)
    hi = reference_var.loc[log_values.columns, "scale_max"].to_numpy(dtype=float)
    span = np.where(hi > lo, hi - lo, 1.0)
    return pd.DataFrame(np.clip((log_values.to_numpy() - lo) / span, 0.0, 1.0),
                        index=log_values.index, columns=log_values.columns)


def features(log_values: pd.DataFrame, genes: list[str], scaling: str,
             reference_var: pd.DataFrame | None = None, path: str | None = None) -> np.ndarray:
    """The model's feature matrix (samples x ``genes``) under a scaling policy.

    Raises
    ------
    InputError
        A model gene missing from the table, an unknown policy, or ``train`` without the
        reference's scaling of every gene.
    """
    missing = [g for g in genes if g not in log_values.columns]
    if missing:
        raise InputError(path, f"{len(missing)} model gene(s) missing: {', '.join(missing[:5])}")
    sub = log_values[genes]
    if scaling == "cohort":
        return minmax(sub.to_numpy(dtype=float))
    if scaling == "train":
        if reference_var is None or not {"scale_min", "scale_max"} <= set(reference_var.columns):
            raise InputError(path, "--scaling train needs --reference, a prepared .h5ad with var scale_min/scale_max")
        absent = [g for g in genes if g not in reference_var.index]
        if absent:
            raise InputError(path, f"--reference has no scaling for {len(absent)} model gene(s): {', '.join(absent[:5])}")
        return train_scaled(sub, reference_var).to_numpy()
    raise InputError(None, f"unknown scaling {scaling!r}; use one of {', '.join(SCALINGS)}")


def predict_table(model, x: np.ndarray, samples: list[str], labels: np.ndarray | None = None) -> pd.DataFrame:
    """Per-sample Born probabilities of each class and the predicted class (largest)."""
    from mpsomics.ttn.classifier import log_scores

    scaled, _ = log_scores(model, np.asarray(x, dtype=np.float64))
    prob = scaled**2
    table = pd.DataFrame({"sample": samples})
    for j, c in enumerate(model.classes):
        table[f"probability_{c}"] = prob[:, j]
    table["predicted"] = np.asarray(model.classes, dtype=object)[prob.argmax(axis=1)]
    if labels is not None:
        table["label"] = labels
    return table
