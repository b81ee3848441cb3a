"""``mpsomics report``: one self-contained HTML report of the run."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the stage's options."""
    parser.add_argument("--config-json", help="config used for the run, a JSON file or inline JSON text (shown in the header); optional")
    parser.add_argument("--communities-dir", default="results/communities", help="default: %(default)s")
    parser.add_argument("--mps-dir", default="results/mps", help="default: %(default)s")
    parser.add_argument("--observables-dir", default="results/observables", help="default: %(default)s (optional fallback)")
    parser.add_argument("--grokking-dir", default="results/grokking", help="default: %(default)s")
    parser.add_argument("--subcommunities-dir", default="results/subcommunities", help="default: %(default)s")
    parser.add_argument("--enrichment-dir", default="results/enrichment", help="default: %(default)s")
    parser.add_argument("--expression", default="results/prepared/expression.h5ad", help="prepared AnnData (sample counts); default: %(default)s")
    parser.add_argument("--out", default="results/report/index.html", help="output HTML; default: %(default)s")
    parser.add_argument(
        "--community", action="append", default=None,
        help="community to include, repeatable (default: all of selected.txt, in its order)",
    )
    parser.add_argument("--top-terms", type=int, default=5, help="enriched terms shown per gene set (default 5)")
    parser.add_argument("--figures-dir", help="also write {community}_grokking.png here (for snakemake --report)")


def run(args: argparse.Namespace) -> int:
    """Run the stage; see :mod:`mpsomics.report.html`."""
    from mpsomics.core.errors import InputError
    from mpsomics.report.html import ReportPaths, write_report

    if args.top_terms < 1:
        raise InputError(None, f"--top-terms must be >= 1, got {args.top_terms}")
    paths = ReportPaths(
        communities_dir=Path(args.communities_dir),
        mps_dir=Path(args.mps_dir),
        observables_dir=Path(args.observables_dir),
        grokking_dir=Path(args.grokking_dir),
        subcommunities_dir=Path(args.subcommunities_dir),
        enrichment_dir=Path(args.enrichment_dir),
        expression=Path(args.expression) if args.expression else None,
        config_json=args.config_json,
    )
    write_report(args.out, paths, args.community, args.top_terms, args.figures_dir)
    return 0
