"""Repeated patient-grouped stratified K-fold on the training split.

Every model of ``mpsomics cv`` (the MPS and the classical baselines) is evaluated on the
folds of :func:`grouped_folds`, so their fold values are paired. Each repeat is a
:class:`~sklearn.model_selection.StratifiedGroupKFold` split with shuffling: all samples
of one patient (``obs["group"]``) fall in the same fold, and the folds keep the class
proportions as far as whole patients allow. Repeat ``r`` uses ``random_state = seed + r``,
so repeat 0 is exactly the split of :func:`mpsomics.omics.baselines.cv_splits` with the
same seed (the folds the communities stage used).

K is reduced (with a warning) to the number of patients of the rarer class when that is
smaller, so every held-out fold can contain both classes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from mpsomics.core.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fold:
    """One train/held-out split: indices into the training samples."""

    repeat: int
    fold: int
    train: np.ndarray
    test: np.ndarray

    @property
    def name(self) -> str:
        return f"r{self.repeat}_f{self.fold}"


def n_folds(y: np.ndarray, groups: np.ndarray, folds: int, *, warn: bool = True) -> int:
    """K actually used: ``folds``, reduced to the patients of the rarer class (warning).

    Raises
    ------
    InputError
        Fewer than two classes, or fewer than two patients in a class.
    """
    y = np.asarray(y)
    groups = np.asarray(groups).astype(str)
    classes = np.unique(y)
    if len(classes) < 2:
        raise InputError(None, "cross-validation needs training samples of two classes, found one")
    n_min = min(len(set(groups[y == c])) for c in classes)
    k = min(int(folds), n_min)
    if k < 2:
        raise InputError(
            None,
            f"cross-validation needs at least 2 patients (groups) per class among the training "
            f"samples, found {n_min}",
        )
    if k < folds and warn:
        log.warning(
            "only %d patients in the rarer class: using %d folds instead of %d", n_min, k, folds
        )
    return k


def grouped_folds(
    y: np.ndarray, groups: np.ndarray, folds: int = 5, repeats: int = 2, seed: int = 0
) -> list[Fold]:
    """``repeats`` x K patient-grouped stratified folds of the training samples.

    Parameters
    ----------
    y
        Class labels of the training samples (any integer or string coding).
    groups
        Patient of every sample: a patient's samples are never split between the
        training and the held-out part of a fold.
    folds
        K (reduced as described by :func:`n_folds`).
    repeats
        Number of repeats; repeat ``r`` shuffles with ``random_state = seed + r``.
    seed
        Seed of repeat 0.

    Returns
    -------
    ``repeats * K`` :class:`Fold`, repeat-major; within a repeat the held-out parts
    partition the samples.
    """
    y = np.asarray(y)
    groups = np.asarray(groups).astype(str)
    if len(y) != len(groups):
        raise ValueError("y and groups differ in length")
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    k = n_folds(y, groups, folds)
    out = []
    for r in range(repeats):
        cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed + r)
        for f, (tr, te) in enumerate(cv.split(np.zeros(len(y)), y, groups)):
            out.append(Fold(r, f, np.sort(tr).astype(np.int64), np.sort(te).astype(np.int64)))
    return out
