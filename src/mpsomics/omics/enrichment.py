"""Offline over-representation analysis (ORA) of communities and subcommunities.

Universe
--------
A community can only consist of genes of the co-expression network, so the universe
(background) of every test is the network's genes: ``--universe
results/communities/network.tsv`` (the genes of its ``gene1``/``gene2`` columns = the
genes of every kept community, :func:`read_universe`; a plain gene list is accepted
too). Testing against every prepared gene instead (``--expression``, the former
default) counts the ~85 % of genes that could never have been drawn and inflates the
significance of any community: of 100 random 30-gene lists drawn from the network
genes, far more reach a significant term against all prepared genes than against the
network genes (``docs/outputs.md``).

Statistics
----------
For a query gene list Q, a universe U and a gene set T, the p-value is the one-sided
hypergeometric tail ``P(X >= |Q∩T|)`` with population ``|U|``, ``|T∩U|`` successes and
``|Q∩U|`` draws (identical to Fisher's exact test, greater; and to ``gseapy.enrich``,
which a test cross-checks). Before testing, every set is intersected with the universe
and kept only if ``min_set_size <= |T∩U| <= max_set_size``.

Within the parent (subcommunities only): the subcommunity S is tested against its
parent community P as the universe: population ``|P|``, ``|T∩P|`` successes, ``|S∩P|``
draws, overlap ``|S∩T|`` (columns ``term_in_parent``, ``p_within_parent``,
``fdr_within_parent``, ``significant_within_parent``; ``parent_size`` = |P|). This asks
whether the subcommunity carries more of the term than a random subset of its parent
of the same size - the question behind "new in a subcommunity" - instead of comparing
two tests against the whole universe. A term is tested within the parent when it
passes the size filter above and has ``|T∩P| >= min_parent_overlap`` (default 3: with
fewer parent genes no subcommunity can reach a small p; the filter depends on the
parent only, not on the subcommunity, so it does not bias the test).

Benjamini–Hochberg families (per job = one community with its subcommunities):

* ``fdr`` (universe test): per library, over all gene lists of the job (the community
  and each subcommunity) x all size-filtered sets of that library, including sets
  without any query gene (p = 1; the conservative, data-independent choice - Enrichr
  and gseapy only count sets with >= 1 hit);
* ``fdr_within_parent``: per library, over all subcommunities of the job x the sets
  tested within the parent (including those without a subcommunity gene, p = 1).

``significant`` = ``fdr <= fdr``; ``significant_within_parent`` = ``fdr_within_parent
<= fdr``. A subcommunity term is **new** when it is significant within the parent and
the community itself is *not* significant for it against the universe (a term that is
already a community term is only localised by the subcommunity, not new). Output rows
are written only for sets with at least one query gene; the within-parent columns are
empty on community rows and on subcommunity rows of terms not tested within the parent.

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

#: The universe of ``p_value`` and the within-parent test (module docstring), after the
#: gseapy columns so that the earlier columns keep their positions.
UNIVERSE_COLUMNS = [
    "universe",
    "universe_size",
    "parent_size",
    "term_in_parent",
    "p_within_parent",
    "fdr_within_parent",
    "significant_within_parent",
]

#: Every column of ``results/enrichment/{community}.tsv``.
OUTPUT_COLUMNS = COLUMNS + GSEAPY_COLUMNS + UNIVERSE_COLUMNS

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
    min_parent_overlap
        Fewest genes of the parent community a set needs to be tested within the parent.
    """

    fdr: float = 0.05
    min_set_size: int = 5
    max_set_size: int = 500
    min_parent_overlap: int = 3

    def validate(self) -> EnrichmentParams:
        if not 0 < self.fdr <= 1:
            raise InputError(None, f"--fdr must be in (0, 1], got {self.fdr}")
        if self.min_parent_overlap < 1:
            raise InputError(None, f"--min-parent-overlap must be >= 1, got {self.min_parent_overlap}")
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
    source
        Where the universe comes from (the ``universe`` column): ``network`` (the genes
        of ``network.tsv``), ``genes`` (a gene list) or ``expression`` (every prepared gene).
    """

    def __init__(self, genes: Iterable[str], source: str = "genes") -> None:
        keys: dict[str, str] = {}
        for g in genes:
            g = str(g).strip()
            if g:
                keys.setdefault(g.upper(), g)
        self._keys = keys
        self.source = source

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
    p, odds = hypergeometric_p(overlap, set_sizes, n_background, k)
    return p, benjamini_hochberg(p), odds


def hypergeometric_p(
    overlap: np.ndarray, set_sizes: np.ndarray, n_background: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(p, odds)`` of :func:`hypergeometric_test` without the BH step."""
    overlap, m = np.asarray(overlap), np.asarray(set_sizes)
    # sf(x-1) = P(X >= x); for x = 0 this is exactly 1.
    p = np.where(overlap > 0, hypergeom.sf(overlap - 1, n_background, m, k), 1.0)
    p = np.clip(p, 0.0, 1.0)
    a, b, c = overlap, m - overlap, k - overlap
    d = n_background - m - k + overlap
    # +0.5 on every cell (Haldane-Anscombe): finite odds for an empty cell.
    odds = ((a + 0.5) * (d + 0.5)) / ((b + 0.5) * (c + 0.5))
    return p, odds


def flag_new(df: pd.DataFrame) -> pd.Series:
    """"New" subcommunity terms: significant within the parent, not a community term.

    Parameters
    ----------
    df
        Rows with columns ``level``, ``library``, ``term``, ``significant`` and
        ``significant_within_parent`` for one community (``level == "community"``)
        and its subcommunities.

    Returns
    -------
    pandas.Series of bool aligned with ``df``: a subcommunity row whose term is
    significant within the parent (``significant_within_parent``) while the community
    row of the same library and term is not significant against the universe (or
    absent). Community rows are never new.
    """
    if df.empty:
        return pd.Series([], dtype=bool, index=df.index)
    parent = df[(df["level"] == "community") & df["significant"].astype(bool)]
    parent_keys = set(zip(parent["library"], parent["term"], strict=True))
    is_sub = df["level"] == "subcommunity"
    in_parent = pd.Series(
        [(lib, t) in parent_keys for lib, t in zip(df["library"], df["term"], strict=True)], index=df.index
    )
    within = df["significant_within_parent"].eq(True)  # missing = not tested
    return (is_sub & within & ~in_parent).astype(bool)


@dataclass
class _Block:
    """One gene list tested against one library (before the BH step of its family)."""

    set_id: str
    level: str
    overlap: np.ndarray
    hits: dict[int, list[str]]
    k: int
    p: np.ndarray
    odds: np.ndarray
    q: np.ndarray | None = None
    # within the parent (subcommunities only)
    p_parent: np.ndarray | None = None
    q_parent: np.ndarray | None = None


def _keys(genes: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(str(g).upper() for g in genes))


def _test_library(
    lib: PreparedLibrary,
    lists: Sequence[tuple[str, str, Sequence[str]]],
    parent: Sequence[str],
    params: EnrichmentParams,
) -> tuple[list[_Block], np.ndarray, np.ndarray]:
    """Every list against one library: the universe test and (subcommunities) the
    within-parent test, each BH-adjusted over its family (module docstring).

    Returns the blocks, ``|T∩P|`` per term and the mask of terms tested within the parent.
    """
    blocks = []
    for set_id, level, genes in lists:
        overlap, hits, k = term_overlaps(genes, lib)
        p, odds = hypergeometric_p(overlap, lib.sizes, lib.n_background, k)
        blocks.append(_Block(set_id, level, overlap, hits, k, p, odds))
    if blocks and len(lib.terms):
        q = benjamini_hochberg(np.concatenate([b.p for b in blocks]))
        for b, part in zip(blocks, np.split(q, len(blocks)), strict=True):
            b.q = part
    in_parent, _, n_parent = term_overlaps(parent, lib)
    tested = in_parent >= params.min_parent_overlap
    parent_keys = set(_keys(parent))
    subs = [b for b in blocks if b.level == "subcommunity"]
    for b, (_, _, genes) in zip(blocks, lists, strict=True):
        if b.level != "subcommunity":
            continue
        inside = [g for g in genes if str(g).upper() in parent_keys]
        x, _, k = term_overlaps(inside, lib)
        p = np.full(len(lib.terms), np.nan)
        if k and n_parent:
            p[tested], _ = hypergeometric_p(x[tested], in_parent[tested], n_parent, k)
        b.p_parent = p
    if subs and tested.any():
        flat = np.concatenate([b.p_parent[tested] for b in subs])
        q = np.split(benjamini_hochberg(flat), len(subs))
        for b, part in zip(subs, q, strict=True):
            b.q_parent = np.full(len(lib.terms), np.nan)
            b.q_parent[tested] = part
    return blocks, in_parent, tested


def _rows(lib: PreparedLibrary, b: _Block, in_parent: np.ndarray, n_parent: int,
          background: Background, fdr: float) -> pd.DataFrame:
    """Output rows (terms with >= 1 query gene) of one block, sorted by p-value."""
    sel = np.flatnonzero(b.overlap > 0)
    sub = b.level == "subcommunity"
    nan = np.full(sel.size, np.nan)
    p_par = b.p_parent[sel] if sub and b.p_parent is not None else nan
    q_par = b.q_parent[sel] if sub and b.q_parent is not None else nan
    df = pd.DataFrame(
        {
            "set": b.set_id,
            "level": b.level,
            "library": lib.name,
            "term": [lib.terms[i] for i in sel],
            "overlap": b.overlap[sel],
            "set_size": lib.sizes[sel],
            "query_size": b.k,
            "p_value": b.p[sel],
            "fdr": b.q[sel],
            "odds_ratio": b.odds[sel],
            "genes": [";".join(b.hits[i]) for i in sel],
            "significant": b.q[sel] <= fdr,
            "universe": background.source,
            "universe_size": len(background),
            "parent_size": n_parent if sub else np.nan,
            "term_in_parent": in_parent[sel] if sub else nan,
            "p_within_parent": p_par,
            "fdr_within_parent": q_par,
            "significant_within_parent": np.nan_to_num(q_par, nan=np.inf) <= fdr,
        }
    )
    return df.sort_values(["p_value", "term"], kind="mergesort").reset_index(drop=True)


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
        All genes of the community: the baseline list and the universe of the
        within-parent test of its subcommunities.
    subcommunities
        Subcommunity id -> genes (genes outside the community are left out of the
        within-parent test, with a warning).
    libraries
        Library label -> (term -> genes).
    background
        Universe: the genes of the co-expression network (:func:`read_universe`).
    params
        Thresholds.

    Returns
    -------
    pandas.DataFrame with :data:`OUTPUT_COLUMNS`, community rows first, then subcommunities
    in the given order; within a set, libraries in the given order; within a (set, library)
    block sorted by p-value.
    """
    params = (params or EnrichmentParams()).validate()
    prepared = [_prepare_and_report(name, sets, background, params) for name, sets in libraries.items()]
    lists: list[tuple[str, str, Sequence[str]]] = [(community, "community", community_genes)]
    lists += [(sid, "subcommunity", genes) for sid, genes in subcommunities.items()]
    for set_id, _, genes in lists:
        outside = [g for g in genes if g not in background]
        if outside:
            log.warning("%s: %d of %d genes are not in the background and are ignored: %s",
                        set_id, len(outside), len(genes), ", ".join(outside[:10]))
    parent = [g for g in community_genes if g in background]
    parent_keys = set(_keys(parent))
    for sid, genes in subcommunities.items():
        foreign = [g for g in genes if g in background and str(g).upper() not in parent_keys]
        if foreign:
            log.warning("%s: %d genes are not in community %s and are left out of the within-parent "
                        "test: %s", sid, len(foreign), community, ", ".join(foreign[:10]))
    n_parent = len(parent_keys)
    frames: dict[tuple[int, int], pd.DataFrame] = {}
    for j, lib in enumerate(prepared):
        blocks, in_parent, _ = _test_library(lib, lists, parent, params)
        for i, b in enumerate(blocks):
            if b.q is not None and (b.overlap > 0).any():
                frames[(i, j)] = _rows(lib, b, in_parent, n_parent, background, params.fdr)
    if not frames:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)
    out = pd.concat([frames[key] for key in sorted(frames)], ignore_index=True)
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


def read_universe(path: str | os.PathLike) -> Background:
    """The universe of the test from ``results/communities/network.tsv`` or a gene list.

    A tab-separated table with ``gene1`` and ``gene2`` columns (the network's edge
    list, :func:`~mpsomics.core.readers.read_tsv`) gives the genes of its edges
    (``source`` ``"network"``: every gene of a kept community, the genes any community
    could have been made of); any other file is read as a gene list
    (:func:`~mpsomics.core.readers.read_gene_list`, ``source`` ``"genes"``).

    Raises
    ------
    InputError
        The file breaks its reader's rules, or the edge table has no edge.
    """
    from mpsomics.core.readers import read_text, read_tsv

    text = read_text(path, strict=True, allow_empty=True)
    header = next((line for line in text.splitlines() if line.strip() and not line.startswith("#")), "")
    fields = [f.strip() for f in header.split("\t")]
    if "gene1" in fields and "gene2" in fields:
        # parse the text already read: a pipe (`--universe <(...)`) cannot be read twice
        edges = read_tsv(path, ("gene1", "gene2"), text=("gene1", "gene2"), complete=("gene1", "gene2"),
                         content=text)
        if edges.empty:
            raise InputError(path, "the network has no edge: no universe to test against")
        genes = pd.unique(edges[["gene1", "gene2"]].to_numpy().ravel())
        return Background(genes, source="network")
    return Background(read_gene_list(path, content=text), source="genes")


def read_background(
    expression: str | os.PathLike | None = None,
    genes_file: str | os.PathLike | None = None,
    universe: str | os.PathLike | None = None,
) -> Background:
    """The test universe: exactly one of three sources.

    Parameters
    ----------
    expression
        ``results/prepared/expression.h5ad`` (read with
        :func:`~mpsomics.core.readers.read_prepared`): every prepared gene (``source``
        ``"expression"``). Too wide for communities, which come from the network genes
        only; kept for gene lists that were not made by the pipeline.
    genes_file
        A gene list (:func:`~mpsomics.core.readers.read_gene_list`).
    universe
        ``network.tsv`` or a gene list (:func:`read_universe`): the right universe for
        communities and subcommunities.

    Raises
    ------
    InputError
        If not exactly one is given, or the file breaks its reader's rules.
    """
    given = [x is not None for x in (expression, genes_file, universe)]
    if sum(given) != 1:
        raise InputError(
            None,
            "give exactly one of --universe (network.tsv or gene list), --background (gene list) or "
            "--expression (prepared .h5ad)",
        )
    if universe is not None:
        return read_universe(universe)
    if genes_file is not None:
        return Background(read_gene_list(genes_file), source="genes")
    return Background(list(read_prepared(expression).var_names), source="expression")


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
