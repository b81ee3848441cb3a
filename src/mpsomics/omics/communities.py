"""Hierarchical Leiden communities of a co-expression graph, and gene site order.

Algorithm (:func:`leiden_tree`)
-------------------------------
1. Isolated genes (degree 0) are removed: they belong to no community.
2. Leiden (``leidenalg``, seeded, ``RBConfigurationVertexPartition`` at
   ``resolution`` or ``ModularityVertexPartition``, edge weights ``|r|``) on the rest.
3. Every community larger than ``max_size`` is re-clustered with Leiden on its
   induced subgraph, recursively. If a split fails to shrink it (Leiden returns
   the community as one block) the resolution is multiplied by
   ``resolution_step`` and Leiden is retried (``ModularityVertexPartition`` is
   switched to RB configuration for this). Each retry or split level counts
   towards ``max_depth``.
4. A community still larger than ``max_size`` once ``max_depth`` is reached is
   truncated to its ``max_size`` genes of largest within-community weighted degree
   (the core of the module); the remaining genes are dropped (logged). The same
   happens when a split shatters an oversized community into blocks that are all
   smaller than ``min_size`` (e.g. a near-clique at high resolution), so a strong
   module is never lost entirely.
5. Communities smaller than ``min_size`` are dropped.

Each final community carries a ``path``: the Leiden block index at every level,
e.g. ``3/0/2``. Community ids (:func:`label_communities`) are ``c01, c02, ...``
after the hierarchy is flattened, sorted by size (largest first), ties by the
smallest gene name, so ids are stable for a given input and seed.

Gene order (:func:`order_genes`)
--------------------------------
Within a community genes are ordered so that correlated genes are neighbours
(the order is the MPS site order): average-linkage hierarchical clustering of the
distance ``1 - |r|`` with optimal leaf ordering (``scipy``), which maximises the
summed ``|r|`` of adjacent genes among the dendrogram-consistent orders. Input
genes are sorted by name first and the result is oriented so that the first gene
name sorts before the last, so the order depends only on the gene set and the
correlations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import igraph as ig
import leidenalg as la
import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
from scipy.spatial.distance import squareform

log = logging.getLogger(__name__)

PartitionType = Literal["rbconfiguration", "modularity"]


@dataclass(frozen=True)
class Community:
    """One community of the flattened hierarchy."""

    genes: tuple[str, ...]
    path: str
    truncated: bool = False


def _leiden(graph: ig.Graph, partition: PartitionType, resolution: float, seed: int) -> list[list[int]]:
    weights = "weight" if "weight" in graph.es.attributes() else None
    if partition == "modularity":
        part = la.find_partition(
            graph, la.ModularityVertexPartition, weights=weights, seed=seed, n_iterations=-1
        )
    elif partition == "rbconfiguration":
        part = la.find_partition(
            graph,
            la.RBConfigurationVertexPartition,
            weights=weights,
            resolution_parameter=resolution,
            seed=seed,
            n_iterations=-1,
        )
    else:
        raise ValueError(f"unknown partition {partition!r}; use 'rbconfiguration' or 'modularity'")
    return [list(block) for block in part]


def _core(graph: ig.Graph, vertices: list[int], max_size: int) -> list[int]:
    """The ``max_size`` vertices of largest within-set weighted degree (ties by name)."""
    sub = graph.induced_subgraph(vertices)
    weights = "weight" if "weight" in sub.es.attributes() else None
    strength = np.asarray(sub.strength(weights=weights), dtype=float)
    names = np.asarray(sub.vs["name"], dtype=str)
    order = np.lexsort((names, -strength))[:max_size]
    # induced_subgraph keeps the vertex order of the parent (sorted ids)
    ordered = sorted(vertices)
    return [ordered[i] for i in order]


def leiden_tree(
    graph: ig.Graph,
    resolution: float = 1.0,
    partition: PartitionType = "rbconfiguration",
    max_size: int = 48,
    min_size: int = 10,
    seed: int = 0,
    max_depth: int = 8,
    resolution_step: float = 2.0,
) -> list[Community]:
    """Hierarchical Leiden: communities of ``min_size``..``max_size`` genes with their path.

    Parameters
    ----------
    graph
        Undirected graph with vertex attribute ``name`` and (optional) edge
        attribute ``weight``, e.g. from :func:`mpsomics.omics.coexpression.coexpression_graph`.
    resolution
        Resolution of ``RBConfigurationVertexPartition`` at the top level.
    partition
        ``"rbconfiguration"`` (default) or ``"modularity"``.
    max_size, min_size
        Communities larger than ``max_size`` are split recursively; communities
        smaller than ``min_size`` are dropped.
    seed
        Leiden seed (used at every level).
    max_depth
        Maximal number of recursive splits / resolution increases below the top
        level; beyond it an oversized community is cut to its ``max_size`` genes of
        largest within-community weighted degree.
    resolution_step
        Factor by which the resolution grows when a split fails to shrink a community.

    Returns
    -------
    list of Community
        Unsorted, in discovery order (:func:`label_communities` numbers them).
    """
    if min_size < 1 or max_size < min_size:
        raise ValueError(f"need 1 <= min_size <= max_size, got {min_size}, {max_size}")
    splitter = _Splitter(graph, max_size, min_size, seed, max_depth, resolution_step)
    connected = [v for v, d in enumerate(graph.degree()) if d > 0]
    if not connected:
        return splitter.out
    top = graph.induced_subgraph(connected)
    for i, block in enumerate(_leiden(top, partition, resolution, seed)):
        splitter.visit([connected[j] for j in block], [str(i)], resolution, partition, 0)
    return splitter.out


class _Splitter:
    """The recursion of :func:`leiden_tree`: splits oversized blocks, collects communities.

    Parameters are those of :func:`leiden_tree`; ``out`` receives the communities
    in discovery order.
    """

    def __init__(
        self, graph: ig.Graph, max_size: int, min_size: int, seed: int, max_depth: int, resolution_step: float
    ) -> None:
        self.graph = graph
        self.names = graph.vs["name"]
        self.max_size, self.min_size = max_size, min_size
        self.seed, self.max_depth, self.resolution_step = seed, max_depth, resolution_step
        self.out: list[Community] = []

    def visit(self, vertices: list[int], path: list[str], res: float, part: PartitionType, depth: int) -> None:
        """Keep, drop, cut or split the block ``vertices`` found at ``path``."""
        size = len(vertices)
        if size < self.min_size:
            return
        if size <= self.max_size:
            self.out.append(Community(tuple(self.names[v] for v in vertices), "/".join(path)))
            return
        if depth >= self.max_depth:
            self.truncate(vertices, path, f"after {depth} levels")
            return
        ordered = sorted(vertices)
        blocks = _leiden(self.graph.induced_subgraph(ordered), part, res, self.seed)
        if len(blocks) == 1:  # failed to shrink: raise the resolution and retry
            self.visit(ordered, path, res * self.resolution_step, "rbconfiguration", depth + 1)
            return
        if max(len(b) for b in blocks) < self.min_size:  # shattered: nothing would survive
            self.truncate(vertices, path, "(its split leaves only blocks < min_size)")
            return
        for i, block in enumerate(blocks):
            self.visit([ordered[j] for j in block], [*path, str(i)], res, part, depth + 1)

    def truncate(self, vertices: list[int], path: list[str], why: str) -> None:
        """Keep the ``max_size`` most connected genes of a block that cannot be split."""
        core = _core(self.graph, vertices, self.max_size)
        log.warning(
            "community %s (%d genes) cannot be split below max_size=%d %s: "
            "keeping its %d most connected genes",
            "/".join(path) or "root", len(vertices), self.max_size, why, self.max_size,
        )
        self.out.append(Community(tuple(self.names[v] for v in sorted(core)), "/".join(path), True))


def label_communities(communities: list[Community]) -> list[tuple[str, Community]]:
    """Assign ids ``c01, c02, ...`` by decreasing size, ties by smallest gene name.

    The number of digits grows with the count (``c001`` for 100+ communities).
    """
    ranked = sorted(communities, key=lambda c: (-len(c.genes), min(c.genes), c.path))
    width = max(2, len(str(len(ranked))))
    return [(f"c{i + 1:0{width}d}", c) for i, c in enumerate(ranked)]


def hierarchical_leiden(
    graph: ig.Graph,
    resolution: float = 1.0,
    partition: PartitionType = "rbconfiguration",
    max_size: int = 48,
    min_size: int = 10,
    seed: int = 0,
    max_depth: int = 8,
    resolution_step: float = 2.0,
) -> pd.Series:
    """Flattened hierarchical Leiden partition as a Series ``gene -> community id``.

    Parameters are those of :func:`leiden_tree`; ids are from
    :func:`label_communities`. Genes in no community (isolated, dropped as too
    small, or cut from an oversized one) are absent. The Series is ordered by
    community id, then gene name.
    """
    tree = leiden_tree(
        graph, resolution=resolution, partition=partition, max_size=max_size,
        min_size=min_size, seed=seed, max_depth=max_depth, resolution_step=resolution_step,
    )
    rows = [(g, cid) for cid, c in label_communities(tree) for g in sorted(c.genes)]
    series = pd.Series(
        [cid for _, cid in rows], index=pd.Index([g for g, _ in rows], name="gene"), name="community", dtype=object
    )
    return series


def order_genes(corr: pd.DataFrame | np.ndarray, genes: list[str] | None = None) -> list[str]:
    """Deterministic site order placing correlated genes next to each other.

    Parameters
    ----------
    corr
        Square correlation matrix of the community's genes (DataFrame indexed by
        gene, or array together with ``genes``).
    genes
        Gene names when ``corr`` is an array.

    Returns
    -------
    The genes in optimal-leaf order of an average-linkage clustering on ``1 - |r|``.
    """
    if isinstance(corr, pd.DataFrame):
        genes = [str(g) for g in corr.index]
        mat = corr.to_numpy(dtype=float)
    else:
        mat = np.asarray(corr, dtype=float)
        if genes is None:
            raise ValueError("genes are required when corr is an array")
        genes = [str(g) for g in genes]
    if len(genes) <= 2:
        return sorted(genes)
    perm = np.argsort(np.asarray(genes, dtype=str), kind="stable")
    genes = [genes[i] for i in perm]
    mat = np.nan_to_num(mat[np.ix_(perm, perm)])
    dist = 1.0 - np.abs(mat)
    dist = np.clip((dist + dist.T) / 2, 0.0, None)
    np.fill_diagonal(dist, 0.0)
    condensed = squareform(dist, checks=False)
    tree = optimal_leaf_ordering(linkage(condensed, method="average"), condensed)
    order = [genes[i] for i in leaves_list(tree)]
    if order[0] > order[-1]:
        order.reverse()
    return order


def read_community_file(path, genes: list[str], min_size: int = 2) -> list[Community]:
    """Communities of a gene -> community table (``communities.source: file``).

    Parameters
    ----------
    path
        TSV/CSV with a header: a ``gene`` column and a ``community`` column (otherwise the
        first two columns, in that order), one row per gene; e.g. WGCNA modules.
    genes
        Genes of the prepared matrix: others are dropped (counted in a warning).
    min_size
        Communities with fewer genes in the matrix are dropped (warning).

    Returns
    -------
    list of Community
        ``path`` = the community's name in the file; label them with
        :func:`label_communities`. Genes are in file order (:func:`order_genes` sets
        the site order).

    Raises
    ------
    InputError
        Missing columns, a gene in two communities, no community left.
    """
    from mpsomics.core.errors import InputError
    from mpsomics.core.readers import duplicated, read_table, short_list

    table = read_table(path)
    if table.shape[1] < 2:
        raise InputError(path, "a community file needs two columns: gene and community")
    gcol = "gene" if "gene" in table.columns else table.columns[0]
    ccol = "community" if "community" in table.columns else table.columns[1]
    gene_ids = table[gcol].astype(str).str.strip().tolist()
    names = table[ccol].astype(str).str.strip().tolist()
    dups = duplicated(gene_ids)
    if dups:
        raise InputError(path, f"genes listed more than once: {short_list(dups)}")
    present = set(genes)
    missing = [g for g in gene_ids if g not in present]
    if missing:
        log.warning("%s: %d of %d genes are not in the prepared matrix (dropped): %s", path,
                    len(missing), len(gene_ids), short_list(missing))
    blocks: dict[str, list[str]] = {}
    for g, c in zip(gene_ids, names, strict=True):
        if g in present and c:
            blocks.setdefault(c, []).append(g)
    small = {c: len(v) for c, v in blocks.items() if len(v) < min_size}
    if small:
        log.warning("%s: %d communities with fewer than %d genes in the matrix dropped: %s", path,
                    len(small), min_size, short_list([f"{c} ({n})" for c, n in small.items()]))
    out = [Community(tuple(v), c) for c, v in blocks.items() if len(v) >= min_size]
    if not out:
        raise InputError(path, f"no community with >= {min_size} genes of the prepared matrix "
                               f"({len(gene_ids) - len(missing)} of {len(gene_ids)} genes found)")
    log.info("%s: %d communities of %d-%d genes from the file", path, len(out),
             min(len(c.genes) for c in out), max(len(c.genes) for c in out))
    return out
