"""Gene co-expression network on the training samples.

The network is built from the ``prepare`` AnnData (see ``docs/outputs.md``): the
``n_genes`` most variable genes (variance of ``layers["log"]`` over the **train**
samples), their pairwise Spearman or Pearson correlation over the **train**
samples, and an undirected edge for every strongly correlated pair (``|r| >=
threshold``) or for each gene's ``k`` nearest neighbours by ``|r|``. Edge weights
are ``|r|``. Test samples are never looked at, so changing them changes nothing.
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

REQUIRED_OBS = ("label", "group", "split")


def read_expression(path: str | os.PathLike) -> ad.AnnData:
    """Read and validate the ``prepare`` AnnData; raise :class:`InputError` if unusable.

    Parameters
    ----------
    path
        ``expression.h5ad`` written by ``mpsomics prepare``.

    Returns
    -------
    The AnnData, validated with :func:`check_expression`.
    """
    if not os.path.isfile(path):
        raise InputError(path, "file not found")
    try:
        adata = ad.read_h5ad(path)
    except Exception as exc:  # h5py / anndata raise many different types
        raise InputError(path, f"not a readable AnnData .h5ad file ({type(exc).__name__}: {exc})") from None
    check_expression(adata, path)
    return adata


def check_expression(adata: ad.AnnData, path: str | os.PathLike | None = None) -> None:
    """Check the documented ``prepare`` format; raise :class:`InputError` naming ``path``.

    Requires ``layers["log"]``, ``obs`` columns ``label``, ``group`` and ``split``
    (with at least one ``train`` sample), ``uns["positive_label"]`` and exactly two
    classes among the training labels, one of which is the positive label.
    """
    if not isinstance(adata, ad.AnnData):
        raise InputError(path, "not an AnnData object")
    missing = [c for c in REQUIRED_OBS if c not in adata.obs.columns]
    if missing:
        raise InputError(
            path, f"obs is missing column(s) {', '.join(missing)}; run `mpsomics prepare` first"
        )
    if "log" not in adata.layers:
        raise InputError(path, "layers['log'] (log2 expression) is missing; run `mpsomics prepare` first")
    if "positive_label" not in adata.uns:
        raise InputError(path, "uns['positive_label'] is missing; run `mpsomics prepare` first")
    if not adata.var_names.is_unique:
        raise InputError(path, "gene names (var_names) are not unique")
    for name, values in (("X", adata.X), ("layers['log']", adata.layers["log"])):
        values = values.data if hasattr(values, "toarray") else np.asarray(values)
        if not np.isfinite(values).all():
            raise InputError(path, f"{name} contains NaN or infinite values; run `mpsomics prepare` first")
    split = adata.obs["split"].astype(str)
    bad = sorted(set(split) - {"train", "test"})
    if bad:
        raise InputError(path, f"obs['split'] must be 'train' or 'test', found {bad[:3]}")
    train = adata.obs.loc[split.values == "train"]
    if train.shape[0] == 0:
        raise InputError(path, "no sample has obs['split'] == 'train'")
    classes = sorted(set(train["label"].astype(str)))
    pos = str(adata.uns["positive_label"])
    if len(classes) != 2 or pos not in classes:
        raise InputError(
            path,
            f"training samples must have exactly two labels including the positive label {pos!r}, "
            f"found {classes}",
        )


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
