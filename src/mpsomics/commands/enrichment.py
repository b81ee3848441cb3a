"""``mpsomics enrichment``: offline ORA of one community and its subcommunities.

::

    mpsomics enrichment --genes results/communities/genes/c04.txt \\
        --subcommunities results/subcommunities/c04.tsv --community c04 \\
        --universe results/communities/network.tsv \\
        --library hallmark=data/genesets/msigdb_h.all.v7.0.symbols.gmt ... \\
        [--fdr 0.05] [--min-set-size 5] [--max-set-size 500] [--min-parent-overlap 3] \\
        --out results/enrichment/c04.tsv

Universe: ``--universe`` (the network's genes from ``network.tsv``, or a gene list);
``--background`` (a gene list) and ``--expression`` (every prepared gene, too wide for
communities) are alternatives. Subcommunities are also tested within their parent
community. Statistics, BH families and the "new" flag: :mod:`mpsomics.omics.enrichment`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mpsomics.core.errors import InputError

log = logging.getLogger(__name__)


def _library_arg(value: str) -> tuple[str, str]:
    name, sep, path = value.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=PATH.gmt, got {value!r}")
    return name.strip(), path.strip()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the stage's options."""
    parser.add_argument("--genes", required=True, help="community gene list, one symbol per line (results/communities/genes/{community}.txt)")
    parser.add_argument("--subcommunities", help="results/subcommunities/{community}.tsv (gene, subcommunity, ...); omit for none")
    parser.add_argument("--community", required=True, help="community id written to the 'set' column")
    bg = parser.add_mutually_exclusive_group(required=True)
    bg.add_argument(
        "--universe",
        help="the test universe: a gene list, one per line (the workflow passes "
        "results/communities/pool.txt, every gene of the co-expression network), or "
        "results/communities/network.tsv (the genes of its edges)",
    )
    bg.add_argument("--background", help="alternative universe: text file, one gene per line")
    bg.add_argument(
        "--expression",
        help="alternative universe: every gene of the prepared AnnData (too wide for communities, "
        "which can only contain network genes)",
    )
    parser.add_argument(
        "--library",
        action="append",
        type=_library_arg,
        default=[],
        metavar="NAME=PATH",
        help="GMT library, repeatable (e.g. hallmark=data/genesets/msigdb_h.all.v7.0.symbols.gmt)",
    )
    parser.add_argument("--out", required=True, help="output TSV (results/enrichment/{community}.tsv)")
    parser.add_argument("--fdr", type=float, default=0.05, help="BH FDR threshold; families per library over all gene lists of the job (default 0.05)")
    parser.add_argument("--min-set-size", type=int, default=5, help="min gene-set size after intersecting with the background (default 5)")
    parser.add_argument("--max-set-size", type=int, default=500, help="max gene-set size after intersecting with the background (default 500)")
    parser.add_argument(
        "--min-parent-overlap", type=int, default=3,
        help="fewest parent-community genes a set needs to be tested within the parent (default 3)",
    )
    parser.add_argument("--online", action="store_true", help="also test Enrichr libraries (downloaded; needs network)")
    parser.add_argument(
        "--online-library",
        action="append",
        default=[],
        metavar="NAME",
        help="Enrichr library for --online, repeatable (default: GO_Biological_Process_2023, Reactome_2022, MSigDB_Hallmark_2020, WikiPathway_2023_Human)",
    )
    parser.add_argument("--online-timeout", type=float, default=5.0, help="seconds for the Enrichr reachability probe (default 5)")


def run(args: argparse.Namespace) -> int:
    """Run the stage; see :mod:`mpsomics.omics.enrichment`."""
    from mpsomics.core.files import atomic_path
    from mpsomics.core.gmt import read_gmt
    from mpsomics.core.readers import read_gene_list, read_subcommunities, subcommunity_genes
    from mpsomics.omics import enrichment as enr

    params = enr.EnrichmentParams(
        args.fdr, args.min_set_size, args.max_set_size, args.min_parent_overlap
    ).validate()
    if not args.library and not args.online:
        raise InputError(None, "no gene set library: give --library NAME=PATH.gmt (repeatable) or --online")
    names = [n for n, _ in args.library]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(None, f"--library name(s) given twice: {', '.join(dup)}")
    libraries = {name: read_gmt(path).sets for name, path in args.library}
    if args.online:
        online = args.online_library or list(enr.DEFAULT_ONLINE_LIBRARIES)
        fetched = enr.fetch_enrichr_libraries(online, timeout=args.online_timeout)
        libraries.update({f"enrichr:{k}": v for k, v in fetched.items()})

    genes = read_gene_list(args.genes)
    subs = subcommunity_genes(read_subcommunities(args.subcommunities)) if args.subcommunities else {}
    background = enr.read_background(
        expression=args.expression, genes_file=args.background, universe=args.universe
    )
    log.info("universe: %d genes (%s)", len(background), background.source)
    if background.source == "expression":
        log.warning("--expression: testing against every prepared gene; communities can only contain "
                    "network genes, pass --universe results/communities/network.tsv instead")
    table = enr.run_enrichment(args.community, genes, subs, libraries, background, params)
    n_sig = int(table["significant"].sum()) if len(table) else 0
    n_new = int(table["new"].sum()) if len(table) else 0
    n_within = int(table["significant_within_parent"].sum()) if len(table) else 0
    log.info(
        "%s: %d gene lists (community + %d subcommunities) x %d libraries; %d significant rows (FDR <= %g), "
        "%d subcommunity rows significant within the parent, %d new",
        args.community, 1 + len(subs), len(subs), len(libraries), n_sig, params.fdr, n_within, n_new,
    )
    out = Path(args.out)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return 0
