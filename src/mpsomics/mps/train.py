"""Training driver: dispatch to the sweep or gradient trainer, record history and observables.

:func:`fit` runs one training (``config.method``), evaluates the model after
every epoch on the training and the test samples (test samples are only
evaluated, never used for any training decision), and, every ``observe_every``
epochs, records the exact observables of the current model
(:func:`mpsomics.mps.observables.observe_all`).

Predictions are ``argmax_l |f^l(x)|`` (:func:`mpsomics.mps.contract.predict`).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mpsomics.errors import InputError
from mpsomics.metrics import classification_metrics
from mpsomics.mps.config import TrainConfig
from mpsomics.mps.contract import predict
from mpsomics.mps.state import MPSState

log = logging.getLogger(__name__)

#: Column order of ``history.tsv``.
HISTORY_COLUMNS = [
    "epoch",
    "loss",
    "train_accuracy",
    "train_balanced_accuracy",
    "train_sensitivity",
    "train_specificity",
    "test_accuracy",
    "test_balanced_accuracy",
    "test_sensitivity",
    "test_specificity",
    "seconds",
    "max_bond",
]


class TrainingDivergedError(InputError):
    """The loss or a tensor became NaN/inf; names the community and the epoch."""

    def __init__(self, community: str | None, epoch: int, detail: str = "") -> None:
        self.community = community
        self.epoch = epoch
        who = f"community {community}" if community else "training"
        extra = f" ({detail})" if detail else ""
        super().__init__(
            None,
            f"{who}: training diverged at epoch {epoch}: loss or tensors became NaN/inf{extra}; "
            "try a smaller --lr or --dtype float64",
        )


@dataclass
class Observations:
    """Observables recorded during training, one entry per observed epoch.

    ``entropy[k]`` (C, N-1), ``magnetization[k]`` (C, N), ``connected[k]``
    (C, N, N) belong to ``epochs[k]``. ``singular_values`` maps an epoch to the
    list of N-1 bond spectra (sweep method only, same epochs).
    """

    epochs: list[int] = field(default_factory=list)
    entropy: list[np.ndarray] = field(default_factory=list)
    magnetization: list[np.ndarray] = field(default_factory=list)
    connected: list[np.ndarray] = field(default_factory=list)
    singular_values: dict[int, list[np.ndarray]] = field(default_factory=dict)


def _max_bond(state: MPSState) -> int:
    dims = state.bond_dims
    return int(max(dims)) if dims else 1


def _threads(n: int):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(max(1, int(n)))


def fit(
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
    community: str | None = None,
    progress: bool | None = None,
) -> tuple[MPSState, pd.DataFrame, Observations]:
    """Train one MPS classifier and record its history.

    Parameters
    ----------
    X_train, y_train
        Training samples (n, N) in [0, 1] and integer class indices.
    X_test, y_test
        Evaluated after every epoch only; may be empty (metrics NaN).
    genes, classes
        Site and label names.
    config
        :class:`TrainConfig`; ``config.method`` selects the trainer.
    positive
        Index of the positive class for sensitivity/specificity.
    observe_every
        Record observables at epochs 0, K, 2K, ... and the last one (0 = never).
    community
        Name used in error messages and the progress bar.
    progress
        Show a tqdm bar; ``None`` = only when stderr is a terminal.

    Returns
    -------
    (final model, history DataFrame with :data:`HISTORY_COLUMNS`, :class:`Observations`)

    Raises
    ------
    TrainingDivergedError
        When the loss or any tensor becomes non-finite.
    """
    X_train = np.asarray(X_train, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64).reshape(-1, X_train.shape[1])
    y_train = np.asarray(y_train, dtype=np.int64)
    y_test = np.asarray(y_test, dtype=np.int64)
    observe_every = int(observe_every or 0)
    last_epoch = int(config.epochs)
    rows: list[dict] = []
    obs = Observations()
    sv_all: dict[int, list[np.ndarray]] = {}
    observe_all = None
    if observe_every > 0:
        from mpsomics.mps.observables import observe_all  # noqa: F811 (lazy: colleague's module)

    if progress is None:
        progress = bool(getattr(sys.stderr, "isatty", lambda: False)())
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=last_epoch, desc=community or "train", unit="epoch", file=sys.stderr, leave=False
        )

    clock = {"t": time.perf_counter(), "epoch": 0}

    def on_sv(epoch: int, svs: list[np.ndarray]) -> None:
        sv_all[epoch] = [np.asarray(s, dtype=np.float64) for s in svs]

    def on_epoch(epoch: int, state: MPSState, loss: float) -> None:
        seconds = time.perf_counter() - clock["t"]
        clock["epoch"] = epoch
        if epoch > 0 and not np.isfinite(loss):
            raise TrainingDivergedError(community, epoch, "loss")
        if not all(np.all(np.isfinite(t)) for t in state.sites):
            raise TrainingDivergedError(community, epoch, "tensors")
        row = {"epoch": int(epoch), "loss": float(loss)}
        for split, X, y in (("train", X_train, y_train), ("test", X_test, y_test)):
            pred = predict(state, X) if len(X) else np.zeros(0, dtype=np.int64)
            for key, val in classification_metrics(y, pred, positive=positive).items():
                row[f"{split}_{key}"] = val
        row["seconds"] = seconds
        row["max_bond"] = _max_bond(state)
        rows.append(row)
        if observe_all is not None and (epoch % observe_every == 0 or epoch == last_epoch):
            o = observe_all(state)
            obs.epochs.append(int(epoch))
            obs.entropy.append(np.asarray(o["entropy"], dtype=np.float64))
            obs.magnetization.append(np.asarray(o["magnetization"], dtype=np.float64))
            obs.connected.append(np.asarray(o["connected"], dtype=np.float64))
            if epoch in sv_all:
                obs.singular_values[epoch] = sv_all[epoch]
        sv_all.pop(epoch, None)
        if bar is not None and epoch > 0:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}", test_bacc=f"{row['test_balanced_accuracy']:.3f}")
        clock["t"] = time.perf_counter()

    kwargs = dict(genes=list(genes), classes=list(classes), config=config, on_epoch=on_epoch)
    try:
        with _threads(config.threads):
            if config.method == "sweep":
                from mpsomics.mps.sweep import train_sweep

                state = train_sweep(X_train, y_train, on_singular_values=on_sv, **kwargs)
            elif config.method == "gradient":
                from mpsomics.mps.gradient import train_gradient

                state = train_gradient(X_train, y_train, **kwargs)
            else:
                raise ValueError(f"unknown method {config.method!r}")
    except (FloatingPointError, np.linalg.LinAlgError) as exc:
        raise TrainingDivergedError(community, clock["epoch"] + 1, str(exc)) from exc
    finally:
        if bar is not None:
            bar.close()
    history = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    history["epoch"] = history["epoch"].astype(np.int64)
    history["max_bond"] = history["max_bond"].astype(np.int64)
    return state, history, obs
