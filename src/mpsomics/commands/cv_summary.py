"""``mpsomics cv-summary``: the per-community ``cv`` tables in one, with BH across communities.

::

    mpsomics cv-summary results/validation/cv/c01.tsv results/validation/cv/c03.tsv ... \\
        --out results/validation/cv.tsv

Concatenates the tables of ``mpsomics cv`` (input order kept) and adds
``permutation_q``: the Benjamini-Hochberg adjustment of ``permutation_p`` across the
communities, separately for each model (:func:`mpsomics.validation.stats.bh`; NaN
p-values stay NaN and are not counted). A community/model pair given twice is an error.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tables", nargs="+", metavar="TSV", help="per-community tables of `mpsomics cv`")
    parser.add_argument("--out", required=True, help="output TSV (results/validation/cv.tsv)")


def run(args: argparse.Namespace) -> int:
    from mpsomics.core.files import atomic_path
    from mpsomics.validation.crossval import summarize

    table = summarize(args.tables)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, sep="\t", index=False, na_rep="", float_format="%.6g")
    log.info("%d communities x models -> %s", len(table), out)
    return 0
