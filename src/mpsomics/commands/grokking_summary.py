"""``mpsomics grokking-summary``: the grokking rows of several runs in one table.

::

    mpsomics grokking-summary results/grokking/c01.tsv results/grokking/c03.tsv \\
        --out results/grokking/summary.tsv

The inputs are the one-row tables of ``mpsomics grokking``, in the order given.
"""

from __future__ import annotations

import argparse

from mpsomics.dynamics import grokking


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tables", nargs="+", metavar="TSV", help="grokking tables of `mpsomics grokking`")
    parser.add_argument("--out", required=True, help="output TSV (results/grokking/summary.tsv)")


def run(args: argparse.Namespace) -> int:
    grokking.write_tsv(grokking.summarize(args.tables), args.out)
    return 0
