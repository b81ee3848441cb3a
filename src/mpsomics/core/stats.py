"""Empirical p-values of permutation / random-set nulls and the Benjamini–Hochberg adjustment.

Shared by every layer that compares a statistic with a null: the community selection
(:mod:`mpsomics.omics.baselines`) and the validation layer. Knows nothing about genes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import false_discovery_control


def empirical_p(observed: float, null: Sequence[float] | np.ndarray, greater: bool = True) -> float:
    """Empirical p-value ``(1 + #{null >= observed}) / (1 + n)`` (Phipson & Smyth 2010).

    The +1 counts the observed statistic as one draw of the null, so p is never 0 and
    ``n`` null draws can reach at best ``1 / (n + 1)`` (19 draws: 0.05, 99 draws: 0.01).
    NaN draws are dropped; NaN observed or no draws give NaN. ``greater=False`` counts
    ``null <= observed``.
    """
    return float(empirical_p_rows(np.asarray([observed], dtype=float),
                                  np.asarray(null, dtype=float).reshape(1, -1), greater)[0])


def empirical_p_rows(
    observed: Sequence[float] | np.ndarray, null: np.ndarray, greater: bool = True
) -> np.ndarray:
    """:func:`empirical_p` of many statistics at once: ``observed[i]`` against row ``null[i]``.

    Parameters
    ----------
    observed
        Shape ``(m,)``.
    null
        Shape ``(m, n)``: the null draws of each statistic (NaN draws are not counted).

    Returns
    -------
    Shape ``(m,)``; NaN where the observed value is NaN or a row has no finite draw.
    """
    obs = np.asarray(observed, dtype=float).reshape(-1)
    null = np.asarray(null, dtype=float)
    if null.ndim != 2 or null.shape[0] != obs.size:
        raise ValueError(f"null must have shape ({obs.size}, n), got {null.shape}")
    finite = np.isfinite(null)
    n = finite.sum(axis=1)
    with np.errstate(invalid="ignore"):
        hits = (finite & (null >= obs[:, None] if greater else null <= obs[:, None])).sum(axis=1)
    p = (1.0 + hits) / (1.0 + n)
    p[~np.isfinite(obs) | (n == 0)] = np.nan
    return p


def bh(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q); NaN entries stay NaN and are not counted."""
    p = np.asarray(p, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q[ok] = false_discovery_control(np.clip(p[ok], 0.0, 1.0), method="bh")
    return q


def label_permutations(y: np.ndarray, groups: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` permutations of ``y`` that respect the patient groups (shape ``(n, len(y))``).

    Patients with the same number of samples exchange their label vectors (whole-block
    exchangeability) and the labels are shuffled within each patient (within-block), so
    class counts, the number of samples per patient and the label mix of each patient
    (e.g. one tumour + one normal) are preserved. Seeded: the same ``y``, ``groups``,
    ``n`` and ``seed`` give the same permutations.
    """
    y = np.asarray(y)
    groups = np.asarray(groups).astype(str)
    rng = np.random.default_rng([seed, 0x5E1EC7])  # not the fold seed stream
    _, inverse = np.unique(groups, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    blocks = np.split(order, np.flatnonzero(np.diff(inverse[order])) + 1)
    by_size: dict[int, list[np.ndarray]] = {}
    for block in blocks:
        by_size.setdefault(len(block), []).append(block)
    out = np.empty((n, len(y)), dtype=y.dtype)
    for size, members in by_size.items():
        idx = np.stack(members)  # (patients, size): sample indices of each patient
        labels = y[idx]
        for k in range(n):
            moved = labels[rng.permutation(len(members))]
            if size > 1:
                moved = rng.permuted(moved, axis=1)
            out[k, idx] = moved
    return out
