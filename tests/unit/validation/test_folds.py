"""Repeated patient-grouped stratified folds: mpsomics.validation.folds."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from mpsomics.core.errors import InputError
from mpsomics.omics.baselines import cv_splits
from mpsomics.validation.folds import grouped_folds, n_folds


def _patients(n_single_pos=50, n_single_neg=8, n_pairs=6, seed=0):
    """Labels and patients like TCGA: one-sample patients and tumour+normal pairs."""
    y, groups = [], []
    for i in range(n_single_pos):
        y.append(1)
        groups.append(f"t{i}")
    for i in range(n_single_neg):
        y.append(0)
        groups.append(f"n{i}")
    for i in range(n_pairs):
        y += [1, 0]
        groups += [f"pair{i}", f"pair{i}"]
    order = np.random.default_rng(seed).permutation(len(y))
    return np.asarray(y)[order], np.asarray(groups)[order]


def test_folds_are_grouped_stratified_and_partition_each_repeat():
    y, groups = _patients()
    folds = grouped_folds(y, groups, folds=5, repeats=3, seed=7)
    assert len(folds) == 15
    assert [(f.repeat, f.fold) for f in folds[:6]] == [(0, i) for i in range(5)] + [(1, 0)]
    for r in range(3):
        part = [f for f in folds if f.repeat == r]
        held = np.concatenate([f.test for f in part])
        assert sorted(held.tolist()) == list(range(len(y)))  # each sample held out once
        for f in part:
            assert not set(groups[f.train]) & set(groups[f.test])  # no patient on both sides
            assert sorted(np.concatenate([f.train, f.test]).tolist()) == list(range(len(y)))
            # both classes held out, close to the overall proportion
            assert 0 < y[f.test].sum() < len(f.test)
            assert abs(y[f.test].mean() - y.mean()) < 0.12
    # a new shuffle per repeat
    assert not all(
        np.array_equal(a.test, b.test) for a, b in zip(folds[:5], folds[5:10], strict=True)
    )


def test_repeat_zero_is_the_baselines_split_and_seeded():
    y, groups = _patients()
    folds = grouped_folds(y, groups, folds=4, repeats=2, seed=3)
    for f, (tr, va) in zip(folds[:4], cv_splits(y, groups, 4, seed=3), strict=True):
        np.testing.assert_array_equal(f.train, np.sort(tr))
        np.testing.assert_array_equal(f.test, np.sort(va))
    again = grouped_folds(y, groups, folds=4, repeats=2, seed=3)
    assert all(np.array_equal(a.test, b.test) for a, b in zip(folds, again, strict=True))


def test_k_is_reduced_to_the_rarer_class_patients_with_a_warning(caplog):
    y, groups = _patients(n_single_neg=2, n_pairs=1)  # 3 patients with a normal sample
    with caplog.at_level(logging.WARNING):
        assert n_folds(y, groups, 5) == 3
    assert "using 3 folds instead of 5" in caplog.text
    assert len(grouped_folds(y, groups, 5, 2)) == 6


def test_too_few_patients_or_one_class_is_an_input_error():
    y, groups = _patients(n_single_neg=1, n_pairs=0)
    with pytest.raises(InputError, match="at least 2 patients"):
        grouped_folds(y, groups, 5, 1)
    with pytest.raises(InputError, match="two classes"):
        grouped_folds(np.ones(10, int), np.arange(10), 5, 1)
