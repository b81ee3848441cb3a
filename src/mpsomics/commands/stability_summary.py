"""``mpsomics stability-summary``: the per-community ``stability`` tables in one.

::

    mpsomics stability-summary results/validation/stability/c04.tsv ... \\
        --out results/validation/stability.tsv

Concatenates the tables of ``mpsomics stability`` (input order kept; header-only
tables of communities without subcommunities add no row) and adds ``contrast_null_q``:
the Benjamini-Hochberg adjustment of ``contrast_null_p`` across all subcommunities of
all communities (:func:`mpsomics.validation.stats.bh`; empty p-values stay empty and are
not counted). A subcommunity given twice is an error.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tables", nargs="+", metavar="TSV", help="per-community tables of `mpsomics stability`")
    parser.add_argument("--out", required=True, help="output TSV (results/validation/stability.tsv)")


def run(args: argparse.Namespace) -> int:
    from mpsomics.core.files import atomic_path
    from mpsomics.validation.stability import summarize

    table = summarize(args.tables)
    out = Path(args.out)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, sep="\t", index=False, na_rep="", float_format="%.6g")
    log.info("%d subcommunities of %d tables -> %s", len(table), len(args.tables), out)
    return 0
