"""MPS and classical subcommunities side by side, on the same validation.

The MPS subcommunities (:mod:`mpsomics.omics.subcommunities`, methods ``paper`` and
``graph``) and the classical ones (:mod:`mpsomics.omics.classical`: ``classical`` =
co-expression Leiden + DE filter, ``top_de`` = the size-matched most differentially
expressed genes) of each community are put through the same stability, external
validation and enrichment stages; this module lines them up.

Families
    ``mps`` (every method of the ``--subcommunities`` tables), ``classical`` and
    ``top_de``. The *other family* of an MPS set is every classical and top_de set of its
    community; that of a classical or top_de set is every MPS set of its community.
Overlap (per set, within its community)
    ``best_match`` / ``jaccard_best``: the other family's set with the largest Jaccard
    index (first in table order on ties; empty / 0 when the other family has no set).
    MPS sets also get ``jaccard_classical`` (best over the ``classical`` sets only) and
    ``jaccard_top_de`` (with their size-matched twin ``{c}/top_de:<suffix>``; NaN when
    the classical table has no twin). ``genes_only_here``: the set's genes in no set of
    the other family (``,``-joined; ``n_genes_only_here`` their number). ``mps_only``
    (MPS sets; ``<NA>`` for the others): ``jaccard_best < overlap`` (default 0.5, the
    Jaccard at or below which Hennig's clusterboot calls a cluster dissolved) - an MPS
    set no classical or top-DE set reproduces.
Verdicts
    :func:`mpsomics.validation.verdict.subcommunity_verdicts` with the same thresholds
    for every family: ``stable`` (mean bootstrap Jaccard ``>= stable_jaccard``),
    ``significant`` (external ``null_q <= fdr`` in a cohort, else the training-split
    contrast null), ``preserved`` (Zsummary ``> preserved_z`` in a cohort);
    ``validated`` = all three (``discovery`` there). Unmeasured criteria are ``<NA>``,
    never true. The contrast-null fallback is in-sample for every family (MPS sets pass
    a contrast gate, classical genes a DE gate, top_de genes are the smallest p, all on
    the training split), so it favours none but proves little; an external cohort
    decides whenever there is one. The q-values come from BH families per method family (``stability``
    and ``validate`` adjust the classical and top_de sets separately), so the three
    families are judged by the same rule at the same FDR without changing the MPS
    numbers.
New terms
    ``n_new_terms``: distinct (library, term) pairs flagged ``new`` for the set in its
    enrichment table (``mpsomics enrichment`` of the MPS table for MPS sets, of the
    classical table for classical / top_de sets): significant *within the parent
    community* and not a community term. NaN when no enrichment table of that family was
    given, or the table has no ``new`` column (logged). The BH families of enrichment are
    per job, so the two jobs of a community adjust over different numbers of sets.
Summary (:func:`summary_table`)
    Per community and an ``all`` row: the number of sets of each family, how many are
    stable / significant / preserved / validated (``<NA>`` counts as not), how many had
    all three criteria measured (``n_<family>_tested``), ``n_mps_only`` and how many of
    those are validated, medians of the MPS sets' ``jaccard_best`` and
    ``jaccard_top_de``, summed new terms per family, and the genes covered by each
    family (union sizes) with the Jaccard of the MPS and the classical (``classical`` +
    ``top_de``) gene unions.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mpsomics.validation.stats import jaccard

log = logging.getLogger(__name__)

FAMILIES = ("mps", "classical", "top_de")
#: Columns of ``results/comparison/subcommunities.tsv``, in order.
COLUMNS: tuple[str, ...] = (
    "community", "subcommunity", "method", "family", "n_genes", "best_match", "jaccard_best",
    "jaccard_classical", "jaccard_top_de", "stable", "significant", "preserved", "validated",
    "jaccard_mean", "best_null_q", "max_preservation_z", "significance_basis", "n_new_terms",
    "n_genes_only_here", "genes_only_here", "mps_only",
)  # fmt: skip
#: the columns of :func:`overlap_rows`
_OVERLAP_COLUMNS = (
    "community", "subcommunity", "method", "family", "n_genes", "best_match", "jaccard_best",
    "jaccard_classical", "jaccard_top_de", "n_genes_only_here", "genes_only_here", "mps_only",
)  # fmt: skip
_COUNTED = ("stable", "significant", "preserved", "validated")
#: Columns of ``results/comparison/summary.tsv``, in order.
SUMMARY_COLUMNS: tuple[str, ...] = (
    "community",
    *(f"n_{f}" for f in FAMILIES),
    *(f"n_{f}_{v}" for v in (*_COUNTED, "tested") for f in FAMILIES),
    "n_mps_only", "n_mps_only_validated", "median_jaccard_best", "median_jaccard_top_de",
    *(f"n_new_terms_{f}" for f in FAMILIES),
    *(f"n_genes_{f}" for f in FAMILIES), "genes_jaccard_mps_classical",
)  # fmt: skip


def family(method: str) -> str:
    """``classical`` / ``top_de`` for the classical methods, ``mps`` for every other."""
    return method if method in FAMILIES[1:] else "mps"


def top_de_twin(community: str, sid: str) -> str:
    """The size-matched top_de id of an MPS subcommunity (``c30/graph1`` -> ``c30/top_de:graph1``)."""
    return f"{community}/top_de:{sid.rsplit('/', 1)[-1]}"


@dataclass
class CommunitySets:
    """One community's sets: ``sets`` maps id -> ``(method, genes)``, MPS tables first."""

    community: str
    sets: dict[str, tuple[str, list[str]]] = field(default_factory=dict)

    def of(self, families: Sequence[str]) -> dict[str, list[str]]:
        """Id -> genes of the sets whose family is in ``families`` (table order)."""
        return {s: g for s, (m, g) in self.sets.items() if family(m) in families}


def sets_from_tables(community: str, mps: pd.DataFrame, classical: pd.DataFrame) -> CommunitySets:
    """:class:`CommunitySets` from the two subcommunity tables (``read_subcommunities``) of a community."""
    out = CommunitySets(community)
    for table in (mps, classical):
        for sid, grp in table.groupby("subcommunity", sort=False):
            out.sets[str(sid)] = (str(grp["method"].iloc[0]), [str(g) for g in grp["gene"]])
    return out


def _best(genes: Sequence[str], candidates: Mapping[str, Sequence[str]]) -> tuple[str, float]:
    best, value = "", 0.0
    for sid, other in candidates.items():
        j = jaccard(genes, other)
        if j > value:
            best, value = sid, j
    return best, value


def overlap_rows(sets: CommunitySets, overlap: float = 0.5) -> list[dict]:
    """The overlap columns of every set of one community (module docstring)."""
    mps = sets.of(("mps",))
    classical = sets.of(("classical",))
    other_of_mps = sets.of(("classical", "top_de"))
    rows = []
    for sid, (method, genes) in sets.sets.items():
        fam = family(method)
        other = other_of_mps if fam == "mps" else mps
        best, value = _best(genes, other)
        covered = {g for gs in other.values() for g in gs}
        only = [g for g in genes if g not in covered]
        row = {"community": sets.community, "subcommunity": sid, "method": method, "family": fam,
               "n_genes": len(genes), "best_match": best, "jaccard_best": value,
               "jaccard_classical": np.nan, "jaccard_top_de": np.nan,
               "n_genes_only_here": len(only), "genes_only_here": ",".join(only), "mps_only": pd.NA}
        if fam == "mps":
            row["jaccard_classical"] = _best(genes, classical)[1]
            twin = other_of_mps.get(top_de_twin(sets.community, sid))
            row["jaccard_top_de"] = jaccard(genes, twin) if twin is not None else np.nan
            row["mps_only"] = bool(value < overlap)
        rows.append(row)
    return rows


def new_terms(enrichment: pd.DataFrame | None, path: str | os.PathLike | None = None) -> dict[str, int] | None:
    """Set id -> number of distinct ``new`` (library, term) pairs; ``None`` when not measurable.

    ``enrichment`` is one ``results/enrichment/{c}.tsv`` (``None``: not given). A table
    without a ``new`` column gives ``None`` (logged).
    """
    if enrichment is None:
        return None
    if "new" not in enrichment.columns:
        log.warning("%s: no 'new' column (an enrichment table of another version?): n_new_terms left empty",
                    path or "enrichment table")
        return None
    flag = enrichment["new"].astype(str).str.strip().str.lower().isin(("true", "1"))
    new = enrichment[flag].drop_duplicates(["set", "library", "term"])
    return {str(k): int(v) for k, v in new.groupby("set").size().items()}


def _verdict_columns(table: pd.DataFrame, verdicts: pd.DataFrame | None) -> pd.DataFrame:
    cols = {"stable": "stable", "significant": "significant", "preserved": "preserved",
            "validated": "discovery", "jaccard_mean": "jaccard_mean", "best_null_q": "best_null_q",
            "max_preservation_z": "max_preservation_z", "significance_basis": "significance_basis"}
    by = verdicts.set_index(verdicts["subcommunity"].astype(str)) if verdicts is not None else None
    for out, src in cols.items():
        if by is None:
            values = pd.Series(pd.NA, index=table.index)
        else:
            values = table["subcommunity"].map(by[src])
        table[out] = values
    for col in ("stable", "significant", "preserved"):
        table[col] = table[col].astype("boolean")
    # a set without any verdict row is not validated (never measured), like `discovery`
    table["validated"] = table["validated"].astype("boolean").fillna(False).astype(bool)
    for col in ("jaccard_mean", "best_null_q", "max_preservation_z"):
        table[col] = pd.to_numeric(table[col], errors="coerce")
    table["significance_basis"] = table["significance_basis"].fillna("").astype(str)
    return table


def comparison_table(
    communities: Sequence[CommunitySets],
    verdicts: pd.DataFrame | None = None,
    terms: Mapping[tuple[str, str], Mapping[str, int] | None] | None = None,
    overlap: float = 0.5,
) -> pd.DataFrame:
    """``subcommunities.tsv``: one row per set of every family (:data:`COLUMNS`).

    Parameters
    ----------
    communities
        The sets of each community (:func:`sets_from_tables`), in output order.
    verdicts
        :func:`mpsomics.validation.verdict.subcommunity_verdicts` of the stability and
        validation tables (``None``: every verdict ``<NA>``).
    terms
        ``(community, "mps" | "classical")`` -> :func:`new_terms` of that enrichment table
        (``None`` or missing key: not measured, NaN).
    overlap
        Jaccard below which an MPS set counts as ``mps_only``.
    """
    rows = [r for sets in communities for r in overlap_rows(sets, overlap)]
    table = pd.DataFrame(rows, columns=list(_OVERLAP_COLUMNS))
    table = _verdict_columns(table, verdicts)
    terms = terms or {}
    counts = []
    for r in table.itertuples(index=False):
        per_set = terms.get((r.community, "mps" if r.family == "mps" else "classical"))
        counts.append(np.nan if per_set is None else float(per_set.get(r.subcommunity, 0)))
    table["n_new_terms"] = counts
    table["mps_only"] = table["mps_only"].astype("boolean")
    return table[list(COLUMNS)]


def _count(part: pd.DataFrame, col: str) -> int:
    return int(part[col].astype("boolean").fillna(False).sum())


def _summary_row(name: str, t: pd.DataFrame, genes: Mapping[str, set]) -> dict:
    row: dict[str, object] = {"community": name}
    for f in FAMILIES:
        part = t[t["family"] == f]
        row[f"n_{f}"] = len(part)
        for v in _COUNTED:
            row[f"n_{f}_{v}"] = _count(part, v)
        measured = part[["stable", "significant", "preserved"]].notna().all(axis=1)
        row[f"n_{f}_tested"] = int(measured.sum())
        terms = part["n_new_terms"].to_numpy(dtype=float)
        row[f"n_new_terms_{f}"] = float(np.nansum(terms)) if np.isfinite(terms).any() else np.nan
        row[f"n_genes_{f}"] = len(genes[f])
    mps = t[t["family"] == "mps"]
    only = mps[mps["mps_only"].astype("boolean").fillna(False).astype(bool)]
    row["n_mps_only"] = len(only)
    row["n_mps_only_validated"] = _count(only, "validated")
    for col, out in (("jaccard_best", "median_jaccard_best"), ("jaccard_top_de", "median_jaccard_top_de")):
        v = mps[col].to_numpy(dtype=float)
        row[out] = float(np.median(v[np.isfinite(v)])) if np.isfinite(v).any() else np.nan
    classical = genes["classical"] | genes["top_de"]
    union = genes["mps"] | classical
    row["genes_jaccard_mps_classical"] = len(genes["mps"] & classical) / len(union) if union else np.nan
    return row


def summary_table(table: pd.DataFrame, communities: Sequence[CommunitySets]) -> pd.DataFrame:
    """``summary.tsv``: one row per community and an ``all`` row (:data:`SUMMARY_COLUMNS`)."""
    rows = []
    every: dict[str, set] = {f: set() for f in FAMILIES}
    for sets in communities:
        # gene ids are made unique per community for the `all` union (communities are disjoint anyway)
        genes = {f: {g for gs in sets.of((f,)).values() for g in gs} for f in FAMILIES}
        for f in FAMILIES:
            every[f] |= {(sets.community, g) for g in genes[f]}
        rows.append(_summary_row(sets.community, table[table["community"] == sets.community], genes))
    rows.append(_summary_row("all", table, every))
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


__all__ = [
    "COLUMNS", "FAMILIES", "SUMMARY_COLUMNS", "CommunitySets", "comparison_table", "family", "new_terms",
    "overlap_rows", "sets_from_tables", "summary_table", "top_de_twin",
]  # fmt: skip
