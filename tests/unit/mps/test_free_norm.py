"""The free-norm sweep update (``output_scale="free"``) against the dense model.

Conventions checked (module docstring of :mod:`mpsomics.mps.sweep`): the local loss at a
bond is the dense loss 1/n sum_n w_n 1/2 |f(x_n) - y_n|^2 of the current state (raw
environments); one bond update is the gradient step B <- B - alpha dLoss/dB, with the
gradient taken here by finite differences of a dense loss (exact for a quadratic loss),
not from the sweep's own formula; the split after it does not renormalise, so the norm
of the MPS carries the output scale.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.dense import dense_state

from mpsomics.mps import diagnostics
from mpsomics.mps.config import TrainConfig
from mpsomics.mps.contract import scores
from mpsomics.mps.feature_map import feature_map
from mpsomics.mps.fit import fit
from mpsomics.mps.state import MPSState
from mpsomics.mps.sweep import _Sweeper

N, C = 5, 2
GENES, CLASSES = [f"g{i}" for i in range(N)], ["a", "b"]


def data(n: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Imbalanced two-class data (4 vs 6 for n = 10), so balanced weights differ from 1."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) >= 0.4 * n).astype(np.int64)
    X = np.clip(rng.normal(0.3 + 0.4 * y[:, None], 0.25, (n, N)), 0, 1)
    return X, y


def product_vectors(X: np.ndarray) -> np.ndarray:
    """|Phi(x_n)> as rows of 2**len(x) amplitudes (site 0 most significant, as dense_state)."""
    out = np.ones((len(X), 1))
    for i in range(X.shape[1]):
        phi = feature_map(X[:, i : i + 1])[:, 0]  # (n, 2)
        out = (out[:, :, None] * phi[:, None, :]).reshape(len(X), -1)
    return out


def weights(y: np.ndarray) -> np.ndarray:
    """Balanced class weights n / (C n_k), written out independently of config.class_weights."""
    counts = np.bincount(y, minlength=C)
    return len(y) / (C * counts[y])


def dense(sw: _Sweeper) -> np.ndarray:
    """The sweeper's current MPS as a (2**N, C) matrix (columns W_l)."""
    return dense_state(MPSState(sw.export(), sw.label_site, GENES, CLASSES)).reshape(-1, C)


def sweeper(**kw) -> _Sweeper:
    X, y = data()
    base = dict(method="sweep", bond_dim=64, cutoff=0.0, lr=0.7, output_scale="free", checkpoint_every=0)
    sw = _Sweeper(X, y, n_classes=C, config=TrainConfig(**{**base, **kw}))
    sw.right_to_left(update=False)
    return sw


class BondModel:
    """W(B) = A_L B A_R for the two-site tensor B at bond (j, j+1) of the current sweeper state.

    A_L (2**j, cl) and A_R (cr, 2**(N-j-2)) are the dense contractions of the sites left and
    right of the bond (isometries in the mixed canonical form); the norms of their rows and
    columns are the per-sample environment norms |L_n|, |R_n| of the normalised update.
    """

    def __init__(self, sw: _Sweeper, j: int, X: np.ndarray):
        self.j = j
        left = np.ones((1, 1))
        for t in sw.sites[:j]:
            left = (left @ t.reshape(t.shape[0], -1)).reshape(-1, t.shape[-1])
        right = np.ones((1, 1))
        for t in reversed(sw.sites[j + 2 :]):
            right = (t.reshape(-1, t.shape[-1]) @ right).reshape(t.shape[0], -1)
        self.AL, self.AR = left, right
        A, Bt = sw.sites[j], sw.sites[j + 1]
        if sw.label_site == j:
            self.B0 = np.einsum("aslm,mtb->astlb", A, Bt)
        else:
            self.B0 = np.einsum("asm,mtlb->astlb", A, Bt)
        self.phi = product_vectors(X)
        # raw environments of every sample: <phi_left(x_n)| A_L> and A_R |phi_right(x_n)>
        self.env_norm = np.linalg.norm(product_vectors(X[:, :j]) @ self.AL, axis=1) * np.linalg.norm(
            product_vectors(X[:, j + 2 :]) @ self.AR.T, axis=1
        )

    def local_features(self, X: np.ndarray) -> np.ndarray:
        """Phi_n[a, s, t, b] with the raw environments (n, cl, 2, 2, cr)."""
        j = self.j
        left = product_vectors(X[:, :j]) @ self.AL
        right = product_vectors(X[:, j + 2 :]) @ self.AR.T
        phi = feature_map(X[:, j : j + 2])  # (n, 2, 2)
        return np.einsum("na,ns,nt,nb->nastb", left, phi[:, 0], phi[:, 1], right)

    def W(self, B: np.ndarray) -> np.ndarray:
        w = np.einsum("pa,astlb,bq->pstql", self.AL, B, self.AR)
        return w.reshape(-1, C)

    def loss(self, B: np.ndarray, Y: np.ndarray, w: np.ndarray, normalized: bool) -> float:
        f = self.phi @ self.W(B)
        if normalized:
            f = f / self.env_norm[:, None]
        return float(np.mean(w * 0.5 * np.sum((f - Y) ** 2, axis=1)))

    def gradient(self, B: np.ndarray, Y: np.ndarray, w: np.ndarray, normalized: bool) -> np.ndarray:
        """Central finite differences (exact up to rounding: the loss is quadratic in B)."""
        g = np.zeros_like(B)
        h = 1e-3
        for idx in np.ndindex(B.shape):
            e = np.zeros_like(B)
            e[idx] = h
            g[idx] = (self.loss(B + e, Y, w, normalized) - self.loss(B - e, Y, w, normalized)) / (2 * h)
        return g


@pytest.mark.parametrize("environments", ["raw", "normalized"])
def test_local_loss_is_the_dense_loss_of_the_current_state(environments):
    """Raw: the loss at every bond of two sweeps is 1/n sum w_n 1/2 |f(x_n) - y_n|^2 of the full,
    unnormalised state; normalised: the same loss on the rescaled scores f_n / (|L_n| |R_n|)."""
    X, y = data()
    Y, w = np.eye(C)[y], weights(y)
    sw = sweeper(environments=environments, lr=0.7 if environments == "raw" else 0.2)
    phi = product_vectors(X)
    for right in (True, False, True, False):
        for j in range(N - 1) if right else range(N - 2, -1, -1):
            f = phi @ dense(sw)
            if environments == "normalized":
                f = f / BondModel(sw, j, X).env_norm[:, None]
            expected = np.mean(w * 0.5 * np.sum((f - Y) ** 2, axis=1))
            loss, _ = sw.bond(j, right=right, update=True)
            np.testing.assert_allclose(loss, expected, rtol=1e-10)
    assert abs(np.linalg.norm(dense(sw)) - 1.0) > 0.05  # the norm moved: no renormalisation


@pytest.mark.parametrize("environments", ["raw", "normalized"])
@pytest.mark.parametrize(("j", "right"), [(1, True), (2, False)])
def test_one_bond_update_is_the_gradient_step(environments, j, right):
    """W after the bond update = W(B - alpha dLoss/dB), the dense gradient by finite differences;
    ``fixed`` takes the same step and then rescales the whole state to unit norm."""
    X, y = data()
    Y, w = np.eye(C)[y], weights(y)
    alpha = 0.7 if environments == "raw" else 0.2
    out = {}
    for scale in ("free", "fixed"):
        sw = sweeper(environments=environments, lr=alpha, output_scale=scale)
        # one update sweep first, so that f is not the near-uniform initial one
        sw.left_to_right()
        sw.right_to_left(update=True)
        if not right:  # move the centre to bond j from the right
            for k in range(N - 1):
                sw.bond(k, right=True, update=False)
            for k in range(N - 2, j, -1):
                sw.bond(k, right=False, update=False)
        else:
            for k in range(j):
                sw.bond(k, right=True, update=False)
        model = BondModel(sw, j, X)
        np.testing.assert_allclose(model.W(model.B0), dense(sw), atol=1e-12)
        normalized = environments == "normalized"
        B1 = model.B0 - alpha * model.gradient(model.B0, Y, w, normalized)
        # ... which is the stated step B + alpha sum_n (w_n / n) (y_n - f_n) Phi_n with the explicit
        # local feature vectors Phi_n = L_n (x) phi(x_j) (x) phi(x_j+1) (x) R_n (L, R of unit norm
        # with normalised environments)
        feats = model.local_features(X)
        if normalized:
            feats = feats / model.env_norm[:, None, None, None, None]
        f = np.einsum("nastb,astlb->nl", feats, model.B0)
        stated = model.B0 + alpha * np.einsum("nastb,nl->astlb", feats, (w / len(y))[:, None] * (Y - f))
        np.testing.assert_allclose(stated, B1, rtol=1e-7, atol=1e-9)
        sw.bond(j, right=right, update=True)
        out[scale] = (dense(sw), model.W(B1))
    got, want = out["free"]
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)
    got, want = out["fixed"]
    np.testing.assert_allclose(got, want / np.linalg.norm(want), rtol=1e-7, atol=1e-9)


def test_free_norm_fits_the_targets_fixed_keeps_unit_norm():
    """After training, free: ||W|| != 1 and the outputs reach the targets (max |f| ~ 1);
    fixed: ||W|| = 1 throughout."""
    rng = np.random.default_rng(1)
    n_sites = 6
    X = rng.random((20, n_sites))
    y = (X[:, 1] + X[:, 4] > 1).astype(np.int64)
    genes = [f"g{i}" for i in range(n_sites)]
    hist = {}
    for scale in ("free", "fixed"):
        cfg = TrainConfig(bond_dim=8, epochs=15, lr=0.5, environments="raw", output_scale=scale,
                          checkpoint_every=0)
        state, hist[scale], _ = fit(X, y, X[:0], y[:0], genes=genes, classes=CLASSES, config=cfg,
                                    progress=False)
        f = scores(state, X)
        assert hist[scale]["max_abs_f"].iloc[-1] == pytest.approx(np.abs(f).max(), rel=1e-10)
        assert hist[scale]["norm"].iloc[-1] == pytest.approx(np.linalg.norm(diagnostics.class_norms(state)))
    free, fixed = hist["free"].iloc[-1], hist["fixed"].iloc[-1]
    assert abs(free["norm"] - 1.0) > 0.1
    assert 0.5 < free["max_abs_f"] < 2.0
    assert free["train_accuracy"] >= 0.9
    assert free["loss"] < 0.5 * fixed["loss"]  # the norm is what lets f reach y
    np.testing.assert_allclose(hist["fixed"]["norm"], 1.0, rtol=1e-10)
    assert fixed["max_abs_f"] <= 1.0 + 1e-12
