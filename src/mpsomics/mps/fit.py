"""Training driver: dispatch to the sweep or gradient trainer, record history and observables.

:func:`fit` runs one training (``config.method``), evaluates the model after
every epoch on the training and the test samples (test samples are only
evaluated, never used for any training decision), and, every ``observe_every``
epochs, records the exact observables of the current model
(:func:`mpsomics.mps.observables.observe_all`).

Predictions are ``argmax_l |f^l(x)|`` (:func:`mpsomics.mps.contract.predict`).

Validation split (``config.validation_fraction`` > 0): a stratified, seeded subset of
the *training* samples (:func:`validation_split`) is held out; the trainer sees only
the rest, and the held-out samples are evaluated after every epoch
(``validation_*`` history columns, appended after :data:`HISTORY_COLUMNS`). With
``config.early_stopping`` the returned model is the one of the epoch with the best
validation balanced accuracy (ties: the later epoch; ``history.attrs["best_epoch"]``),
and with ``config.patience`` = P > 0 training stops once it has not improved for P
epochs. The test samples never influence any of this.

Checkpoints (``checkpoint_path`` given and ``config.checkpoint_every`` = K > 0): after
every K-th epoch (not the last) the complete training state is written atomically to
``checkpoint_path``; a later call with the same inputs and settings resumes from it
(logging ``resuming from epoch E (checkpoint PATH)``) and returns exactly what the
uninterrupted run would have returned. See :mod:`mpsomics.mps.checkpoint` for what is
stored and when a checkpoint is used. :func:`fit` never deletes the checkpoint; the
caller does so once its outputs are safely written (``mpsomics train`` does). When
training diverges the last good checkpoint stays on disk and
:class:`TrainingDivergedError` names it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mpsomics.core.errors import NumericalError
from mpsomics.core.metrics import classification_metrics
from mpsomics.mps.config import TrainConfig
from mpsomics.mps.contract import predict
from mpsomics.mps.state import MPSState

log = logging.getLogger(__name__)

_METRICS = ("accuracy", "balanced_accuracy", "sensitivity", "specificity")
#: metric columns of the history that lie in [0, 1]
HISTORY_METRICS = tuple(f"{split}_{m}" for split in ("train", "test") for m in _METRICS)
#: other numeric columns of the history
HISTORY_NUMERIC = ("loss", "seconds", "max_bond")
#: Column order of the history frame (and of ``history.tsv``): the single definition,
#: which :mod:`mpsomics.dynamics.training_run` reads back.
HISTORY_COLUMNS = ["epoch", "loss", *HISTORY_METRICS, "seconds", "max_bond"]
#: extra history columns written when a validation split is used
VALIDATION_COLUMNS = [f"validation_{m}" for m in _METRICS]


class _StopTraining(Exception):
    """Raised from the epoch callback to end training early (patience exhausted)."""


def validation_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, validation) of a stratified split of the training labels ``y``.

    Every class with at least 2 samples contributes ``round(fraction * n_class)``
    samples (at least 1, at most n_class - 1) to the validation part; which ones is
    drawn from ``numpy.random.default_rng([seed, 0x7A11D])``, so the split is a
    deterministic function of (y, fraction, seed). Both index arrays are sorted.
    """
    y = np.asarray(y)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_fraction must lie in (0, 1), got {fraction}")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x7A11D])
    val = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if len(idx) < 2:
            continue
        k = int(min(max(1, round(fraction * len(idx))), len(idx) - 1))
        val.append(rng.permutation(idx)[:k])
    val_idx = np.sort(np.concatenate(val)) if val else np.zeros(0, dtype=np.int64)
    fit_idx = np.setdiff1d(np.arange(len(y)), val_idx)
    return fit_idx, val_idx


class TrainingDivergedError(NumericalError):
    """The loss or a tensor became NaN/inf; names the community and the epoch."""

    def __init__(
        self,
        community: str | None,
        epoch: int,
        detail: str = "",
        checkpoint: str | None = None,
        checkpoint_epoch: int | None = None,
    ) -> None:
        self.community = community
        self.epoch = epoch
        self.checkpoint = checkpoint
        self.detail = detail
        who = f"community {community}" if community else "training"
        extra = f" ({' '.join(str(detail).split())})" if detail else ""
        if checkpoint:
            hint = (
                f"last good checkpoint (epoch {checkpoint_epoch}) kept at {checkpoint}: "
                "rerun with a smaller --lr to resume from it, or --dtype float64"
            )
        else:
            hint = "try a smaller --lr or --dtype float64"
        super().__init__(
            None,
            f"{who}: training diverged at epoch {epoch}: loss or tensors became NaN/inf{extra}; "
            + hint,
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
    checkpoint_path: str | Path | None = None,
    correlations: bool = True,
    on_state: Callable[[int, MPSState], None] | None = None,
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
    checkpoint_path
        Write/resume checkpoints here every ``config.checkpoint_every`` epochs
        (None = off); see the module docstring. ``history.attrs["resumed_from_epoch"]``
        is the epoch resumed from (absent when not resumed).
    correlations
        Record the connected correlations (O(N^2 chi^3) per observed epoch); with
        False ``Observations.connected`` stays empty and only entropies and
        magnetizations are recorded.
    on_state
        ``on_state(epoch, model)`` after every epoch's record (epoch 0 included; not
        for the epochs restored from a checkpoint), for extra per-epoch measurements.

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
    ckpt_every = int(getattr(config, "checkpoint_every", 0) or 0)
    if checkpoint_path is None or ckpt_every <= 0:
        checkpoint_path = None
    resume = None
    fprint = None
    if checkpoint_path is not None:
        from mpsomics.mps import checkpoint as ckpt_mod

        checkpoint_path = Path(checkpoint_path)
        fprint = ckpt_mod.fingerprint(
            config,
            [X_train, y_train, X_test, y_test],
            genes=list(genes),
            classes=list(classes),
            extra={
                "positive": int(positive),
                "observe_every": int(observe_every or 0),
                **({} if correlations else {"correlations": False}),
            },
        )
        resume = ckpt_mod.load(
            checkpoint_path, expected_fingerprint=fprint, max_epoch=int(config.epochs)
        )
    splits = [("train", None, None), ("test", X_test, y_test)]
    use_val = float(config.validation_fraction or 0.0) > 0
    if use_val:
        fit_idx, val_idx = validation_split(y_train, float(config.validation_fraction), config.seed)
        X_val, y_val = X_train[val_idx], y_train[val_idx]
        X_train, y_train = X_train[fit_idx], y_train[fit_idx]
        splits.append(("validation", X_val, y_val))
    splits[0] = ("train", X_train, y_train)
    best = {"epoch": -1, "score": -np.inf, "state": None, "since": 0, "last": None}
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
    saved = {"epoch": None}  # epoch of the last checkpoint written or resumed from
    trainer_resume = None
    if resume is not None:
        f = resume["fit"]
        rows.extend(f["rows"])
        for e, ent, mag in zip(f["obs_epochs"], f["entropy"], f["magnetization"], strict=True):
            obs.epochs.append(int(e))
            obs.entropy.append(ckpt_mod.to_numpy(ent))
            obs.magnetization.append(ckpt_mod.to_numpy(mag))
        obs.connected.extend(ckpt_mod.to_numpy(con) for con in f["connected"])
        for e, svs in f["singular_values"].items():
            obs.singular_values[int(e)] = ckpt_mod.to_numpy(svs)
        b = f["best"]
        best.update(epoch=int(b["epoch"]), score=float(b["score"]), since=int(b["since"]))
        if b["sites"] is not None:
            best["state"] = MPSState(
                sites=ckpt_mod.to_numpy(b["sites"]),
                label_site=int(b["label_site"]),
                genes=list(genes),
                classes=list(classes),
            )
        trainer_resume = resume["trainer"]
        if config.method == "sweep":
            trainer_resume = ckpt_mod.to_numpy(trainer_resume)
        clock["epoch"] = saved["epoch"] = int(resume["epoch"])
        log.info("resuming from epoch %d (checkpoint %s)", int(resume["epoch"]), checkpoint_path)
        if resume.get("lr") is not None and float(resume["lr"]) != float(config.lr):
            log.warning(
                "the checkpoint was trained with lr %g, continuing with lr %g",
                float(resume["lr"]),
                float(config.lr),
            )
        if bar is not None:
            bar.update(int(resume["epoch"]))

    def on_checkpoint(epoch: int, get_state) -> None:
        if epoch % ckpt_every != 0 or epoch >= last_epoch:
            return
        b = best["state"]
        payload = {
            "version": ckpt_mod.VERSION,
            "fingerprint": fprint,
            "epoch": int(epoch),
            "method": config.method,
            "lr": float(config.lr),
            "trainer": ckpt_mod.to_saveable(get_state())
            if config.method == "sweep"
            else get_state(),
            "fit": ckpt_mod.to_saveable(
                {
                    "rows": rows,
                    "obs_epochs": list(obs.epochs),
                    "entropy": obs.entropy,
                    "magnetization": obs.magnetization,
                    "connected": obs.connected,
                    "singular_values": {int(k): v for k, v in obs.singular_values.items()},
                    "best": {
                        "epoch": int(best["epoch"]),
                        "score": float(best["score"]),
                        "since": int(best["since"]),
                        "sites": None if b is None else list(b.sites),
                        "label_site": None if b is None else int(b.label_site),
                    },
                }
            ),
        }
        ckpt_mod.save(checkpoint_path, payload)
        saved["epoch"] = int(epoch)
        log.debug("checkpoint at epoch %d -> %s", epoch, checkpoint_path)
        clock["t"] = time.perf_counter()  # the write does not count towards the next epoch

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
        for split, X, y in splits:
            pred = predict(state, X) if len(X) else np.zeros(0, dtype=np.int64)
            for key, val in classification_metrics(y, pred, positive=positive).items():
                row[f"{split}_{key}"] = float(val)
        row["seconds"] = seconds
        row["max_bond"] = _max_bond(state)
        rows.append(row)
        if observe_all is not None and (epoch % observe_every == 0 or epoch == last_epoch):
            o = observe_all(state, correlations=correlations)
            obs.epochs.append(int(epoch))
            obs.entropy.append(np.asarray(o["entropy"], dtype=np.float64))
            obs.magnetization.append(np.asarray(o["magnetization"], dtype=np.float64))
            if correlations:
                obs.connected.append(np.asarray(o["connected"], dtype=np.float64))
            if epoch in sv_all:
                obs.singular_values[epoch] = sv_all[epoch]
        sv_all.pop(epoch, None)
        if on_state is not None:
            on_state(int(epoch), state)
        if bar is not None and epoch > 0:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}", test_bacc=f"{row['test_balanced_accuracy']:.3f}")
        clock["t"] = time.perf_counter()
        best["last"] = state
        if use_val:
            score = row["validation_balanced_accuracy"]
            score = -np.inf if not np.isfinite(score) else float(score)
            if score >= best["score"]:  # ties: the later epoch
                if score > best["score"]:
                    best["since"] = 0
                best.update(epoch=int(epoch), score=score, state=state)
            else:
                best["since"] += 1
            if epoch > 0 and config.patience and best["since"] >= int(config.patience):
                raise _StopTraining

    kwargs = dict(genes=list(genes), classes=list(classes), config=config, on_epoch=on_epoch)
    if checkpoint_path is not None:
        kwargs.update(on_checkpoint=on_checkpoint, resume=trainer_resume)

    def diverged(epoch: int, detail: str) -> TrainingDivergedError:
        have = checkpoint_path is not None and saved["epoch"] is not None
        return TrainingDivergedError(
            community,
            epoch,
            detail,
            checkpoint=str(checkpoint_path) if have else None,
            checkpoint_epoch=saved["epoch"] if have else None,
        )

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
    except _StopTraining:
        state = best["last"]  # the model of the last epoch run
    except TrainingDivergedError as exc:
        raise diverged(exc.epoch, exc.detail) from exc
    except (FloatingPointError, np.linalg.LinAlgError) as exc:
        raise diverged(clock["epoch"] + 1, str(exc)) from exc
    finally:
        if bar is not None:
            bar.close()
    columns = HISTORY_COLUMNS + (VALIDATION_COLUMNS if use_val else [])
    history = pd.DataFrame(rows, columns=columns)
    history["epoch"] = history["epoch"].astype(np.int64)
    history["max_bond"] = history["max_bond"].astype(np.int64)
    if resume is not None:
        history.attrs["resumed_from_epoch"] = int(resume["epoch"])
        history.attrs["resumed_lr"] = float(resume["lr"])
    if use_val:
        history.attrs["best_epoch"] = best["epoch"]
        if config.early_stopping and best["state"] is not None:
            state = best["state"]
    return state, history, obs
