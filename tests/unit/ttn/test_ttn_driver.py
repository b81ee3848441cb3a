"""The TTN fit driver (ttn.fit) and the model-kind dispatch (ttn.classifier)."""

from __future__ import annotations

import numpy as np
from helpers.dense import random_state

from mpsomics.mps.config import TrainConfig
from mpsomics.mps.state import MPSState, save_model
from mpsomics.ttn.classifier import is_ttn_file, load_classifier, log_scores
from mpsomics.ttn.fit import edge_entropies, fit_ttn, tree_table
from mpsomics.ttn.state import TTNState, save_ttn


def _planted(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, 2, n)
    X = rng.uniform(0, 1, (n, 6))
    X[:, :2] = np.clip(0.3 + 0.4 * y[:, None] + rng.normal(0, 0.1, (n, 2)), 0, 1)
    return X, y


def test_fit_ttn_learns_a_planted_task_and_records_every_edge(tmp_path):
    rng = np.random.default_rng(0)
    X, y = _planted(160, rng)
    Xt, yt = _planted(80, rng)
    genes = [f"g{i}" for i in range(6)]
    cfg = TrainConfig(method="gradient", bond_dim=4, epochs=15, lr=0.05, seed=0)
    state, history, obs = fit_ttn(X, y, Xt, yt, genes=genes, classes=["a", "b"], config=cfg,
                                  observe_every=5)
    assert isinstance(state, TTNState) and sorted(state.genes) == genes
    assert history["test_accuracy"].iloc[-1] >= 0.9
    table = tree_table(state)
    assert len(table) == 2 * 6 - 1 and table["n_genes"].iloc[-1] == 6  # the root holds every gene
    assert obs.epochs == [0, 5, 10, 15]
    # one entropy per class and tree edge, the root's duplicated bipartition counted once
    assert obs.entropy[-1].shape == (2, 2 * 6 - 3) and np.all(obs.entropy[-1] >= -1e-12)
    assert edge_entropies({"entropy": np.zeros((2, 2 * 6 - 2))}).shape == (2, 2 * 6 - 3)
    # the saved model is recognised as a TTN and scores as the state does
    path = tmp_path / "model.npz"
    save_ttn(state, path)
    assert is_ttn_file(path)
    model = load_classifier(path)
    np.testing.assert_allclose(log_scores(model, Xt[:, [genes.index(g) for g in model.genes]])[0],
                               log_scores(state, Xt[:, [genes.index(g) for g in state.genes]])[0])


def test_an_mps_file_is_not_a_ttn_file(tmp_path):
    path = tmp_path / "model.npz"
    save_model(random_state(5, 3, seed=1), path)
    assert not is_ttn_file(path)
    assert isinstance(load_classifier(path), MPSState)
    assert not is_ttn_file(tmp_path / "missing.npz")
