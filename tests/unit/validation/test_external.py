"""External AUC against size-matched random gene sets; missing genes counted and named."""

import logging

import numpy as np
import pandas as pd
import pytest

from mpsomics.validation.cohorts import Cohort
from mpsomics.validation.external import auc, bootstrap_interval, summary_table

POOL = [f"G{i:03d}" for i in range(150)]
PLANTED = POOL[:8]


def data(n, rng, shift=1.5):
    """Log values: PLANTED genes are higher in the positive class, the rest is noise."""
    y = np.repeat([0, 1], n // 2)
    x = rng.normal(size=(n, len(POOL)))
    x[:, :8] += shift * y[:, None]
    return pd.DataFrame(x, columns=POOL), y


@pytest.fixture(scope="module")
def reference():
    return data(120, np.random.default_rng(0))


def cohort(rng, name="ext", scale=1.0, offset=0.0):
    x, y = data(60, rng)
    labels = np.where(y == 1, "tumor", "normal")
    return Cohort(name, x * scale + offset, labels, np.asarray([f"p{i // 2}" for i in range(60)]), "tumor")


def table(reference, cohorts, subs, random_sets=100):
    ref, y_ref = reference
    return summary_table(cohorts, ref, y_ref, POOL, {}, {}, subs, random_sets=random_sets,
                         bootstrap=200, seed=0)


def test_planted_subcommunity_beats_random_sets_and_a_null_one_does_not(reference):
    subs = {"c01/graph1": ("c01", PLANTED), "c01/graph2": ("c01", POOL[50:58])}
    t = table(reference, [cohort(np.random.default_rng(1))], subs).set_index("set")
    planted, null = t.loc["c01/graph1"], t.loc["c01/graph2"]
    assert planted["auc"] > 0.9 and planted["auc_low"] <= planted["auc"] <= planted["auc_high"]
    assert planted["null_p"] < 0.05 and planted["null_p"] == pytest.approx(1 / 101)
    assert null["null_p"] > 0.05
    assert planted["null_q"] >= planted["null_p"]
    assert (t["n_random_sets"] == 100).all()


def test_affine_cohort_validates_identically(reference):
    subs = {"s": ("c", PLANTED)}
    a = table(reference, [cohort(np.random.default_rng(2))], subs)
    b = table(reference, [cohort(np.random.default_rng(2), scale=3.0, offset=5.0)], subs)
    cols = ["auc", "auc_low", "auc_high", "null_p", "preservation_z"]
    np.testing.assert_allclose(a[cols].to_numpy(dtype=float), b[cols].to_numpy(dtype=float), equal_nan=True)


def test_missing_genes_are_counted_and_named(reference, caplog):
    c = cohort(np.random.default_rng(3))
    c.log = c.log.drop(columns=["G001", "G002"])
    with caplog.at_level(logging.WARNING):
        t = table(reference, [c], {"s": ("c", PLANTED)})
    assert t.loc[0, "n_genes"] == 8 and t.loc[0, "n_found"] == 6
    assert t.loc[0, "missing_genes"] == "G001;G002"
    assert "G001, G002" in caplog.text


def test_auc_and_patient_bootstrap():
    y = np.array([0, 0, 1, 1])
    assert auc(y, np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert auc(y, np.array([0.4, 0.3, 0.2, 0.1])) == 0.0
    assert auc(y, np.array([1.0, 1.0, 1.0, 1.0])) == 0.5
    lo, hi = bootstrap_interval(np.repeat([0, 1], 20), np.r_[np.zeros(20), np.ones(20)],
                                np.arange(40), 50, np.random.default_rng(0))
    assert lo == hi == 1.0
