"""``mpsomics cv``: how well does a community classify, against its label-permutation null?

::

    mpsomics cv --expression results/prepared/expression.h5ad \\
        --genes results/communities/genes/c01.txt --model results/mps/c01/model.npz \\
        --community c01 --out results/validation/cv/c01.tsv \\
        [--folds 5] [--repeats 2] [--permutations 19] [--permutation-epochs 3] \\
        [--forest-permutations 0] [--bootstrap 1000] [--seed 0] [--threads 1] \\
        [MPS options of `mpsomics train`: --bond-dim 16 --epochs 60 --lr 0.005 ...]

On the training split only: repeated patient-grouped stratified K-fold (``--folds`` x
``--repeats``) of the MPS (trained with the given MPS options, ``--threads`` worker
processes) and of the baselines logistic regression and random forest on identical
folds; per model the mean fold AUC and balanced accuracy with a Nadeau-Bengio corrected
t interval, and a label-permutation p-value (``--permutations`` patient-respecting
permutations, each evaluated on repeat 0's folds with ``--permutation-epochs`` sweeps;
the observed statistic by the same cheap procedure). Then the final figure on the test
split: the trained ``--model`` (MPS or TTN) and the baselines fitted on the whole
training split, test AUC with a class-stratified bootstrap interval (``--bootstrap``),
balanced accuracy and class counts. Definitions: :mod:`mpsomics.validation.crossval`.

Writes one TSV, one row per model (``mps``, ``logistic_regression``, ``random_forest``),
columns :data:`mpsomics.validation.crossval.COLUMNS`; nothing on failure.
``--observe-every`` and ``--checkpoint-every`` are accepted (the config's ``mps`` section
is passed as a whole) and ignored: cross-validation fits record nothing.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mpsomics.commands.argtypes import integer
from mpsomics.commands.train import add_train_config_arguments, train_config
from mpsomics.core.errors import InputError

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--expression", required=True, help="prepared AnnData (.h5ad) from `mpsomics prepare`")
    p.add_argument("--genes", required=True, help="the community's gene list, one symbol per line")
    p.add_argument(
        "--model", required=True,
        help="model.npz of `mpsomics train` (MPS or TTN) for the test-split figure",
    )
    p.add_argument("--community", default=None, help="community id (default: name of --genes)")
    p.add_argument("--out", required=True, help="output TSV (results/validation/cv/{community}.tsv)")
    g = p.add_argument_group("cross-validation")
    g.add_argument("--folds", type=integer(2), default=5, help="K of patient-grouped stratified K-fold")
    g.add_argument("--repeats", type=integer(1), default=2, help="repeats of the K folds (new shuffle each)")
    g.add_argument(
        "--permutations", type=integer(0), default=19,
        help="label permutations of the null (MPS, logistic regression); 19 reach p = 0.05; 0 = none",
    )
    g.add_argument(
        "--permutation-epochs", type=integer(1), default=3,
        help="MPS sweeps of each permutation fit (and of the observed statistic it is compared with)",
    )
    g.add_argument(
        "--forest-permutations", type=integer(0), default=0,
        help="permutations of the random forest's null (0 = none: permutation_p NaN; ~0.5 s each)",
    )
    g.add_argument(
        "--bootstrap", type=integer(0), default=1000,
        help="class-stratified bootstrap replicates of the test AUC interval (0 = none)",
    )
    add_train_config_arguments(p, observe_every=0)


def run(args: argparse.Namespace) -> int:
    from mpsomics.core.files import atomic_path
    from mpsomics.core.readers import read_gene_list
    from mpsomics.ttn.classifier import load_classifier
    from mpsomics.validation import crossval
    from mpsomics.validation.folds import n_folds

    community = args.community or Path(args.genes).stem
    genes = read_gene_list(args.genes)
    config = train_config(args, model="mps")
    if config.seed < 0:
        raise InputError(None, f"--seed must be >= 0 (it seeds the folds and permutations), got {config.seed}")
    if config.method == "sweep" and len(genes) < 2:
        raise InputError(args.genes, "the sweep method needs at least 2 genes (two-site updates)")
    if args.observe_every:
        log.info("--observe-every %d ignored: cross-validation fits record nothing", args.observe_every)
    model = load_classifier(args.model)
    data = crossval.load_cv_data(args.expression, genes, args.genes)
    # checks that name the file at fault before any fitting
    try:
        crossval.check_model(model, data)
    except InputError as exc:
        raise InputError(args.model, exc.message) from None
    try:
        n_folds(data.y_train, data.groups_train, args.folds, warn=False)
    except InputError as exc:
        raise InputError(args.expression, exc.message) from None
    table = crossval.cross_validate(
        data, config, community=community, model=model, folds=args.folds,
        repeats=args.repeats, permutations=args.permutations,
        permutation_epochs=args.permutation_epochs,
        forest_permutations=args.forest_permutations, bootstrap=args.bootstrap,
        seed=config.seed, workers=config.threads,
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, sep="\t", index=False, na_rep="", float_format="%.6g")
    log.info("%s: %d models -> %s", community, len(table), out)
    return 0
