"""``mpsomics subcommunities``: gene subcommunities from MPS correlations.

::

    mpsomics subcommunities --correlations results/mps/c03/correlations_trajectory.npz \\
        --magnetization results/mps/c03/magnetization_trajectory.tsv \\
        --grokking results/grokking/c03.tsv --community c03 --out-dir results/subcommunities

Writes ``{community}.tsv`` (the subcommunities) and ``{community}_curve.tsv`` (the
count-vs-threshold curve of the paper method; header only without it) into ``--out-dir``.

Methods and definitions are in :mod:`mpsomics.omics.subcommunities`. Only train-stage
correlations and the entropy-based transition epoch are used: no test data.

``--graph-measure mutual_information`` builds the graph method's edges from the quantum
mutual information (``mean_k I_k(i:j) > --mi-threshold``, natural log) of the *final*
trained model instead of the connected correlations over the training trajectory: the
mutual information is not recorded per epoch, so it needs ``--model`` (the run's
``model.npz``, an MPS). The correlations and magnetization files are still read (the
paper method, the gene and label order, and the epoch the model belongs to).

``--min-correlation-contrast T`` turns on the graph method's second gate: a cluster is
also kept when the mean over its gene pairs of ``max_{k,l} |C_k(i, j) - C_l(i, j)| / 2``
(connected correlations of the class states at the method's epochs) reaches T - a block
co-expressed in one class only, which the magnetization gate (``--min-contrast``) drops.
The ``gate`` column says which gate kept each cluster, ``correlation_contrast`` its value.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mpsomics.commands.argtypes import integer, number, random_seed
from mpsomics.core.errors import InputError
from mpsomics.dynamics import grokking, training_run
from mpsomics.omics import subcommunities


def _methods(text: str) -> tuple[str, ...]:
    items = tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    bad = [m for m in items if m not in subcommunities.METHODS]
    if not items or bad:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated subset of {','.join(subcommunities.METHODS)}, got {text!r}"
        )
    return items


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = subcommunities.DEFAULTS
    parser.add_argument(
        "--correlations", required=True, help="correlations_trajectory.npz written by `mpsomics train`"
    )
    parser.add_argument(
        "--magnetization", required=True, help="magnetization_trajectory.tsv written by `mpsomics train`"
    )
    parser.add_argument("--grokking", required=True, help="grokking TSV of the community (transition_epoch)")
    parser.add_argument("--community", required=True, help="community id (prefix of the subcommunity ids)")
    parser.add_argument(
        "--out-dir", required=True, help="output directory: {community}.tsv and {community}_curve.tsv"
    )
    parser.add_argument("--methods", type=_methods, default=d["methods"], help="comma-separated: paper,graph (default both)")
    parser.add_argument("--threshold", type=number(0, 1, hi_open=True), default=d["threshold"], help="|C| threshold of the paper method (default %(default)s)")
    parser.add_argument(
        "--epoch-window",
        type=integer(0),
        default=d["epoch_window"],
        help="use recorded epochs within transition ± W (default %(default)s)",
    )
    parser.add_argument("--graph-threshold", type=number(0, 1, hi_open=True), default=d["graph_threshold"], help="edge threshold on mean |C| (default %(default)s)")
    parser.add_argument(
        "--min-contrast",
        type=number(0, 1, hi_open=True),
        default=d["min_contrast"],
        help="graph method: keep clusters whose mean magnetization contrast |m_k - m_l|/2 "
        "is at least this (0 = gate off; default %(default)s)",
    )
    parser.add_argument(
        "--min-correlation-contrast",
        type=number(0, 1),
        default=d["min_correlation_contrast"],
        help="graph method: also keep clusters whose mean over their gene pairs of the correlation "
        "contrast |C_k - C_l|/2 of the class states is at least this (a cluster passing either gate is "
        "kept; needs --graph-measure connected; 0 = gate off; default %(default)s = off)",
    )
    parser.add_argument(
        "--graph-measure",
        choices=subcommunities.GRAPH_MEASURES,
        default=d["graph_measure"],
        help="edges of the graph method: connected correlations over the training trajectory, or the "
        "quantum mutual information of the final model (needs --model) (default %(default)s)",
    )
    parser.add_argument(
        "--mi-threshold",
        type=number(0, 2 * float(np.log(2.0)), hi_open=True),
        default=d["mi_threshold"],
        help="edge threshold on the mean mutual information over labels, natural log "
        "(--graph-measure mutual_information; default %(default)s)",
    )
    parser.add_argument(
        "--model",
        default=None,
        help="model.npz of the run (MPS): needed by --graph-measure mutual_information, ignored otherwise",
    )
    parser.add_argument("--resolution", type=number(0), default=d["resolution"], help="Leiden resolution (default %(default)s)")
    parser.add_argument("--min-size", type=integer(1), default=d["min_size"], help="smallest graph subcommunity (default %(default)s)")
    parser.add_argument("--seed", type=random_seed, default=d["seed"], help="Leiden seed, 0 .. 2**32 - 1 (default %(default)s)")
    parser.add_argument(
        "--magnetization-weight",
        type=number(0),
        default=d["magnetization_weight"],
        help="alpha of the graph edge re-weighting by the magnetization contrast between labels "
        "(default %(default)s = off)",
    )


def run(args: argparse.Namespace) -> int:
    epochs, classes, genes, connected = training_run.load_correlations(args.correlations)
    magnetization = training_run.load_magnetization(args.magnetization)
    training_run.check_same_run(
        correlations=(args.correlations, epochs), magnetization=(args.magnetization, magnetization)
    )
    subcommunities.check_consistent(magnetization, classes, genes, args.magnetization)
    grok = grokking.load_grokking(args.grokking)
    if str(grok["community"]) != args.community:
        raise InputError(args.grokking, f"is for community {grok['community']!r}, not {args.community!r}")
    if args.min_correlation_contrast and args.graph_measure != "connected" and "graph" in args.methods:
        raise InputError(None, "--min-correlation-contrast needs --graph-measure connected (the final model's "
                         "correlations are not recorded)")
    final = None
    if args.graph_measure == "mutual_information" and "graph" in args.methods:
        final = final_state(args, classes, genes, magnetization)
    table, curve = subcommunities.subcommunity_table(
        epochs,
        classes,
        genes,
        connected,
        magnetization,
        community=args.community,
        transition_epoch=grok["transition_epoch"],
        methods=args.methods,
        threshold=args.threshold,
        epoch_window=args.epoch_window,
        graph_threshold=args.graph_threshold,
        resolution=args.resolution,
        min_size=args.min_size,
        seed=args.seed,
        magnetization_weight=args.magnetization_weight,
        min_contrast=args.min_contrast,
        graph_measure=args.graph_measure,
        mi_threshold=args.mi_threshold,
        final=final,
        min_correlation_contrast=args.min_correlation_contrast,
    )
    write_outputs(table, curve, *output_paths(args))
    return 0


def write_outputs(table, curve, members: Path, curve_path: Path) -> None:
    """Both tables renamed into ``--out-dir`` only after both are written (other files there stay)."""
    import pandas as pd

    from mpsomics.core.files import atomic_files

    if curve is None:  # header only without the paper method
        curve = pd.DataFrame(columns=subcommunities.CURVE_COLUMNS)
    with atomic_files([members, curve_path]) as (tmp_members, tmp_curve):
        table.to_csv(tmp_members, sep="\t", index=False, na_rep="")
        curve.to_csv(tmp_curve, sep="\t", index=False, na_rep="")


def final_state(args: argparse.Namespace, classes, genes, magnetization) -> subcommunities.FinalState:
    """Mutual information and magnetizations of ``--model``, checked against the run's files."""
    if args.model is None:
        raise InputError(None, "--graph-measure mutual_information needs --model (the run's model.npz)")
    from mpsomics.mps import observables
    from mpsomics.mps.state import load_model
    from mpsomics.ttn.classifier import is_ttn_file

    path = Path(args.model)
    if is_ttn_file(path):
        raise InputError(path, "is a TTN model: the mutual information is computed for MPS models only")
    state = load_model(path)
    if list(state.classes) != list(classes) or list(state.genes) != list(genes):
        raise InputError(path, f"its classes/genes differ from those of {args.correlations}: not the model of this run")
    try:
        mi = np.stack([observables.mutual_information(state, k) for k in range(state.n_classes)])
        mag = np.stack([observables.magnetization(state, k) for k in range(state.n_classes)])
    except ValueError as exc:  # e.g. a class whose state has zero norm
        raise InputError(path, f"cannot compute the mutual information: {exc}") from None
    epoch, notes = subcommunities.model_epoch(magnetization, classes, genes, mag)
    return subcommunities.FinalState(epoch=epoch, mutual_information=mi, magnetization=mag, notes=notes)


def output_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    """``{community}.tsv`` and ``{community}_curve.tsv`` in ``--out-dir``."""
    out = Path(args.out_dir)
    return out / f"{args.community}.tsv", out / f"{args.community}_curve.tsv"


def run_info_path(args: argparse.Namespace) -> Path:
    """Provenance beside the community's table: ``{community}.run_info.json``."""
    return Path(args.out_dir) / f"{args.community}.run_info.json"
