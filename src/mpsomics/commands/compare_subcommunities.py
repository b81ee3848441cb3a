"""``mpsomics compare-subcommunities``: MPS and classical subcommunities side by side.

::

    mpsomics compare-subcommunities --selected results/communities/selected.txt \\
        --subcommunities results/subcommunities/c01.tsv ... \\
        --classical results/classical/c01.tsv ... \\
        [--stability results/validation/stability.tsv] [--validation results/validation/summary.tsv] \\
        [--enrichment results/enrichment/c01.tsv ...] \\
        [--classical-enrichment results/enrichment/classical/c01.tsv ...] \\
        [--stable-jaccard 0.75] [--fdr 0.05] [--preserved-z 2] [--overlap 0.5] \\
        --out-dir results/comparison/

``--subcommunities`` and ``--classical`` take one table per community of ``--selected``
(in its order); ``--enrichment`` / ``--classical-enrichment`` either none or one per
community (the ``mpsomics enrichment`` tables of the MPS and of the classical table).
``--stability`` is ``stability-summary``'s table of runs with ``--classical``,
``--validation`` ``validate``'s table of a run with ``--classical``; without them every
verdict is ``<NA>`` (not measured). Writes ``subcommunities.tsv`` (one row per set of
every family) and ``summary.tsv`` (per community and ``all``); definitions:
:mod:`mpsomics.validation.comparison`. Verdict thresholds default to the config's
``validation`` section (``stable_jaccard``, ``fdr``, ``preserved_z``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mpsomics.commands.argtypes import number
from mpsomics.core.errors import InputError

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--selected", required=True, help="selected.txt of `mpsomics communities` (may be empty)")
    for flag, what in (("--subcommunities", "MPS subcommunity table ({community}.tsv of `mpsomics subcommunities`)"),
                       ("--classical", "{community}.tsv of `mpsomics classical-subcommunities`")):
        parser.add_argument(flag, nargs="*", default=[], metavar="FILE",
                            help=f"{what}, one per community of --selected, in its order")
    parser.add_argument("--stability", default=None,
                        help="stability.tsv of `mpsomics stability-summary` (runs with --classical); "
                        "omitted: stable is <NA>")
    parser.add_argument("--validation", default=None,
                        help="summary.tsv of `mpsomics validate` (run with --classical); omitted: "
                        "external significance and preservation are <NA>")
    for flag, what in (("--enrichment", "the MPS subcommunity table"), ("--classical-enrichment", "the classical table")):
        parser.add_argument(flag, nargs="*", default=[], metavar="FILE",
                            help=f"`mpsomics enrichment` tables of {what}: none, or one per community of "
                            "--selected in its order (n_new_terms; none: NaN)")
    g = parser.add_argument_group("verdicts (as the report's; config validation)")
    g.add_argument("--stable-jaccard", type=number(0, 1), default=0.75, help="stable: mean bootstrap Jaccard >= this")
    g.add_argument("--fdr", type=number(0, 1, lo_open=True), default=0.05, help="significant: BH q <= this")
    g.add_argument("--preserved-z", type=number(), default=2.0, help="preserved: Zsummary > this in a cohort")
    g.add_argument("--overlap", type=number(0, 1, lo_open=True), default=0.5,
                   help="an MPS set is mps_only when its best Jaccard with every classical and top_de set "
                   "is below this")
    parser.add_argument("--out-dir", required=True, help="output directory (results/comparison/)")


def _per_community(flag: str, files: list[str], communities: list[str], selected: str,
                   optional: bool = False) -> list[str | None]:
    if optional and not files:
        return [None] * len(communities)
    if len(files) != len(communities):
        raise InputError(selected, f"lists {len(communities)} communities but {flag} has {len(files)} files")
    return list(files)


def _community_sets(communities, mps_files, classical_files):
    from mpsomics.core.readers import read_subcommunities
    from mpsomics.validation.comparison import family, sets_from_tables

    out = []
    for c, mps_path, classical_path in zip(communities, mps_files, classical_files, strict=True):
        mps, classical = read_subcommunities(mps_path), read_subcommunities(classical_path)
        for path, table, want in ((mps_path, mps, "mps"), (classical_path, classical, "classical")):
            wrong = sorted({str(m) for m in table["method"] if (family(str(m)) == "mps") != (want == "mps")})
            if wrong:
                raise InputError(path, f"method(s) {', '.join(wrong)} do not belong in "
                                       f"{'--subcommunities' if want == 'mps' else '--classical'}")
            other = sorted({str(s) for s in table["subcommunity"] if not str(s).startswith(f"{c}/")})
            if other:
                raise InputError(path, f"subcommunity {other[0]} is not of community {c} (files in the order "
                                       "of --selected?)")
        out.append(sets_from_tables(c, mps, classical))
    return out


def _terms(communities, mps_files, classical_files):
    from mpsomics.core.readers import read_tsv
    from mpsomics.validation.comparison import new_terms

    terms = {}
    for c, m, k in zip(communities, mps_files, classical_files, strict=True):
        for key, path in (("mps", m), ("classical", k)):
            table = (read_tsv(path, ("set", "level", "library", "term"), text=("set", "level", "library", "term"))
                     if path else None)
            terms[(c, key)] = new_terms(table, path)
    return terms


def run(args: argparse.Namespace) -> int:
    from mpsomics.core.files import atomic_dir
    from mpsomics.core.readers import read_gene_list
    from mpsomics.validation import comparison, verdict

    communities = read_gene_list(args.selected, item="community", allow_empty=True)
    mps_files = _per_community("--subcommunities", args.subcommunities, communities, args.selected)
    classical_files = _per_community("--classical", args.classical, communities, args.selected)
    enrichment = _per_community("--enrichment", args.enrichment, communities, args.selected, optional=True)
    classical_enrichment = _per_community("--classical-enrichment", args.classical_enrichment, communities,
                                          args.selected, optional=True)
    sets = _community_sets(communities, mps_files, classical_files)
    stability = verdict.read_stability(args.stability) if args.stability else None
    summary = verdict.read_summary(args.validation) if args.validation else None
    if stability is None and summary is None:
        log.warning("neither --stability nor --validation: every verdict is <NA>, nothing is validated")
    verdicts = verdict.subcommunity_verdicts(stability, summary, args.stable_jaccard, args.fdr, args.preserved_z)
    known = {s for cs in sets for s in cs.sets}
    unmatched = sorted(set(verdicts["subcommunity"]) - known)
    if unmatched:
        log.info("%d subcommunities of the stability/validation tables are in no given table (ignored): %s",
                 len(unmatched), ", ".join(unmatched[:5]))
    if not args.enrichment or not args.classical_enrichment:
        log.info("no enrichment tables for %s sets: their n_new_terms is empty",
                 " and ".join(f for f, given in (("MPS", args.enrichment), ("classical", args.classical_enrichment))
                              if not given))
    terms = _terms(communities, enrichment, classical_enrichment)
    table = comparison.comparison_table(sets, verdicts, terms, overlap=args.overlap)
    summary_out = comparison.summary_table(table, sets)
    with atomic_dir(Path(args.out_dir)) as tmp:
        table.to_csv(tmp / "subcommunities.tsv", sep="\t", index=False, na_rep="", float_format="%.6g")
        summary_out.to_csv(tmp / "summary.tsv", sep="\t", index=False, na_rep="", float_format="%.6g")
    a = summary_out.iloc[-1]
    log.info("%d communities: %d MPS sets (%d validated, %d MPS-only of which %d validated), %d classical "
             "(%d validated), %d top_de (%d validated) -> %s", len(communities), a["n_mps"], a["n_mps_validated"],
             a["n_mps_only"], a["n_mps_only_validated"], a["n_classical"], a["n_classical_validated"],
             a["n_top_de"], a["n_top_de_validated"], args.out_dir)
    return 0
