"""Contracting an MPS classifier with data: the scores f^l(x) = <Phi(x)|W^l>.

``Phi(x)`` is the product state of the local feature map
(:func:`mpsomics.mps.feature_map.feature_map`) of every site; ``W^l`` is the
MPS with the label index fixed to ``l``. For N sites of a normalised MPS,
``|f|`` is typically of order ``2^(-N/2)`` and underflows float64 for N of a
few thousand (and float32 much earlier), so the contraction renormalises the
running environment of every sample at every site and keeps the logarithm of
the scale separately:

    f^l(x_n) = scaled[n, l] * exp(log_scale[n])

with ``scaled[n]`` of unit L2 norm over the classes (all-zero if ``f(x_n)`` is
exactly zero, then ``log_scale = -inf``). Predictions only need the scaled
scores: the predicted class is ``argmax_l |f^l(x)|``.

The contraction is done in float64 whatever the dtype of the model or the
data (the cost, O(n * N * chi^2 * 2), is negligible next to training).
"""

from __future__ import annotations

import numpy as np

from mpsomics.mps.feature_map import feature_map
from mpsomics.mps.state import MPSState

_TINY = np.finfo(np.float64).tiny


def _check_input(state: MPSState, X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != state.n_sites:
        raise ValueError(f"X must have shape (n_samples, {state.n_sites}), got {X.shape}")
    return X


def _renorm(env: np.ndarray, log_scale: np.ndarray) -> np.ndarray:
    """Return ``env`` normalised per sample (axis 0); add the log norms to ``log_scale``."""
    flat = env.reshape(env.shape[0], -1)
    norms = np.sqrt(np.einsum("ij,ij->i", flat, flat))
    with np.errstate(divide="ignore"):
        log_scale += np.log(norms)
    shape = (-1,) + (1,) * (env.ndim - 1)
    return env / np.maximum(norms, _TINY).reshape(shape)


def log_scores(state: MPSState, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores of every sample in a numerically safe form.

    Parameters
    ----------
    state
        The MPS classifier.
    X
        Array (n_samples, n_sites) of values in [0, 1], float32 or float64.

    Returns
    -------
    scaled
        (n_samples, C) float64, unit L2 norm per sample (zero rows if f = 0).
    log_scale
        (n_samples,) float64 with ``f = scaled * exp(log_scale)[:, None]``
        (natural log; ``-inf`` where f = 0).
    """
    X = _check_input(state, X)
    n = X.shape[0]
    phi = feature_map(X)  # (n, N, 2)
    ls = state.label_site
    log_scale = np.zeros(n)
    # Both ends move towards the label site with (n, chi) environments (C times
    # cheaper than carrying the label index), renormalised per sample at every site.
    left = np.ones((n, 1))
    for i in range(ls):
        t = np.asarray(state.sites[i], dtype=np.float64)
        a, _, b = t.shape
        tmp = (left @ t.reshape(a, 2 * b)).reshape(n, 2, b)
        left = _renorm(tmp[:, 0, :] * phi[:, i, 0:1] + tmp[:, 1, :] * phi[:, i, 1:2], log_scale)
    right = np.ones((n, 1))
    for i in range(state.n_sites - 1, ls, -1):
        t = np.asarray(state.sites[i], dtype=np.float64)
        a, _, b = t.shape
        tmp = (right @ t.transpose(2, 1, 0).reshape(b, 2 * a)).reshape(n, 2, a)
        right = _renorm(tmp[:, 0, :] * phi[:, i, 0:1] + tmp[:, 1, :] * phi[:, i, 1:2], log_scale)
    t = np.asarray(state.sites[ls], dtype=np.float64)
    a, _, c, b = t.shape
    tmp = (left @ t.reshape(a, 2 * c * b)).reshape(n, 2, c, b)
    mid = tmp[:, 0] * phi[:, ls, 0, None, None] + tmp[:, 1] * phi[:, ls, 1, None, None]
    env = _renorm(np.matmul(mid, right[:, :, None])[:, :, 0], log_scale)  # (n, C)
    return env, log_scale


def scores(state: MPSState, X: np.ndarray, normalize: bool = False):
    """f^l(x) for every sample and class.

    Parameters
    ----------
    state, X
        As in :func:`log_scores`.
    normalize
        ``False`` (default): return the (n_samples, C) scores themselves; they
        may underflow to 0 for very long chains but are always finite.
        ``True``: return ``(scaled, log_scale)`` as :func:`log_scores` does.
    """
    scaled, log_scale = log_scores(state, X)
    if normalize:
        return scaled, log_scale
    with np.errstate(under="ignore", over="ignore"):
        return scaled * np.exp(log_scale)[:, None]


def predict(state: MPSState, X: np.ndarray) -> np.ndarray:
    """Predicted class index ``argmax_l |f^l(x)|`` of every sample (int64, shape (n,))."""
    scaled, _ = log_scores(state, X)
    return np.argmax(np.abs(scaled), axis=1).astype(np.int64)
