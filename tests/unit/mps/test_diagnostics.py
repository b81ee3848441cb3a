"""Per-epoch diagnostics of the learned state against dense state vectors (mpsomics.mps.diagnostics)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.dense import dense_state, random_state

from mpsomics.core.metrics import classification_metrics
from mpsomics.mps import diagnostics
from mpsomics.mps.config import TrainConfig
from mpsomics.mps.contract import log_scores, predict
from mpsomics.mps.feature_map import feature_map
from mpsomics.mps.fit import fit

N, C = 5, 2


def product_vector(x: np.ndarray) -> np.ndarray:
    """|Phi(x)> as a dense vector of 2**N amplitudes (site 0 most significant, as dense_state)."""
    v = np.ones(1)
    for phi in feature_map(x[None, :])[0]:
        v = np.kron(v, phi)
    return v


def data(n: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = np.clip(rng.normal(0.35 + 0.3 * y[:, None], 0.2, (n, N)), 0, 1)
    return X, y


@pytest.mark.parametrize("label_site", [0, 2, N - 1])
def test_overlaps_norms_and_outputs_match_dense(label_site):
    state = random_state(N, 3, label_site=label_site, seed=label_site, scales=1.7)
    X, y = data()
    psi = dense_state(state).reshape(-1, C)  # (2**N, C): W_l as columns
    phis = np.stack([product_vector(x) for x in X])
    base = diagnostics.CentroidBaseline(X, y, C)
    scaled, log_scale = log_scores(state, X)
    norms = diagnostics.class_norms(state)
    np.testing.assert_allclose(norms, np.linalg.norm(psi, axis=0), rtol=1e-12)
    f = phis @ psi
    assert diagnostics.max_abs_output(scaled, log_scale) == pytest.approx(np.abs(f).max(), rel=1e-12)
    expected = []
    for c in range(C):
        centroid = phis[y == c].sum(axis=0)
        expected.append(psi[:, c] @ centroid / (np.linalg.norm(psi[:, c]) * np.linalg.norm(centroid)))
    np.testing.assert_allclose(base.overlaps(scaled, log_scale, norms), expected, atol=1e-12)
    # the kernel is the overlap of the product states
    np.testing.assert_allclose(np.exp(diagnostics.log_kernel(X, X)), phis @ phis.T, atol=1e-12)


def test_nearest_centroid_classifier_matches_dense():
    X, y = data(16, seed=3)
    Xt, yt = data(10, seed=4)
    phis = np.stack([product_vector(x) for x in X])
    cents = np.stack([phis[y == c].sum(axis=0) for c in range(C)])
    cents /= np.linalg.norm(cents, axis=1, keepdims=True)
    want = np.argmax(np.stack([product_vector(x) for x in Xt]) @ cents.T, axis=1)
    base = diagnostics.CentroidBaseline(X, y, C)
    np.testing.assert_array_equal(base.predict(Xt), want)
    bacc = classification_metrics(yt, want, positive=1)["balanced_accuracy"]
    assert base.balanced_accuracy(Xt, yt, positive=1) == pytest.approx(bacc)
    assert np.isnan(base.balanced_accuracy(Xt[:0], yt[:0], positive=1))


def test_a_class_state_equal_to_its_centroid_has_overlap_one():
    """The overlap is 1 exactly when W_l is the class centroid (the fixed update's end point)."""
    X, y = data(8, seed=5)
    base = diagnostics.CentroidBaseline(X, y, C)
    phis = np.stack([product_vector(x) for x in X])
    # a state whose class-l part is exactly the centroid of class l: f_l(x_n) = <c_l|Phi(x_n)>
    scaled = np.stack([phis @ phis[y == c].sum(axis=0) for c in range(C)], axis=1)
    norms = np.array([np.linalg.norm(phis[y == c].sum(axis=0)) for c in range(C)])
    scale = np.linalg.norm(scaled, axis=1)
    np.testing.assert_allclose(base.overlaps(scaled / scale[:, None], np.log(scale), norms), [1.0, 1.0], atol=1e-12)


@pytest.mark.parametrize("method", ["sweep", "gradient"])
def test_fit_history_records_the_diagnostics(method):
    X, y = data(24, seed=6)
    Xt, yt = data(8, seed=7)
    cfg = TrainConfig(method=method, bond_dim=4, epochs=3, lr=0.05 if method == "sweep" else 0.01,
                      checkpoint_every=0, output_scale="free")
    state, hist, _ = fit(X, y, Xt, yt, genes=[f"g{i}" for i in range(N)], classes=["a", "b"], config=cfg,
                         progress=False)
    cols = diagnostics.DIAGNOSTIC_COLUMNS + ["centroid_overlap_a", "centroid_overlap_b"]
    assert list(hist.columns[-len(cols):]) == cols
    assert hist[["centroid_overlap_a", "centroid_overlap_b"]].abs().le(1).all().all()
    last = hist.iloc[-1]
    assert last["norm"] == pytest.approx(float(np.sqrt(np.sum(diagnostics.class_norms(state) ** 2))))
    # predictions unchanged: the history's accuracy is that of contract.predict
    acc = float(np.mean(predict(state, X) == y))
    assert last["train_accuracy"] == pytest.approx(acc)
    # the baseline is constant over epochs
    assert hist["centroid_test_balanced_accuracy"].nunique() == 1


def test_the_fixed_update_relaxes_onto_the_class_centroids():
    """Issue 13's finding: with the paper's update each class state becomes its class centroid."""
    X, y = data(40, seed=8)
    genes = [f"g{i}" for i in range(N)]
    runs = {}
    for scale in ("fixed", "profiled"):
        cfg = TrainConfig(bond_dim=8, epochs=30, lr=0.05, output_scale=scale, checkpoint_every=0)
        _, hist, _ = fit(X, y, X[:0], y[:0], genes=genes, classes=["a", "b"], config=cfg, progress=False)
        runs[scale] = hist.iloc[-1]
    assert min(runs["fixed"]["centroid_overlap_a"], runs["fixed"]["centroid_overlap_b"]) > 0.95
    assert runs["fixed"]["norm"] == pytest.approx(1.0) and runs["profiled"]["norm"] == pytest.approx(1.0)


def _history_file(tmp_path, hist, name="history.tsv"):
    path = tmp_path / name
    hist.to_csv(path, sep="\t", index=False)
    return path


def test_load_history_reads_and_checks_the_diagnostics(tmp_path):
    from mpsomics.core.errors import InputError
    from mpsomics.dynamics.training_run import load_history
    from mpsomics.mps.fit import HISTORY_COLUMNS

    X, y = data(16, seed=9)
    cfg = TrainConfig(bond_dim=4, epochs=2, lr=0.05, checkpoint_every=0)
    _, hist, _ = fit(X, y, X[:4], y[:4], genes=[f"g{i}" for i in range(N)], classes=["a", "b"], config=cfg,
                     progress=False)
    back = load_history(_history_file(tmp_path, hist))
    for col in diagnostics.DIAGNOSTIC_COLUMNS + ["centroid_overlap_a", "centroid_overlap_b"]:
        assert np.issubdtype(back[col].dtype, np.floating), col
        np.testing.assert_allclose(back[col], hist[col], rtol=1e-12)
    # a history written before the diagnostics stays readable
    old = load_history(_history_file(tmp_path, hist[HISTORY_COLUMNS], "old.tsv"))
    assert "norm" not in old.columns and len(old) == 3
    bad = {"centroid_overlap_a": 1.5, "norm": -1.0, "max_abs_f": -0.1, "centroid_test_balanced_accuracy": 1.2}
    for col, value in bad.items():
        broken = hist.copy()
        broken.loc[1, col] = value
        with pytest.raises(InputError, match=col):
            load_history(_history_file(tmp_path, broken, f"bad_{col}.tsv"))
    broken = hist.astype({"centroid_overlap_b": object})
    broken.loc[2, "centroid_overlap_b"] = "high"
    with pytest.raises(InputError, match="centroid_overlap_b"):
        load_history(_history_file(tmp_path, broken, "text.tsv"))
