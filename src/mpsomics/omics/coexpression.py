"""Gene co-expression network on the training samples.

The network is built from the ``prepare`` AnnData (see ``docs/outputs.md``): the
``n_genes`` most variable genes (variance of ``layers["log"]`` over the **train**
samples), their pairwise Spearman or Pearson correlation over the **train**
samples, and an undirected edge for every strongly correlated pair (``|r| >=
threshold``) or for each gene's ``k`` nearest neighbours by ``|r|``. Edge weights
are ``|r|``. Test samples are never looked at, so changing them changes nothing.
The AnnData is read and validated by :func:`mpsomics.core.readers.read_prepared`.
"""

from __future__ import annotations

import logging
import os
from typing import Literal

import anndata as ad
import igraph as ig
import numpy as np
import pandas as pd
from scipy.stats import rankdata

from mpsomics.core.errors import InputError

log = logging.getLogger(__name__)

Correlation = Literal["spearman", "pearson"]
EdgeRule = Literal["threshold", "knn"]

def train_mask(adata: ad.AnnData) -> np.ndarray:
    """Boolean mask of the training samples (``obs['split'] == 'train'``)."""
    return adata.obs["split"].astype(str).to_numpy() == "train"


def _dense(x) -> np.ndarray:
    return np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=float)


def most_variable_genes(
    adata: ad.AnnData, n_genes: int = 2000, path: str | os.PathLike | None = None
) -> list[str]:
    """The ``n_genes`` genes of largest variance of ``layers["log"]`` on train samples.

    Genes constant on the training samples are never selected (their correlation is
    undefined). Ties are broken by gene name, so the result is deterministic.

    Raises
    ------
    InputError
        If fewer than ``n_genes`` non-constant genes are available.
    """
    mask = train_mask(adata)
    values = _dense(adata.layers["log"][mask])
    var = np.nan_to_num(values.var(axis=0, ddof=1) if mask.sum() > 1 else np.zeros(adata.n_vars))
    names = np.asarray(adata.var_names, dtype=str)
    usable = var > 0
    if usable.sum() < n_genes:
        raise InputError(
            path,
            f"only {int(usable.sum())} genes vary on the {int(mask.sum())} training samples, "
            f"fewer than --n-genes {n_genes}; lower --n-genes",
        )
    order = np.lexsort((names, -var))  # by variance descending, then name
    return [str(g) for g in names[order[:n_genes]]]


def correlation_matrix(values: np.ndarray, method: Correlation = "spearman") -> np.ndarray:
    """Gene-gene correlation of a samples × genes matrix.

    Spearman is the Pearson correlation of per-gene ranks (average ranks for ties).
    Undefined entries (constant genes) are 0; the diagonal is 1.
    """
    values = np.asarray(values, dtype=float)
    if method == "spearman":
        values = rankdata(values, axis=0)
    elif method != "pearson":
        raise ValueError(f"unknown correlation {method!r}; use 'spearman' or 'pearson'")
    centred = values - values.mean(axis=0)
    norm = np.sqrt((centred**2).sum(axis=0))
    norm[norm == 0] = np.inf
    z = centred / norm
    corr = np.clip(z.T @ z, -1.0, 1.0)
    np.fill_diagonal(corr, 1.0)
    return corr


def gene_correlation(
    adata: ad.AnnData, genes: list[str], method: Correlation = "spearman"
) -> pd.DataFrame:
    """Correlation of ``genes`` (``layers["log"]``) over the train samples, as a DataFrame."""
    mask = train_mask(adata)
    values = _dense(adata[:, list(genes)].layers["log"])[mask]
    return pd.DataFrame(correlation_matrix(values, method), index=list(genes), columns=list(genes))


def adjacency(
    corr: np.ndarray, edges: EdgeRule = "threshold", threshold: float = 0.6, knn: int = 10
) -> np.ndarray:
    """Symmetric weighted adjacency (``|r|`` on edges, 0 elsewhere) from a correlation matrix.

    ``edges="threshold"`` keeps pairs with ``|r| >= threshold``; ``edges="knn"``
    keeps, for every gene, its ``knn`` partners of largest ``|r|`` (ties by index),
    symmetrised by union.
    """
    w = np.abs(np.asarray(corr, dtype=float))
    np.fill_diagonal(w, 0.0)
    n = w.shape[0]
    if edges == "threshold":
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        keep = w >= threshold
    elif edges == "knn":
        if knn < 1:
            raise ValueError(f"knn must be >= 1, got {knn}")
        k = min(knn, n - 1)
        keep = np.zeros_like(w, dtype=bool)
        if k > 0:
            # stable sort on -w: ties go to the lower index, deterministically
            nn = np.argsort(-w, axis=1, kind="stable")[:, :k]
            keep[np.repeat(np.arange(n), k), nn.ravel()] = True
            keep |= keep.T
    else:
        raise ValueError(f"unknown edge rule {edges!r}; use 'threshold' or 'knn'")
    return np.where(keep, w, 0.0)


def coexpression_graph(
    adata: ad.AnnData,
    n_genes: int = 2000,
    correlation: Correlation = "spearman",
    edges: EdgeRule = "threshold",
    threshold: float = 0.6,
    knn: int = 10,
    path: str | os.PathLike | None = None,
) -> ig.Graph:
    """Weighted gene co-expression graph on the training samples.

    Parameters
    ----------
    adata
        ``prepare`` AnnData (samples × genes) with ``layers["log"]`` and
        ``obs["split"]``; only ``split == "train"`` samples are used.
    n_genes
        Number of most variable genes (train variance of the log layer) to use.
    correlation
        ``"spearman"`` (default) or ``"pearson"``.
    edges
        ``"threshold"``: edge where ``|r| >= threshold``; ``"knn"``: each gene's
        ``knn`` strongest partners.
    threshold, knn
        Parameters of the edge rule.
    path
        Input file name, only used in error messages.

    Returns
    -------
    Undirected :class:`igraph.Graph` with one vertex per gene (attribute ``name``,
    in order of decreasing variance, including isolated genes) and edge attribute
    ``weight`` = ``|r|``.
    """
    genes = most_variable_genes(adata, n_genes, path=path)
    corr = gene_correlation(adata, genes, correlation).to_numpy()
    w = adjacency(corr, edges=edges, threshold=threshold, knn=knn)
    src, dst = np.nonzero(np.triu(w, k=1))
    graph = ig.Graph(n=len(genes), edges=list(zip(src.tolist(), dst.tolist(), strict=True)))
    graph.vs["name"] = genes
    graph.es["weight"] = w[src, dst].tolist()
    graph["correlation"] = correlation
    log.info(
        "co-expression network: %d genes, %d edges (%s, %s), %d isolated",
        graph.vcount(),
        graph.ecount(),
        correlation,
        f"|r| >= {threshold}" if edges == "threshold" else f"knn = {knn}",
        sum(d == 0 for d in graph.degree()),
    )
    return graph


def edge_table(graph: ig.Graph, genes: list[str] | None = None) -> pd.DataFrame:
    """Edges as a DataFrame ``gene1, gene2, weight``, restricted to edges among ``genes``.

    Rows are sorted by ``gene1, gene2`` with ``gene1 < gene2``.
    """
    names = graph.vs["name"]
    keep = None if genes is None else set(genes)
    rows = []
    for e in graph.es:
        a, b = names[e.source], names[e.target]
        if keep is not None and (a not in keep or b not in keep):
            continue
        a, b = sorted((a, b))
        rows.append((a, b, float(e["weight"])))
    table = pd.DataFrame(rows, columns=["gene1", "gene2", "weight"])
    return table.sort_values(["gene1", "gene2"], kind="stable").reset_index(drop=True)
