"""Per-gene min-max scaling of ``prepare``, fitted on the train samples only."""

from __future__ import annotations

import numpy as np


def minmax_fit_transform(
    x: np.ndarray, train: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-gene min-max scaling fitted on the train rows.

    Parameters
    ----------
    x
        Samples x genes values.
    train
        Boolean mask of the train rows (at least one).

    Returns
    -------
    tuple
        ``(scaled, mins, maxs)``: ``scaled`` is float64 in [0, 1] (train exactly,
        test clipped), ``mins``/``maxs`` the per-gene train minimum and maximum.

    Raises
    ------
    ValueError
        A gene is constant on the train rows (drop those first) or there are no
        train rows.
    """
    x = np.asarray(x, dtype=np.float64)
    train = np.asarray(train, dtype=bool)
    if not train.any():
        raise ValueError("no train rows")
    if not np.isfinite(x).all():
        raise ValueError(f"{int((~np.isfinite(x)).sum())} value(s) are NaN or infinite")
    mins = x[train].min(axis=0)
    maxs = x[train].max(axis=0)
    with np.errstate(over="ignore"):
        span = maxs - mins
    if np.any(span <= 0):
        raise ValueError(
            f"{int((span <= 0).sum())} gene(s) constant on train; drop them before scaling"
        )
    # Values near the float64 limits (+-1e308): max - min overflows to inf and inf / inf
    # would be NaN. Halving is exact for normal numbers and keeps every difference finite.
    wide = ~np.isfinite(span)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        scaled = (x - mins) / span  # a test value far outside the train range gives +-inf: clipped
        if wide.any():
            scaled[:, wide] = (x[:, wide] * 0.5 - mins[wide] * 0.5) / (maxs[wide] * 0.5 - mins[wide] * 0.5)
    np.clip(scaled, 0.0, 1.0, out=scaled)
    return scaled, mins, maxs
