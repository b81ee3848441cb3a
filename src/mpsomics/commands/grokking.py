"""``mpsomics grokking``: entanglement transition and generalisation jump of one run.

::

    mpsomics grokking --history results/mps/c03/history.tsv \\
        --entanglement results/mps/c03/entanglement_trajectory.tsv \\
        --control-entanglement results/controls/c03/entanglement_trajectory.tsv \\
        --community c03 --out results/grokking/c03.tsv

``--control-entanglement`` (optional): the label-permutation controls of ``mpsomics controls``;
a transition then counts only when it beats every control (``beats_control``). Definitions are in :mod:`mpsomics.dynamics.grokking`; the summary table of several
runs is ``mpsomics grokking-summary``.
"""

from __future__ import annotations

import argparse

from mpsomics.commands.argtypes import integer, number
from mpsomics.dynamics import grokking, training_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = grokking.DEFAULTS
    parser.add_argument("--history", required=True, help="history.tsv written by `mpsomics train`")
    parser.add_argument(
        "--entanglement",
        required=True,
        help="entanglement_trajectory.tsv written by `mpsomics train --observe-every K`",
    )
    parser.add_argument(
        "--control-entanglement",
        default=None,
        help="entanglement_trajectory.tsv of `mpsomics controls` (label-permutation controls; optional)",
    )
    parser.add_argument("--community", required=True, help="community id written in the output row")
    parser.add_argument("--out", required=True, help="output TSV (results/grokking/{community}.tsv)")
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
    p.add_argument(
        "--min-drop",
        type=number(0, 1),
        default=d["min_drop"],
        help="a transition loses at least this fraction of the peak summed entropy (default %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    history = training_run.load_history(args.history)
    entanglement = training_run.load_entanglement(args.entanglement)
    training_run.check_same_run(
        history=(args.history, history), entanglement=(args.entanglement, entanglement)
    )
    controls = None
    if args.control_entanglement:
        controls = training_run.load_control_entanglement(args.control_entanglement)
        training_run.check_controls_match(controls, entanglement, args.control_entanglement)
    # The analysis knows runs, not communities: the pipeline's id column is added here.
    row = {"community": args.community} | grokking.analyze(
        history,
        entanglement,
        name=args.community,
        initial_epochs=args.initial_epochs,
        delta=args.delta,
        window=args.window,
        plateau=args.plateau,
        saturation=args.saturation,
        rate_smooth=args.rate_smooth,
        min_drop=args.min_drop,
        control_entanglement=controls,
    )
    grokking.write_tsv(grokking.result_frame(row), args.out)
    return 0
