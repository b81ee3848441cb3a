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


def vn_entropy(rho: np.ndarray) -> float:
    w = np.clip(np.linalg.eigvalsh(rho), 0.0, None)
    w = w[w > 0.0]
    return float(-np.sum(w * np.log(w)))


def dense_mutual_information(psi: np.ndarray, n: int) -> np.ndarray:
    s1 = [vn_entropy(dense_rdm(psi, n, (i,))) for i in range(n)]
    mi = np.diag(2.0 * np.asarray(s1))
    for i in range(n):
        for j in range(i + 1, n):
            mi[i, j] = mi[j, i] = s1[i] + s1[j] - vn_entropy(dense_rdm(psi, n, (i, j)))
    return mi


CASES = [
    # n_sites, bond_dim, label_site, dtype, per-site scales (unnormalised models)
    (6, 4, 0, np.float64, 3.0),
    (6, 3, 5, np.float64, [1e8, 1e-6, 2.0, 1e12, 1e-9, 0.5]),
    (6, 2, 2, np.float64, None),
    (5, 4, 3, np.complex128, 1e-4),
    (4, 4, 1, np.complex128, None),
    (3, 4, 1, np.float64, 10.0),  # chi above what the bonds can carry
    (2, 2, 0, np.float64, None),
    (1, 1, 0, np.float64, None),
]


@pytest.mark.parametrize("n,chi,label_site,dtype,scales", CASES)
def test_reduced_density_matrices_against_dense(n, chi, label_site, dtype, scales):
    state = random_state(n, chi, n_classes=2, label_site=label_site, seed=11 * n + chi, dtype=dtype, scales=scales)
    for label in range(state.n_classes):
        psi = dense_class_state(state, label)
        for i in range(n):
            rho = ob.reduced_density_matrix(state, label, i)
            assert rho.shape == (2, 2)
            np.testing.assert_allclose(rho, dense_rdm(psi, n, (i,)), atol=TOL)
            np.testing.assert_allclose(ob.reduced_density_matrix(state, label, (i,)), rho, atol=TOL)
            for j in range(n):
                if i != j:
                    rho2 = ob.reduced_density_matrix(state, label, (i, j))
                    assert rho2.shape == (4, 4)
                    np.testing.assert_allclose(rho2, dense_rdm(psi, n, (i, j)), atol=TOL)
                    np.testing.assert_allclose(np.trace(rho2), 1.0, atol=TOL)
                    assert np.linalg.eigvalsh(rho2).min() > -TOL


@pytest.mark.parametrize("n,chi,label_site,dtype,scales", CASES)
def test_mutual_information_against_dense(n, chi, label_site, dtype, scales):
    state = random_state(n, chi, n_classes=2, label_site=label_site, seed=13 * n + chi, dtype=dtype, scales=scales)
    allobs = ob.observe_all(state, mutual_information=True)
    for label in range(state.n_classes):
        mi = ob.mutual_information(state, label)
        assert mi.shape == (n, n) and mi.dtype == np.float64
        ref = dense_mutual_information(dense_class_state(state, label), n)
        np.testing.assert_allclose(mi, ref, atol=1e-9)
        np.testing.assert_allclose(allobs["mutual_information"][label], mi, atol=1e-12)
        np.testing.assert_array_equal(mi, mi.T)
        assert mi.min() >= 0.0 and mi.max() <= 2 * LN2
        # the diagonal convention: I(i:i) = 2 S_i bounds its row
        assert np.all(mi <= np.diag(mi)[:, None] + 1e-12)


def test_mutual_information_is_not_computed_by_default():
    state = random_state(4, 2, seed=1)
    assert "mutual_information" not in ob.observe_all(state)


def test_product_state_has_no_mutual_information():
    state = product_state([0.1, 0.7, 1.2, 0.4, 1.5], n_classes=2, label_site=2)
    for label in range(2):
        mi = ob.mutual_information(state, label)
        np.testing.assert_allclose(mi, 0.0, atol=1e-12)


def test_bell_pair_has_maximal_mutual_information():
    state = ghz_state(2, amplitudes=((1.0, 1.0), (1.0, -1.0)), label_site=1)  # (|00> +- |11>) / sqrt 2
    for label in range(2):
        mi = ob.mutual_information(state, label)
        np.testing.assert_allclose(mi, np.full((2, 2), 2 * LN2), atol=1e-12)
        np.testing.assert_allclose(ob.reduced_density_matrix(state, label, 0), np.eye(2) / 2, atol=1e-12)


def test_ghz_pairs_share_one_bit():
    # (|0..0> + |1..1>) / sqrt 2: every one- and two-site entropy is ln 2, so I(i:j) = ln 2.
    state = ghz_state(5, amplitudes=((1.0, 1.0), (1.0, -1.0)), label_site=4)
    mi = ob.mutual_information(state, 0)
    expected = np.full((5, 5), LN2)
    np.fill_diagonal(expected, 2 * LN2)
    np.testing.assert_allclose(mi, expected, atol=1e-12)


def test_two_site_order_and_bad_sites():
    state = random_state(4, 3, seed=5)
    rho_ab = ob.reduced_density_matrix(state, 1, (0, 2))
    rho_ba = ob.reduced_density_matrix(state, 1, (2, 0))
    swap = rho_ab.reshape(2, 2, 2, 2).transpose(1, 0, 3, 2).reshape(4, 4)
    np.testing.assert_allclose(rho_ba, swap, atol=1e-14)
    with pytest.raises(ValueError):
        ob.reduced_density_matrix(state, 0, (1, 1))
    with pytest.raises(ValueError):
        ob.reduced_density_matrix(state, 0, (0, 1, 2))
    with pytest.raises(IndexError):
        ob.reduced_density_matrix(state, 0, 4)
    with pytest.raises(IndexError):
        ob.mutual_information(state, 2)


def test_long_chain_matches_pairwise_density_matrices():
    # Past dense reach (N = 40): the all-pairs strings against one-pair contractions.
    state = random_state(40, 6, seed=3, label_site=7, scales=[10.0 ** ((-1) ** i * 3) for i in range(40)])
    mi = ob.mutual_information(state, 0)
    rng = np.random.default_rng(0)
    s1 = {i: vn_entropy(ob.reduced_density_matrix(state, 0, i)) for i in range(40)}
    for i, j in rng.choice(40, size=(12, 2), replace=True):
        if i == j:
            continue
        sij = vn_entropy(ob.reduced_density_matrix(state, 0, (int(i), int(j))))
        assert mi[i, j] == pytest.approx(s1[i] + s1[j] - sij, abs=1e-9)


def bell_pair_state(n: int, pair: tuple[int, int], label_site: int) -> MPSState:
    """(|00> + |11>)/sqrt 2 on ``pair`` (carried through the sites between by a chi = 2 bond),
    random product states on the other sites; unnormalised, the same for both classes up to a scale."""
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
def test_distant_bell_pair_is_maximal_and_isolated(pair, label_site):
    """A Bell pair inside a longer chain, across or beside the middle cut: I = 2 ln 2 on the
    pair, 0 for every other pair (the strings of the pair travel through product sites)."""
    n = 6
    state = bell_pair_state(n, pair, label_site)
    np.testing.assert_allclose(dense_mutual_information(dense_class_state(state, 0), n)[pair], 2 * LN2, atol=TOL)
    for label in range(2):
        want = np.zeros((n, n))
        want[pair] = want[pair[::-1]] = want[pair[0], pair[0]] = want[pair[1], pair[1]] = 2 * LN2
        np.testing.assert_allclose(ob.mutual_information(state, label), want, atol=1e-12)
