"""Classical baseline subcommunities: co-expression Leiden + differential-expression filter, top-k DE.

The comparators of the MPS subcommunities (:mod:`mpsomics.omics.subcommunities`), built
from the data alone, on the **training samples only** (``X`` is the training split;
the test split is never passed in).

Per-gene statistics (:func:`de_table`)
    ``p``: two-sided Mann-Whitney U test of positive vs negative training samples
    (scipy, asymptotic with tie correction when there are ties); ``q``: Benjamini-Hochberg
    over the community's genes; ``effect``: standardised mean difference
    ``(mean_pos - mean_neg) / pooled SD`` (pooled SD with ``n - 2`` degrees of freedom;
    0 for a gene constant in both classes at the same value, NaN when the classes are
    constant at different values); ``contrast``: the **data contrast**
    ``|mean_pos cos(pi x) - mean_neg cos(pi x)| / 2`` - the magnetization contrast
    ``|m_pos - m_neg| / 2`` of the class-averaged product states of the MPS feature map
    (phi(x) = (cos(pi x/2), sin(pi x/2)), <Z> = cos(pi x)), i.e. exactly the units of the
    MPS graph method's ``min_contrast`` gate. ``x`` is clipped to [0, 1] first (the
    feature map's domain).

``classical``: :func:`classical_subcommunities`
    1. The co-expression graph of the community as the communities stage defines it
       (:mod:`mpsomics.omics.coexpression`): Spearman r of the training samples, an
       edge where ``|r| >= threshold`` (default 0.6, the stage's default), weight
       ``|r|``. Spearman is rank-based, so the min-max scaled ``.X`` gives the same r as
       the stage's ``layers["log"]`` on the training samples (the scaling is monotone
       and fitted on them).
    2. Leiden (:func:`mpsomics.omics.subcommunities.leiden_clusters`: RBConfiguration,
       ``resolution``, ``seed``, iterated to convergence) on the genes with an edge;
       clusters of at least ``min_size`` genes.
    3. DE filter, gene by gene: a gene stays when ``q <= fdr`` and its data contrast
       ``>= min_contrast``. A cluster left with fewer than ``min_size`` genes is dropped
       (logged, as :func:`~mpsomics.omics.subcommunities.drop_low_contrast` logs the
       MPS clusters it drops). The gate is per gene, not on the cluster mean as for the
       MPS: a DE filter is a per-gene test.
    4. The remaining clusters, largest first (ties: first site), become
       ``{community}/classical1``, ``classical2``, ...; ``degree`` = edges of the gene
       inside its reported (filtered) cluster.

``top_de``
    For every MPS subcommunity S (``sizes = {id: |S|}``), the ``|S|`` genes of the
    community with the smallest ``p`` (ties: larger ``|effect|``, then the earlier site),
    no FDR gate - the size-matched "just take the most DE genes" comparator -
    ``{community}/top_de:<suffix of the MPS id>`` (``c30/graph1`` -> ``c30/top_de:graph1``);
    ``degree`` NaN.

Output columns :data:`CLASSICAL_COLUMNS` (``site`` = index in the gene list, genes of a
set in site order); the table passes :func:`mpsomics.core.readers.read_subcommunities`
and is header-only when nothing is found.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from mpsomics.core.stats import bh
from mpsomics.omics.coexpression import adjacency, correlation_matrix
from mpsomics.omics.subcommunities import cluster_degrees, leiden_clusters

log = logging.getLogger(__name__)

CLASSICAL_COLUMNS = ["gene", "subcommunity", "method", "degree", "contrast", "effect", "p", "q", "site"]
METHODS = ("classical", "top_de")
#: per-gene columns of :func:`de_table`
DE_COLUMNS = ["gene", "site", "effect", "p", "q", "contrast"]
DEFAULTS: dict[str, float | int] = {
    "threshold": 0.6,  # the communities stage's edge rule (config `communities.threshold`)
    "resolution": 1.0,
    "min_size": 3,
    "min_contrast": 0.15,  # the MPS graph method's gate (config `subcommunities.min_contrast`)
    "fdr": 0.05,
    "seed": 0,
}


def _check(X: np.ndarray, y01: np.ndarray, genes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Validated float matrix and boolean positive mask (ValueError naming the problem)."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y01)
    if X.ndim != 2 or X.shape[1] != len(genes):
        raise ValueError(f"X of shape {X.shape}: expected (n_samples, {len(genes)}) for {len(genes)} genes")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y01 of shape {y.shape}: expected ({X.shape[0]},)")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y01 must be 0 (negative) / 1 (positive)")
    pos = y.astype(bool)
    if min(pos.sum(), (~pos).sum()) < 2:
        raise ValueError(f"need >= 2 samples of each class, got {int(pos.sum())} positive, {int((~pos).sum())} negative")
    if not np.isfinite(X).all():
        raise ValueError("X has non-finite values")
    if len(set(genes)) != len(genes):
        raise ValueError("duplicated genes")
    return X, pos


def data_contrast(X: np.ndarray, y01: np.ndarray) -> np.ndarray:
    """``|mean_pos cos(pi x) - mean_neg cos(pi x)| / 2`` per column (x clipped to [0, 1]).

    The magnetization contrast of the class-averaged product states in the units of
    the MPS graph method's ``min_contrast``.
    """
    z = np.cos(np.pi * np.clip(np.asarray(X, dtype=float), 0.0, 1.0))
    pos = np.asarray(y01).astype(bool)
    return np.abs(z[pos].mean(axis=0) - z[~pos].mean(axis=0)) / 2.0


def _effect(X: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Standardised mean difference (pos - neg) / pooled SD (ddof: n - 2)."""
    a, b = X[pos], X[~pos]
    diff = a.mean(axis=0) - b.mean(axis=0)
    pooled = ((len(a) - 1) * a.var(axis=0, ddof=1) + (len(b) - 1) * b.var(axis=0, ddof=1)) / (len(X) - 2)
    sd = np.sqrt(pooled)
    out = np.full(diff.shape, np.nan)
    ok = sd > 0
    out[ok] = diff[ok] / sd[ok]
    out[~ok & (diff == 0)] = 0.0
    return out


def de_table(X: np.ndarray, y01: np.ndarray, genes: Sequence[str]) -> pd.DataFrame:
    """Per-gene differential expression on the training samples.

    Parameters
    ----------
    X
        (n_train, n_genes) prepared scaled values of the training split.
    y01
        1 = positive class, 0 = negative.
    genes
        Column names of ``X`` (the community's gene list, in site order).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`DE_COLUMNS` (``gene, site, effect, p, q, contrast``), one row per
        gene in the order of ``genes`` (RangeIndex). Definitions: module docstring.
    """
    X, pos = _check(X, y01, genes)
    p = np.ones(len(genes))
    varies = np.ptp(X, axis=0) > 0  # a constant gene has no ranks to compare: p = 1
    if varies.any():
        p[varies] = mannwhitneyu(X[pos][:, varies], X[~pos][:, varies], alternative="two-sided", axis=0).pvalue
    return pd.DataFrame(
        {
            "gene": [str(g) for g in genes],
            "site": np.arange(len(genes)),
            "effect": _effect(X, pos),
            "p": p,
            "q": bh(p),
            "contrast": data_contrast(X, pos),
        },
        columns=DE_COLUMNS,
    )


def coexpression_clusters(
    X: np.ndarray, *, threshold: float, resolution: float, seed: int, min_size: int
) -> tuple[list[list[int]], np.ndarray, np.ndarray]:
    """Leiden clusters of the training co-expression graph (Spearman ``|r| >= threshold``).

    Returns
    -------
    tuple
        ``(clusters, ei, ej)``: clusters as sorted site indices (largest first) and the
        edge list (site indices, ``ei < ej``).
    """
    w = adjacency(correlation_matrix(X, "spearman"), edges="threshold", threshold=threshold)
    ei, ej = np.nonzero(np.triu(w, k=1))
    clusters = leiden_clusters(ei, ej, w[ei, ej], resolution=resolution, seed=seed, min_size=min_size)
    return clusters, ei, ej


def _de_filter(
    clusters: list[list[int]], de: pd.DataFrame, genes: Sequence[str], *, fdr: float, min_contrast: float,
    min_size: int,
) -> list[list[int]]:
    """Keep the genes with ``q <= fdr`` and contrast ``>= min_contrast``; drop clusters < min_size."""
    passes = (de["q"].to_numpy() <= fdr) & (de["contrast"].to_numpy() >= min_contrast)
    kept = []
    for cl in clusters:
        sub = [i for i in cl if passes[i]]
        if len(sub) >= min_size:
            kept.append(sub)
        else:
            log.info(
                "classical: co-expression cluster of %d genes (%s%s) dropped: %d pass the DE filter "
                "(q <= %g, contrast >= %g) < min_size %d",
                len(cl), ", ".join(genes[i] for i in cl[:4]), ", ..." if len(cl) > 4 else "", len(sub),
                fdr, min_contrast, min_size,
            )
    kept.sort(key=lambda c: (-len(c), c[0]))
    return kept


def top_de_sets(de: pd.DataFrame, sizes: Mapping[str, int]) -> list[tuple[str, list[int]]]:
    """``(suffix, sites)`` of the size-matched top-DE sets, in the order of ``sizes``.

    The ``|S|`` genes of smallest ``p`` (ties: larger ``|effect|``, then earlier site);
    ``suffix`` is the MPS id after its last ``/`` (``c30/graph1`` -> ``graph1``).
    """
    order = np.lexsort((de["site"].to_numpy(), -np.nan_to_num(de["effect"].abs().to_numpy()), de["p"].to_numpy()))
    out = []
    for sid, size in sizes.items():
        size = int(size)
        if not 1 <= size <= len(de):
            raise ValueError(f"size {size} of subcommunity {sid!r} outside 1..{len(de)} (the community's genes)")
        out.append((str(sid).rsplit("/", 1)[-1], sorted(int(i) for i in order[:size])))
    return out


def _rows(
    community: str, method: str, sets: Sequence[tuple[str, list[int]]], de: pd.DataFrame, degree: dict[str, int] | None
) -> list[dict[str, object]]:
    rows = []
    for suffix, sites in sets:
        for i in sites:
            r = de.iloc[i]
            rows.append({
                "gene": r["gene"], "subcommunity": f"{community}/{suffix}", "method": method,
                "degree": float("nan") if degree is None else int(degree.get(r["gene"], 0)),
                "contrast": float(r["contrast"]), "effect": float(r["effect"]), "p": float(r["p"]),
                "q": float(r["q"]), "site": int(i),
            })
    return rows


def classical_subcommunities(
    X: np.ndarray,
    y01: np.ndarray,
    genes: Sequence[str],
    community: str,
    *,
    threshold: float = 0.6,
    resolution: float = 1.0,
    min_size: int = 3,
    min_contrast: float = 0.15,
    fdr: float = 0.05,
    seed: int = 0,
    sizes: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Classical and size-matched top-DE subcommunities of one community (module docstring).

    Parameters
    ----------
    X
        (n_train, n_genes) prepared scaled values of the **training** split.
    y01
        1 = positive class, 0 = negative.
    genes
        The community's gene list (site order).
    community
        Community id, prefix of the subcommunity ids.
    threshold
        Edge rule of the co-expression graph: Spearman ``|r| >= threshold``.
    resolution, seed
        Leiden (RBConfiguration) resolution and seed.
    min_size
        Smallest reported classical cluster (before and after the DE filter).
    min_contrast, fdr
        DE filter: a gene stays when ``q <= fdr`` and data contrast ``>= min_contrast``.
    sizes
        ``{MPS subcommunity id: size}``: one ``top_de`` set per entry; ``None`` or
        empty = no ``top_de`` rows.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CLASSICAL_COLUMNS`: the ``classical`` sets, then the ``top_de``
        sets; header-only when nothing is found.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if min_size < 1:
        raise ValueError(f"min_size must be >= 1, got {min_size}")
    de = de_table(X, y01, genes)
    X = np.asarray(X, dtype=float)
    clusters, ei, ej = coexpression_clusters(X, threshold=threshold, resolution=resolution, seed=seed,
                                             min_size=min_size)
    kept = _de_filter(clusters, de, genes, fdr=fdr, min_contrast=min_contrast, min_size=min_size)
    rows = _rows(community, "classical", [(f"classical{k + 1}", cl) for k, cl in enumerate(kept)], de,
                 cluster_degrees(kept, list(map(str, genes)), ei, ej))
    if sizes:
        rows += _rows(community, "top_de", [(f"top_de:{s}", cl) for s, cl in top_de_sets(de, sizes)], de, None)
    log.info(
        "%s: %d co-expression clusters (|r| >= %g), %d pass the DE filter; %d top_de sets",
        community, len(clusters), threshold, len(kept), len(sizes or {}),
    )
    table = pd.DataFrame(rows, columns=CLASSICAL_COLUMNS)
    return table.astype({"degree": float, "contrast": float, "effect": float, "p": float, "q": float})
