"""The torch TTN model and its Adam trainer: exact export, deep trees, planted task, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mpsomics.core.errors import InputError
from mpsomics.mps.config import TrainConfig
from mpsomics.mps.feature_map import feature_map
from mpsomics.mps.torch_model import embed
from mpsomics.ttn import contract
from mpsomics.ttn.torch_model import TTNClassifier
from mpsomics.ttn.train import accuracy, train_ttn
from mpsomics.ttn.tree import gene_tree


def _planted(n: int, n_genes: int, rng: np.random.Generator):
    """Two classes separated by three genes (shifted means); all other genes are noise."""
    y = rng.integers(0, 2, size=n)
    X = rng.uniform(size=(n, n_genes))
    for g in (1, 4, 7):
        X[:, g] = np.clip(0.3 + 0.4 * y + rng.normal(scale=0.12, size=n), 0.0, 1.0)
    return X, y


@pytest.mark.parametrize(("n", "shape"), [(2, "random"), (5, "caterpillar"), (8, "random")])
def test_torch_model_equals_exported_state_and_dense(ttn_helpers, n, shape):
    rng = np.random.default_rng(n)
    parent = ttn_helpers.random_parent(n, rng, shape)
    model = TTNClassifier(parent, 2, 3, init_std=0.7, generator=torch.Generator().manual_seed(1))
    state = model.to_state([f"g{i}" for i in range(n)], ["a", "b"])
    X = rng.uniform(size=(9, n))
    W = ttn_helpers.dense(state)
    phi = feature_map(X)
    want = np.einsum("bs,s...->b...", phi[:, 0], W)
    for i in range(1, n):
        want = np.einsum("bs,bs...->b...", phi[:, i], want)
    np.testing.assert_allclose(model.scores(X), want, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(contract.scores(state, X), want, rtol=1e-10, atol=1e-13)


def test_deep_tree_log_scale_does_not_underflow(ttn_helpers):
    rng = np.random.default_rng(3)
    n = 45
    parent = ttn_helpers.random_parent(n, rng, "caterpillar")  # 44 levels
    model = TTNClassifier(parent, 2, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.cores.mul_(1e-9)  # f ~ 1e-9^43: far below the float64 range
    X = rng.uniform(size=(6, n))
    with torch.no_grad():
        out, log_scale = model.forward_log(embed(X))
    assert torch.all(torch.isfinite(out)) and torch.all(torch.isfinite(log_scale))
    assert float(log_scale.max()) < math.log(np.finfo(np.float64).tiny)
    scaled, log_ref = contract.log_scores(model.to_state([f"g{i}" for i in range(n)], ["a", "b"]), X)
    norm = out.norm(dim=1)
    np.testing.assert_allclose((log_scale + torch.log(norm)).numpy(), log_ref, rtol=1e-10)
    np.testing.assert_allclose((out / norm[:, None]).numpy(), scaled, atol=1e-10)


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_planted_task_reaches_90_percent_test_accuracy(loss):
    rng = np.random.default_rng(0)
    X, y = _planted(400, 12, rng)
    genes = [f"g{i}" for i in range(12)]
    parent, ordered = gene_tree(X[:200], genes)  # the tree uses training samples only
    cols = [genes.index(g) for g in ordered]
    cfg = TrainConfig(method="gradient", bond_dim=4, epochs=15, lr=0.02, batch_size=32, loss=loss)
    state = train_ttn(X[:200][:, cols], y[:200], parent=parent, genes=ordered,
                      classes=["normal", "tumor"], config=cfg)
    assert accuracy(state, X[200:][:, cols], y[200:]) >= 0.9


def test_same_seed_gives_identical_tensors(ttn_helpers):
    rng = np.random.default_rng(4)
    X, y = _planted(96, 8, rng)
    parent = ttn_helpers.random_parent(8, rng)
    genes = [f"g{i}" for i in range(8)]
    seen = []

    def run(seed):
        cfg = TrainConfig(method="gradient", bond_dim=3, epochs=3, lr=0.05, batch_size=16, seed=seed)
        return train_ttn(X, y, parent=parent, genes=genes, classes=["a", "b"], config=cfg,
                         on_epoch=lambda e, s, loss: seen.append((e, loss)))

    a, b, c = run(0), run(0), run(1)
    for ta, tb in zip(a.tensors, b.tensors, strict=True):
        np.testing.assert_array_equal(ta, tb)
    assert any(not np.array_equal(ta, tc) for ta, tc in zip(a.tensors, c.tensors, strict=True))
    assert [e for e, _ in seen[:4]] == [0, 1, 2, 3] and math.isnan(seen[0][1])


def test_bad_training_inputs_raise_input_error(ttn_helpers):
    rng = np.random.default_rng(5)
    parent = ttn_helpers.random_parent(4, rng)
    genes, cfg = [f"g{i}" for i in range(4)], TrainConfig(method="gradient", epochs=1)
    X, y = rng.uniform(size=(10, 4)), rng.integers(0, 2, size=10)
    bad = [
        dict(X=X[:, :3]),
        dict(X=X + 2.0),
        dict(y=y.astype(float)),
        dict(y=y + 5),
        dict(genes=genes[:3]),
        dict(parent=np.array([4, 4, 5, 5, 6, 6, 3])),
    ]
    for override in bad:
        kw = dict(X=X, y=y, parent=parent, genes=genes)
        kw.update(override)
        with pytest.raises(InputError):
            train_ttn(kw.pop("X"), kw.pop("y"), classes=["a", "b"], config=cfg, **kw)
