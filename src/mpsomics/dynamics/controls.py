"""Label-permutation controls of the entanglement transition.

The paper's Fashion-MNIST experiment has a control task, sneaker vs sneaker, that cannot
generalise; its entanglement collapses too (``docs/reproduction.md``), so a collapse alone
does not show that a model learned anything. The control of a gene community is the same:
the same genes, samples, settings and initial state, trained on *permuted training labels*
(patient-respecting permutations, :func:`mpsomics.core.stats.label_permutations`, so each
patient keeps its mix of tumour and normal samples). A model trained on them can only
memorise. :func:`mpsomics.dynamics.grokking.analyze` then counts the real run's transition
only when it loses a larger fraction of its peak entanglement than every control.

The test samples keep their true labels: a control's test accuracy measures nothing but
chance, which is what a control should show.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pandas as pd

from mpsomics.core.stats import label_permutations
from mpsomics.dynamics.training_run import entanglement_frame
from mpsomics.mps.config import TrainConfig

log = logging.getLogger(__name__)

#: entropies of the controls: the train directory's columns with ``control`` first
ENTANGLEMENT_COLUMNS = ["control", "epoch", "label", "bond", "entropy"]


def train_controls(
    X_train: np.ndarray,
    y_train: np.ndarray,
    groups_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    genes: list[str],
    classes: list[str],
    config: TrainConfig,
    n_controls: int,
    seed: int,
    positive: int = 1,
    observe_every: int = 1,
    name: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train ``n_controls`` fits on permuted training labels; return their entropies and histories.

    Parameters
    ----------
    X_train, y_train, groups_train
        Training samples, class indices and patients (permutations respect patients).
    X_test, y_test
        Evaluated only (true labels): a control's test accuracy should be at chance.
    genes, classes, config
        As for :func:`mpsomics.mps.fit.fit`; every control uses ``config`` unchanged
        (same seed, so the same initial state as the real run); checkpoints are off.
    n_controls
        K >= 1.
    seed
        Seed of the permutations (control k uses permutation k).
    observe_every
        Record the entropies every this many epochs (as the real run does).

    Returns
    -------
    (entanglement, history)
        ``entanglement``: :data:`ENTANGLEMENT_COLUMNS`; ``history``: ``control`` and the
        columns of :func:`mpsomics.mps.fit.fit`'s history.
    """
    from mpsomics.mps.fit import fit

    if n_controls < 1:
        raise ValueError("n_controls must be >= 1")
    if observe_every < 1:
        raise ValueError("controls need observe_every >= 1 (their entropies are the point)")
    config = replace(config, checkpoint_every=0)
    perms = label_permutations(np.asarray(y_train), np.asarray(groups_train), n_controls, seed=seed)
    ent, hist = [], []
    for k in range(n_controls):
        _, history, obs = fit(
            X_train, perms[k], X_test, y_test, genes=genes, classes=classes, config=config,
            positive=positive, observe_every=observe_every, name=f"{name or 'run'} control {k}",
            progress=False, correlations=False,
        )
        e = entanglement_frame(obs, classes)
        e.insert(0, "control", k)
        history = history.copy()
        history.insert(0, "control", k)
        ent.append(e)
        hist.append(history)
        log.info(
            "%s control %d/%d: final train balanced accuracy %.3f (permuted labels)",
            name or "run", k + 1, n_controls, float(history["train_balanced_accuracy"].iloc[-1]),
        )
    return pd.concat(ent, ignore_index=True), pd.concat(hist, ignore_index=True)


#: columns of ``modes.tsv`` (:func:`compare_updates`)
MODES_COLUMNS = [
    "output_scale", "transition_status", "transition_epoch", "entropy_drop", "peak_entropy",
    "final_entropy", "n_controls", "control_max_drop", "control_p", "beats_control",
    "final_train_balanced_accuracy",
]


def compare_updates(
    X_train: np.ndarray,
    y_train: np.ndarray,
    groups_train: np.ndarray,
    *,
    genes: list[str],
    classes: list[str],
    config: TrainConfig,
    modes: list[str],
    n_controls: int,
    seed: int,
    min_drop: float,
    positive: int = 1,
    name: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same community trained with other sweep updates (``output_scale``), transition and controls each.

    Answers, per community of the default run, what the paper's update (``fixed``) and the
    free-norm update (``free``) would show with otherwise identical settings: each mode is
    one fit on the true training labels (entropies every epoch, no test data); its
    transition (:func:`mpsomics.dynamics.grokking.entropy_transition`) is compared with
    ``n_controls`` label-permutation controls of that mode, trained only when it has one.

    Returns
    -------
    (table, entanglement)
        ``table``: one row per mode, :data:`MODES_COLUMNS`; ``entanglement``: ``output_scale``,
        ``epoch``, ``label``, ``bond``, ``entropy`` of the real fits.
    """
    from mpsomics.dynamics import grokking
    from mpsomics.mps.fit import fit

    rows, frames = [], []
    empty = np.zeros((0, np.asarray(X_train).shape[1]))
    for mode in modes:
        cfg = replace(config, output_scale=mode, checkpoint_every=0)
        _, history, obs = fit(
            X_train, y_train, empty, np.zeros(0, dtype=np.int64), genes=genes, classes=classes, config=cfg,
            positive=positive, observe_every=1, name=f"{name or 'run'} ({mode})", progress=False,
            correlations=False,
        )
        ent = entanglement_frame(obs, classes)
        wide = grokking.total_entropy(ent)
        res = grokking.entropy_transition(wide.index.to_numpy(), wide["total"].to_numpy(), min_drop=min_drop)
        ctrl = None
        if res["transition_status"] == "transition" and n_controls > 0:
            ctrl, _ = train_controls(
                X_train, y_train, groups_train, empty, np.zeros(0, dtype=np.int64), genes=genes,
                classes=classes, config=cfg, n_controls=n_controls, seed=seed, positive=positive, name=name,
            )
        c = grokking.control_columns(res, ctrl, initial_epochs=None, rate_smooth=3, min_drop=min_drop)
        peak = float(wide["total"].max())
        rows.append({
            "output_scale": mode, "transition_status": res["transition_status"],
            "transition_epoch": res["transition_epoch"], "entropy_drop": res["entropy_drop"],
            "peak_entropy": peak, "final_entropy": float(wide["total"].iloc[-1]),
            "n_controls": c["n_controls"], "control_max_drop": c["control_max_drop"],
            "control_p": c["control_p"], "beats_control": c["beats_control"],
            "final_train_balanced_accuracy": float(history["train_balanced_accuracy"].iloc[-1]),
        })
        ent.insert(0, "output_scale", mode)
        frames.append(ent)
        log.info("%s (%s): %s, entropy drop %.2f, beats its controls: %s", name or "run", mode,
                 res["transition_status"], res["entropy_drop"], c["beats_control"])
    entanglement = (
        pd.concat(frames, ignore_index=True) if frames
        else pd.DataFrame(columns=["output_scale", "epoch", "label", "bond", "entropy"])
    )
    return pd.DataFrame(rows, columns=MODES_COLUMNS), entanglement
