"""``mpsomics grokking``: entanglement transition and generalisation jump of one run.

Two modes::

    mpsomics grokking --train-dir results/mps/c03 --community c03 --out results/grokking/c03.tsv
    mpsomics grokking --summarize results/grokking/c01.tsv results/grokking/c03.tsv \\
        --out results/grokking/summary.tsv

Definitions are in :mod:`mpsomics.dynamics.grokking`.
"""

from __future__ import annotations

import argparse

from mpsomics.commands.argtypes import integer, number
from mpsomics.core.errors import InputError
from mpsomics.dynamics import grokking, training_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = grokking.DEFAULTS
    mode = parser.add_argument_group("inputs (one mode)")
    mode.add_argument("--train-dir", help="train-stage directory results/mps/{community}")
    mode.add_argument("--community", help="community id written in the output row (with --train-dir)")
    mode.add_argument(
        "--summarize",
        nargs="+",
        metavar="TSV",
        help="instead of analysing a run: concatenate these per-community grokking TSVs",
    )
    parser.add_argument("--out", required=True, help="output TSV ({community}.tsv, or summary.tsv with --summarize)")
    p = parser.add_argument_group("parameters")
    p.add_argument(
        "--initial-epochs",
        type=integer(0),
        default=d["initial_epochs"],
        help="initial phase = epochs < N (default: automatic, up to the first entropy maximum "
        "within the first half of training)",
    )
    p.add_argument("--delta", type=number(0, 1, lo_open=True), default=d["delta"], help="minimal test balanced-accuracy rise of a jump (default %(default)s)")
    p.add_argument("--window", type=integer(1), default=d["window"], help="epochs within which the rise must happen (default %(default)s)")
    p.add_argument(
        "--plateau",
        type=integer(1),
        default=d["plateau"],
        help="epochs of plateau (range < delta/2) before a jump (default %(default)s)",
    )
    p.add_argument(
        "--saturation",
        type=number(0, 1, lo_open=True),
        default=d["saturation"],
        help="train balanced accuracy counted as saturated (default %(default)s)",
    )
    p.add_argument(
        "--rate-smooth",
        type=integer(1),
        default=d["rate_smooth"],
        help="moving-average width (recorded intervals) of the entropy change rate (default %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    if args.summarize:
        if args.train_dir or args.community:
            raise InputError(None, "--summarize cannot be combined with --train-dir/--community")
        grokking.write_tsv(grokking.summarize(args.summarize), args.out)
        return 0
    if not args.train_dir or not args.community:
        raise InputError(None, "give --train-dir and --community (or --summarize TSV ...)")
    history = training_run.load_history(args.train_dir)
    entanglement = training_run.load_entanglement(args.train_dir)
    row = grokking.analyze(
        history,
        entanglement,
        community=args.community,
        initial_epochs=args.initial_epochs,
        delta=args.delta,
        window=args.window,
        plateau=args.plateau,
        saturation=args.saturation,
        rate_smooth=args.rate_smooth,
    )
    grokking.write_tsv(grokking.result_frame(row), args.out)
    return 0
