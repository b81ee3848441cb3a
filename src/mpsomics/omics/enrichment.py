"""Offline over-representation analysis (ORA) of communities and subcommunities.

Statistics
----------
For a query gene list Q, a background B (all genes that entered the co-expression
network) and a gene set T, the p-value is the one-sided hypergeometric tail
``P(X >= |Q∩T|)`` with population ``|B|``, ``|T∩B|`` successes and ``|Q∩B|`` draws
(identical to Fisher's exact test, greater; and to ``gseapy.enrich``, which a test
cross-checks). Before testing, every set is intersected with the background and
kept only if ``min_set_size <= |T∩B| <= max_set_size``.

Benjamini–Hochberg FDR is applied **within each (gene list, library) family**: one
family per query list (the community, or one subcommunity) and per library, made
of *all* size-filtered sets of that library — including sets without any query
gene (p = 1). Including them is the conservative, data-independent choice (Enrichr
and gseapy only count sets with >= 1 hit, which gives smaller FDRs). Output rows are
written only for sets with at least one query gene.

The odds ratio is the Haldane–Anscombe corrected sample odds ratio (+0.5 in every
cell), the same estimator gseapy >= 1.1 reports.

Gene symbols are matched case-insensitively (GMT files and expression tables
disagree on e.g. ``C1orf112`` vs ``C1ORF112``); reported genes use the spelling of
the query list.

Nothing here touches the network except :func:`fetch_enrichr_libraries`, which is
called only in the explicit ``--online`` mode.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import hypergeom

from mpsomics.core.errors import InputError
from mpsomics.core.readers import read_gene_list, read_prepared

log = logging.getLogger(__name__)

#: Column order of ``results/enrichment/{community}.tsv`` (docs/outputs.md).
COLUMNS = [
    "set",
    "level",
    "library",
    "term",
    "overlap",
    "p_value",
    "fdr",
    "odds_ratio",
    "genes",
    "significant",
    "new",
]

#: The same rows under gseapy's column names (``gseapy.enrich``/``enrichr`` results),
#: after :data:`COLUMNS`, so ``gseapy.dotplot``/``barplot``/``enrichment_map`` read
#: the table as it is: ``Gene_set`` = ``library``, ``Term`` = ``term``, ``Overlap`` =
#: ``"overlap/set size"`` (set size within the background), ``P-value`` = ``p_value``,
#: ``Adjusted P-value`` = ``fdr``, ``Odds Ratio`` = ``odds_ratio``, ``Combined
#: Score`` = −ln(p) × odds ratio (gseapy's definition), ``Genes`` = ``genes``.
GSEAPY_COLUMNS = [
    "Gene_set",
    "Term",
    "Overlap",
    "P-value",
    "Adjusted P-value",
    "Odds Ratio",
    "Combined Score",
    "Genes",
]

#: Every column of ``results/enrichment/{community}.tsv``.
OUTPUT_COLUMNS = COLUMNS + GSEAPY_COLUMNS

#: Enrichr server probed (short timeout) before any online request.
ENRICHR_HOST = "maayanlab.cloud"
ENRICHR_PORT = 443

#: Enrichr libraries used by ``--online`` when none are named.
DEFAULT_ONLINE_LIBRARIES = (
    "GO_Biological_Process_2023",
    "Reactome_2022",
    "MSigDB_Hallmark_2020",
    "WikiPathway_2023_Human",
)


@dataclass(frozen=True)
class EnrichmentParams:
    """Thresholds of the analysis.

    Attributes
    ----------
    fdr
        A term is significant when its BH-adjusted p-value is ``<= fdr``.
    min_set_size, max_set_size
        Size window of a gene set *after* intersecting it with the background.
    """

    fdr: float = 0.05
    min_set_size: int = 5
    max_set_size: int = 500

    def validate(self) -> EnrichmentParams:
        if not 0 < self.fdr <= 1:
            raise InputError(None, f"--fdr must be in (0, 1], got {self.fdr}")
        if self.min_set_size < 1 or self.max_set_size < self.min_set_size:
            raise InputError(
                None,
                f"set size window must satisfy 1 <= min <= max, got min={self.min_set_size} max={self.max_set_size}",
            )
        return self


class Background:
    """The gene universe of the test, matched case-insensitively.

    Parameters
    ----------
    genes
        Gene symbols (duplicates ignored).
    """

    def __init__(self, genes: Iterable[str]) -> None:
        keys: dict[str, str] = {}
        for g in genes:
            g = str(g).strip()
            if g:
                keys.setdefault(g.upper(), g)
        self._keys = keys

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, gene: str) -> bool:
        return str(gene).upper() in self._keys

    @property
    def keys(self) -> set[str]:
        """Upper-case symbols."""
        return set(self._keys)


@dataclass
class PreparedLibrary:
    """A library intersected with a background and size-filtered, ready to test.

    Attributes
    ----------
    name
        Library label written to the ``library`` column.
    terms
        Term names of the kept sets.
    sizes
        ``|T ∩ B|`` of every kept set.
    index
        Upper-case gene -> indices (into ``terms``) of the kept sets containing it.
    background
        Upper-case background genes (unannotated ones still count as draws).
    n_dropped
        Sets removed by the size filter.
    """

    name: str
    terms: list[str]
    sizes: np.ndarray
    index: dict[str, np.ndarray]
    background: frozenset[str]
    n_dropped: int

    @property
    def n_background(self) -> int:
        return len(self.background)


def prepare_library(
    name: str, sets: Mapping[str, Sequence[str]], background: Background, params: EnrichmentParams
) -> PreparedLibrary:
    """Intersect every set with the background and apply the size filter.

    Parameters
    ----------
    name
        Library label.
    sets
        Term -> genes (e.g. :attr:`mpsomics.core.gmt.GeneSetLibrary.sets`).
    background
        The test universe.
    params
        Size window.

    Returns
    -------
    PreparedLibrary
    """
    bg = background.keys
    terms: list[str] = []
    sizes: list[int] = []
    members: dict[str, list[int]] = {}
    dropped = 0
    for term, genes in sets.items():
        kept = {g.upper() for g in genes} & bg
        if not params.min_set_size <= len(kept) <= params.max_set_size:
            dropped += 1
            continue
        t = len(terms)
        terms.append(term)
        sizes.append(len(kept))
        for g in kept:
            members.setdefault(g, []).append(t)
    return PreparedLibrary(
        name=name,
        terms=terms,
        sizes=np.asarray(sizes, dtype=np.int64),
        index={g: np.asarray(v, dtype=np.int64) for g, v in members.items()},
        background=frozenset(bg),
        n_dropped=dropped,
    )


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (step-up, monotone, capped at 1).

    Parameters
    ----------
    p
        Raw p-values of one test family.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values in the input order.
    """
    p = np.asarray(p, dtype=float)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="mergesort")
    ranked = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def ora(query: Sequence[str], library: PreparedLibrary, fdr: float = 0.05) -> pd.DataFrame:
    """Hypergeometric over-representation test of one gene list against one library.

    Parameters
    ----------
    query
        Gene symbols; those outside the background are ignored (they cannot be
        drawn from the universe).
    library
        Output of :func:`prepare_library`.
    fdr
        Significance threshold on the BH-adjusted p-value.

    Returns
    -------
    pandas.DataFrame
        Columns ``library, term, overlap, set_size, query_size, p_value, fdr,
        odds_ratio, genes, significant``; one row per set with ``overlap >= 1``,
        sorted by p-value. BH is computed over all sets of ``library``.
    """
    cols = ["library", "term", "overlap", "set_size", "query_size", "p_value", "fdr", "odds_ratio", "genes", "significant"]
    overlap, hits, k = term_overlaps(query, library)
    if len(library.terms) == 0 or k == 0:
        return pd.DataFrame(columns=cols)
    p, q, odds = hypergeometric_test(overlap, library.sizes, library.n_background, k)
    sel = np.flatnonzero(overlap > 0)
    df = pd.DataFrame(
        {
            "library": library.name,
            "term": [library.terms[i] for i in sel],
            "overlap": overlap[sel],
            "set_size": library.sizes[sel],
            "query_size": k,
            "p_value": p[sel],
            "fdr": q[sel],
            "odds_ratio": odds[sel],
            "genes": [";".join(hits[i]) for i in sel],
            "significant": q[sel] <= fdr,
        },
        columns=cols,
    )
    return df.sort_values(["p_value", "term"], kind="mergesort").reset_index(drop=True)


def term_overlaps(
    query: Sequence[str], library: PreparedLibrary
) -> tuple[np.ndarray, dict[int, list[str]], int]:
    """Overlap of the query with every set of ``library`` (case-insensitive symbols).

    Parameters
    ----------
    query
        Gene symbols (duplicates and case variants count once; the first spelling
        is the one reported).
    library
        Output of :func:`prepare_library`.

    Returns
    -------
    tuple
        ``(overlap, hits, k)``: overlap count per term, term index -> query genes
        in it (query spelling, query order), and the query size ``k`` = query
        genes in the background (annotated or not).
    """
    seen: dict[str, str] = {}  # upper-case key -> spelling of the query
    for g in query:
        seen.setdefault(str(g).upper(), str(g))
    # Query size counts every query gene in the background, not only annotated ones.
    q_in_bg = [key for key in seen if key in library.background]
    overlap = np.zeros(len(library.terms), dtype=np.int64)
    hits: dict[int, list[str]] = {}
    for key in q_in_bg:
        idx = library.index.get(key)
        if idx is None:
            continue
        overlap[idx] += 1
        for t in idx.tolist():
            hits.setdefault(t, []).append(seen[key])
    return overlap, hits, len(q_in_bg)


def hypergeometric_test(
    overlap: np.ndarray, set_sizes: np.ndarray, n_background: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-sided hypergeometric p-values, BH FDR and Haldane-corrected odds ratios.

    Parameters
    ----------
    overlap
        Query genes in each set.
    set_sizes
        Set sizes within the background.
    n_background
        Universe size.
    k
        Query size within the background.

    Returns
    -------
    tuple
        ``(p, fdr, odds)`` per set; ``p = P(X >= overlap)`` (exactly 1 for an
        overlap of 0); BH over all sets.
    """
    m = set_sizes
    # sf(x-1) = P(X >= x); for x = 0 this is exactly 1.
    p = np.where(overlap > 0, hypergeom.sf(overlap - 1, n_background, m, k), 1.0)
    p = np.clip(p, 0.0, 1.0)
    q = benjamini_hochberg(p)
    a, b, c = overlap, m - overlap, k - overlap
    d = n_background - m - k + overlap
    # +0.5 on every cell (Haldane-Anscombe): finite odds for an empty cell.
    odds = ((a + 0.5) * (d + 0.5)) / ((b + 0.5) * (c + 0.5))
    return p, q, odds


def flag_new(df: pd.DataFrame) -> pd.Series:
    """The paper's "new" terms: significant in a subcommunity, not in its parent.

    Parameters
    ----------
    df
        Rows with columns ``level``, ``library``, ``term``, ``significant`` for one
        community (``level == "community"``) and its subcommunities.

    Returns
    -------
    pandas.Series of bool aligned with ``df``. Community rows are never new.
    """
    if df.empty:
        return pd.Series([], dtype=bool, index=df.index)
    parent = df[(df["level"] == "community") & df["significant"].astype(bool)]
    parent_keys = set(zip(parent["library"], parent["term"], strict=True))
    is_sub = df["level"] == "subcommunity"
    in_parent = pd.Series(
        [(lib, t) in parent_keys for lib, t in zip(df["library"], df["term"], strict=True)], index=df.index
    )
    return (is_sub & df["significant"].astype(bool) & ~in_parent).astype(bool)


def run_enrichment(
    community: str,
    community_genes: Sequence[str],
    subcommunities: Mapping[str, Sequence[str]],
    libraries: Mapping[str, Mapping[str, Sequence[str]]],
    background: Background,
    params: EnrichmentParams | None = None,
) -> pd.DataFrame:
    """ORA of a community and each of its subcommunities against every library.

    Parameters
    ----------
    community
        Community id (the ``set`` of community-level rows).
    community_genes
        All genes of the community (the baseline list).
    subcommunities
        Subcommunity id -> genes.
    libraries
        Library label -> (term -> genes).
    background
        Universe: all genes that entered the co-expression network.
    params
        Thresholds.

    Returns
    -------
    pandas.DataFrame with :data:`OUTPUT_COLUMNS`, community rows first, then subcommunities
    in the given order; within a (set, library) block sorted by p-value.
    """
    params = (params or EnrichmentParams()).validate()
    prepared = [_prepare_and_report(name, sets, background, params) for name, sets in libraries.items()]
    lists: list[tuple[str, str, Sequence[str]]] = [(community, "community", community_genes)]
    lists += [(sid, "subcommunity", genes) for sid, genes in subcommunities.items()]
    frames = []
    for set_id, level, genes in lists:
        outside = [g for g in genes if g not in background]
        if outside:
            log.warning("%s: %d of %d genes are not in the background and are ignored: %s",
                        set_id, len(outside), len(genes), ", ".join(outside[:10]))
        for lib in prepared:
            res = ora(genes, lib, params.fdr)
            if res.empty:
                continue
            res.insert(0, "level", level)
            res.insert(0, "set", set_id)
            frames.append(res)
    if not frames:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    out["new"] = flag_new(out)
    return with_gseapy_columns(out)[OUTPUT_COLUMNS]


def with_gseapy_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Add :data:`GSEAPY_COLUMNS` to rows with ``library, term, overlap, set_size,
    p_value, fdr, odds_ratio, genes`` (the output of :func:`ora`)."""
    out = table.copy()
    out["Gene_set"] = out["library"]
    out["Term"] = out["term"]
    out["Overlap"] = [f"{int(k)}/{int(n)}" for k, n in zip(out["overlap"], out["set_size"], strict=True)]
    out["P-value"] = out["p_value"].astype(float)
    out["Adjusted P-value"] = out["fdr"].astype(float)
    out["Odds Ratio"] = out["odds_ratio"].astype(float)
    with np.errstate(divide="ignore"):
        out["Combined Score"] = -np.log(out["P-value"].clip(lower=np.finfo(float).tiny)) * out["Odds Ratio"]
    out["Genes"] = out["genes"]
    return out


def _prepare_and_report(
    name: str, sets: Mapping[str, Sequence[str]], background: Background, params: EnrichmentParams
) -> PreparedLibrary:
    """:func:`prepare_library`, logging how many sets are tested and warning when none is."""
    lib = prepare_library(name, sets, background, params)
    log.info(
        "library %s: %d sets tested, %d outside the size window [%d, %d] after intersecting with %d background genes",
        name, len(lib.terms), lib.n_dropped, params.min_set_size, params.max_set_size, len(background),
    )
    if not lib.terms:
        # Almost always an identifier mismatch (Ensembl IDs vs symbols), not biology.
        log.warning(
            "library %s: no gene set has %d-%d genes in the background; do the background genes use the "
            "same identifiers (HGNC symbols) as the library?", name, params.min_set_size, params.max_set_size,
        )
    return lib


# --------------------------------------------------------------------------- inputs


def read_background(expression: str | os.PathLike | None = None, genes_file: str | os.PathLike | None = None) -> Background:
    """The test universe: ``var_names`` of the prepared AnnData, or a gene list file.

    Parameters
    ----------
    expression
        ``results/prepared/expression.h5ad`` (read with
        :func:`~mpsomics.core.readers.read_prepared`): every gene it holds entered
        the co-expression network.
    genes_file
        Alternative: a gene list (:func:`~mpsomics.core.readers.read_gene_list`).

    Raises
    ------
    InputError
        If neither or both are given, or the file breaks its reader's rules.
    """
    if (expression is None) == (genes_file is None):
        raise InputError(None, "give exactly one of --expression (prepared .h5ad) or --background (gene list)")
    if genes_file is not None:
        return Background(read_gene_list(genes_file))
    return Background(list(read_prepared(expression).var_names))


# --------------------------------------------------------------------------- online


def fetch_enrichr_libraries(names: Sequence[str], timeout: float = 5.0) -> dict[str, dict[str, list[str]]]:
    """Download Enrichr libraries (only in explicit online mode).

    The library content is tested locally with the same background and statistics
    as the bundled GMTs, so online and offline rows are comparable (Enrichr's own
    results use its own universe).

    Parameters
    ----------
    names
        Enrichr library names, e.g. ``GO_Biological_Process_2023``.
    timeout
        Seconds allowed for the reachability probe.

    Raises
    ------
    InputError
        ``enrichment.online is true but the Enrichr server is unreachable: ...`` when
        the server cannot be reached or a download fails.
    """
    prefix = "enrichment.online is true but the Enrichr server is unreachable"
    # gseapy's own requests have no timeout: probe first so a missing network
    # fails in seconds instead of hanging a cluster job.
    try:
        with socket.create_connection((ENRICHR_HOST, ENRICHR_PORT), timeout=timeout):
            pass
    except OSError as exc:
        raise InputError(None, f"{prefix}: {ENRICHR_HOST}:{ENRICHR_PORT}: {exc}") from None
    import gseapy

    out: dict[str, dict[str, list[str]]] = {}
    for name in names:
        try:
            out[name] = {k: list(v) for k, v in gseapy.get_library(name=name, organism="Human").items()}
        except Exception as exc:  # noqa: BLE001 - any transport/library error is one user-facing line
            raise InputError(None, f"{prefix}: downloading library {name!r} failed: {exc}") from None
    return out
