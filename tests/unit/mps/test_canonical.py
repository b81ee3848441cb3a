"""Canonical forms (mps.canonical) against the dense class state."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.dense import dense_class_state, dense_schmidt, random_state

from mpsomics.mps.canonical import class_mixed_canonical, label_centered


def _contract(left, centre, right) -> np.ndarray:
    """Dense vector of A_0 .. A_{k-1} (centre) B_.. ; centre is (chi_l, 2, chi_r) or a diag."""
    psi = np.ones((1, 1))
    for t in [*left, centre, *right]:
        if t.ndim == 1:  # Schmidt values on a bond
            psi = psi * t[None, :]
            continue
        psi = np.tensordot(psi, t, axes=(psi.ndim - 1, 0))
    return psi.reshape(-1)


@pytest.mark.parametrize("label_site", [0, 3, 5])
def test_left_and_right_tensors_are_isometries(label_site):
    lc = label_centered(random_state(6, 4, label_site=label_site, seed=label_site))
    for a in lc.left:
        m = a.reshape(-1, a.shape[2])
        np.testing.assert_allclose(m.T @ m, np.eye(m.shape[1]), atol=1e-12)
    for b in lc.right:
        m = b.reshape(b.shape[0], -1)
        np.testing.assert_allclose(m @ m.T, np.eye(m.shape[0]), atol=1e-12)
    assert np.linalg.norm(lc.center) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("cut", range(1, 6))
def test_mixed_canonical_form_is_the_normalised_class_state(cut):
    state = random_state(6, 4, label_site=2, seed=7)
    mc = class_mixed_canonical(label_centered(state), label=1, cut=cut)
    psi = _contract(mc.left, mc.singular_values, mc.right)
    expected = dense_class_state(state, 1)
    # same state up to a global sign (the gauge of the QR steps)
    assert abs(abs(np.dot(psi, expected)) - 1.0) < 1e-12
    schmidt = dense_schmidt(expected, 6, cut - 1)
    k = min(len(schmidt), len(mc.singular_values))
    np.testing.assert_allclose(np.sort(mc.singular_values)[::-1][:k], schmidt[:k], atol=1e-12)
