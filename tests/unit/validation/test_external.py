"""External AUC against size-matched random gene sets, preservation Z, missing genes."""

import logging

import numpy as np
import pandas as pd
import pytest

from mpsomics.mps.state import MPSState
from mpsomics.validation.cohorts import Cohort, load_cohort
from mpsomics.validation.external import (
    COLUMNS,
    auc,
    bootstrap_interval,
    patient_strata,
    summary_table,
    training_signs,
)
from mpsomics.validation.stats import bh

POOL = [f"G{i:03d}" for i in range(150)]
PLANTED = POOL[:8]


def data(n, rng, shift=2.0, module=True):
    """Log values: PLANTED genes share a latent factor (graded loadings) and are higher in
    the positive class; the rest is noise. ``module=False``: no factor and no shift."""
    y = np.repeat([0, 1], n // 2)
    x = rng.normal(size=(n, len(POOL)))
    if module:
        x[:, :8] += rng.normal(size=(n, 1)) * np.linspace(0.3, 1.2, 8) + shift * y[:, None]
    return pd.DataFrame(x, columns=POOL), y


@pytest.fixture(scope="module")
def reference():
    return data(120, np.random.default_rng(0))


def cohort(rng, name="ext", scale=1.0, offset=0.0, module=True, paired=True):
    x, y = data(60, rng, module=module)
    labels = np.where(y == 1, "tumor", "normal")
    groups = [f"p{i % 30}" for i in range(60)] if paired else [f"p{i}" for i in range(60)]
    return Cohort(name, x * scale + offset, labels, np.asarray(groups), "tumor")


def table(reference, cohorts, subs, random_sets=100, communities=None, models=None):
    ref, y_ref = reference
    return summary_table(cohorts, ref, y_ref, POOL, communities or {}, models or {}, subs,
                         random_sets=random_sets, bootstrap=200, seed=0)


def test_planted_subcommunity_beats_random_sets_and_a_null_one_does_not(reference):
    subs = {"c01/graph1": ("c01", PLANTED), "c01/graph2": ("c01", POOL[50:58])}
    t = table(reference, [cohort(np.random.default_rng(1))], subs)
    assert list(t.columns) == COLUMNS
    t = t.set_index("set")
    planted, null = t.loc["c01/graph1"], t.loc["c01/graph2"]
    assert planted["auc"] > 0.9 and planted["auc_low"] <= planted["auc"] <= planted["auc_high"]
    # no random 8-set of the pool reaches the planted AUC: the smallest p of 100 draws
    assert planted["null_p"] < 0.05 and planted["null_p"] == pytest.approx(1 / 101)
    assert null["null_p"] > 0.05
    assert planted["null_q"] >= planted["null_p"]
    assert (t["n_random_sets"] == 100).all() and (t["n_pool"] == 150).all()


def test_planted_module_is_preserved_where_it_exists(reference):
    subs = {"c01/graph1": ("c01", PLANTED)}
    t = table(reference, [cohort(np.random.default_rng(1), "with"),
                          cohort(np.random.default_rng(2), "without", module=False)], subs).set_index("cohort")
    assert t.loc["with", "preservation_z"] > 10 and t.loc["with", "preservation"] == "strong"
    assert t.loc["without", "preservation_z"] < 2 and t.loc["without", "preservation"] == "none"


def test_affine_cohort_validates_identically(reference):
    subs = {"s": ("c", PLANTED), "t": ("c", POOL[40:45])}
    a = table(reference, [cohort(np.random.default_rng(2))], subs)
    b = table(reference, [cohort(np.random.default_rng(2), scale=3.0, offset=5.0)], subs)
    cols = ["auc", "auc_low", "auc_high", "null_p", "preservation_z", "preservation_z_density",
            "preservation_z_connectivity"]
    np.testing.assert_allclose(a[cols].to_numpy(dtype=float), b[cols].to_numpy(dtype=float), rtol=1e-9)


def test_counts_cohort_validates_as_its_log_cpm(reference, tmp_path):
    """A counts table and the log2(CPM + 1) table made from it give the same row."""
    rng = np.random.default_rng(4)
    x, y = data(40, rng)
    rate = np.exp(1.0 + 0.5 * x.to_numpy())  # samples x genes expected counts
    counts = pd.DataFrame(rng.poisson(rate * rng.uniform(50, 200, size=(40, 1))), columns=POOL)
    lib = counts.sum(axis=1).to_numpy()[:, None]
    logcpm = np.log2(counts / lib * 1e6 + 1)
    samples = [f"s{i}" for i in range(40)]
    pd.DataFrame({"sample": samples, "label": np.where(y == 1, "tumor", "normal"),
                  "patient": [f"p{i % 20}" for i in range(40)]}).to_csv(tmp_path / "sheet.tsv", sep="\t", index=False)
    cfg = {"samples": str(tmp_path / "sheet.tsv"), "sample_col": "sample", "label_col": "label",
           "group_col": "patient", "positive_label": "tumor"}
    for name, frame in (("counts", counts), ("logcpm", logcpm)):
        frame.set_axis(samples).T.rename_axis("symbol").to_csv(tmp_path / f"{name}.tsv", sep="\t")
    a = load_cohort("a", {**cfg, "expression": str(tmp_path / "counts.tsv")})
    b = load_cohort("b", {**cfg, "expression": str(tmp_path / "logcpm.tsv"), "values": "log"})
    subs = {"s": ("c", PLANTED)}
    ta, tb = table(reference, [a], subs), table(reference, [b], subs)
    cols = ["auc", "auc_low", "auc_high", "null_p", "preservation_z"]
    np.testing.assert_allclose(ta[cols].to_numpy(dtype=float), tb[cols].to_numpy(dtype=float), rtol=1e-6)


def test_missing_genes_are_counted_and_named(reference, caplog):
    c = cohort(np.random.default_rng(3))
    c.log = c.log.drop(columns=["G001", "G002"])
    with caplog.at_level(logging.WARNING):
        t = table(reference, [c], {"s": ("c", PLANTED)})
    assert t.loc[0, "n_genes"] == 8 and t.loc[0, "n_found"] == 6
    assert t.loc[0, "missing_genes"] == "G001;G002"
    assert "G001, G002" in caplog.text
    assert t.loc[0, "n_pool"] == 148  # the missing genes are not drawn either


def product_model(genes, informative):
    """A bond-dimension-1 MPS: P(tumor | x) = sin²(π x_informative / 2); other sites inert."""
    sites, uniform = [], np.full((1, 2, 1), 1 / np.sqrt(2))
    for g in genes:
        sites.append(np.array([[1.0, 0.0], [0.0, 1.0]]).reshape(1, 2, 2, 1) if g == informative else uniform)
    return MPSState(sites=sites, label_site=genes.index(informative), genes=list(genes), classes=["normal", "tumor"])


def test_community_model_probability_and_the_neutral_value_of_a_missing_gene(reference, caplog):
    genes = ["G000", "G100", "G101"]
    c = cohort(np.random.default_rng(5))
    t = table(reference, [c], {}, communities={"c01": genes}, models={"c01": product_model(genes, "G000")})
    x = c.log["G000"].to_numpy()
    expected = np.sin(np.pi / 2 * (x - x.min()) / (x.max() - x.min())) ** 2
    assert t.loc[0, "auc"] == pytest.approx(auc(c.y, expected))
    assert t.loc[0, "auc"] > 0.7 and t.loc[0, "n_found"] == 3
    # the informative gene missing: it is fed 0.5, the model says 0.5 for every sample
    c.log = c.log.drop(columns=["G000"])
    with caplog.at_level(logging.WARNING):
        t = table(reference, [c], {}, communities={"c01": genes}, models={"c01": product_model(genes, "G000")})
    assert t.loc[0, "auc"] == pytest.approx(0.5) and t.loc[0, "n_found"] == 2
    assert t.loc[0, "missing_genes"] == "G000" and "(fed 0.5 to the model): G000" in caplog.text


def test_signs_come_from_the_training_difference():
    ref = pd.DataFrame({"up": [0.0, 0.0, 1.0, 1.0], "down": [1.0, 1.0, 0.0, 0.0]})
    assert training_signs(ref, np.array([0, 0, 1, 1])).to_dict() == {"up": 1.0, "down": -1.0}


def test_auc_and_the_stratified_patient_bootstrap():
    y = np.array([0, 0, 1, 1])
    assert auc(y, np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert auc(y, np.array([0.4, 0.3, 0.2, 0.1])) == 0.0
    assert auc(y, np.array([1.0, 1.0, 1.0, 1.0])) == 0.5
    # paired patients form one stratum; unpaired ones a stratum per class
    y = np.array([0, 1, 0, 1, 1, 0])
    members, strata = patient_strata(y, np.array(["a", "a", "b", "b", "c", "d"]))
    assert [m.tolist() for m in members] == [[0, 1], [2, 3], [4], [5]]
    assert sorted(s.tolist() for s in strata) == [[0, 1], [2], [3]]
    # unpaired, 3 positives of 20: every resample keeps both classes (no draw lost)
    y = np.r_[np.zeros(17), np.ones(3)].astype(int)
    score = np.r_[np.linspace(0, 1, 17), [0.3, 0.95, 0.99]]
    lo, hi = bootstrap_interval(y, score, np.arange(20), 300, np.random.default_rng(0))
    assert lo < auc(y, score) < hi <= 1.0
    lo, hi = bootstrap_interval(np.repeat([0, 1], 20), np.r_[np.zeros(20), np.ones(20)],
                                np.arange(40), 50, np.random.default_rng(0))
    assert lo == hi == 1.0


def test_classical_sets_are_their_own_bh_family_and_leave_mps_rows_unchanged(reference):
    """Adding classical / top_de sets changes no number of the MPS rows (null_q included)."""
    mps = {"c01/graph1": ("c01", PLANTED), "c01/graph2": ("c01", POOL[50:58])}
    classical = {"c01/classical1": ("c01", PLANTED[:6]), "c01/top_de:graph1": ("c01", PLANTED),
                 "c01/top_de:graph2": ("c01", POOL[60:68])}
    methods = {"c01/graph1": "graph", "c01/graph2": "graph", "c01/classical1": "classical",
               "c01/top_de:graph1": "top_de", "c01/top_de:graph2": "top_de"}
    ref, y_ref = reference
    cohorts = [cohort(np.random.default_rng(1))]
    alone = summary_table(cohorts, ref, y_ref, POOL, {}, {}, mps, random_sets=100, bootstrap=200, seed=0)
    both = summary_table(cohorts, ref, y_ref, POOL, {}, {}, {**mps, **classical}, random_sets=100,
                         bootstrap=200, seed=0, methods=methods)
    assert list(both.columns) == COLUMNS and COLUMNS[-1] == "method"
    assert both["method"].tolist() == list(methods.values())
    assert alone["method"].tolist() == ["", ""]  # no methods given
    numbers = [c for c in COLUMNS if c not in ("method",)]
    pd.testing.assert_frame_equal(both.iloc[:2][numbers].reset_index(drop=True), alone[numbers])
    b = both.set_index("set")
    # the same genes give the same AUC and p whatever the method ...
    assert b.loc["c01/top_de:graph1", "null_p"] == b.loc["c01/graph1", "null_p"]
    # ... but q is adjusted within its own family: top_de has 2 sets, classical 1 (q = p)
    assert b.loc["c01/classical1", "null_q"] == pytest.approx(b.loc["c01/classical1", "null_p"])
    top = b.loc[["c01/top_de:graph1", "c01/top_de:graph2"], "null_p"].to_numpy()
    np.testing.assert_allclose(b.loc[["c01/top_de:graph1", "c01/top_de:graph2"], "null_q"], bh(top))
