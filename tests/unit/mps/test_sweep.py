"""Sweep trainer (mpsomics.mps.sweep) and the numpy contraction (mpsomics.mps.contract)."""

from __future__ import annotations

import numpy as np
import pytest

from mpsomics.mps.config import TrainConfig
from mpsomics.mps.contract import log_scores, predict, scores
from mpsomics.mps.feature_map import feature_map
from mpsomics.mps.state import MPSState
from mpsomics.mps.sweep import _Sweeper, train_sweep


# ----------------------------------------------------------------- helpers
def dense_tensor(state: MPSState) -> np.ndarray:
    """Full tensor W[s_0, ..., s_{N-1}, l] of a small MPS."""
    t = np.ones((1, 1))  # (physical-so-far, bond), label carried as an extra leading axis later
    label_axis = None
    out = np.ones((1, 1))  # shape (P, chi) with P = prod of physical (and label) dims so far
    dims: list[int] = []
    for i, a in enumerate(state.sites):
        if i == state.label_site:
            chi_l, _, c, chi_r = a.shape
            out = (out @ a.reshape(chi_l, -1)).reshape(-1, chi_r)
            dims += [2, c]
            label_axis = len(dims) - 1
        else:
            chi_l, _, chi_r = a.shape
            out = (out @ a.reshape(chi_l, -1)).reshape(-1, chi_r)
            dims += [2]
    del t
    w = out.reshape(dims)
    return np.moveaxis(w, label_axis, -1)


def dense_scores(state: MPSState, X: np.ndarray) -> np.ndarray:
    w = dense_tensor(state)
    phi = feature_map(np.asarray(X, dtype=np.float64))
    out = []
    for p in phi:
        t = w
        for i in range(state.n_sites):
            t = np.tensordot(p[i], t, axes=(0, 0))
        out.append(t)
    return np.array(out)


def random_state(n_sites, chi, n_classes=2, label_site=0, seed=0) -> MPSState:
    rng = np.random.default_rng(seed)
    dims = [1] + [chi] * (n_sites - 1) + [1]
    sites = []
    for i in range(n_sites):
        shape = (
            (dims[i], 2, n_classes, dims[i + 1]) if i == label_site else (dims[i], 2, dims[i + 1])
        )
        sites.append(rng.standard_normal(shape))
    return MPSState(
        sites, label_site, [f"g{i}" for i in range(n_sites)], [f"c{k}" for k in range(n_classes)]
    )


def planted(n, n_sites, relevant, seed):
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_sites))
    y = (X[:, relevant].sum(axis=1) > len(relevant) / 2).astype(np.int64)
    return X, y


def cfg(**kw) -> TrainConfig:
    base = dict(method="sweep", bond_dim=4, epochs=2, lr=0.5, seed=0)
    base.update(kw)
    return TrainConfig(**base)


GENES = [f"g{i}" for i in range(64)]


# ------------------------------------------------------------- contraction
@pytest.mark.parametrize("label_site", [0, 3, 6])
def test_scores_match_dense(label_site):
    state = random_state(7, 3, n_classes=3, label_site=label_site, seed=label_site)
    X = np.random.default_rng(1).random((9, 7))
    want = dense_scores(state, X)
    got = scores(state, X)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    scaled, log_scale = scores(state, X, normalize=True)
    np.testing.assert_allclose(scaled * np.exp(log_scale)[:, None], want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(scaled, axis=1), 1.0)
    np.testing.assert_array_equal(predict(state, X), np.argmax(np.abs(want), axis=1))


@pytest.mark.parametrize("xdtype", [np.float64, np.float32])
def test_scores_finite_for_long_chains(xdtype):
    state = random_state(500, 4, label_site=250, seed=2)
    state.sites = [s.astype(np.float32) for s in state.sites]
    X = np.random.default_rng(3).random((20, 500)).astype(xdtype)
    scaled, log_scale = log_scores(state, X)
    assert np.all(np.isfinite(scaled)) and np.all(np.isfinite(log_scale))
    np.testing.assert_allclose(np.linalg.norm(scaled, axis=1), 1.0, rtol=1e-12)
    assert np.all(np.isfinite(scores(state, X)))
    assert predict(state, X).shape == (20,)


# --------------------------------------------------------------- the sweep
def _check_canonical(sw: _Sweeper, atol=1e-10):
    c = sw.label_site
    for i, a in enumerate(sw.sites):
        if i < c:
            m = a.reshape(-1, a.shape[-1])
            np.testing.assert_allclose(m.T @ m, np.eye(m.shape[1]), atol=atol)
        elif i > c:
            m = a.reshape(a.shape[0], -1)
            np.testing.assert_allclose(m @ m.T, np.eye(m.shape[0]), atol=atol)
    np.testing.assert_allclose(np.linalg.norm(sw.sites[c]), 1.0, rtol=1e-12)


def test_every_bond_update_keeps_state_normalised_and_canonical():
    X, y = planted(40, 6, [1, 4], seed=0)
    sw = _Sweeper(X, y, n_classes=2, config=cfg(bond_dim=3, init_bond_dim=2))
    sw.right_to_left(update=False)
    _check_canonical(sw)
    Xt = np.random.default_rng(5).random((5, 6))
    for right in (True, False, True):
        bonds = range(5) if right else range(4, -1, -1)
        for j in bonds:
            loss, s = sw.bond(j, right=right, update=True)
            assert np.isfinite(loss)
            np.testing.assert_allclose(np.sum(s**2), 1.0, rtol=1e-12)
            _check_canonical(sw)
            assert max(t.shape[-1] for t in sw.sites[:-1]) <= 3
            state = MPSState([t.copy() for t in sw.sites], sw.label_site, GENES[:6], ["a", "b"])
            w = dense_tensor(state)
            np.testing.assert_allclose(np.sum(w**2), 1.0, rtol=1e-10)
            np.testing.assert_allclose(
                scores(state, Xt), dense_scores(state, Xt), rtol=1e-10, atol=1e-13
            )


def test_environments_are_unit_norm_and_match_the_chain():
    X, y = planted(30, 5, [0, 2], seed=1)
    sw = _Sweeper(X, y, n_classes=2, config=cfg(bond_dim=4))
    sw.right_to_left(update=False)
    sw.left_to_right()
    phi = feature_map(X)
    # L[j] is the normalised contraction of the left-canonical sites 0..j-1
    for j in range(1, 5):
        env = np.ones((30, 1))
        for i in range(j):
            env = np.einsum("na,ns,asb->nb", env, phi[:, i], sw.sites[i])
        env /= np.linalg.norm(env, axis=1, keepdims=True)
        np.testing.assert_allclose(sw.L[j], env, atol=1e-10)


def test_sweep_learns_planted_task():
    relevant = [2, 7, 11]
    X, y = planted(500, 16, relevant, seed=5)
    Xtr, ytr, Xte, yte = X[:300], y[:300], X[300:], y[300:]
    seen = []
    state = train_sweep(
        Xtr,
        ytr,
        genes=GENES[:16],
        classes=["neg", "pos"],
        config=cfg(bond_dim=2, epochs=3, lr=1.0),
        on_epoch=lambda e, s, loss: seen.append((e, loss, np.mean(predict(s, Xte) == yte))),
    )
    assert [e for e, _, _ in seen] == [0, 1, 2, 3]
    assert np.isnan(seen[0][1]) and all(np.isfinite(loss) for _, loss, _ in seen[1:])
    acc = np.mean(predict(state, Xte) == yte)
    assert acc >= 0.9, seen
    assert seen[0][2] < 0.8  # untrained


def test_truncation_respects_bond_dim_and_singular_values_are_recorded():
    X, y = planted(60, 10, [3, 6], seed=2)
    svs = {}
    state = train_sweep(
        X,
        y,
        genes=GENES[:10],
        classes=["a", "b"],
        config=cfg(bond_dim=5, epochs=2),
        on_singular_values=lambda e, s: svs.__setitem__(e, s),
    )
    assert max(state.bond_dims) == 5  # grows to and stops at chi
    assert state.label_site == 0
    state.validate()
    assert sorted(svs) == [0, 1, 2]
    for spectra in svs.values():
        assert len(spectra) == 9
        for s in spectra:
            assert 1 <= len(s) <= 5
            np.testing.assert_allclose(np.sum(s**2), 1.0, rtol=1e-12)
            assert np.all(np.diff(s) <= 1e-15)
    # bond 0 is the last split of the epoch: its values are the final state's Schmidt values
    w = dense_tensor(state)  # (2, ..., 2, C); label on site 0 = left of bond 0
    m = np.moveaxis(w, -1, 0).reshape(2 * 2, -1)
    np.testing.assert_allclose(
        np.linalg.svd(m, compute_uv=False)[: len(svs[2][0])], svs[2][0], atol=1e-10
    )


def test_epoch0_singular_values_are_schmidt_values_of_initial_state():
    X, y = planted(20, 6, [1, 2], seed=3)
    out = {}
    train_sweep(
        X,
        y,
        genes=GENES[:6],
        classes=["a", "b"],
        config=cfg(epochs=0, init_bond_dim=2),
        on_epoch=lambda e, s, loss: out.__setitem__("state", s),
        on_singular_values=lambda e, s: out.__setitem__("sv", s),
    )
    w = np.moveaxis(dense_tensor(out["state"]), -1, 0)  # (C, 2, ..., 2)
    for b, s in enumerate(out["sv"]):
        m = w.reshape(2 * 2 ** (b + 1), -1)
        ref = np.linalg.svd(m, compute_uv=False)
        np.testing.assert_allclose(s, ref[: len(s)], atol=1e-10)
        assert np.all(ref[len(s) :] < 1e-10)


def test_deterministic_and_seeded():
    X, y = planted(50, 8, [1, 5], seed=6)
    kw = dict(genes=GENES[:8], classes=["a", "b"])
    a = train_sweep(X, y, config=cfg(seed=3), **kw)
    b = train_sweep(X, y, config=cfg(seed=3), **kw)
    c = train_sweep(X, y, config=cfg(seed=4), **kw)
    assert all(np.array_equal(s, t) for s, t in zip(a.sites, b.sites, strict=True))
    assert not all(
        s.shape == t.shape and np.array_equal(s, t) for s, t in zip(a.sites, c.sites, strict=True)
    )


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_float32_and_losses(loss):
    X, y = planted(60, 8, [2, 5], seed=7)
    state = train_sweep(
        X, y, genes=GENES[:8], classes=["a", "b"], config=cfg(dtype="float32", loss=loss)
    )
    assert all(s.dtype == np.float32 for s in state.sites)
    state.validate()
    assert np.all(np.isfinite(scores(state, X)))


def test_bad_inputs():
    X, y = planted(10, 4, [1], seed=0)
    with pytest.raises(ValueError):
        train_sweep(X[:, :1], y, genes=["g"], classes=["a", "b"], config=cfg())
    with pytest.raises(ValueError):
        train_sweep(X, y + 5, genes=GENES[:4], classes=["a", "b"], config=cfg())


@pytest.mark.parametrize("shape", [(300, 600), (600, 300)])
def test_gram_truncated_svd_is_exact_svd_of_best_rank_k(shape):
    from mpsomics.mps.sweep import _svd_truncated

    rng = np.random.default_rng(0)
    m = rng.standard_normal(shape) * np.exp(-np.arange(shape[1]) / 30)[None, :]
    k = 150
    u, s, vt = _svd_truncated(m, k)
    ref = np.linalg.svd(m, compute_uv=False)
    np.testing.assert_allclose(s, ref[:k], rtol=1e-10, atol=1e-12 * ref[0])
    np.testing.assert_allclose(u.T @ u, np.eye(k), atol=1e-12)
    np.testing.assert_allclose(vt @ vt.T, np.eye(k), atol=1e-12)
    err = np.linalg.norm(m - (u * s) @ vt)
    np.testing.assert_allclose(err, np.sqrt(np.sum(ref[k:] ** 2)), rtol=1e-6)


# ------------------------------------------------------------- site sparsity
def test_shrink_to_neutral_is_prox_of_second_singular_values():
    from mpsomics.mps.sweep import _shrink_to_neutral

    rng = np.random.default_rng(0)
    # neutral in both physical indices: B = c_s d_t B'[a, l, b] -> unchanged
    c, d = rng.standard_normal(2), rng.standard_normal(2)
    Bp = rng.standard_normal((3, 2, 4))
    B0 = np.einsum("s,t,alb->astlb", c, d, Bp)
    np.testing.assert_allclose(_shrink_to_neutral(B0, 0.1), B0, atol=1e-12)
    # a small non-neutral part (sigma_2 < tau) is removed exactly
    B = B0 + 1e-3 * rng.standard_normal(B0.shape)
    out = _shrink_to_neutral(B, 1.0)
    for axis in (1, 2):
        sv = np.linalg.svd(np.moveaxis(out, axis, 0).reshape(2, -1), compute_uv=False)
        assert sv[1] < 1e-10 * sv[0]
    # a large non-neutral part is shrunk, not removed
    B = rng.standard_normal((2, 2, 2, 2, 2))
    sv_before = np.linalg.svd(np.moveaxis(B, 1, 0).reshape(2, -1), compute_uv=False)
    out = _shrink_to_neutral(B, 0.05)
    sv_after = np.linalg.svd(np.moveaxis(out, 1, 0).reshape(2, -1), compute_uv=False)
    assert 0 < sv_after[1] < sv_before[1]


def test_site_sparsity_default_off_and_keeps_state_normalised():
    assert TrainConfig().site_sparsity == 0.0
    X, y = planted(120, 10, [1, 6], seed=2)
    kw = dict(genes=GENES[:10], classes=["neg", "pos"])
    a = train_sweep(X, y, config=cfg(bond_dim=2, epochs=2, lr=0.1), **kw)
    b = train_sweep(X, y, config=cfg(bond_dim=2, epochs=2, lr=0.1, site_sparsity=0.0), **kw)
    for s, t in zip(a.sites, b.sites, strict=False):
        np.testing.assert_array_equal(s, t)
    c = train_sweep(X, y, config=cfg(bond_dim=2, epochs=2, lr=0.1, site_sparsity=0.03), **kw)
    assert not all(np.allclose(s, t) for s, t in zip(a.sites, c.sites, strict=False))
    np.testing.assert_allclose(np.sum(dense_tensor(c) ** 2), 1.0, rtol=1e-8)


def test_site_sparsity_neutralises_irrelevant_sites():
    relevant = [2, 9, 13]
    X, y = planted(500, 16, relevant, seed=5)
    Xtr, ytr, Xte, yte = X[:300], y[:300], X[300:], y[300:]
    kw = dict(genes=GENES[:16], classes=["neg", "pos"])
    state = train_sweep(
        Xtr, ytr, config=cfg(bond_dim=2, epochs=8, lr=0.1, site_sparsity=0.03), **kw
    )
    assert np.mean(predict(state, Xte) == yte) >= 0.9
    # changing an irrelevant input barely moves the normalised scores; a relevant one does
    base = scores(state, Xte)
    base /= np.linalg.norm(base, axis=1, keepdims=True)

    def moved(site):
        Xm = Xte.copy()
        Xm[:, site] = 1.0 - Xm[:, site]
        f = scores(state, Xm)
        f /= np.linalg.norm(f, axis=1, keepdims=True)
        return float(np.median(np.abs(np.abs(f[:, 1]) - np.abs(base[:, 1]))))

    irrelevant = max(moved(s) for s in range(16) if s not in relevant)
    assert min(moved(s) for s in relevant) > 5 * irrelevant


def test_output_scale_fixed_is_the_papers_update_and_learns():
    """kappa = 1 (paper) and the profiled kappa are different updates; both learn a planted rule."""
    from mpsomics.mps.config import TrainConfig as _Cfg
    from mpsomics.mps.contract import predict as _predict
    from mpsomics.mps.sweep import train_sweep as _train

    rng = np.random.default_rng(3)
    X = rng.random((160, 8))
    y = (X[:, 2] > 0.5).astype(int)
    genes, classes = [f"g{i}" for i in range(8)], ["a", "b"]
    states = {}
    for scale in ("fixed", "profiled"):
        cfg = _Cfg(method="sweep", bond_dim=4, epochs=4, lr=0.05, output_scale=scale)
        states[scale] = _train(X, y, genes=genes, classes=classes, config=cfg)
        assert np.mean(_predict(states[scale], X) == y) > 0.85, scale
    assert not np.allclose(states["fixed"].sites[0], states["profiled"].sites[0])


def test_raw_environments_give_the_textbook_update():
    """environments="raw": cached environments are the plain contractions and the local
    scores at a bond are the model's true scores f(x), so the loss is the dense one."""
    X, y = planted(24, 6, [1, 3], seed=4)
    config = cfg(bond_dim=4, environments="raw", output_scale="fixed", class_weights="none", lr=1.0)
    sw = _Sweeper(X, y, n_classes=2, config=config)
    sw.right_to_left(update=False)
    phi = feature_map(X)
    for j in range(4):
        state = MPSState(sw.export(), sw.label_site, GENES[:6], ["a", "b"])
        f = dense_scores(state, X)
        expected = 0.5 * np.mean(np.sum((np.eye(2)[y] - f) ** 2, axis=1))
        loss, _ = sw.bond(j, right=True, update=True)
        np.testing.assert_allclose(loss, expected, rtol=1e-10)
        env = np.ones((24, 1))
        for i in range(j + 1):
            env = np.einsum("na,ns,asb->nb", env, phi[:, i], sw.sites[i])
        np.testing.assert_allclose(sw.L[j + 1], env, atol=1e-12)  # not normalised
    # the default normalises them
    assert TrainConfig().environments == "normalized"
