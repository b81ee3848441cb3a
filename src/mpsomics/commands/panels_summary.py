"""``mpsomics panels-summary``: the per-community panel rows of ``panels`` in one table.

::

    mpsomics panels-summary results/panels/c15_summary.tsv results/panels/c24_summary.tsv ... \\
        --out results/panels/summary.tsv

Concatenates the one-row summaries of ``mpsomics panels`` (input order kept) and adds
``panel_q``: the Benjamini-Hochberg adjustment of the panels' permutation p-values across
communities (:func:`mpsomics.validation.panels.summarize`). A community given twice is an
error.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tables", nargs="*", metavar="TSV",
                        help="{community}_summary.tsv of `mpsomics panels` (none: a header-only table)")
    parser.add_argument("--out", required=True, help="output TSV (results/panels/summary.tsv)")


def run(args: argparse.Namespace) -> int:
    from mpsomics.core.files import atomic_path
    from mpsomics.validation.panels import summarize

    table = summarize(args.tables)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, sep="\t", index=False, na_rep="", float_format="%.6g")
    log.info("%d communities -> %s", len(table), out)
    return 0
