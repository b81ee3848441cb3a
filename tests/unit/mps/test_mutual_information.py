"""Reduced density matrices and quantum mutual information against dense state vectors."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.dense import dense_class_state, ghz_state, product_state, random_state

from mpsomics.mps import observables as ob
from mpsomics.mps.state import MPSState

TOL = 1e-10
LN2 = np.log(2.0)


def dense_rdm(psi: np.ndarray, n: int, sites: tuple[int, ...]) -> np.ndarray:
    """rho[(s_a s_b), (s_a' s_b')] of the sites in the order given (site 0 most significant)."""
    t = np.moveaxis(psi.reshape((2,) * n), list(sites), list(range(len(sites))))
    m = t.reshape(2 ** len(sites), -1)
    return m @ m.conj().T


def von_neumann(rho: np.ndarray) -> float:
    w = np.clip(np.linalg.eigvalsh(rho), 0.0, None)
    w = w[w > 0]
    return float(-np.sum(w * np.log(w)))


def dense_mutual_information(psi: np.ndarray, n: int) -> np.ndarray:
    s1 = [von_neumann(dense_rdm(psi, n, (i,))) for i in range(n)]
    mi = np.diag(2.0 * np.array(s1))
    for i in range(n):
        for j in range(i + 1, n):
            mi[i, j] = mi[j, i] = s1[i] + s1[j] - von_neumann(dense_rdm(psi, n, (i, j)))
    return mi


CASES = [
    # n_sites, bond_dim, label_site, dtype, per-site scales (unnormalised models)
    (6, 4, 0, np.float64, 3.0),
    (6, 3, 5, np.float64, [1e8, 1e-6, 2.0, 1e12, 0.1, 5.0]),
    (6, 4, 2, np.complex128, 0.2),
    (5, 2, 4, np.float64, None),
    (4, 4, 1, np.float64, 1e-5),  # chi above what the outer bonds can carry
    (3, 2, 0, np.complex128, None),
    (2, 3, 1, np.float64, 7.0),
    (1, 1, 0, np.float64, None),
]


@pytest.mark.parametrize("n,chi,label_site,dtype,scales", CASES)
def test_against_dense(n, chi, label_site, dtype, scales):
    state = random_state(n, chi, n_classes=2, label_site=label_site, seed=11 * n + chi, dtype=dtype, scales=scales)
    for label in range(state.n_classes):
        psi = dense_class_state(state, label)
        for i in range(n):
            np.testing.assert_allclose(ob.reduced_density_matrix(state, label, i), dense_rdm(psi, n, (i,)), atol=TOL)
            for j in range(n):
                if i != j:  # both orders: the first site is the more significant index
                    got = ob.reduced_density_matrix(state, label, (i, j))
                    np.testing.assert_allclose(got, dense_rdm(psi, n, (i, j)), atol=TOL)
        np.testing.assert_allclose(ob.mutual_information(state, label), dense_mutual_information(psi, n), atol=TOL)


def test_density_matrix_properties():
    state = random_state(6, 4, n_classes=3, label_site=3, seed=5, dtype=np.complex128, scales=1e3)
    for sites in [(0,), (5,), (1, 4), (4, 1), (2, 3)]:
        rho = ob.reduced_density_matrix(state, 2, sites)
        assert rho.shape == (2 ** len(sites),) * 2 and rho.dtype == np.complex128
        np.testing.assert_allclose(rho, rho.conj().T, atol=1e-14)
        assert np.trace(rho).real == pytest.approx(1.0, abs=1e-12)
        assert np.linalg.eigvalsh(rho).min() > -1e-12
    real = ob.reduced_density_matrix(random_state(4, 2, seed=1), 0, (0, 3))
    assert real.dtype == np.float64


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_symmetric_bounded_and_diagonal_convention(seed):
    n = 6
    state = random_state(n, 4, n_classes=2, label_site=seed, seed=seed, scales=10.0 ** (seed - 1))
    for label in range(2):
        mi = ob.mutual_information(state, label)
        assert mi.shape == (n, n)
        np.testing.assert_array_equal(mi, mi.T)
        assert mi.min() >= 0.0 and mi.max() <= 2 * LN2
        s1 = np.diag(mi) / 2.0
        # The end sites' entropies are those of the first and last bonds.
        ent = ob.entropy(state, label)
        assert s1[0] == pytest.approx(ent[0], abs=TOL) and s1[-1] == pytest.approx(ent[-1], abs=TOL)
        # Araki-Lieb: I(i:j) <= 2 min(S_i, S_j), so no row exceeds its diagonal.
        assert np.all(mi <= 2.0 * np.minimum.outer(s1, s1) + TOL)


def test_product_state_has_none():
    state = product_state([0.1, 0.7, 1.2, 0.4, 1.5], n_classes=2, label_site=2, class_scales=[1e-30, 1e30])
    for label in range(2):
        np.testing.assert_allclose(ob.mutual_information(state, label), 0.0, atol=1e-14)


def bell_pair_state(n: int, pair: tuple[int, int], label_site: int) -> MPSState:
    """(|00> + |11>)/sqrt 2 on ``pair`` (carried through the sites between by a chi = 2 bond),
    a product state on the other sites; unnormalised, the same for both classes up to a scale."""
    a, b = pair
    rng = np.random.default_rng(0)
    sites = []
    for i in range(n):
        chi_l = 2 if a < i <= b else 1
        chi_r = 2 if a <= i < b else 1
        t = np.zeros((chi_l, 2, chi_r))
        if i == a:
            t[0, 0, 0] = t[0, 1, 1] = 1.0
        elif i == b:
            t[0, 0, 0] = t[1, 1, 0] = 1.0
        else:
            v = rng.normal(size=2)
            for k in range(chi_l):  # identity on the pair's bond
                t[k, :, min(k, chi_r - 1)] = v
        if i == label_site:
            t = t[:, :, None, :] * np.array([3.0, 1e-4])[None, None, :, None]
        sites.append(t)
    return MPSState(sites, label_site, [f"g{i}" for i in range(n)], ["class0", "class1"])


@pytest.mark.parametrize("pair,label_site", [((0, 3), 4), ((1, 4), 0), ((2, 3), 2), ((0, 5), 3)])
def test_bell_pair_is_maximal(pair, label_site):
    n = 6
    state = bell_pair_state(n, pair, label_site)
    np.testing.assert_allclose(dense_mutual_information(dense_class_state(state, 0), n)[pair], 2 * LN2, atol=TOL)
    for label in range(2):
        mi = ob.mutual_information(state, label)
        want = np.zeros((n, n))
        want[pair] = want[pair[::-1]] = want[pair[0], pair[0]] = want[pair[1], pair[1]] = 2 * LN2
        np.testing.assert_allclose(mi, want, atol=1e-12)


def test_ghz_analytic():
    """a|0..0> + b|1..1>: every pair carries I = S_i = H(|a|^2, |b|^2) (classical correlation)."""
    state = ghz_state(5, amplitudes=((1.0, 1.0), (1.0, -2.0)), label_site=2)
    for label, p in enumerate([0.5, 0.2]):
        h = -p * np.log(p) - (1 - p) * np.log(1 - p)
        mi = ob.mutual_information(state, label)
        np.testing.assert_allclose(mi, np.where(np.eye(5, dtype=bool), 2 * h, h), atol=1e-12)


def test_long_chain_agrees_with_single_pairs():
    """Beyond dense reach: the all-pairs transfer strings agree with one-pair contractions."""
    n = 40
    state = random_state(n, 3, n_classes=2, label_site=7, seed=3, scales=1e-9)
    mi = ob.mutual_information(state, 1)
    assert np.isfinite(mi).all()
    for i, j in [(0, 39), (5, 6), (12, 30), (19, 20), (21, 38)]:
        rho_i, rho_j = (ob.reduced_density_matrix(state, 1, k) for k in (i, j))
        want = von_neumann(rho_i) + von_neumann(rho_j) - von_neumann(ob.reduced_density_matrix(state, 1, (i, j)))
        assert mi[i, j] == pytest.approx(max(want, 0.0), abs=1e-10)
        assert mi[i, i] == pytest.approx(2 * von_neumann(rho_i), abs=1e-10)


def test_bad_arguments():
    state = random_state(4, 2, seed=0)
    with pytest.raises(ValueError, match="1 or 2 sites"):
        ob.reduced_density_matrix(state, 0, (0, 1, 2))
    with pytest.raises(ValueError, match="distinct"):
        ob.reduced_density_matrix(state, 0, (1, 1))
    with pytest.raises(IndexError):
        ob.reduced_density_matrix(state, 0, (0, 4))
    with pytest.raises(IndexError):
        ob.mutual_information(state, 2)
