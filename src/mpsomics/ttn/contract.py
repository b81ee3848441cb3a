"""Contracting a TTN classifier with data: the scores f^l(x) = <Phi(x)|W^l> (NumPy).

Bottom-up: every leaf gets phi(x_i); an internal node maps its two children's vectors
u, v to w_c = sum_ab T[a, b, c] u_a v_b. A product of ~N factors below one can
underflow, so every node's vector is normalised per sample and the log of the norm is
accumulated (as :mod:`mpsomics.mps.contract` does along the chain)::

    f^l(x_n) = scaled[n, l] * exp(log_scale[n]),   ||scaled[n]|| = 1.

Contraction is in float64 whatever the dtype of the tensors or the data.
"""

from __future__ import annotations

import numpy as np

from mpsomics.mps.feature_map import feature_map
from mpsomics.ttn.state import TTNState
from mpsomics.ttn.tree import children

__all__ = ["log_scores", "predict", "scores"]

_TINY = np.finfo(np.float64).tiny


def log_scores(state: TTNState, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores of every sample in a numerically safe form.

    Parameters
    ----------
    state
        The TTN classifier.
    X
        (n_samples, N) values in [0, 1], columns in leaf order (``state.genes``).

    Returns
    -------
    scaled
        (n_samples, C) float64, unit L2 norm per sample (zero rows if f = 0).
    log_scale
        (n_samples,) float64 with ``f = scaled * exp(log_scale)[:, None]`` (natural
        log; ``-inf`` where f = 0).
    """
    X = np.asarray(X, dtype=np.float64)
    n = state.n_leaves
    if X.ndim != 2 or X.shape[1] != n:
        raise ValueError(f"X must have shape (n_samples, {n}), got {X.shape}")
    phi = feature_map(X)  # (B, N, 2)
    vecs: list[np.ndarray] = [phi[:, i, :] for i in range(n)]
    log_scale = np.zeros(X.shape[0])
    for k, (c1, c2) in enumerate(children(state.parent)):
        t = np.asarray(state.tensors[k], dtype=np.float64)
        w = np.einsum("ba,bd,adc->bc", vecs[c1], vecs[c2], t, optimize=True)
        norms = np.linalg.norm(w, axis=1)
        with np.errstate(divide="ignore"):
            log_scale += np.log(norms)
        vecs.append(w / np.maximum(norms, _TINY)[:, None])
    return vecs[-1], log_scale


def scores(state: TTNState, X: np.ndarray, normalize: bool = False):
    """f^l(x) for every sample and class.

    Parameters
    ----------
    state, X
        As in :func:`log_scores`.
    normalize
        ``False``: the (n_samples, C) scores (they may underflow to 0 for very deep
        trees, always finite); ``True``: ``(scaled, log_scale)`` of :func:`log_scores`.
    """
    scaled, log_scale = log_scores(state, X)
    if normalize:
        return scaled, log_scale
    with np.errstate(under="ignore", over="ignore"):
        return scaled * np.exp(log_scale)[:, None]


def predict(state: TTNState, X: np.ndarray) -> np.ndarray:
    """Predicted class ``argmax_l |f^l(x)|`` of every sample (int64, shape (n,))."""
    scaled, _ = log_scores(state, X)
    return np.argmax(np.abs(scaled), axis=1).astype(np.int64)
