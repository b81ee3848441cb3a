"""What a trained MPS classifier is: class-centroid overlaps, the kernel baseline, norm and output scale.

An independent check of the Fashion-MNIST run (issue 13) found that with the paper's update
each class state ends up as the normalised class-centroid state of its training samples,

    |c_l> = sum_{n in class l} |Phi(x_n)>,

so the MPS is then nothing but a kernel nearest-centroid classifier. These diagnostics, recorded
after every epoch by :class:`mpsomics.mps.fit.Fit`, make that visible:

``centroid_overlap_<class>``
    <W_l|c_l> / (|W_l| |c_l|) in [-1, 1] (signed; the sign of an MPS class state is arbitrary
    only up to the sign of its scores, so a negative overlap is an anti-aligned state).
    <W_l|c_l> = sum_n f_l(x_n) is computed from the model's scores on the fit samples, and
    |c_l|^2 = sum_{n,m} K(x_n, x_m) with the product kernel of the feature map
    K(x, x') = <Phi(x)|Phi(x')> = prod_i cos(pi (x_i - x'_i) / 2) (the local states are
    (cos, sin)(pi x / 2)), evaluated in log space (a product over hundreds of sites underflows).
``centroid_train_balanced_accuracy``, ``centroid_test_balanced_accuracy``
    The nearest-centroid classifier with that kernel, argmax_l <c_l|Phi(x)> / |c_l| (normalised
    centroids of the fit samples): a baseline that does not change during training.
``norm``
    ||W|| = sqrt(sum_l <W_l|W_l>), 1 by construction for the ``fixed`` and ``profiled`` sweep
    updates; the ``free`` update lets it carry the output scale.
``max_abs_f``
    max over fit samples and classes of |f_l(x_n)|, the raw model output (targets are 0/1; with a
    normalised state on many sites it is orders of magnitude below 1, and the step y - f ~ y is
    then a Hebbian accumulation of the class centroids).

We keep the kernel here rather than using scikit-learn's ``NearestCentroid``: that works in the
input space, not in the feature-map Hilbert space where the MPS lives.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from mpsomics.core.metrics import classification_metrics
from mpsomics.mps.state import MPSState

#: history columns of the diagnostics (then one ``centroid_overlap_<class>`` per class)
DIAGNOSTIC_COLUMNS = ["norm", "max_abs_f", "centroid_train_balanced_accuracy", "centroid_test_balanced_accuracy"]
CENTROID_OVERLAP_PREFIX = "centroid_overlap_"


def overlap_columns(classes: list[str]) -> list[str]:
    """``centroid_overlap_<class>`` for every class, in class order."""
    return [f"{CENTROID_OVERLAP_PREFIX}{c}" for c in classes]


def log_kernel(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """log K(x, y) = sum_i log cos(pi (x_i - y_i) / 2) for all pairs: (len(X), len(Y)); -inf where K = 0."""
    X = np.clip(np.asarray(X, dtype=np.float64), 0.0, 1.0)
    Y = np.clip(np.asarray(Y, dtype=np.float64), 0.0, 1.0)
    out = np.zeros((len(X), len(Y)))
    # one site at a time: memory O(n m), not O(n m N)
    with np.errstate(divide="ignore"):
        for i in range(X.shape[1]):
            out += np.log(np.cos(np.pi * (X[:, i, None] - Y[None, :, i]) / 2.0))
    return out


def class_norms(state: MPSState) -> np.ndarray:
    """|W_l| of every class state (C,), by one left-to-right transfer-matrix pass (any gauge).

    Each step is two matrix products, E' = sum_s A_s^T E A_s (O(chi^3) per site): a
    three-operand ``einsum`` here cost more than the training step itself.
    """
    env = np.ones((1, 1, 1))  # (classes so far: 1 until the label site, a, a')
    for i, t in enumerate(state.sites):
        t = np.asarray(t, dtype=np.float64)
        a = t.shape[0]
        if i == state.label_site:  # (a, s, l, b): open the label index
            _, s, n_classes, b = t.shape
            t = t.transpose(2, 0, 1, 3)  # (l, a, s, b)
            e = env[0]
            out = np.empty((n_classes, b, b))
            for k in range(n_classes):
                tk = t[k].reshape(a, s * b)
                out[k] = (e.T @ tk).reshape(a * s, b).T @ tk.reshape(a * s, b)
            env = out
        else:  # (a, s, b)
            _, s, b = t.shape
            tm = t.reshape(a, s * b)
            half = np.matmul(env.transpose(0, 2, 1), tm).reshape(env.shape[0], a * s, b)
            env = np.matmul(half.transpose(0, 2, 1), tm.reshape(a * s, b))
    norms2 = env.reshape(env.shape[0], -1).sum(axis=1)
    return np.sqrt(np.clip(norms2, 0.0, None))


class CentroidBaseline:
    """The class-centroid states of the fit samples and their nearest-centroid classifier.

    Parameters
    ----------
    X_fit, y_fit
        The samples the model is trained on (values in [0, 1]) and their class indices.
    n_classes
        C.
    """

    def __init__(self, X_fit: np.ndarray, y_fit: np.ndarray, n_classes: int) -> None:
        self.X = np.asarray(X_fit, dtype=np.float64)
        self.y = np.asarray(y_fit, dtype=np.int64)
        self.n_classes = int(n_classes)
        gram = log_kernel(self.X, self.X)
        self.members = [np.flatnonzero(self.y == k) for k in range(self.n_classes)]
        # log |c_l| = 1/2 log sum_{n, m in l} K(x_n, x_m); -inf for an absent class
        self.log_norm = np.array([
            0.5 * logsumexp(gram[np.ix_(idx, idx)]) if idx.size else -np.inf for idx in self.members
        ])

    def log_scores(self, X: np.ndarray) -> np.ndarray:
        """log <c_l|Phi(x)> - log |c_l| for every sample and class: (len(X), C)."""
        X = np.asarray(X, dtype=np.float64).reshape(-1, self.X.shape[1])
        k = log_kernel(X, self.X)
        out = np.full((len(X), self.n_classes), -np.inf)
        for c, idx in enumerate(self.members):
            if idx.size:
                out[:, c] = logsumexp(k[:, idx], axis=1) - self.log_norm[c]
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Nearest normalised centroid (largest overlap) of every sample."""
        return np.argmax(self.log_scores(X), axis=1).astype(np.int64)

    def balanced_accuracy(self, X: np.ndarray, y: np.ndarray, positive: int) -> float:
        """Balanced accuracy of :meth:`predict` (NaN without samples)."""
        y = np.asarray(y, dtype=np.int64)
        if y.size == 0:
            return float("nan")
        return float(classification_metrics(y, self.predict(X), positive=positive)["balanced_accuracy"])

    def overlaps(self, scaled: np.ndarray, log_scale: np.ndarray, norms: np.ndarray) -> np.ndarray:
        """<W_l|c_l> / (|W_l| |c_l|) from the model's scores on the fit samples (in fit order).

        ``scaled``, ``log_scale``: :func:`mpsomics.mps.contract.log_scores` of the fit samples;
        ``norms``: :func:`class_norms`. NaN for a class without samples or a zero state.
        """
        out = np.full(self.n_classes, np.nan)
        for c, idx in enumerate(self.members):
            if not idx.size or not norms[c] > 0 or not np.isfinite(self.log_norm[c]):
                continue
            ls = log_scale[idx]
            finite = np.isfinite(ls)
            if not finite.any():
                out[c] = 0.0
                continue
            m = float(ls[finite].max())
            total = float(np.sum(scaled[idx][finite, c] * np.exp(ls[finite] - m)))
            with np.errstate(over="ignore", under="ignore"):
                out[c] = total * np.exp(m - self.log_norm[c] - np.log(norms[c]))
        return np.clip(out, -1.0, 1.0)


def max_abs_output(scaled: np.ndarray, log_scale: np.ndarray) -> float:
    """max |f_l(x_n)| from :func:`mpsomics.mps.contract.log_scores` (NaN without samples)."""
    if scaled.size == 0:
        return float("nan")
    with np.errstate(over="ignore", under="ignore"):
        return float(np.max(np.abs(scaled).max(axis=1) * np.exp(log_scale)))
