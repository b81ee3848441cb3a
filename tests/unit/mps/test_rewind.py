"""The rewind hook of the sweep engine: initial_sites, restrict_initial, train_sweep(initial=...).

Dense-vector checks for small N: the restricted initial MPS is the full initial state with
the uniform local state (1, 1)/sqrt(2) contracted into every pruned site, normalised.
The default start is unchanged: bit-identical to the engine frozen in
tests/helpers/reference_sweep.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.dense import dense_state
from helpers.reference_sweep import reference_epochs

from mpsomics.mps.config import TrainConfig
from mpsomics.mps.fits import FitSpec, run_fits
from mpsomics.mps.state import MPSState
from mpsomics.mps.sweep import initial_sites, restrict_initial, train_sweep

CFG = TrainConfig(method="sweep", bond_dim=4, epochs=3, lr=0.05, init_bond_dim=2, seed=3)


def _dense(sites: list[np.ndarray]) -> np.ndarray:
    """Amplitudes (2,)*N + (C,) of tensors in initial_sites form (label on the last site)."""
    genes = [f"g{i}" for i in range(len(sites))]
    return dense_state(MPSState(sites=sites, label_site=len(sites) - 1, genes=genes,
                                classes=["a", "b"]))


def _project(psi: np.ndarray, pruned: list[int]) -> np.ndarray:
    """Contract the uniform local state into the pruned physical axes; normalise."""
    u = np.full(2, 1 / np.sqrt(2))
    for i in sorted(pruned, reverse=True):
        psi = np.tensordot(psi, u, axes=([i], [0]))
    return psi / np.linalg.norm(psi)


def _canonical(sites: list[np.ndarray]) -> None:
    for t in sites[:-1]:
        a, _, b = t.shape
        m = t.reshape(a * 2, b)
        np.testing.assert_allclose(m.T @ m, np.eye(b), atol=1e-12)
    assert sites[-1].ndim == 4 and np.linalg.norm(sites[-1]) == pytest.approx(1.0)


@pytest.mark.parametrize("init", ["uniform", "random"])
@pytest.mark.parametrize("keep", [[0, 2, 5], [1, 3], [4, 5], [0, 1, 2, 3, 4, 5], [2], [0, 6]])
def test_restriction_equals_the_dense_projection(keep, init):
    from dataclasses import replace

    cfg = replace(CFG, init=init, init_bond_dim=3)
    full = initial_sites(7, 2, cfg)
    _canonical(full)
    want = _project(_dense(full), [i for i in range(7) if i not in keep])
    got = restrict_initial(full, keep)
    assert len(got) == len(keep)
    _canonical(got)
    np.testing.assert_allclose(_dense(got), want, atol=1e-12)


def test_restriction_rejects_bad_sites():
    full = initial_sites(4, 2, CFG)
    for keep in ([], [4], [-1]):
        with pytest.raises(ValueError):
            restrict_initial(full, keep)


def _data(n=40, n_sites=6, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = np.clip(rng.random((n, n_sites)) * 0.6 + 0.4 * y[:, None] * (np.arange(n_sites) < 2), 0, 1)
    return X, y


def test_default_start_is_the_frozen_engine_bit_for_bit():
    X, y = _data()
    ref = reference_epochs(X, y, 2, CFG, 2)
    got = []
    genes, classes = [f"g{i}" for i in range(6)], ["a", "b"]
    train_sweep(X, y, genes=genes, classes=classes, config=CFG,
                on_epoch=lambda e, s, loss: got.append([t.copy() for t in s.sites]))
    for (ref_sites, _), sites in zip(ref, got[:3], strict=True):
        for a, b in zip(ref_sites, sites, strict=True):
            assert np.array_equal(a, b)
    # passing the default initial tensors explicitly changes nothing
    explicit = train_sweep(X, y, genes=genes, classes=classes, config=CFG,
                           initial=initial_sites(6, 2, CFG))
    default = train_sweep(X, y, genes=genes, classes=classes, config=CFG)
    for a, b in zip(default.sites, explicit.sites, strict=True):
        assert np.array_equal(a, b)


def test_rewound_training_starts_from_the_restriction():
    X, y = _data()
    keep = [0, 1, 4]
    start = restrict_initial(initial_sites(6, 2, CFG), keep)
    seen = []
    train_sweep(X[:, keep], y, genes=["g0", "g1", "g4"], classes=["a", "b"], config=CFG,
                initial=start, on_epoch=lambda e, s, loss: seen.append(s))
    # epoch 0 is the start after the update-free canonicalisation pass: the same state
    psi0 = _dense(start)
    got = dense_state(seen[0])
    np.testing.assert_allclose(got / np.linalg.norm(got), psi0 / np.linalg.norm(psi0), atol=1e-12)
    with pytest.raises(ValueError, match="initial state has"):
        train_sweep(X, y, genes=[f"g{i}" for i in range(6)], classes=["a", "b"], config=CFG,
                    initial=start)


def test_fit_specs_carry_columns_and_initial():
    X, y = _data()
    keep = np.array([0, 1, 4])
    start = restrict_initial(initial_sites(6, 2, CFG), keep)
    train, held = np.arange(30), np.arange(30, 40)
    spec = FitSpec("r", train, held, seed=3, columns=keep, initial=start)
    (res,) = run_fits(X, y, [spec], genes=[f"g{i}" for i in range(6)], classes=["a", "b"],
                      config=CFG, history=False, keep_state=True)
    direct = train_sweep(X[train][:, keep], y[train], genes=["g0", "g1", "g4"],
                         classes=["a", "b"], config=CFG, initial=start)
    assert res.state.genes == ["g0", "g1", "g4"]
    for a, b in zip(res.state.sites, direct.sites, strict=True):
        assert np.array_equal(a, b)
    assert res.probability.shape == (10,)
