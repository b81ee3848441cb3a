"""A trained tree tensor network (TTN) classifier as plain NumPy arrays, and its file format.

Model
-----
The leaves of a binary tree (:mod:`mpsomics.ttn.tree`) are the genes, each a qubit with
the MPS feature map phi(x) = (cos(pi x / 2), sin(pi x / 2)). Every internal node i
carries a tensor ``T_i[a, b, c]`` of shape (d_{c1}, d_{c2}, d_i): ``a`` and ``b`` are the
legs of its two children c1 < c2 (dimension 2 for a leaf child, the child's own parent
leg otherwise), ``c`` is its parent leg. The root has no parent; its third leg is the
label leg of dimension C (number of classes). The score of class l is the contraction

    f^l(x) = <Phi(x)|W^l>,   Phi(x) = phi(x_0) (x) ... (x) phi(x_{N-1}),

where W^l is the network with the root's label leg fixed to l. :func:`bond_dims` gives
the default leg sizes d_i = min(chi, d_{c1} d_{c2}) (never more than the subtree's
Hilbert space dimension 2^(#leaves)); any consistent sizes are valid.

File format (``.npz``, readable by ``numpy.load`` alone)
-------------------------------------------------------
``parent``
    int64 (2N - 1,): node i's parent, leaves 0..N-1, root 2N - 2 last with -1.
``node_{i}``
    float64 (d_{c1}, d_{c2}, d_i) for every internal node i = N .. 2N-2 (root: d_i = C).
``genes``
    str (N,): gene of leaf i.
``classes``
    str (C,): class names in label order.
``feature_map``
    str scalar, ``"cos_sin_half_pi"``.
``label_node``
    int64 scalar, the node carrying the label leg (always the root, 2N - 2).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mpsomics.core.errors import InputError
from mpsomics.core.files import atomic_path
from mpsomics.core.readers import NPZ_ERRORS, require_file
from mpsomics.mps.feature_map import FEATURE_MAP_NAME
from mpsomics.ttn.tree import check_parent, children, n_leaves

__all__ = ["TTNState", "bond_dims", "load_ttn", "save_ttn"]


def bond_dims(parent: np.ndarray, bond_dim: int) -> np.ndarray:
    """Default parent-leg size of every non-root node, shape (2N - 2,).

    Leaves: 2. Internal node i: min(``bond_dim``, d_{c1} d_{c2}), which is at most the
    dimension 2^(#leaves below i) of its subtree's Hilbert space (a larger leg would
    only add redundant parameters).
    """
    p = check_parent(parent)
    n = n_leaves(p)
    ch = children(p)
    d = np.full(len(p) - 1, 2, dtype=np.int64)
    for k in range(n - 2):  # all internal nodes but the root
        d[n + k] = min(int(bond_dim), int(d[ch[k, 0]] * d[ch[k, 1]]))
    return d


@dataclass
class TTNState:
    """A binary TTN classifier with the label leg on the root.

    Attributes
    ----------
    parent
        Parent array (:mod:`mpsomics.ttn.tree`), length 2N - 1.
    tensors
        ``tensors[k]`` is the tensor of internal node N + k, shape (d_{c1}, d_{c2}, d)
        with children c1 < c2 and d the parent leg (C for the root).
    genes
        Gene of every leaf (leaf order).
    classes
        Class names in label order.
    feature_map
        Name of the leaf feature map.
    """

    parent: np.ndarray
    tensors: list[np.ndarray]
    genes: list[str]
    classes: list[str]
    feature_map: str = field(default=FEATURE_MAP_NAME)

    @property
    def n_leaves(self) -> int:
        return n_leaves(self.parent)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def root(self) -> int:
        return len(self.parent) - 1

    @property
    def label_node(self) -> int:
        """Node carrying the label leg: the root."""
        return self.root

    def node(self, i: int) -> np.ndarray:
        """Tensor of internal node ``i`` (N <= i <= 2N - 2)."""
        return self.tensors[int(i) - self.n_leaves]

    def bond_dims(self) -> np.ndarray:
        """Size of the edge above every non-root node, shape (2N - 2,)."""
        n = self.n_leaves
        d = np.full(len(self.parent) - 1, 2, dtype=np.int64)
        for k, t in enumerate(self.tensors[:-1]):
            d[n + k] = t.shape[2]
        return d

    def validate(self, source: str | os.PathLike | None = None) -> TTNState:
        """Check the tree, shapes and metadata; raise :class:`InputError` naming ``source``."""
        try:
            self.parent = check_parent(self.parent)
        except ValueError as exc:
            raise InputError(source, f"bad tree: {exc}") from None
        n = self.n_leaves
        if len(self.genes) != n:
            raise InputError(source, f"tree has {n} leaves but {len(self.genes)} gene names")
        if self.n_classes < 1:
            raise InputError(source, "model has no classes")
        if self.feature_map != FEATURE_MAP_NAME:
            raise InputError(
                source, f"unknown feature_map {self.feature_map!r} (expected {FEATURE_MAP_NAME!r})"
            )
        if len(self.tensors) != n - 1:
            raise InputError(source, f"{len(self.tensors)} node tensors for {n - 1} internal nodes")
        ch = children(self.parent)
        up = np.full(len(self.parent), 2, dtype=np.int64)  # parent-leg size of every node
        for k, t in enumerate(self.tensors):
            i = n + k
            if t.ndim != 3:
                raise InputError(source, f"node_{i} has {t.ndim} axes, expected 3")
            want = (up[ch[k, 0]], up[ch[k, 1]])
            if t.shape[:2] != want:
                raise InputError(
                    source, f"node_{i} has shape {t.shape}: child legs must be {want}"
                )
            if i == self.root and t.shape[2] != self.n_classes:
                raise InputError(
                    source,
                    f"root node_{i} has {t.shape[2]} labels but {self.n_classes} class names",
                )
            if t.shape[2] < 1:
                raise InputError(source, f"node_{i} has an empty parent leg")
            if not np.all(np.isfinite(t)):
                raise InputError(source, f"node_{i} contains NaN or inf")
            up[i] = t.shape[2]
        return self


def save_ttn(state: TTNState, path: str | os.PathLike) -> None:
    """Write ``state`` to ``path`` (``.npz``, format in the module docstring) atomically."""
    state.validate()
    n = state.n_leaves
    arrays = {f"node_{n + k}": np.asarray(t, dtype=np.float64) for k, t in enumerate(state.tensors)}
    arrays["parent"] = np.asarray(state.parent, dtype=np.int64)
    arrays["genes"] = np.asarray(state.genes, dtype=str)
    arrays["classes"] = np.asarray(state.classes, dtype=str)
    arrays["feature_map"] = np.asarray(state.feature_map, dtype=str)
    arrays["label_node"] = np.asarray(state.label_node, dtype=np.int64)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:  # a file handle stops numpy appending a second ".npz"
            np.savez(fh, **arrays)


def _names(path: Path, z, key: str) -> list[str]:
    a = np.asarray(z[key])
    if a.ndim != 1 or a.dtype.kind != "U":
        raise InputError(path, f"{key!r} must be a 1-d array of strings, got {a.dtype} of shape {a.shape}")
    return [str(x) for x in a]


def load_ttn(path: str | os.PathLike) -> TTNState:
    """Read and validate a TTN ``.npz``; raise :class:`InputError` naming ``path`` if unusable."""
    path = Path(path)
    require_file(path, "TTN model .npz")
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            missing = {"parent", "genes", "classes", "feature_map", "label_node"} - keys
            if missing:
                raise InputError(path, f"not an mpsomics TTN model: missing {sorted(missing)}")
            parent = np.array(z["parent"])
            if parent.ndim != 1 or not np.issubdtype(parent.dtype, np.integer):
                raise InputError(path, "bad tree: parent must be a 1-D integer array")
            m = parent.size
            n = (m + 1) // 2
            extra = {k for k in keys if k.startswith("node_")} - {
                f"node_{i}" for i in range(n, m)
            }
            if extra:
                raise InputError(
                    path, f"tensors {sorted(extra)} do not belong to internal nodes {n}..{m - 1}"
                )
            tensors = []
            for i in range(n, m):
                if f"node_{i}" not in keys:
                    raise InputError(path, f"not an mpsomics TTN model: node_{i} missing")
                t = np.array(z[f"node_{i}"])
                if not np.issubdtype(t.dtype, np.floating):
                    raise InputError(path, f"node_{i} has dtype {t.dtype}, expected float")
                if not np.all(np.isfinite(t)):
                    raise InputError(path, f"node_{i} contains NaN or inf")
                tensors.append(t.astype(np.float64))
            label_node = np.array(z["label_node"])
            feature = np.array(z["feature_map"])
            if feature.ndim != 0 or feature.dtype.kind != "U":
                raise InputError(path, "'feature_map' must be a scalar string")
            state = TTNState(
                parent=parent,
                tensors=tensors,
                genes=_names(path, z, "genes"),
                classes=_names(path, z, "classes"),
                feature_map=str(feature),
            )
            if (
                label_node.shape != ()
                or not np.issubdtype(label_node.dtype, np.integer)
            ):
                raise InputError(
                    path, f"'label_node' must be a scalar integer, got {label_node.dtype} of shape {label_node.shape}"
                )
            state.validate(path)
            if int(label_node) != state.root:
                raise InputError(path, f"label_node {int(label_node)} is not the root {state.root}")
    except InputError:
        raise
    except NPZ_ERRORS as exc:
        raise InputError(
            path, f"corrupt or unreadable TTN model file ({type(exc).__name__}: {exc})"
        ) from exc
    return state
