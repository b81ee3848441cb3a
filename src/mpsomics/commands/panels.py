"""``mpsomics panels``: the smallest gene panel of a community that classifies as well as all of it.

::

    mpsomics panels --expression results/prepared/expression.h5ad \\
        --genes results/communities/genes/c01.txt --community c01 \\
        --out-dir results/panels/ \\
        [--folds 5] [--repeats 1] [--rate 0.2] [--min-sites 2] [--tolerance 0.01] \\
        [--permutations 19] [--permutation-epochs 3] [--bootstrap 1000] [--workers 1] \\
        [MPS options of `mpsomics train`: --bond-dim 16 --epochs 60 --lr 0.005 --seed 0 ...]

Lottery-ticket pruning of the community's MPS on the training split: per patient-grouped
fold (``--folds`` x ``--repeats``) the dense MPS, then rounds that drop ``--rate`` of the
remaining sites by an ablation importance and retrain on the kept ones from the dense
run's rewound initial state (and, for comparison, from a fresh one); an L1-logistic
baseline at every size; the panel = the smallest size whose rewind CV AUC is within
``--tolerance`` of the dense one, its genes from the same chain run on the whole training
split; a patient-respecting label-permutation null of the panel AUC; the test-split AUCs
of the dense, panel and L1-panel models as the final figure. Definitions:
:mod:`mpsomics.validation.panels`.

Writes ``{community}.tsv`` (the curve, columns
:data:`~mpsomics.validation.panels.CURVE_COLUMNS`) and ``{community}_summary.tsv`` (one
row, :data:`~mpsomics.validation.panels.SUMMARY_COLUMNS`; ``mpsomics panels-summary``
joins them) into ``--out-dir`` (other files there are left alone); nothing on failure. ``--threads``,
``--observe-every`` and ``--checkpoint-every`` are accepted (the config's ``mps`` section
is passed as a whole) and ignored: the fits run single-threaded in ``--workers``
processes and record nothing.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mpsomics.commands.argtypes import integer, number
from mpsomics.commands.train import add_train_config_arguments, train_config
from mpsomics.core.errors import InputError

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--expression", required=True, help="prepared AnnData (.h5ad) from `mpsomics prepare`")
    p.add_argument("--genes", required=True, help="the community's gene list, one symbol per line")
    p.add_argument("--community", default=None, help="community id (default: name of --genes)")
    p.add_argument("--out-dir", required=True, help="output directory (results/panels/): {community}.tsv and {community}_summary.tsv")
    g = p.add_argument_group("panels")
    g.add_argument("--folds", type=integer(2), default=5, help="K of patient-grouped stratified K-fold")
    g.add_argument("--repeats", type=integer(1), default=1, help="repeats of the K folds")
    g.add_argument("--rate", type=number(), default=0.2,
                   help="fraction of the remaining sites pruned per round, in (0, 1); at least one site")
    g.add_argument("--min-sites", type=integer(0), default=2,
                   help="smallest pruned chain (>= 2: the sweep updates two sites at a time)")
    g.add_argument("--tolerance", type=number(), default=0.01,
                   help="panel = smallest size whose rewind CV AUC >= dense CV AUC - tolerance")
    g.add_argument("--permutations", type=integer(0), default=19,
                   help="label permutations of the panel AUC null; 19 reach p = 0.05; 0 = none")
    g.add_argument("--permutation-epochs", type=integer(1), default=3,
                   help="MPS sweeps of each fit of the cheap null procedure (and of its observed value)")
    g.add_argument("--bootstrap", type=integer(0), default=1000,
                   help="class-stratified bootstrap replicates of the test AUC intervals (0 = none)")
    g.add_argument("--workers", type=integer(1), default=1, help="processes for the MPS fits")
    add_train_config_arguments(p, observe_every=0)


def run(args: argparse.Namespace) -> int:
    from mpsomics.core.files import atomic_files
    from mpsomics.core.readers import read_gene_list
    from mpsomics.validation import crossval, panels
    from mpsomics.validation.folds import n_folds

    community = args.community or Path(args.genes).stem
    genes = read_gene_list(args.genes)
    config = train_config(args, model="mps")
    options = dict(folds=args.folds, repeats=args.repeats, rate=args.rate,
                   min_sites=args.min_sites, tolerance=args.tolerance,
                   permutations=args.permutations, permutation_epochs=args.permutation_epochs)
    if len(genes) < panels.MIN_SITES:
        raise InputError(args.genes, f"panels need at least {panels.MIN_SITES} genes, the list has "
                                     f"{len(genes)}")
    panels.check_options(len(genes), config, **options)
    data = crossval.load_cv_data(args.expression, genes, args.genes)
    try:
        n_folds(data.y_train, data.groups_train, args.folds, warn=False)
    except InputError as exc:
        raise InputError(args.expression, exc.message) from None
    curve, summary = panels.panel_tables(
        data, config, community=community, bootstrap=args.bootstrap, workers=args.workers,
        **options,
    )
    out = Path(args.out_dir)
    # both files renamed only after both are written, not an atomic directory:
    # --out-dir may hold other files, which must survive
    with atomic_files([out / f"{community}.tsv", out / f"{community}_summary.tsv"]) as (tmp_curve, tmp_sum):
        curve.to_csv(tmp_curve, sep="\t", index=False, na_rep="", float_format="%.6g")
        summary.to_csv(tmp_sum, sep="\t", index=False, na_rep="", float_format="%.6g")
    log.info("%s: panel of %s genes -> %s", community, summary["panel_size"].iloc[0], out)
    return 0
