"""The patient-grouped, stratified train/test split of ``prepare``.

The split comes before any value-dependent step, so that NaN imputation, duplicate
aggregation, gene filters and scaling are fitted on train samples only.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np

from mpsomics.core.errors import InputError

# One logger for the whole stage: log lines keep the name they had before the split.
log = logging.getLogger(__package__)


def grouped_split(
    labels: Sequence[str] | np.ndarray,
    groups: Sequence[str] | np.ndarray,
    test_fraction: float = 0.25,
    seed: int = 0,
) -> np.ndarray:
    """Patient-grouped, stratified train/test split.

    Parameters
    ----------
    labels, groups
        One class label and one group (patient) per sample.
    test_fraction
        Approximate test fraction, in (0, 1): the test set is one of
        ``n_splits = max(2, round(1 / test_fraction))`` folds, so fractions above 0.5
        give 0.5 (a warning is logged when the effective fraction differs by > 0.1).
    seed
        ``random_state`` of :class:`sklearn.model_selection.StratifiedGroupKFold`.

    Returns
    -------
    numpy.ndarray
        ``'train'`` / ``'test'`` per sample. No group is on both sides; every class
        has at least one sample on each side; deterministic for a seed.

    Raises
    ------
    InputError
        (without a file) when no such split exists.
    """
    labels = np.asarray(labels).astype(str)
    groups = np.asarray(groups).astype(str)
    if labels.shape != groups.shape or labels.ndim != 1:
        raise ValueError("labels and groups must be 1-D and of the same length")
    n_splits = n_folds(test_fraction)
    classes = [str(c) for c in np.unique(labels)]
    check_splittable(labels, groups, classes, n_splits, test_fraction)
    split = first_fold_with_every_class(labels, groups, classes, n_splits, seed)
    if split is None:
        raise InputError(
            None,
            f"no patient-grouped split with every class in both train and test (classes "
            f"{ {c: int((labels == c).sum()) for c in classes} }, {len(np.unique(groups))} groups); "
            "try another --seed or --test-fraction",
        )
    return split


def n_folds(test_fraction: float) -> int:
    """Number of folds whose single test fold approximates ``test_fraction``.

    Parameters
    ----------
    test_fraction
        In (0, 1).

    Returns
    -------
    int
        ``max(2, round(1 / test_fraction))``; a warning is logged when ``1 / n``
        differs from ``test_fraction`` by more than 0.1.

    Raises
    ------
    InputError
        ``test_fraction`` outside (0, 1).
    """
    if not 0 < test_fraction < 1:
        raise InputError(None, f"test fraction must be in (0, 1), got {test_fraction}")
    n_splits = max(2, round(1 / test_fraction))
    if abs(1 / n_splits - test_fraction) > 0.1:
        log.warning(
            "test fraction %g: using %d folds, i.e. a test fraction of about %.2f",
            test_fraction,
            n_splits,
            1 / n_splits,
        )
    return n_splits


def check_splittable(
    labels: np.ndarray,
    groups: np.ndarray,
    classes: Sequence[str],
    n_splits: int,
    test_fraction: float,
) -> None:
    """Refuse, with a message that says what to change, inputs that no fold can split.

    Every class needs at least two groups (one per side), there must be at least
    ``n_splits`` groups, and some class must have ``n_splits`` samples
    (:class:`~sklearn.model_selection.StratifiedGroupKFold` refuses otherwise).

    Raises
    ------
    InputError
        (without a file) naming the failing condition.
    """
    for c in classes:
        n_groups_c = len(np.unique(groups[labels == c]))
        if n_groups_c < 2:
            raise InputError(
                None,
                f"class {c!r} occurs in only {n_groups_c} group(s); it needs at least 2 groups "
                "(patients) to have samples in both train and test",
            )
    n_groups = len(np.unique(groups))
    if n_groups < n_splits:
        raise InputError(
            None,
            f"only {n_groups} groups (patients) for test fraction {test_fraction} ({n_splits} folds)",
        )
    class_sizes = {c: int((labels == c).sum()) for c in classes}
    if all(n < n_splits for n in class_sizes.values()):  # StratifiedGroupKFold refuses this
        raise InputError(
            None,
            f"test fraction {test_fraction:g} needs {n_splits} folds but every class has fewer "
            f"samples than that ({', '.join(f'{c}: {n}' for c, n in class_sizes.items())}); "
            "use a larger --test-fraction",
        )


def first_fold_with_every_class(
    labels: np.ndarray, groups: np.ndarray, classes: Sequence[str], n_splits: int, seed: int
) -> np.ndarray | None:
    """The first ``StratifiedGroupKFold`` test fold leaving every class on both sides.

    Parameters
    ----------
    labels, groups
        Per sample (str arrays).
    classes
        All classes of ``labels``.
    n_splits, seed
        Of ``StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)``.

    Returns
    -------
    numpy.ndarray or None
        ``'train'``/``'test'`` per sample, or ``None`` if no fold qualifies.

    Raises
    ------
    InputError
        scikit-learn refuses the split for another reason (reported on one line).
    """
    from sklearn.model_selection import StratifiedGroupKFold

    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has only k members"
        try:
            for _, test_idx in cv.split(np.zeros(len(labels)), labels, groups):
                split = np.full(len(labels), "train", dtype="<U5")
                split[test_idx] = "test"
                if all(set(labels[split == s]) == set(classes) for s in ("train", "test")):
                    assert not set(groups[split == "train"]) & set(groups[split == "test"])
                    return split
        except ValueError as exc:  # any other refusal of scikit-learn: report it on one line
            raise InputError(None, f"no patient-grouped split: {exc}") from None
    return None
