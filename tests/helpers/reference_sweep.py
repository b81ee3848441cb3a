"""Frozen copy of the sweep engine before the fast rewrite (issue 19), for equality tests.

Taken verbatim from ``mpsomics.mps.sweep`` at commit e1b7376 (``_Sweeper`` and its
helpers; the feature map and class weights inlined so that later changes of the
package cannot move this reference). Do not edit: ``tests/unit/mps/test_fast_sweep.py``
checks that the current engine reproduces it.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.linalg


def feature_map(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    angle = 0.5 * np.pi * x
    return np.stack([np.cos(angle), np.sin(angle)], axis=-1)


def class_weights(y: np.ndarray, n_classes: int, mode: str) -> np.ndarray:
    y = np.asarray(y)
    if mode == "none":
        return np.ones(len(y))
    counts = np.bincount(y, minlength=n_classes).astype(float)
    present = counts > 0
    w = np.zeros(n_classes)
    w[present] = len(y) / (present.sum() * counts[present])
    return w[y]


log = logging.getLogger(__name__)

#: Relative scale of the Gaussian noise added to the uniform product initial state.
INIT_NOISE = 1e-2


def _svd(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        return scipy.linalg.svd(m, full_matrices=False, lapack_driver="gesdd", check_finite=False)
    except np.linalg.LinAlgError:  # gesdd occasionally fails to converge; gesvd is robust
        return scipy.linalg.svd(m, full_matrices=False, lapack_driver="gesvd", check_finite=False)


#: Matrices whose smaller side is at least this large and that are truncated to at
#: most half of it use the Gram-matrix SVD (:func:`_svd_truncated`).
GRAM_SVD_MIN = 256


def _svd_truncated(m: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leading ``k`` singular triplets of ``m``, ~3x faster than a full SVD for large matrices.

    Eigen-decomposition of the smaller Gram matrix gives an orthonormal basis U_k
    of the dominant left (or right) subspace; the projected matrix U_k U_k^T m is
    then factorised exactly (QR of m^T U_k, then a k x k SVD), so U and V are
    orthonormal to machine precision. The result is the exact SVD of a rank-k
    approximation whose error exceeds the optimal truncation error by at most
    ~sqrt(eps) * s_max (singular values below ~1e-8 s_max are imprecise).
    """
    if m.shape[0] > m.shape[1]:
        u, s, vt = _svd_truncated(m.T, k)
        return vt.T, s, u.T
    w, q = np.linalg.eigh(m @ m.T)
    uk = q[:, ::-1][:, :k]
    y = m.T @ uk  # (cols, k) = V S
    qv, rv = np.linalg.qr(y)
    u2, s, v2t = _svd(rv.T)  # uk^T m = rv^T qv^T
    return uk @ u2, s, (qv @ v2t.T).T


def _shrink_to_neutral(B: np.ndarray, tau: float) -> np.ndarray:
    """Proximal step of ``tau * (sigma_2(B_(s)) + sigma_2(B_(t)))`` on a two-site tensor.

    ``B[a, s, t, l, b]``; ``B_(s)`` is its 2 x (rest) unfolding along the physical
    index of site j (``B_(t)`` along site j+1's). Its second singular value is zero
    exactly when B = c_s B'[a, t, l, b], i.e. when site j enters every score only
    through the common factor c . phi(x_j), which changes no prediction (a *neutral*
    site). Soft-thresholding sigma_2 (the prox of the penalty tau * sigma_2) pulls the
    site towards neutral and makes it exactly neutral when its signal is below tau;
    it acts like a group lasso over sites. Unlike weight decay it changes the
    *shape* of B, so it survives the renormalisation that follows.
    """
    for axis in (1, 2):
        Bm = np.moveaxis(B, axis, 0)
        shape = Bm.shape
        u, sv, vt = np.linalg.svd(Bm.reshape(2, -1), full_matrices=False)
        if sv.size < 2:
            continue
        sv = sv.copy()
        sv[1] = max(0.0, sv[1] - tau)
        B = np.moveaxis(((u * sv) @ vt).reshape(shape), 0, axis)
    return B


def _normalise_rows(env: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(env, axis=1, keepdims=True)
    return env / np.maximum(norms, np.finfo(env.dtype).tiny)


class _Sweeper:
    """Mutable MPS + cached per-sample environments for one training run."""

    def __init__(self, X, y, *, n_classes: int, config):
        self.cfg = config
        self.dtype = np.dtype(config.dtype)
        self.C = n_classes
        X = np.asarray(X, dtype=np.float64)
        self.n, self.N = X.shape
        # phi[i] = (n, 2) local states of site i, contiguous per site
        self.phi = np.ascontiguousarray(feature_map(X).transpose(1, 0, 2).astype(self.dtype))
        self.Y = np.eye(n_classes, dtype=self.dtype)[np.asarray(y)]
        w = class_weights(np.asarray(y), n_classes, config.class_weights)
        self.w = (w / self.n).astype(self.dtype)[:, None]  # mean over samples folded in
        self.rng = np.random.default_rng(config.seed)
        self.max_bond = int(config.bond_dim)
        self.sites: list[np.ndarray] = []
        self.label_site = 0
        ones = np.ones((self.n, 1), dtype=self.dtype)
        self.L: list[np.ndarray | None] = [None] * self.N
        self.R: list[np.ndarray | None] = [None] * self.N
        self.L[0] = ones
        self.R[self.N - 1] = ones
        self._init_state()

    # ------------------------------------------------------------------ state
    def _init_state(self) -> None:
        N, C = self.N, self.C
        chi0 = max(1, min(int(self.cfg.init_bond_dim), self.max_bond))
        dims = [1] + [chi0] * (N - 1) + [1]
        sites = []
        for i in range(N):
            shape = (dims[i], 2, C, dims[i + 1]) if i == N - 1 else (dims[i], 2, dims[i + 1])
            if self.cfg.init == "random":  # the paper's Gaussian random tensors
                t = self.rng.standard_normal(shape)
            else:
                t = INIT_NOISE * self.rng.standard_normal(shape)
                t[0, :, ..., 0] += 1.0  # uniform product state (1, 1) in the first bond channel
            sites.append(t)
        # left-canonicalise 0..N-2 by QR, centre (with label) on site N-1
        for i in range(N - 1):
            a, _, b = sites[i].shape
            q, r = np.linalg.qr(sites[i].reshape(a * 2, b))
            k = q.shape[1]
            sites[i] = q.reshape(a, 2, k)
            nxt = sites[i + 1]
            sites[i + 1] = (r @ nxt.reshape(b, -1)).reshape((k,) + nxt.shape[1:])
        sites[-1] = sites[-1] / np.linalg.norm(sites[-1])
        self.sites = [s.astype(self.dtype) for s in sites]
        self.label_site = N - 1

    def export(self) -> list[np.ndarray]:
        return [s.copy() for s in self.sites]

    def get_state(self) -> dict:
        """Everything a continuation needs (sites, label site, cached environments).

        The environments are stored rather than recomputed from the tensors: a
        recomputation may differ in the last bit, which would break bit-identical
        resumption (:mod:`mpsomics.mps.checkpoint`).
        """
        return {
            "sites": [s.copy() for s in self.sites],
            "label_site": int(self.label_site),
            "L": [None if e is None else e.copy() for e in self.L],
            "R": [None if e is None else e.copy() for e in self.R],
        }

    def set_state(self, st: dict) -> None:
        sites = [np.asarray(s) for s in st["sites"]]
        if len(sites) != self.N or any(s.dtype != self.dtype for s in sites):
            raise ValueError("checkpoint does not match this chain (sites or dtype)")
        self.sites = sites
        self.label_site = int(st["label_site"])
        self.L = [None if e is None else np.asarray(e) for e in st["L"]]
        self.R = [None if e is None else np.asarray(e) for e in st["R"]]

    # ------------------------------------------------------------ bond update
    def _env(self, env: np.ndarray) -> np.ndarray:
        return env if self.cfg.environments == "raw" else _normalise_rows(env)

    def _truncate(self, s: np.ndarray, shape: tuple[int, int]) -> int:
        if s.size == 0 or not s[0] > 0:
            return 1
        tol = max(float(self.cfg.cutoff), max(shape) * np.finfo(self.dtype).eps) * s[0]
        k = int(np.count_nonzero(s > tol))
        return max(1, min(k, self.max_bond))

    def _decompose(self, M: np.ndarray):
        small = min(M.shape)
        if small >= GRAM_SVD_MIN and 2 * self.max_bond <= small:
            return _svd_truncated(M, self.max_bond)
        return _svd(M)

    def bond(self, j: int, right: bool, update: bool) -> tuple[float, np.ndarray]:
        """Update (optionally) and split bond (j, j+1); move the centre/label right or left.

        Returns the local loss before the update (NaN without update) and the
        kept, normalised singular values.
        """
        A, Bt = self.sites[j], self.sites[j + 1]
        if self.label_site == j:  # A (a, s, l, m), Bt (m, t, b)
            a_, _, c_, m_ = A.shape
            B = (
                (A.reshape(-1, m_) @ Bt.reshape(m_, -1))
                .reshape(a_, 2, c_, 2, -1)
                .transpose(0, 1, 3, 2, 4)
            )
        elif self.label_site == j + 1:  # A (a, s, m), Bt (m, t, l, b)
            m_ = A.shape[-1]
            B = (A.reshape(-1, m_) @ Bt.reshape(m_, -1)).reshape(A.shape[0], 2, 2, Bt.shape[2], -1)
        else:  # pragma: no cover - internal invariant
            raise AssertionError("label not on the bond")
        cl, _, _, C, cr = B.shape
        loss = float("nan")
        if update or right:
            Lphi = (self.L[j][:, :, None] * self.phi[j][:, None, :]).reshape(self.n, cl * 2)
        if update or not right:
            Rphi = self.phi[j + 1][:, :, None] * self.R[j + 1][:, None, :]  # (n, 2, cr)
        if update:
            T = (Lphi @ B.reshape(cl * 2, 2 * C * cr)).reshape(self.n, 2, C, cr)
            f = np.einsum("ntlb,ntb->nl", T, Rphi, optimize=True)
            if self.cfg.loss == "cross_entropy":
                z = f - f.max(axis=1, keepdims=True)
                p = np.exp(z)
                p /= p.sum(axis=1, keepdims=True)
                loss = float(
                    -np.sum(self.w * self.Y * np.log(np.maximum(p, np.finfo(self.dtype).tiny)))
                )
                resid = self.Y - p
            elif self.cfg.output_scale == "profiled":
                # The state is normalised, so |f| <= 1 and y - f would be ~y: the step
                # would mostly pull B towards the weighted class centroids. A global
                # output scale kappa (not part of the state; it changes neither the
                # predictions nor any observable) is profiled out in closed form, so
                # the step is the gradient of the scale-invariant loss
                # min_kappa 1/2 sum_n w_n |y_n - kappa f_n|^2 (envelope theorem).
                wf = self.w * f
                kappa = float(np.sum(wf * self.Y) / max(np.sum(wf * f), np.finfo(np.float64).tiny))
                resid = self.Y - kappa * f
                loss = float(0.5 * np.sum(self.w * resid * resid))
                resid = kappa * resid
            else:  # the paper's update: targets against f of the normalised state
                resid = self.Y - f
                loss = float(0.5 * np.sum(self.w * resid * resid))
            resid = resid * self.w  # (n, C), includes 1/n
            D = resid[:, None, :, None] * Rphi[:, :, None, :]  # (n, 2, C, cr)
            G = Lphi.T @ D.reshape(self.n, -1)
            B = B + self.cfg.lr * G.reshape(B.shape)
            tau = self.cfg.lr * float(self.cfg.site_sparsity)
            if tau > 0:
                B = _shrink_to_neutral(B, tau * np.linalg.norm(B))
            if not np.all(np.isfinite(B)):
                raise FloatingPointError(f"non-finite tensor at bond {j}")
        if right:  # label goes to site j+1
            M = B.reshape(cl * 2, 2 * C * cr)
            u, s, vt = self._decompose(M)
            k = self._truncate(s, M.shape)
            u, s, vt = u[:, :k], s[:k], vt[:k]
            s = s / np.linalg.norm(s)
            self.sites[j] = np.ascontiguousarray(u.reshape(cl, 2, k))
            self.sites[j + 1] = np.ascontiguousarray((s[:, None] * vt).reshape(k, 2, C, cr))
            self.label_site = j + 1
            self.L[j + 1] = self._env(Lphi @ u)
        else:  # label goes to site j
            M = B.transpose(0, 1, 3, 2, 4).reshape(cl * 2 * C, 2 * cr)
            u, s, vt = self._decompose(M)
            k = self._truncate(s, M.shape)
            u, s, vt = u[:, :k], s[:k], vt[:k]
            s = s / np.linalg.norm(s)
            self.sites[j] = np.ascontiguousarray((u * s).reshape(cl, 2, C, k))
            self.sites[j + 1] = np.ascontiguousarray(vt.reshape(k, 2, cr))
            self.label_site = j
            self.R[j] = self._env(Rphi.reshape(self.n, 2 * cr) @ vt.T)
        return loss, s.astype(np.float64)

    def right_to_left(self, update: bool) -> tuple[list[float], list[np.ndarray]]:
        losses, svs = [], [None] * (self.N - 1)
        for j in range(self.N - 2, -1, -1):
            loss, s = self.bond(j, right=False, update=update)
            losses.append(loss)
            svs[j] = s
        return losses, svs

    def left_to_right(self) -> list[float]:
        return [self.bond(j, right=True, update=True)[0] for j in range(self.N - 1)]


def reference_epochs(X, y, n_classes, config, epochs):
    """Site tensors (and label site) after the initial pass and after each of ``epochs`` sweeps."""
    sw = _Sweeper(X, y, n_classes=n_classes, config=config)
    sw.right_to_left(update=False)
    out = [(sw.export(), sw.label_site)]
    for _ in range(epochs):
        sw.left_to_right()
        sw.right_to_left(update=True)
        out.append((sw.export(), sw.label_site))
    return out
