"""Exact observables of a TTN classifier, per class (names follow quimb).

Conventions
-----------
* **Class state.** For class ``label`` the state |W^label> is the network with the root's
  label leg fixed to ``label``, normalised: <W|W> = 1.
* **Basis and sigma^z.** |0> = cos component (low expression), |1> = sin component
  (high expression); sigma^z = diag(1, -1), so <sigma^z> = +1 means "low" (as
  :mod:`mpsomics.mps.observables`).
* **Edges.** Edge ``i`` (0 <= i <= 2N - 3) is the edge between node i and its parent; it
  cuts the leaves into ``subtree_leaves(parent)[i]`` and the rest
  (:mod:`mpsomics.ttn.tree`). Leaf edges (i < N) cut one gene off. The two edges
  below the root give the same bipartition, hence the same values.
* **Schmidt values** of an edge are the singular values of the normalised class state
  reshaped by that bipartition, descending, sum of squares 1, as many as the edge's
  dimension allows (trailing zeros kept). Entropies use the natural log:
  S = -sum lambda^2 ln lambda^2.

Method
------
1. Canonical form towards the root (shared by all classes): bottom-up, every non-root
   node tensor, reshaped (child1 * child2, parent), is replaced by the Q of its QR
   decomposition and R is absorbed into the parent. All non-root nodes are then
   isometries, i.e. every subtree's legs index orthonormal states.
2. Per class, the orthogonality centre starts at the root (label fixed, normalised) and
   moves down the tree by QR. When the centre sits at node p, all other tensors are
   isometries towards p, so the singular values of the centre tensor matricised as
   (one leg, the other legs) are the Schmidt values of the edge of that leg, and the
   reduced density matrix of a leaf child is M^T M. SVDs (not eigenvalues of density
   matrices) keep small Schmidt values accurate to ~1e-15 absolute.
3. Correlations: sigma^z_i of every leaf is carried up in the isometric basis of each
   subtree (a stack of d x d matrices per node); the pair i, j meets at its lowest
   common ancestor p, where <Z_i Z_j> is the trace with the two-leg density matrix of
   the centre at p.

Cost O(N chi^4) for entropies and magnetization, O(N * depth * chi^4 + N^2 chi^4) with
correlations; everything in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mpsomics.core.errors import NumericalError
from mpsomics.mps.observables import entropy_from_schmidt
from mpsomics.ttn.state import TTNState
from mpsomics.ttn.tree import children

__all__ = [
    "Canonical",
    "canonical_form",
    "class_center",
    "correlation",
    "entropy",
    "magnetization",
    "observe_all",
    "schmidt_values",
]

_Z = np.diag([1.0, -1.0])


@dataclass
class Canonical:
    """The root-canonical form of a TTN (class independent).

    Attributes
    ----------
    iso
        ``iso[k]`` for internal non-root node N + k: isometry (d_{c1}, d_{c2}, r),
        ``sum_ab iso[a, b, c] iso[a, b, c'] = delta_cc'``.
    root
        Root tensor (d_{c1}, d_{c2}, C) in the isometric bases of its children (up to a
        global positive factor, irrelevant for the normalised class states).
    children
        (N - 1, 2) children of each internal node (:func:`mpsomics.ttn.tree.children`).
    n_leaves
        N.
    """

    iso: list[np.ndarray]
    root: np.ndarray
    children: np.ndarray
    n_leaves: int


def canonical_form(state: TTNState) -> Canonical:
    """Orthogonalise every non-root node towards the root by QR (see module docstring)."""
    n = state.n_leaves
    ch = children(state.parent)
    work = [np.array(t, dtype=np.float64) for t in state.tensors]
    iso: list[np.ndarray] = []
    for k in range(n - 2):  # every internal node except the root, bottom-up
        t = work[k]
        d1, d2, dp = t.shape
        q, r = np.linalg.qr(t.reshape(d1 * d2, dp))
        # the global scale is irrelevant (class states are normalised); keeping R of
        # norm one stops deep trees from under- or overflowing
        norm = np.linalg.norm(r)
        r = r / norm if norm > 0 else r
        iso.append(q.reshape(d1, d2, q.shape[1]))
        i = n + k
        p = int(state.parent[i]) - n
        if ch[p, 0] == i:
            work[p] = np.einsum("ka,abc->kbc", r, work[p])
        else:
            work[p] = np.einsum("kb,abc->akc", r, work[p])
    return Canonical(iso=iso, root=work[-1], children=ch, n_leaves=n)


def _check_label(state: TTNState, label: int) -> int:
    label = int(label)
    if not 0 <= label < state.n_classes:
        raise IndexError(f"label {label} outside 0..{state.n_classes - 1}")
    return label


def class_center(canon: Canonical, label: int) -> np.ndarray:
    """Normalised root centre of class ``label``, shape (d_{c1}, d_{c2}, 1).

    Raises
    ------
    NumericalError
        The class state is zero (no normalised state exists).
    """
    m = canon.root[:, :, int(label)]
    norm = np.linalg.norm(m)
    if not norm > 0:
        raise NumericalError(None, f"class {label} state is zero; its observables are undefined")
    return (m / norm)[:, :, None]


def _singular_values(center: np.ndarray, axis: int) -> np.ndarray:
    m = np.moveaxis(center, axis, 0).reshape(center.shape[axis], -1)
    s = np.linalg.svd(m, compute_uv=False)
    return s / np.linalg.norm(s)


def _z_up(q: np.ndarray, ops: np.ndarray, axis: int) -> np.ndarray:
    """Carry a stack of child-leg operators (m, d, d) through isometry ``q`` to its parent leg."""
    if axis == 0:
        return np.einsum("abc,iaA,Abe->ice", q, ops, q, optimize=True)
    return np.einsum("abc,ibB,aBe->ice", q, ops, q, optimize=True)


def _leaf_operators(canon: Canonical) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """sigma^z of every leaf below each node, in that subtree's isometric basis.

    Returns ``node -> (leaves, ops)`` with ops of shape (#leaves, d, d), d the node's
    parent-leg size. Class independent (only the root depends on the class).
    """
    n, ch = canon.n_leaves, canon.children
    ops: dict[int, tuple[np.ndarray, np.ndarray]] = {i: (np.array([i]), _Z[None]) for i in range(n)}
    for k in range(n - 2):
        c1, c2 = ch[k]
        l1, o1 = ops[c1]
        l2, o2 = ops[c2]
        q = canon.iso[k]
        ops[n + k] = (np.concatenate([l1, l2]), np.concatenate([_z_up(q, o1, 0), _z_up(q, o2, 1)]))
    return ops


def _observe_class(
    canon: Canonical, label: int, ops: dict[int, tuple[np.ndarray, np.ndarray]] | None
) -> dict[str, object]:
    """Schmidt values, magnetization and (if ``ops`` is given) <Z_i Z_j> of one class."""
    n, ch = canon.n_leaves, canon.children
    root = 2 * n - 2
    correlations = ops is not None
    schmidt: list[np.ndarray | None] = [None] * (2 * n - 2)
    mag = np.zeros(n)
    zz = np.eye(n) if correlations else None

    stack = [(root, class_center(canon, label))]
    while stack:  # depth-first, the centre moving down by QR
        p, center = stack.pop()
        c_pair = ch[p - n]
        for axis, c in enumerate(c_pair):
            schmidt[c] = _singular_values(center, axis)
            if c < n:
                m = np.moveaxis(center, axis, -1).reshape(-1, 2)
                rho = m.T @ m
                mag[c] = rho[0, 0] - rho[1, 1]
            else:
                moved = np.moveaxis(center, axis, -1)
                q, r = np.linalg.qr(moved.reshape(-1, moved.shape[-1]))
                stack.append((int(c), np.einsum("xya,ka->xyk", canon.iso[c - n], r)))
        if correlations:
            l1, o1 = ops[c_pair[0]]
            l2, o2 = ops[c_pair[1]]
            # sum o1[i,a,A] o2[j,b,B] center[a,b,c] center[A,B,c] by BLAS contractions
            x = np.tensordot(o1, center, axes=([1], [0]))  # (i, A, b, c)
            x = np.tensordot(x, center, axes=([1, 3], [0, 2]))  # (i, b, B)
            block = np.tensordot(x, o2, axes=([1, 2], [1, 2]))  # (i, j)
            zz[np.ix_(l1, l2)] = block
            zz[np.ix_(l2, l1)] = block.T
    out: dict[str, object] = {"schmidt_values": schmidt, "magnetization": np.clip(mag, -1, 1)}
    if correlations:
        out["zz"] = np.clip(zz, -1.0, 1.0)
    return out


def schmidt_values(state: TTNState, label: int) -> list[np.ndarray]:
    """Schmidt values of |W^label> across every edge.

    Returns
    -------
    list of length 2N - 2: entry i is the edge above node i (descending, sum of squares
    1, length = that edge's dimension or less when the other side is smaller).
    """
    label = _check_label(state, label)
    return _observe_class(canonical_form(state), label, None)["schmidt_values"]


def entropy(state: TTNState, label: int) -> np.ndarray:
    """Von Neumann entanglement entropy (natural log) of every edge, shape (2N - 2,)."""
    return np.array([entropy_from_schmidt(s) for s in schmidt_values(state, label)])


def magnetization(state: TTNState, label: int) -> np.ndarray:
    """<sigma^z_i> of |W^label> at every leaf, shape (N,), sigma^z = diag(1, -1)."""
    label = _check_label(state, label)
    return _observe_class(canonical_form(state), label, None)["magnetization"]


def correlation(state: TTNState, label: int, connected: bool = True) -> np.ndarray:
    """All-pairs sigma^z correlations of |W^label>, shape (N, N), symmetric.

    Parameters
    ----------
    state, label
        The classifier and the class index.
    connected
        ``True``: <Z_i Z_j> - <Z_i><Z_j> (diagonal 1 - m_i^2); ``False``: <Z_i Z_j>
        (diagonal 1). Same convention as :func:`mpsomics.mps.observables.correlation`.
    """
    label = _check_label(state, label)
    canon = canonical_form(state)
    obs = _observe_class(canon, label, _leaf_operators(canon))
    zz, mag = obs["zz"], obs["magnetization"]
    return np.clip(zz - np.outer(mag, mag), -1.0, 1.0) if connected else zz


def observe_all(state: TTNState, *, correlations: bool = True) -> dict[str, np.ndarray]:
    """Every observable of every class, sharing one canonical form.

    Returns
    -------
    dict with ``entropy`` (C, 2N - 2), ``magnetization`` (C, N) and, with
    ``correlations``, ``correlation`` (C, N, N) connected; plus ``schmidt_values``, an
    object array (C, 2N - 2) of spectra.
    """
    canon = canonical_form(state)
    C, n = state.n_classes, state.n_leaves
    ent = np.zeros((C, 2 * n - 2))
    mag = np.zeros((C, n))
    spectra = np.empty((C, 2 * n - 2), dtype=object)
    corr = np.zeros((C, n, n)) if correlations else None
    ops = _leaf_operators(canon) if correlations else None
    for label in range(C):
        obs = _observe_class(canon, label, ops)
        for i, s in enumerate(obs["schmidt_values"]):
            spectra[label, i] = s
            ent[label, i] = entropy_from_schmidt(s)
        mag[label] = obs["magnetization"]
        if correlations:
            m = obs["magnetization"]
            corr[label] = np.clip(obs["zz"] - np.outer(m, m), -1.0, 1.0)
    out = {"entropy": ent, "magnetization": mag, "schmidt_values": spectra}
    if correlations:
        out["correlation"] = corr
    return out
