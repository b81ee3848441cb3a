"""Null-hypothesis bookkeeping shared by every validation: empirical p-values with the
+1 correction and Benjamini–Hochberg adjustment (from :mod:`mpsomics.core.stats`, which
the community selection also uses), size-matched random gene sets and the best-match
Jaccard index of two families of sets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from mpsomics.core.stats import bh, empirical_p, empirical_p_rows

__all__ = ["best_match_jaccard", "bh", "empirical_p", "empirical_p_rows", "jaccard", "random_sets"]


def random_sets(
    pool: Sequence[str], size: int, n: int, rng: np.random.Generator
) -> list[list[str]]:
    """``n`` random gene sets of ``size`` genes drawn without replacement from ``pool``."""
    pool = list(pool)
    if size > len(pool):
        raise ValueError(f"cannot draw {size} genes from a pool of {len(pool)}")
    return [[pool[i] for i in rng.choice(len(pool), size, replace=False)] for _ in range(n)]


def jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    """|a ∩ b| / |a ∪ b| (0 for two empty sets)."""
    a, b = set(a), set(b)
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def best_match_jaccard(reference: Iterable[str], candidates: Iterable[Iterable[str]]) -> float:
    """The largest Jaccard index between ``reference`` and any candidate set (0 if none)."""
    return max((jaccard(reference, c) for c in candidates), default=0.0)
