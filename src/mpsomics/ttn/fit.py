"""TTN fit driver: gene tree on the training samples, Adam training, history and observables.

The TTN counterpart of :func:`mpsomics.mps.fit.fit`, returning the same
``(model, history, observations)`` triple so that the train directory has the same
files whatever the model (:func:`mpsomics.dynamics.training_run.write_train_dir`):

* the gene tree is built from the **training** samples only
  (:func:`mpsomics.ttn.tree.gene_tree`) and the columns are reordered to its leaf order;
  the returned state's ``genes`` are that order (the "sites" of every per-gene output);
* training is always by gradient (:func:`mpsomics.ttn.train.train_ttn`, Adam), whatever
  ``config.method`` says; sweep-only settings, the validation split, early stopping and
  checkpoints are MPS-only and ignored;
* the history has :data:`mpsomics.mps.fit.HISTORY_COLUMNS` (``max_bond`` = largest edge
  dimension of the tree);
* observations are recorded per tree **edge** instead of per chain bond: ``entropy[k]``
  has shape (C, 2N - 3), column ``b`` is the edge above node ``b``
  (:mod:`mpsomics.ttn.observables`); the edge above node 2N - 3, always a child of the
  root, is left out because the two root edges cut the same bipartition (it would count
  the root split twice in a summed entropy). Magnetization (C, N) and connected
  correlations (C, N, N) are per leaf, in leaf order.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from mpsomics.core.metrics import classification_metrics
from mpsomics.mps.config import TrainConfig
from mpsomics.mps.fit import HISTORY_COLUMNS, Observations
from mpsomics.ttn.contract import predict
from mpsomics.ttn.state import TTNState
from mpsomics.ttn.tree import gene_tree, subtree_leaves

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_TTN_LR", "edge_entropies", "fit_ttn", "tree_table"]

#: Adam learning rate of the TTN when none is given (chosen by patient-grouped CV on the
#: training split of the default communities; docs/benchmarks.md "TTN vs MPS").
DEFAULT_TTN_LR = 0.005


def edge_entropies(observed: dict) -> np.ndarray:
    """Entropies per class and recorded edge, (C, 2N - 3): the duplicated root edge dropped."""
    return np.asarray(observed["entropy"], dtype=np.float64)[:, :-1]


def tree_table(state: TTNState) -> pd.DataFrame:
    """One row per node: ``node``, ``parent``, ``n_genes``, ``genes`` (comma-joined, leaf order)."""
    leaves = subtree_leaves(state.parent)
    return pd.DataFrame(
        {
            "node": np.arange(len(state.parent), dtype=np.int64),
            "parent": np.asarray(state.parent, dtype=np.int64),
            "n_genes": [len(lv) for lv in leaves],
            "genes": [",".join(state.genes[i] for i in lv) for lv in leaves],
        }
    )


def fit_ttn(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    genes: list[str],
    classes: list[str],
    config: TrainConfig,
    positive: int = 1,
    observe_every: int = 0,
    name: str | None = None,
    correlations: bool = True,
) -> tuple[TTNState, pd.DataFrame, Observations]:
    """Build the gene tree on ``X_train``, train a TTN, record history and observables.

    Parameters are those of :func:`mpsomics.mps.fit.fit` (columns of ``X_*`` in the
    order of ``genes``). Returns ``(state, history, observations)``; ``state.genes`` is
    the leaf order, which every per-gene observation follows.
    """
    from mpsomics.ttn.observables import observe_all
    from mpsomics.ttn.train import train_ttn

    genes = [str(g) for g in genes]
    X_train = np.asarray(X_train, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64).reshape(-1, X_train.shape[1])
    y_train = np.asarray(y_train, dtype=np.int64)
    y_test = np.asarray(y_test, dtype=np.int64)
    parent, ordered = gene_tree(X_train, genes)  # training samples only
    col = [genes.index(g) for g in ordered]
    X_train, X_test = X_train[:, col], X_test[:, col]
    X_all = np.concatenate([X_train, X_test], axis=0)
    n_train = len(X_train)
    rows: list[dict] = []
    obs = Observations()
    last = int(config.epochs)
    every = int(observe_every or 0)
    clock = {"t": time.perf_counter()}

    def on_epoch(epoch: int, state: TTNState, loss: float) -> None:
        seconds = time.perf_counter() - clock["t"]
        row = {"epoch": int(epoch), "loss": float(loss)}
        pred = predict(state, X_all) if len(X_all) else np.zeros(0, dtype=np.int64)
        for split, y, p in (("train", y_train, pred[:n_train]), ("test", y_test, pred[n_train:])):
            for key, val in classification_metrics(y, p, positive=positive).items():
                row[f"{split}_{key}"] = float(val)
        row["seconds"] = seconds
        row["max_bond"] = int(state.bond_dims().max())
        rows.append(row)
        if every > 0 and (epoch % every == 0 or epoch == last):
            o = observe_all(state, correlations=correlations)
            obs.epochs.append(int(epoch))
            obs.entropy.append(edge_entropies(o))
            obs.magnetization.append(np.asarray(o["magnetization"], dtype=np.float64))
            if correlations:
                obs.connected.append(np.asarray(o["correlation"], dtype=np.float64))
        clock["t"] = time.perf_counter()

    if config.method != "gradient":
        log.info("%s: the TTN is trained by gradient (Adam); method %r ignored", name or "ttn", config.method)
    state = train_ttn(
        X_train, y_train, parent=parent, genes=ordered, classes=list(classes), config=config,
        on_epoch=on_epoch,
    )
    history = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    history["epoch"] = history["epoch"].astype(np.int64)
    history["max_bond"] = history["max_bond"].astype(np.int64)
    return state, history, obs
