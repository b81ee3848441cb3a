"""Cross-validation, intervals, permutation null and test figure: mpsomics.validation.crossval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from mpsomics.core.errors import InputError
from mpsomics.mps.config import TrainConfig
from mpsomics.mps.fit import fit
from mpsomics.validation import crossval
from mpsomics.validation.crossval import (
    COLUMNS,
    CVData,
    auc_columns,
    balanced_accuracy,
    bootstrap_auc_interval,
    corrected_t_interval,
    cross_validate,
    summarize,
)

CFG = TrainConfig(method="sweep", bond_dim=2, epochs=3, lr=0.05, seed=0, checkpoint_every=0)


def make_data(n_patients=48, n_genes=4, signal=True, seed=0, n_test=20) -> CVData:
    """Patients with one sample, a few with two (tumour + normal); genes 0 and 1 carry
    the label when ``signal`` (shift 0.5 on uniform noise in [0, 0.5]), else labels are
    independent of the values."""
    rng = np.random.default_rng(seed)
    y, groups = [], []
    for p in range(n_patients):
        if p % 8 == 0:  # a tumour-normal pair
            y += [1, 0]
            groups += [f"p{p}", f"p{p}"]
        else:
            y.append(int(p % 3 != 0))
            groups.append(f"p{p}")
    y = np.asarray(y + [1, 0] * (n_test // 2), dtype=np.int64)
    n_train = len(groups)
    X = rng.random((len(y), n_genes)) * 0.5
    if signal:
        X[:, :2] += 0.5 * y[:, None]
    else:
        y = rng.permutation(y[:n_train]).tolist() + y[n_train:].tolist()
        y = np.asarray(y, dtype=np.int64)
    return CVData(
        genes=[f"G{i}" for i in range(n_genes)], X_train=X[:n_train], y_train=y[:n_train],
        groups_train=np.asarray(groups), X_test=X[n_train:], y_test=y[n_train:],
        classes=["normal", "tumor"], positive=1,
    )


# --- statistics ------------------------------------------------------------------------


def test_auc_columns_matches_sklearn_with_ties():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 40)
    s = np.round(rng.random((40, 3)), 1)  # many ties
    got = auc_columns(y, s)
    want = [roc_auc_score(y, s[:, j]) for j in range(3)]
    np.testing.assert_allclose(got, want)
    assert np.isnan(auc_columns(np.ones(5), rng.random(5))[0])


def test_balanced_accuracy_is_the_mean_of_the_two_recalls():
    y = np.array([1, 1, 1, 0, 0])
    score = np.array([0.9, 0.6, 0.2, 0.4, 0.7])  # tp 2/3, tn 1/2
    assert balanced_accuracy(y, score) == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert balanced_accuracy(y, np.full(5, 0.5)) == pytest.approx(0.5)  # 0.5 predicts negative


def test_corrected_interval_formula_and_shrinkage():
    v = np.array([0.80, 0.90, 0.85, 0.95, 0.75])
    mean, lo, hi = corrected_t_interval(v, n_train=80, n_test=20)
    half = sps.t.ppf(0.975, 4) * np.sqrt((1 / 5 + 20 / 80) * v.var(ddof=1))
    assert (mean, lo, hi) == pytest.approx((0.85, 0.85 - half, min(1.0, 0.85 + half)))
    assert lo < mean < hi
    # wider than the naive t interval: the correction for overlapping training sets
    assert half > sps.t.ppf(0.975, 4) * v.std(ddof=1) / np.sqrt(5)
    # more repeats (same spread of fold values) and more folds (smaller n_test/n_train) shrink it
    _, lo2, hi2 = corrected_t_interval(np.tile(v, 4), 80, 20)
    _, lo3, hi3 = corrected_t_interval(np.tile(v, 2), 90, 10)
    assert hi2 - lo2 < hi - lo
    assert hi3 - lo3 < corrected_t_interval(np.tile(v, 2), 80, 20)[2] - corrected_t_interval(
        np.tile(v, 2), 80, 20)[1]
    # clipped to [0, 1]; one value has no interval; constant values a zero-width one
    assert corrected_t_interval([0.99, 1.0, 0.9], 80, 20)[2] == 1.0
    assert np.isnan(corrected_t_interval([0.7, np.nan], 80, 20)[1])
    assert corrected_t_interval([0.7] * 4, 80, 20) == pytest.approx((0.7, 0.7, 0.7))


def test_bootstrap_interval_contains_the_estimate_and_is_seeded():
    rng = np.random.default_rng(2)
    y = np.r_[np.ones(40), np.zeros(6)].astype(int)
    s = rng.normal(size=46) + 1.0 * y
    auc = roc_auc_score(y, s)
    lo, hi = bootstrap_auc_interval(y, s, 500, seed=3)
    assert lo < auc < hi and 0 <= lo and hi <= 1
    assert (lo, hi) == bootstrap_auc_interval(y, s, 500, seed=3)
    assert hi - lo > 0.1  # 6 negatives: a wide interval
    assert np.isnan(bootstrap_auc_interval(np.ones(5), s[:5], 100)[0])


# --- cross-validation and the null ----------------------------------------------------------


def test_models_share_folds_and_planted_signal_gives_the_smallest_p(monkeypatch):
    seen: dict[str, list] = {"mps": [], "baselines": []}
    real_mps, real_base = crossval.mps_fold_probabilities, crossval.baseline_fold_probabilities

    def spy_mps(data, folds, *a, **k):
        seen["mps"].append([(f.train.tolist(), f.test.tolist()) for f in folds])
        return real_mps(data, folds, *a, **k)

    def spy_base(name, X, y, folds, **k):
        seen["baselines"].append([(f.train.tolist(), f.test.tolist()) for f in folds])
        return real_base(name, X, y, folds, **k)

    monkeypatch.setattr(crossval, "mps_fold_probabilities", spy_mps)
    monkeypatch.setattr(crossval, "baseline_fold_probabilities", spy_base)
    data = make_data(signal=True)
    table = cross_validate(data, CFG, community="c1", folds=3, repeats=2, permutations=19,
                           permutation_epochs=2, bootstrap=200, seed=0)
    assert list(table.columns) == list(COLUMNS)
    assert table["model"].tolist() == ["mps", "logistic_regression", "random_forest"]
    # identical folds: the full CV of the MPS and of both baselines (6 folds), and repeat 0
    # (3 folds) for every permutation of the MPS and logistic regression
    full, first = seen["mps"][0], seen["mps"][0][:3]
    assert len(full) == 6 and seen["mps"][1] == first
    assert all(f == full for f in seen["baselines"] if len(f) == 6)
    assert all(f == first for f in seen["baselines"] if len(f) == 3)
    assert sum(len(f) == 6 for f in seen["baselines"]) == 2
    assert sum(len(f) == 3 for f in seen["baselines"]) == 20  # observed + 19 for logistic
    mps, lr, rf = (table.iloc[i] for i in range(3))
    for row in (mps, lr):
        assert row["permutation_p"] == pytest.approx(1 / 20)
        assert row["n_permutations"] == 19
        assert row["permutation_observed"] > row["permutation_null_q95"]
        assert row["auc_low"] <= row["auc_mean"] <= row["auc_high"]
        assert row["auc_mean"] > 0.95 and row["balanced_accuracy_mean"] > 0.85
    assert np.isnan(rf["permutation_p"]) and rf["n_permutations"] == 0
    assert (table["n_folds"] == 3).all() and (table["n_repeats"] == 2).all()
    assert mps["permutation_epochs"] == 2
    # no --model: the MPS row has counts but no test figure; baselines have one
    assert np.isnan(mps["test_auc"]) and mps["test_n_positive"] == 10
    assert lr["test_auc_low"] <= lr["test_auc"] <= lr["test_auc_high"]
    assert (lr["test_n_positive"], lr["test_n_negative"]) == (10, 10)


def test_random_labels_do_not_beat_their_permutation_null():
    data = make_data(signal=False, seed=5)
    table = cross_validate(data, CFG, community="c2", folds=3, repeats=1, permutations=19,
                           permutation_epochs=2, forest_permutations=4, bootstrap=0, seed=1,
                           n_estimators=20)
    for _, row in table.iterrows():
        assert row["permutation_p"] > 0.05, row["model"]
        assert row["auc_mean"] < 0.8
    rf = table.set_index("model").loc["random_forest"]
    assert rf["n_permutations"] == 4  # the forest's null only when asked for


def test_test_figure_of_a_trained_model_and_gene_checks():
    data = make_data(signal=True)
    state, hist, _ = fit(data.X_train, data.y_train, data.X_test, data.y_test, genes=data.genes,
                         classes=data.classes, config=CFG)
    table = cross_validate(data, CFG, community="c3", model=state, folds=3, repeats=1,
                           permutations=0, bootstrap=300)
    mps = table.iloc[0]
    assert mps["test_model"] == "mps"
    assert mps["test_auc_low"] <= mps["test_auc"] <= mps["test_auc_high"]
    # the same prediction as training's own test evaluation
    assert mps["test_balanced_accuracy"] == pytest.approx(hist["test_balanced_accuracy"].iloc[-1])
    assert np.isnan(mps["permutation_p"]) and mps["n_permutations"] == 0
    other = CVData(**{**data.__dict__, "genes": ["G0", "G1", "G2", "X9"]})
    with pytest.raises(InputError, match="not the 4 genes of --genes"):
        crossval.classifier_probability(state, other)


def test_summary_adds_bh_within_each_model_and_rejects_duplicates(tmp_path):
    paths = []
    for i, (p_mps, p_lr) in enumerate([(0.05, 0.5), (0.01, 0.05), (0.2, np.nan)]):
        df = pd.DataFrame({"community": f"c{i}", "model": ["mps", "logistic_regression"],
                           "auc_mean": 0.9, "permutation_p": [p_mps, p_lr]})
        paths.append(tmp_path / f"c{i}.tsv")
        df.to_csv(paths[-1], sep="\t", index=False, na_rep="")
    out = summarize(paths)
    assert out["community"].tolist() == ["c0", "c0", "c1", "c1", "c2", "c2"]
    cols = list(out.columns)
    assert cols.index("permutation_q") == cols.index("permutation_p") + 1
    q = out.set_index(["community", "model"])["permutation_q"]
    # mps: p = 0.05, 0.01, 0.2 (m = 3) -> q = 0.075, 0.03, 0.2; logistic: 0.5, 0.05 (m = 2)
    assert q[("c0", "mps")] == pytest.approx(0.075) and q[("c1", "mps")] == pytest.approx(0.03)
    assert q[("c2", "mps")] == pytest.approx(0.2)
    assert q[("c0", "logistic_regression")] == pytest.approx(0.5)
    assert q[("c1", "logistic_regression")] == pytest.approx(0.1)
    assert np.isnan(q[("c2", "logistic_regression")])
    with pytest.raises(InputError, match="more than one input"):
        summarize([paths[0], paths[0]])


def test_run_fits_without_history_gives_the_final_model_of_a_full_fit():
    """mps.fits fast path (history=False), FitSpec.labels and FitResult.probability."""
    from mpsomics.mps.contract import log_scores
    from mpsomics.mps.fits import fold_specs, run_fits

    data = make_data(signal=True)
    X, y = data.X_train, data.y_train
    folds = [(np.arange(0, 40), np.arange(40, len(y))), (np.arange(15, len(y)), np.arange(15))]
    flipped = 1 - y
    specs = fold_specs(folds, seed=4) + fold_specs(folds, seed=4, labels=flipped, prefix="x")
    kw = dict(genes=data.genes, classes=data.classes, config=CFG)
    fast = list(run_fits(X, y, specs, history=False, workers=2, **kw))
    full = list(run_fits(X, y, specs, **kw))
    assert [r.spec.name for r in fast] == ["f0", "f1", "x0", "x1"]
    assert [r.spec.seed for r in fast] == [4, 5, 4, 5]
    for a, b in zip(fast, full, strict=True):
        assert len(a.history) == 1 and len(b.history) == CFG.epochs + 1
        cols = [c for c in a.history.columns if c not in ("seconds", "loss")]
        pd.testing.assert_frame_equal(a.history[cols], b.history[cols].iloc[[-1]].reset_index(drop=True))
        np.testing.assert_allclose(a.probability, b.probability)
    # the probability is the final model's Born probability of the positive class
    state, _, _ = fit(X[folds[0][0]], y[folds[0][0]], X[folds[0][1]], y[folds[0][1]],
                      config=TrainConfig(**{**CFG.to_dict(), "seed": 4}), genes=data.genes,
                      classes=data.classes)
    scaled, _ = log_scores(state, X[folds[0][1]])
    np.testing.assert_allclose(fast[0].probability, scaled[:, 1] ** 2)
    # replacement labels are used for training and evaluation: flipped labels, mirrored scores
    assert roc_auc_score(y[folds[0][1]], fast[0].probability) > 0.9
    assert roc_auc_score(y[folds[0][1]], fast[2].probability) < 0.1
    assert fast[2].history["test_balanced_accuracy"].iloc[0] > 0.8  # against the flipped labels
