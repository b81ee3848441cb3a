"""Canonical forms of an :class:`~mpsomics.mps.state.MPSState`, with log-norm tracking.

Every exact observable in :mod:`mpsomics.mps.observables` is computed from a
canonical form, so that environments are identities or diagonal Schmidt weights and
no quantity ever involves the raw norm of the chain (which for N = 500 sites can be
10^±300 and would under- or overflow).

Conventions
-----------
* A *cut* ``p`` (0..N) separates the first ``p`` sites from the rest; bond ``b``
  (0..N-2, between site b and b+1) is cut ``b + 1``.
* Left-orthonormal ("left-canonical") tensors ``A`` satisfy
  ``sum_s A[:, s, :]^H A[:, s, :] = I``; right-orthonormal tensors ``B`` satisfy
  ``sum_s B[:, s, :] B[:, s, :]^H = I``.
* Every QR/LQ step divides its carried factor by its Frobenius norm and adds the
  logarithm to ``log_norm``; input tensors are pre-scaled by their largest entry for
  the same reason. ``log_norm`` is ``ln ||psi||`` of the unnormalised state.
* Reduced QR is used throughout, so a bond dimension larger than the rank it can
  carry (e.g. chi = 8 next to a chain end, where at most 2 is possible) shrinks to
  the rank bound; the state is unchanged.
* Arithmetic is float64 (complex128 for complex models) whatever the model dtype.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mpsomics.mps.state import MPSState


def working_dtype(arrays: Sequence[np.ndarray]) -> np.dtype:
    """float64, or complex128 when any of ``arrays`` is complex."""
    return np.dtype(np.complex128 if any(np.iscomplexobj(a) for a in arrays) else np.float64)


def _prescale(t: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, float]:
    """``t / max|t|`` in ``dtype`` and ``ln max|t|``; keeps every later product O(1)."""
    t = np.asarray(t, dtype=dtype)
    m = float(np.max(np.abs(t))) if t.size else 0.0
    if not np.isfinite(m):
        raise ValueError("MPS tensor contains NaN or inf")
    if m == 0.0:
        raise ValueError("MPS has an all-zero site tensor: the state has zero norm")
    return t / m, math.log(m)


def _normalized(mat: np.ndarray) -> tuple[np.ndarray, float]:
    nrm = float(np.linalg.norm(mat))
    if not nrm > 0.0:  # also catches NaN
        raise ValueError("the state has zero norm")
    return mat / nrm, math.log(nrm)


def left_orthonormalize(
    tensors: Sequence[np.ndarray], carry: np.ndarray | None = None
) -> tuple[list[np.ndarray], np.ndarray, float]:
    """QR sweep left to right over 3-index tensors ``(chi_l, 2, chi_r)``.

    Parameters
    ----------
    tensors
        Consecutive site tensors (already prescaled / float64).
    carry
        Matrix multiplied into the first tensor's left bond (identity if ``None``).

    Returns
    -------
    A
        Left-orthonormal tensors, one per input tensor.
    carry
        The remaining factor ``R`` (k, chi_r of the last tensor), Frobenius norm 1.
    log_norm
        Sum of the logarithms of the norms divided out.
    """
    out: list[np.ndarray] = []
    log_norm = 0.0
    for t in tensors:
        m = t if carry is None else np.tensordot(carry, t, axes=(1, 0))
        chi_l, d, chi_r = m.shape
        q, r = np.linalg.qr(m.reshape(chi_l * d, chi_r))
        carry, ln = _normalized(r)
        log_norm += ln
        out.append(q.reshape(chi_l, d, q.shape[1]))
    if carry is None:
        carry = np.ones((1, 1))
    return out, carry, log_norm


def right_orthonormalize(
    tensors: Sequence[np.ndarray], carry: np.ndarray | None = None
) -> tuple[list[np.ndarray], np.ndarray, float]:
    """LQ sweep right to left over 3-index tensors; mirror of :func:`left_orthonormalize`.

    Returns the right-orthonormal tensors in chain (left-to-right) order, the
    remaining factor ``L`` (chi_l of the first tensor, k) with norm 1, and the log-norm.
    """
    out: list[np.ndarray] = []
    log_norm = 0.0
    for t in reversed(tensors):
        m = t if carry is None else np.tensordot(t, carry, axes=(2, 0))
        chi_l, d, chi_r = m.shape
        # LQ via QR of the transpose (not conjugate transpose: M = R^T Q^T exactly).
        q, r = np.linalg.qr(m.reshape(chi_l, d * chi_r).T)
        carry, ln = _normalized(r.T)
        log_norm += ln
        out.append(q.T.reshape(q.shape[1], d, chi_r))
    out.reverse()
    if carry is None:
        carry = np.ones((1, 1))
    return out, carry, log_norm


@dataclass
class LabelCentered:
    """The full label-carrying MPS with its orthogonality centre on the label site.

    Attributes
    ----------
    left
        Left-orthonormal tensors of sites ``0 .. label_site - 1``.
    center
        Label-site tensor (chi_l, 2, C, chi_r), Frobenius norm 1.
    right
        Right-orthonormal tensors of sites ``label_site + 1 .. N - 1``.
    log_norm
        ``ln`` of the norm of the full (all classes) unnormalised state.
    """

    left: list[np.ndarray]
    center: np.ndarray
    right: list[np.ndarray]
    log_norm: float

    @property
    def label_site(self) -> int:
        return len(self.left)

    @property
    def n_sites(self) -> int:
        return len(self.left) + 1 + len(self.right)


def label_centered(state: MPSState) -> LabelCentered:
    """Canonicalise ``state`` towards its label site (shared by all classes).

    Sites away from the label site do not depend on the class, so this sweep is done
    once and each class only pays for moving its centre (see
    :func:`class_mixed_canonical`).
    """
    dtype = working_dtype(state.sites)
    log_norm = 0.0
    scaled = []
    for t in state.sites:
        t, ln = _prescale(t, dtype)
        scaled.append(t)
        log_norm += ln
    ls = state.label_site
    left, rcarry, ln_l = left_orthonormalize(scaled[:ls])
    right, lcarry, ln_r = right_orthonormalize(scaled[ls + 1 :])
    center = np.einsum("ia,asxb,bj->isxj", rcarry, scaled[ls], lcarry, optimize=True)
    center, ln_c = _normalized(center)
    return LabelCentered(left, center, right, log_norm + ln_l + ln_r + ln_c)


@dataclass
class MixedCanonical:
    """A normalised label-fixed state ``A_0 .. A_{cut-1} diag(S) B_cut .. B_{N-1}``.

    Attributes
    ----------
    left
        Left-orthonormal tensors of sites ``0 .. cut - 1``.
    singular_values
        Schmidt values across ``cut``: descending, sum of squares 1.
    right
        Right-orthonormal tensors of sites ``cut .. N - 1``.
    log_norm
        ``ln ||psi_label||`` of the unnormalised label-fixed state.
    """

    left: list[np.ndarray]
    singular_values: np.ndarray
    right: list[np.ndarray]
    log_norm: float

    @property
    def cut(self) -> int:
        return len(self.left)

    @property
    def n_sites(self) -> int:
        return len(self.left) + len(self.right)


def class_center(lc: LabelCentered, label: int) -> tuple[np.ndarray, float]:
    """Normalised label-site tensor (chi_l, 2, chi_r) of class ``label`` and its log-norm."""
    n_classes = lc.center.shape[2]
    if not 0 <= label < n_classes:
        raise IndexError(f"label {label} outside 0..{n_classes - 1}")
    t, ln = _normalized(lc.center[:, :, label, :])
    return t, lc.log_norm + ln


def class_mixed_canonical(lc: LabelCentered, label: int, cut: int) -> MixedCanonical:
    """Mixed canonical form of class ``label`` with its Schmidt values at ``cut``.

    Parameters
    ----------
    lc
        Output of :func:`label_centered`.
    label
        Class index.
    cut
        0..N; the centre moves there from the label site with ``|cut - label_site|``
        QR steps.
    """
    n = lc.n_sites
    if not 0 <= cut <= n:
        raise ValueError(f"cut {cut} outside 0..{n}")
    t, log_norm = class_center(lc, label)
    ls = lc.label_site
    if cut <= ls:
        moved, carry, ln = right_orthonormalize([*lc.left[cut:], t])
        left, right = list(lc.left[:cut]), [*moved, *lc.right]
    else:
        moved, carry, ln = left_orthonormalize([t, *lc.right[: cut - ls - 1]])
        left, right = [*lc.left, *moved], list(lc.right[cut - ls - 1 :])
    log_norm += ln
    u, s, vh = np.linalg.svd(carry, full_matrices=False)
    # Absorb the unitaries into the neighbouring tensors; at a chain end the bond has
    # dimension 1 and both are phases that go to the one existing neighbour.
    if not left:
        vh = u @ vh
    elif not right:
        left[-1] = np.tensordot(left[-1], u @ vh, axes=(2, 0))
    else:
        left[-1] = np.tensordot(left[-1], u, axes=(2, 0))
    if right:
        right[0] = np.tensordot(vh, right[0], axes=(1, 0))
    s, ln = _normalized(s)
    return MixedCanonical(left, s, right, log_norm + ln)
