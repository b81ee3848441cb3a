"""``mpsomics controls``: label-permutation controls of one community's entanglement transition.

::

    mpsomics controls --expression results/prepared/expression.h5ad \\
        --genes results/communities/genes/c03.txt --out-dir results/controls/c03 \\
        --controls 19 [every option of `mpsomics train` but --model]

Trains ``--controls K`` MPS classifiers with the same settings and initial state as
``mpsomics train`` on the same gene list, each on a patient-respecting permutation of the
training labels (:mod:`mpsomics.dynamics.controls`), recording the entanglement entropy
every ``--observe-every`` epochs. Outputs in ``--out-dir`` (all or nothing):
``entanglement_trajectory.tsv`` (``control``, ``epoch``, ``label``, ``bond``, ``entropy``)
and ``history.tsv`` (``control`` + the columns of the train history). ``mpsomics grokking
--control-entanglement`` compares the real run's transition with them.

``--compare-updates fixed,free`` also trains the community with those sweep updates
(``--output-scale``), everything else unchanged, each with its transition and, when it has
one, its own controls (:func:`mpsomics.dynamics.controls.compare_updates`): ``modes.tsv``
(one row per update) and ``modes_entanglement.tsv`` (``output_scale``, ``epoch``, ``label``,
``bond``, ``entropy``); both header-only without ``--compare-updates``.

With ``--entanglement`` (the real run's ``entanglement_trajectory.tsv``) controls are trained
only when the real run has a transition (:func:`mpsomics.dynamics.grokking.entropy_transition`
with ``--min-drop``): without one there is nothing a control could take away, and the
outputs are written with a header only (0 controls), which ``grokking`` reads as such.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pandas as pd

from mpsomics.commands.argtypes import field_choices, integer, number, random_seed
from mpsomics.commands.train import add_train_config_arguments, read_inputs, train_config
from mpsomics.core.errors import InputError
from mpsomics.core.files import atomic_dir
from mpsomics.dynamics import grokking, training_run
from mpsomics.dynamics.controls import ENTANGLEMENT_COLUMNS, train_controls
from mpsomics.mps.config import TrainConfig

log = logging.getLogger(__name__)

MODES_FILE = "modes.tsv"
MODES_ENTANGLEMENT_FILE = "modes_entanglement.tsv"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--expression", required=True, help="prepared AnnData (.h5ad) from `mpsomics prepare`")
    p.add_argument("--genes", required=True, help="gene list, one symbol per line, in MPS site order")
    p.add_argument("--out-dir", required=True, help="output directory (replaced as a whole on success)")
    p.add_argument("--community", default=None, help="name used in messages (default: name of --out-dir)")
    p.add_argument(
        "--controls", type=integer(1), default=19,
        help="number K of label-permutation controls (a transition that beats all K has p = 1/(K+1))",
    )
    p.add_argument(
        "--permutation-seed", type=random_seed, default=None,
        help="seed of the label permutations (default: --seed)",
    )
    p.add_argument(
        "--entanglement", default=None,
        help="the real run's entanglement_trajectory.tsv: train controls only when it has a transition",
    )
    p.add_argument(
        "--min-drop", type=number(0, 1), default=grokking.DEFAULTS["min_drop"],
        help="with --entanglement: the transition threshold of `mpsomics grokking --min-drop`",
    )
    p.add_argument(
        "--compare-updates", type=_modes, default=[],
        help="comma-separated sweep updates (output_scale values) to train beside the run's, "
        "each with its transition and controls, e.g. fixed,free (default: none)",
    )
    add_train_config_arguments(p, observe_every=1)


def _modes(text: str) -> list[str]:

    allowed = field_choices(TrainConfig, "output_scale")
    modes = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in modes if m not in allowed]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown update {bad[0]!r}; choose from {', '.join(allowed)}")
    return modes


def _write_modes(tmp: Path, args, genes, data, config, seed: int, community: str) -> None:
    """``modes.tsv`` and ``modes_entanglement.tsv`` (header-only without --compare-updates)."""
    from mpsomics.dynamics.controls import MODES_COLUMNS, compare_updates

    if args.compare_updates:
        table, ent = compare_updates(
            data["X_train"], data["y_train"], data["groups_train"], genes=genes, classes=data["classes"],
            config=config, modes=args.compare_updates, n_controls=args.controls, seed=seed,
            min_drop=args.min_drop, positive=data["positive"], name=community,
        )
    else:
        table = pd.DataFrame(columns=MODES_COLUMNS)
        ent = pd.DataFrame(columns=["output_scale", "epoch", "label", "bond", "entropy"])
    table.to_csv(tmp / MODES_FILE, sep="\t", index=False, na_rep="")
    ent.to_csv(tmp / MODES_ENTANGLEMENT_FILE, sep="\t", index=False)


def _real_transition(path: str, min_drop: float) -> str:
    """The transition status of the real run's summed entropy."""
    wide = grokking.total_entropy(training_run.load_entanglement(path))
    res = grokking.entropy_transition(wide.index.to_numpy(), wide["total"].to_numpy(), min_drop=min_drop)
    return str(res["transition_status"])


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    out = Path(args.out_dir)
    community = args.community or out.name
    if args.observe_every < 1:
        raise InputError(None, "--observe-every must be >= 1: the controls' entropies are their point")
    args.model = "mps"
    genes, data = read_inputs(args)
    config = train_config(args, model="mps")
    seed = config.seed if args.permutation_seed is None else args.permutation_seed
    if args.entanglement is not None:
        status = _real_transition(args.entanglement, args.min_drop)
        if status != "transition":
            log.info("%s: the real run has no transition (%s): no controls trained", community, status)
            with atomic_dir(out) as tmp:
                pd.DataFrame(columns=ENTANGLEMENT_COLUMNS).to_csv(
                    tmp / training_run.CONTROL_ENTANGLEMENT_FILE, sep="\t", index=False
                )
                pd.DataFrame(columns=["control", "epoch"]).to_csv(
                    tmp / training_run.CONTROL_HISTORY_FILE, sep="\t", index=False
                )
                _write_modes(tmp, args, genes, data, config, seed, community)
            return 0
    log.info(
        "%s: %d label-permutation controls, %d genes, %d train samples, chi %d, %d epochs",
        community, args.controls, len(genes), len(data["y_train"]), config.bond_dim, config.epochs,
    )
    entanglement, history = train_controls(
        data["X_train"], data["y_train"], data["groups_train"], data["X_test"], data["y_test"],
        genes=genes, classes=data["classes"], config=config, n_controls=args.controls, seed=seed,
        positive=data["positive"], observe_every=args.observe_every, name=community,
    )
    with atomic_dir(out) as tmp:
        entanglement.to_csv(tmp / training_run.CONTROL_ENTANGLEMENT_FILE, sep="\t", index=False)
        history.to_csv(tmp / training_run.CONTROL_HISTORY_FILE, sep="\t", index=False, na_rep="NaN")
        _write_modes(tmp, args, genes, data, config, seed, community)
    log.info("%s: %d controls in %.1f s -> %s", community, args.controls, time.perf_counter() - t0, out)
    return 0
