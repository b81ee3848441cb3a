"""The binary gene tree of a tree tensor network, as a parent array.

Representation
--------------
A rooted binary tree with N >= 2 leaves has 2N - 1 nodes, stored as an int64 array
``parent`` of length 2N - 1:

* leaves are nodes ``0 .. N-1``; leaf ``i`` is gene ``genes[i]``;
* internal nodes are ``N .. 2N-2``; every internal node has exactly two children;
* ``parent[i] > i`` for every non-root node, so ascending node index is a bottom-up
  (children before parents) order; the root is the last node, ``parent[2N-2] = -1``.

The two children of an internal node are taken in ascending node index
(:func:`children`): the first child leg of a node tensor is the smaller child.

The edge above node ``i`` (``i < 2N-2``) is named by ``i``; cutting it splits the leaves
into ``subtree_leaves(parent)[i]`` and the rest. The two edges below the root give the
same bipartition.

Gene dendrogram
---------------
:func:`gene_tree` builds the tree from training expression exactly as the MPS site order
is built (:func:`mpsomics.omics.communities.order_genes`, replicated here because the
engine layer may not import ``omics``): genes sorted by name, average linkage on the
distance 1 - |r|, optimal leaf ordering (scipy), order reversed if it then starts with
a gene that sorts after the last one. The scipy linkage row ``k`` becomes internal node
``N + k``; the leaves are renumbered so that leaf ``i`` is the i-th gene of that order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
from scipy.spatial.distance import squareform
from scipy.stats import rankdata

__all__ = [
    "check_parent",
    "children",
    "correlation_matrix",
    "gene_tree",
    "levels",
    "n_leaves",
    "subtree_leaves",
    "tree_from_correlation",
    "tree_from_linkage",
]


def n_leaves(parent: np.ndarray) -> int:
    """Number of leaves N of a parent array of length 2N - 1."""
    return (len(parent) + 1) // 2


def check_parent(parent: Sequence[int] | np.ndarray) -> np.ndarray:
    """Validate a parent array; return it as int64.

    Raises
    ------
    ValueError
        Not a parent array in the convention of this module (see module docstring).
    """
    p = np.asarray(parent)
    if p.ndim != 1 or p.size < 3 or p.size % 2 == 0:
        raise ValueError(f"parent must be 1-D of odd length 2N-1 >= 3, got shape {p.shape}")
    if not np.issubdtype(p.dtype, np.integer):
        raise ValueError(f"parent must hold integers, got dtype {p.dtype}")
    p = p.astype(np.int64)
    m = p.size
    n = n_leaves(p)
    if p[-1] != -1:
        raise ValueError(f"the root (last node {m - 1}) must have parent -1, got {p[-1]}")
    idx = np.arange(m - 1)
    if np.any(p[:-1] <= idx) or np.any(p[:-1] >= m):
        raise ValueError("every non-root node i needs a parent j with i < j <= 2N-2")
    if np.any(p[:-1] < n):
        raise ValueError(f"leaves 0..{n - 1} cannot be parents")
    counts = np.bincount(p[:-1], minlength=m)[n:]
    if np.any(counts != 2):
        bad = int(n + np.flatnonzero(counts != 2)[0])
        raise ValueError(f"internal node {bad} has {counts[bad - n]} children, expected 2")
    return p


def children(parent: np.ndarray) -> np.ndarray:
    """Children of the internal nodes, shape (N - 1, 2): row k = node N + k, ascending."""
    p = np.asarray(parent, dtype=np.int64)
    n = n_leaves(p)
    order = np.argsort(p[:-1], kind="stable")  # stable: children come out ascending
    return order.reshape(n - 1, 2).astype(np.int64)


def levels(parent: np.ndarray) -> list[np.ndarray]:
    """Internal nodes grouped by height (leaves have height 0).

    Returns
    -------
    list whose entry h - 1 holds the internal nodes of height h in ascending order; the
    nodes of one level depend only on lower levels, so they can be contracted together.
    The last level is the root alone.
    """
    p = np.asarray(parent, dtype=np.int64)
    n = n_leaves(p)
    ch = children(p)
    height = np.zeros(len(p), dtype=np.int64)
    for k in range(n - 1):  # ascending index is bottom-up
        height[n + k] = 1 + max(height[ch[k, 0]], height[ch[k, 1]])
    return [np.flatnonzero(height == h) for h in range(1, int(height[-1]) + 1)]


def subtree_leaves(parent: np.ndarray) -> list[np.ndarray]:
    """Leaves below every node (ascending), a list of length 2N - 1."""
    p = np.asarray(parent, dtype=np.int64)
    n = n_leaves(p)
    ch = children(p)
    out: list[np.ndarray] = [np.array([i]) for i in range(n)]
    for k in range(n - 1):
        out.append(np.sort(np.concatenate([out[ch[k, 0]], out[ch[k, 1]]])))
    return out


def tree_from_linkage(Z: np.ndarray, leaf_order: Sequence[int]) -> np.ndarray:
    """Parent array of a scipy linkage matrix, leaves renumbered to ``leaf_order``.

    Parameters
    ----------
    Z
        (N - 1, 4) linkage matrix; row k merges clusters ``Z[k, 0]`` and ``Z[k, 1]``
        into cluster N + k.
    leaf_order
        Original observation indices in the order the new leaves 0..N-1 take.
    """
    Z = np.asarray(Z)
    n = Z.shape[0] + 1
    new_leaf = np.empty(n, dtype=np.int64)
    new_leaf[np.asarray(leaf_order, dtype=np.int64)] = np.arange(n)
    parent = np.full(2 * n - 1, -1, dtype=np.int64)
    for k in range(n - 1):
        for c in Z[k, :2].astype(np.int64):
            parent[new_leaf[c] if c < n else c] = n + k
    return check_parent(parent)


def correlation_matrix(X: np.ndarray, method: str = "spearman") -> np.ndarray:
    """Gene-gene correlation (genes x genes) of a samples x genes matrix.

    Same definition as :func:`mpsomics.omics.coexpression.correlation_matrix`: Spearman =
    Pearson on average ranks; undefined entries (constant genes) 0, diagonal 1.
    """
    X = np.asarray(X, dtype=np.float64)
    if method == "spearman":
        X = rankdata(X, axis=0)
    elif method != "pearson":
        raise ValueError(f"unknown correlation {method!r}; use 'spearman' or 'pearson'")
    c = X - X.mean(axis=0)
    norm = np.sqrt((c**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (c.T @ c) / np.outer(norm, norm)
    r = np.nan_to_num(np.clip(r, -1.0, 1.0))
    np.fill_diagonal(r, 1.0)
    return r


def tree_from_correlation(corr: np.ndarray, genes: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Average-linkage dendrogram on 1 - |r| with optimal leaf ordering.

    Parameters
    ----------
    corr
        (N, N) gene correlation matrix, N >= 2, rows in the order of ``genes``.
    genes
        Gene names.

    Returns
    -------
    parent
        Parent array (module docstring); leaf i is ``ordered_genes[i]``.
    ordered_genes
        The genes in leaf order: the order ``order_genes`` gives for N >= 3 (for N = 2
        both give the sorted pair).
    """
    genes = [str(g) for g in genes]
    mat = np.asarray(corr, dtype=np.float64)
    n = len(genes)
    if n < 2 or mat.shape != (n, n):
        raise ValueError(f"need N >= 2 genes and an (N, N) correlation matrix, got {mat.shape}")
    # sort by name first so that the tree does not depend on the input column order
    perm = np.argsort(np.asarray(genes, dtype=str), kind="stable")
    genes = [genes[i] for i in perm]
    mat = np.nan_to_num(mat[np.ix_(perm, perm)])
    if n == 2:
        return np.array([2, 2, -1], dtype=np.int64), genes
    dist = 1.0 - np.abs(mat)
    dist = np.clip((dist + dist.T) / 2, 0.0, None)
    np.fill_diagonal(dist, 0.0)
    condensed = squareform(dist, checks=False)
    Z = optimal_leaf_ordering(linkage(condensed, method="average"), condensed)
    order = [int(i) for i in leaves_list(Z)]
    if genes[order[0]] > genes[order[-1]]:
        order.reverse()
    return tree_from_linkage(Z, order), [genes[i] for i in order]


def gene_tree(
    X: np.ndarray, genes: Sequence[str], correlation: str = "spearman"
) -> tuple[np.ndarray, list[str]]:
    """Gene dendrogram of training expression ``X`` (samples x genes).

    Parameters
    ----------
    X
        Training samples only (the tree is part of the model), shape (n_samples, N).
    genes
        Gene names of the columns of ``X``.
    correlation
        ``"spearman"`` (the pipeline's default) or ``"pearson"``.

    Returns
    -------
    ``(parent, ordered_genes)`` as :func:`tree_from_correlation`; reorder the columns of
    ``X`` to ``ordered_genes`` before training.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != len(genes):
        raise ValueError(f"X must have shape (n_samples, {len(genes)}), got {X.shape}")
    return tree_from_correlation(correlation_matrix(X, correlation), genes)
