"""TTN contraction and observables against the dense 2^N state vector (N <= 8)."""

from __future__ import annotations

import numpy as np
import pytest

from mpsomics.core.errors import NumericalError
from mpsomics.mps.feature_map import feature_map
from mpsomics.ttn import contract, observables
from mpsomics.ttn.state import TTNState, bond_dims
from mpsomics.ttn.tree import children, levels, subtree_leaves

CASES = [(2, "random", 0), (3, "random", 1), (5, "random", 2), (6, "caterpillar", 3),
         (7, "random", 4), (8, "random", 5), (8, "caterpillar", 6)]


def _dense_scores(W: np.ndarray, X: np.ndarray) -> np.ndarray:
    phi = feature_map(X)  # (B, N, 2)
    out = W
    for i in range(X.shape[1]):  # contract leaf 0 first: it is always the leading axis
        out = np.einsum("bs,bs...->b...", phi[:, i], out) if i else np.einsum(
            "bs,s...->b...", phi[:, 0], out
        )
    return out


def _class_state(W: np.ndarray, label: int) -> np.ndarray:
    psi = W[..., label]
    return psi / np.linalg.norm(psi)


def _pad(a: np.ndarray, m: int) -> np.ndarray:
    return np.concatenate([a, np.zeros(max(0, m - len(a)))])[:m]


@pytest.mark.parametrize(("n", "shape", "seed"), CASES)
def test_scores_equal_dense_contraction(ttn_helpers, n, shape, seed):
    rng = np.random.default_rng(seed)
    state = ttn_helpers.random_state(ttn_helpers.random_parent(n, rng, shape), rng, chi=3)
    X = rng.uniform(size=(17, n))
    want = _dense_scores(ttn_helpers.dense(state), X)
    np.testing.assert_allclose(contract.scores(state, X), want, rtol=1e-10, atol=1e-12)
    scaled, log_scale = contract.log_scores(state, X)
    np.testing.assert_allclose(np.linalg.norm(scaled, axis=1), 1.0)
    np.testing.assert_array_equal(contract.predict(state, X), np.argmax(np.abs(want), axis=1))


@pytest.mark.parametrize(("n", "shape", "seed"), CASES)
def test_schmidt_values_and_entropy_equal_dense_svd(ttn_helpers, n, shape, seed):
    rng = np.random.default_rng(100 + seed)
    # chi = 5 exceeds what some edges can carry: trailing zero Schmidt values are tested too
    state = ttn_helpers.random_state(ttn_helpers.random_parent(n, rng, shape), rng, chi=5)
    W = ttn_helpers.dense(state)
    obs = observables.observe_all(state, correlations=False)
    for label in range(2):
        psi = _class_state(W, label)
        spectra = observables.schmidt_values(state, label)
        ent = observables.entropy(state, label)
        assert len(spectra) == 2 * n - 2
        for edge in range(2 * n - 2):
            a = ttn_helpers.leaves_below(state.parent, edge)
            rest = [i for i in range(n) if i not in a]
            m = psi.transpose(a + rest).reshape(2 ** len(a), -1)
            want = np.linalg.svd(m, compute_uv=False)
            got = spectra[edge]
            size = max(len(want), len(got))
            np.testing.assert_allclose(_pad(got, size), _pad(want, size), atol=1e-10)
            p = want**2
            p = p[p > 1e-300]
            assert ent[edge] == pytest.approx(-np.sum(p * np.log(p)), abs=1e-10)
            np.testing.assert_allclose(obs["schmidt_values"][label, edge], got, atol=1e-14)
        np.testing.assert_allclose(obs["entropy"][label], ent, atol=1e-14)


@pytest.mark.parametrize(("n", "shape", "seed"), CASES)
def test_magnetization_and_correlations_equal_dense(ttn_helpers, n, shape, seed):
    rng = np.random.default_rng(200 + seed)
    state = ttn_helpers.random_state(ttn_helpers.random_parent(n, rng, shape), rng, chi=4)
    W = ttn_helpers.dense(state)
    obs = observables.observe_all(state)
    z = np.array([1.0, -1.0])
    for label in range(2):
        prob = _class_state(W, label) ** 2
        zs = [z.reshape([2 if j == i else 1 for j in range(n)]) for i in range(n)]
        mag = np.array([np.sum(prob * zs[i]) for i in range(n)])
        zz = np.array([[np.sum(prob * zs[i] * zs[j]) for j in range(n)] for i in range(n)])
        np.testing.assert_allclose(observables.magnetization(state, label), mag, atol=1e-10)
        conn = zz - np.outer(mag, mag)
        np.testing.assert_allclose(observables.correlation(state, label), conn, atol=1e-10)
        np.testing.assert_allclose(
            observables.correlation(state, label, connected=False), zz, atol=1e-10
        )
        np.testing.assert_allclose(obs["magnetization"][label], mag, atol=1e-10)
        np.testing.assert_allclose(obs["correlation"][label], conn, atol=1e-10)


def _copy_tensor(d: int, k: int = 3) -> np.ndarray:
    t = np.zeros((d,) * k)
    for i in range(d):
        t[(i,) * k] = 1.0
    return t


def test_ghz_state_has_ln2_on_every_edge(ttn_helpers):
    rng = np.random.default_rng(7)
    for shape in ("random", "caterpillar"):
        parent = ttn_helpers.random_parent(7, rng, shape)
        n = 7
        tensors = [_copy_tensor(2) for _ in range(n - 2)] + [np.stack([np.eye(2)] * 2, axis=-1)]
        state = TTNState(parent, tensors, [f"g{i}" for i in range(n)], ["a", "b"]).validate()
        for label in range(2):
            np.testing.assert_allclose(observables.entropy(state, label), np.log(2), atol=1e-12)
            np.testing.assert_allclose(observables.magnetization(state, label), 0.0, atol=1e-12)
            # GHZ: <Z_i Z_j> = 1 for all pairs, so the connected correlation is 1 too
            np.testing.assert_allclose(observables.correlation(state, label), 1.0, atol=1e-12)


def test_product_state_has_zero_entropy(ttn_helpers):
    rng = np.random.default_rng(8)
    parent = ttn_helpers.random_parent(6, rng)
    n = 6
    dims = list(bond_dims(parent, 3)) + [2]
    tensors = []
    for k, (a, b) in enumerate(children(parent)):
        u, v, w = (rng.normal(size=d) for d in (dims[a], dims[b], dims[n + k]))
        tensors.append(np.einsum("a,b,c->abc", u, v, w))
    state = TTNState(parent, tensors, [f"g{i}" for i in range(n)], ["a", "b"]).validate()
    obs = observables.observe_all(state)
    np.testing.assert_allclose(obs["entropy"], 0.0, atol=1e-12)
    for label in range(2):
        for s in observables.schmidt_values(state, label):
            assert s[0] == pytest.approx(1.0, abs=1e-12)
    corr = obs["correlation"]
    off = ~np.eye(n, dtype=bool)
    np.testing.assert_allclose(corr[:, off], 0.0, atol=1e-12)


def test_zero_class_state_raises(ttn_helpers):
    rng = np.random.default_rng(9)
    state = ttn_helpers.random_state(ttn_helpers.random_parent(4, rng), rng)
    state.tensors[-1][:, :, 1] = 0.0
    with pytest.raises(NumericalError):
        observables.entropy(state, 1)
    with pytest.raises(IndexError):
        observables.entropy(state, 2)


def test_tree_helpers_are_consistent(ttn_helpers):
    rng = np.random.default_rng(10)
    for shape in ("random", "caterpillar"):
        parent = ttn_helpers.random_parent(8, rng, shape)
        sub = subtree_leaves(parent)
        for node in range(len(parent)):
            assert list(sub[node]) == ttn_helpers.leaves_below(parent, node)
        lv = levels(parent)
        assert list(lv[-1]) == [len(parent) - 1]
        seen = set(range(8))
        for nodes in lv:  # every level only needs nodes of lower levels
            for k in nodes:
                assert set(children(parent)[k - 8]) <= seen
            seen |= set(nodes.tolist())
        assert seen == set(range(len(parent)))
