"""Training driver: dispatch to the sweep or gradient trainer, record history and observables.

:class:`Fit` (``Fit(...).run()``, or the function :func:`fit`) runs one training
(``config.method``), evaluates the model after
every epoch on the training and the test samples (test samples are only
evaluated, never used for any training decision), and, every ``observe_every``
epochs, records the exact observables of the current model
(:func:`mpsomics.mps.observables.observe_all`) and, every ``representation_every`` epochs,
the representation metrics of the fit samples (:mod:`mpsomics.mps.representation`:
entropy, purity and effective rank of the samples' representation density matrix and
the class state's Rényi-2 entropy and Schmidt gap, at every bond and class; off by
default).

Predictions are ``argmax_l |f^l(x)|`` (:func:`mpsomics.mps.contract.predict`, all
splits in one contraction per epoch). Observables during training come from
:func:`mpsomics.mps.observables.observe_training` (one transfer-matrix pass for the
right-canonical states the sweep trainer hands over; :func:`observe_all` otherwise).
Many fits of one dataset in one job: :mod:`mpsomics.mps.fits`.

History (``history.tsv``): :data:`HISTORY_COLUMNS`, then :data:`VALIDATION_COLUMNS` (with a
validation split), then the diagnostics of the learned state (:mod:`mpsomics.mps.diagnostics`,
sweep and gradient alike): :data:`DIAGNOSTIC_COLUMNS` (``norm`` = ||W|| over all classes,
``max_abs_f`` = max |f_l(x_n)| over the fit samples, and the nearest-centroid kernel
classifier's ``centroid_train_balanced_accuracy`` / ``centroid_test_balanced_accuracy``,
constant over epochs) and one ``centroid_overlap_<class>`` per class
(:data:`CENTROID_OVERLAP_PREFIX`; <W_l|c_l> / (|W_l| |c_l|) with the class centroid c_l of
the fit samples). The scores of every split come from one :func:`~mpsomics.mps.contract.log_scores`
contraction per epoch, which gives both the predictions and the overlaps and max |f|; the
kernel Gram matrix of the fit samples is computed once per fit. Cost: ~3 % of a default
fit (chi 16, 48 genes, 134 samples, 60 sweeps).

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
from mpsomics.mps import diagnostics
from mpsomics.mps.config import TrainConfig
from mpsomics.mps.contract import log_scores
from mpsomics.mps.state import MPSState

log = logging.getLogger(__name__)

#: Without a progress bar, :class:`Fit` logs a progress line every this many epochs …
PROGRESS_EPOCHS = 10
#: … or when this many seconds passed since the last line (and after the last epoch).
PROGRESS_SECONDS = 30.0

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
#: per-epoch diagnostics of the learned state (:mod:`mpsomics.mps.diagnostics`), written last,
#: then ``centroid_overlap_<class>`` for every class
DIAGNOSTIC_COLUMNS = list(diagnostics.DIAGNOSTIC_COLUMNS)
CENTROID_OVERLAP_PREFIX = diagnostics.CENTROID_OVERLAP_PREFIX


class _StopTraining(Exception):
    """Raised from the epoch step to end training early (patience exhausted)."""


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
    """The loss or a tensor became NaN/inf; names the fit (``name``) and the epoch."""

    def __init__(
        self,
        name: str | None,
        epoch: int,
        detail: str = "",
        checkpoint: str | None = None,
        checkpoint_epoch: int | None = None,
    ) -> None:
        self.name = name
        self.epoch = epoch
        self.checkpoint = checkpoint
        self.detail = detail
        who = str(name) if name else "training"
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
    list of N-1 bond spectra (sweep method only, same epochs). ``representation[k]``
    (C, N-1, M) holds the :data:`mpsomics.mps.representation.METRICS` of epoch
    ``representation_epochs[k]``.
    """

    epochs: list[int] = field(default_factory=list)
    entropy: list[np.ndarray] = field(default_factory=list)
    magnetization: list[np.ndarray] = field(default_factory=list)
    connected: list[np.ndarray] = field(default_factory=list)
    singular_values: dict[int, list[np.ndarray]] = field(default_factory=dict)
    #: epochs of the representation records (``representation_every``; may differ from ``epochs``)
    representation_epochs: list[int] = field(default_factory=list)
    #: (C, N-1, len(representation.METRICS)) per recorded epoch, on the fit samples
    representation: list[np.ndarray] = field(default_factory=list)


def _max_bond(state: MPSState) -> int:
    dims = state.bond_dims
    return int(max(dims)) if dims else 1


def _threads(n: int):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(max(1, int(n)))


class Fit:
    """One training run: data, settings, per-epoch records, checkpoints and divergence.

    ``Fit(X_train, y_train, X_test, y_test, genes=..., classes=..., config=...).run()``
    returns ``(model, history, observations)``; :func:`fit` is the same as a function.
    The trainer (:func:`~mpsomics.mps.sweep.train_sweep` or
    :func:`~mpsomics.mps.gradient.train_gradient`) calls back :meth:`on_epoch`,
    :meth:`on_singular_values` and :meth:`on_checkpoint`; everything they share is an
    attribute of the instance. Parameters: see :func:`fit`.
    """

    def __init__(
        self,
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
        progress: bool | None = None,
        checkpoint_path: str | Path | None = None,
        correlations: bool = True,
        on_state: Callable[[int, MPSState], None] | None = None,
        representation_every: int = 0,
    ) -> None:
        self.X_train = np.asarray(X_train, dtype=np.float64)
        self.X_test = np.asarray(X_test, dtype=np.float64).reshape(-1, self.X_train.shape[1])
        self.y_train = np.asarray(y_train, dtype=np.int64)
        self.y_test = np.asarray(y_test, dtype=np.int64)
        self.genes, self.classes = list(genes), list(classes)
        self.config = config
        self.positive = int(positive)
        self.observe_every = int(observe_every or 0)
        self.representation_every = int(representation_every or 0)
        self.name = name
        self.correlations = bool(correlations)
        self.on_state = on_state
        self.last_epoch = int(config.epochs)
        self.ckpt_every = int(getattr(config, "checkpoint_every", 0) or 0)
        self.checkpoint_path = (
            Path(checkpoint_path) if checkpoint_path is not None and self.ckpt_every > 0 else None
        )
        # auto (None): a bar on a terminal, else progress lines in the log; False: neither
        self.log_progress = progress is None
        if progress is None:
            progress = bool(getattr(sys.stderr, "isatty", lambda: False)())
        self.progress = progress
        # records
        self.rows: list[dict] = []
        self.obs = Observations()
        self._svs: dict[int, list[np.ndarray]] = {}
        self.best = {"epoch": -1, "score": -np.inf, "state": None, "since": 0, "last": None}
        self.epoch = 0  # last epoch recorded
        self.saved_epoch: int | None = None  # epoch of the last checkpoint written/resumed
        self.resume: dict | None = None
        self.trainer_resume = None
        self.fingerprint: str | None = None
        self.bar = None
        self._t = time.perf_counter()
        self._progress_t = self._t_start = self._t  # progress lines in the log (no bar)

    # ------------------------------------------------------------------- steps
    def _split(self) -> None:
        """Hold out the validation part of the training samples (if asked for)."""
        self.use_val = float(self.config.validation_fraction or 0.0) > 0
        X, y = self.X_train, self.y_train
        extra = []
        if self.use_val:
            fit_idx, val_idx = validation_split(
                y, float(self.config.validation_fraction), self.config.seed
            )
            extra = [("validation", X[val_idx], y[val_idx])]
            X, y = X[fit_idx], y[fit_idx]
        self.X_fit, self.y_fit = X, y
        self.splits = [("train", X, y), ("test", self.X_test, self.y_test), *extra]
        # every split is predicted in one contraction per epoch
        self._X_all = np.concatenate([x for _, x, _ in self.splits], axis=0)
        self._bounds = np.cumsum([0] + [len(x) for _, x, _ in self.splits])
        # the class centroids of the fit samples: the kernel baseline and the overlaps of every epoch
        self.centroids = diagnostics.CentroidBaseline(self.X_fit, self.y_fit, len(self.classes))
        self.centroid_accuracy = {
            "centroid_train_balanced_accuracy": self.centroids.balanced_accuracy(self.X_fit, self.y_fit, self.positive),
            "centroid_test_balanced_accuracy": self.centroids.balanced_accuracy(
                self.X_test, self.y_test, self.positive
            ),
        }

    def _open_checkpoint(self) -> None:
        """Fingerprint this run and load a matching checkpoint (if any)."""
        if self.checkpoint_path is None:
            return
        from mpsomics.mps import checkpoint as ckpt_mod

        extra = {"positive": self.positive, "observe_every": self.observe_every}
        if not self.correlations:
            extra["correlations"] = False
        if self.representation_every:  # absent when off: older checkpoints stay valid
            extra["representation_every"] = self.representation_every
        self.fingerprint = ckpt_mod.fingerprint(
            self.config,
            [self.X_train, self.y_train, self.X_test, self.y_test],
            genes=self.genes,
            classes=self.classes,
            extra=extra,
        )
        self.resume = ckpt_mod.load(
            self.checkpoint_path,
            expected_fingerprint=self.fingerprint,
            max_epoch=self.last_epoch,
        )

    def _restore(self) -> None:
        """Take over history, observations and best-model bookkeeping from the checkpoint."""
        from mpsomics.mps.checkpoint import to_numpy

        res = self.resume
        f = to_numpy(res["fit"])
        self.rows.extend(f["rows"])
        obs = self.obs
        for e, ent, mag in zip(f["obs_epochs"], f["entropy"], f["magnetization"], strict=True):
            obs.epochs.append(int(e))
            obs.entropy.append(np.asarray(ent))
            obs.magnetization.append(np.asarray(mag))
        obs.connected.extend(np.asarray(c) for c in f["connected"])
        for e, svs in f["singular_values"].items():
            obs.singular_values[int(e)] = [np.asarray(s) for s in svs]
        obs.representation_epochs.extend(int(e) for e in f.get("representation_epochs", []))
        obs.representation.extend(np.asarray(r) for r in f.get("representation", []))
        b = f["best"]
        self.best.update(epoch=int(b["epoch"]), score=float(b["score"]), since=int(b["since"]))
        if b["sites"] is not None:
            self.best["state"] = MPSState(
                sites=[np.asarray(t) for t in b["sites"]],
                label_site=int(b["label_site"]),
                genes=self.genes,
                classes=self.classes,
            )
        self.trainer_resume = res["trainer"]
        if self.config.method == "sweep":
            self.trainer_resume = to_numpy(self.trainer_resume)
        self.epoch = self.saved_epoch = int(res["epoch"])
        log.info("resuming from epoch %d (checkpoint %s)", self.epoch, self.checkpoint_path)
        lr = res.get("lr")
        if lr is not None and float(lr) != float(self.config.lr):
            log.warning(
                "the checkpoint was trained with lr %g, continuing with lr %g",
                float(lr),
                float(self.config.lr),
            )

    def _open_bar(self) -> None:
        if not self.progress:
            return
        from tqdm import tqdm

        self.bar = tqdm(
            total=self.last_epoch, desc=self.name or "train", unit="epoch", file=sys.stderr,
            leave=False,
        )
        if self.resume is not None:
            self.bar.update(self.epoch)

    # ------------------------------------------------------- trainer callbacks
    def on_singular_values(self, epoch: int, svs: list[np.ndarray]) -> None:
        self._svs[epoch] = [np.asarray(s, dtype=np.float64) for s in svs]

    def on_epoch(self, epoch: int, state: MPSState, loss: float) -> None:
        """Record one epoch: checks, metrics, observables, best model, patience."""
        seconds = time.perf_counter() - self._t
        self.epoch = epoch
        self._check_finite(epoch, state, loss)
        row = self._metrics(epoch, state, loss, seconds)
        self.rows.append(row)
        self._observe(epoch, state)
        self._represent(epoch, state)
        if self.on_state is not None:
            self.on_state(int(epoch), state)
        if self.bar is not None and epoch > 0:
            self.bar.update(1)
            self.bar.set_postfix(
                loss=f"{loss:.4g}", test_bacc=f"{row['test_balanced_accuracy']:.3f}"
            )
        elif self.log_progress and epoch > 0:
            self._log_progress(epoch, loss, row)
        self._t = time.perf_counter()
        self.best["last"] = state
        if self.use_val:
            self._track_best(epoch, state, row)

    def _log_progress(self, epoch: int, loss: float, row: dict) -> None:
        """Without a bar (a rule's log, a cluster job): one INFO line every
        :data:`PROGRESS_EPOCHS` epochs or :data:`PROGRESS_SECONDS` seconds, and at the end."""
        now = time.perf_counter()
        due = (
            epoch % PROGRESS_EPOCHS == 0
            or now - self._progress_t >= PROGRESS_SECONDS
            or epoch >= self.last_epoch
        )
        if not due:
            return
        self._progress_t = now
        log.info(
            "%s: epoch %d/%d, loss %.4g, train balanced accuracy %.3f, test %.3f, %.0f s",
            self.name or "train", epoch, self.last_epoch, loss,
            row["train_balanced_accuracy"], row["test_balanced_accuracy"], now - self._t_start,
        )

    def _check_finite(self, epoch: int, state: MPSState, loss: float) -> None:
        if epoch > 0 and not np.isfinite(loss):
            raise TrainingDivergedError(self.name, epoch, "loss")
        if not all(np.all(np.isfinite(t)) for t in state.sites):
            raise TrainingDivergedError(self.name, epoch, "tensors")

    def _metrics(self, epoch: int, state: MPSState, loss: float, seconds: float) -> dict:
        row = {"epoch": int(epoch), "loss": float(loss)}
        # one contraction of every split: predictions (argmax |f|, as contract.predict) and diagnostics
        if len(self._X_all):
            scaled, log_scale = log_scores(state, self._X_all)
        else:
            scaled, log_scale = np.zeros((0, len(self.classes))), np.zeros(0)
        every = np.argmax(np.abs(scaled), axis=1).astype(np.int64)
        for (split, _, y), lo, hi in zip(self.splits, self._bounds[:-1], self._bounds[1:], strict=True):
            pred = every[lo:hi]
            for key, val in classification_metrics(y, pred, positive=self.positive).items():
                row[f"{split}_{key}"] = float(val)
        row["seconds"] = seconds
        row["max_bond"] = _max_bond(state)
        n_fit = self._bounds[1]  # the "train" split comes first: the fit samples
        norms = diagnostics.class_norms(state)
        row["norm"] = float(np.sqrt(np.sum(norms**2)))
        row["max_abs_f"] = diagnostics.max_abs_output(scaled[:n_fit], log_scale[:n_fit])
        row.update(self.centroid_accuracy)
        overlaps = self.centroids.overlaps(scaled[:n_fit], log_scale[:n_fit], norms)
        for col, v in zip(diagnostics.overlap_columns(self.classes), overlaps, strict=True):
            row[col] = float(v)
        return row

    def _observe(self, epoch: int, state: MPSState) -> None:
        every = self.observe_every
        if every > 0 and (epoch % every == 0 or epoch == self.last_epoch):
            from mpsomics.mps.observables import observe_training

            o = observe_training(state, correlations=self.correlations)
            obs = self.obs
            obs.epochs.append(int(epoch))
            obs.entropy.append(np.asarray(o["entropy"], dtype=np.float64))
            obs.magnetization.append(np.asarray(o["magnetization"], dtype=np.float64))
            if self.correlations:
                obs.connected.append(np.asarray(o["connected"], dtype=np.float64))
            if epoch in self._svs:
                obs.singular_values[epoch] = self._svs[epoch]
        self._svs.pop(epoch, None)

    def _represent(self, epoch: int, state: MPSState) -> None:
        """Representation metrics of the fit samples at epochs 0, K, 2K, ... and the last."""
        every = self.representation_every
        if every > 0 and (epoch % every == 0 or epoch == self.last_epoch):
            from mpsomics.mps.representation import representation_metrics

            self.obs.representation_epochs.append(int(epoch))
            self.obs.representation.append(representation_metrics(state, self.X_fit))

    def _track_best(self, epoch: int, state: MPSState, row: dict) -> None:
        best = self.best
        score = row["validation_balanced_accuracy"]
        score = -np.inf if not np.isfinite(score) else float(score)
        if score >= best["score"]:  # ties: the later epoch
            if score > best["score"]:
                best["since"] = 0
            best.update(epoch=int(epoch), score=score, state=state)
        else:
            best["since"] += 1
        if epoch > 0 and self.config.patience and best["since"] >= int(self.config.patience):
            raise _StopTraining

    def on_checkpoint(self, epoch: int, get_state: Callable[[], dict]) -> None:
        """Write the complete training state every ``checkpoint_every`` epochs (not the last)."""
        if epoch % self.ckpt_every != 0 or epoch >= self.last_epoch:
            return
        from mpsomics.mps import checkpoint as ckpt_mod

        b, obs = self.best["state"], self.obs
        fit_state = {
            "rows": self.rows,
            "obs_epochs": list(obs.epochs),
            "entropy": obs.entropy,
            "magnetization": obs.magnetization,
            "connected": obs.connected,
            "singular_values": {int(k): v for k, v in obs.singular_values.items()},
            "representation_epochs": list(obs.representation_epochs),
            "representation": obs.representation,
            "best": {
                "epoch": int(self.best["epoch"]),
                "score": float(self.best["score"]),
                "since": int(self.best["since"]),
                "sites": None if b is None else list(b.sites),
                "label_site": None if b is None else int(b.label_site),
            },
        }
        payload = {
            "version": ckpt_mod.VERSION,
            "fingerprint": self.fingerprint,
            "epoch": int(epoch),
            "method": self.config.method,
            "lr": float(self.config.lr),
            "trainer": ckpt_mod.to_saveable(get_state()),
            "fit": ckpt_mod.to_saveable(fit_state),
        }
        ckpt_mod.save(self.checkpoint_path, payload)
        self.saved_epoch = int(epoch)
        log.debug("checkpoint at epoch %d -> %s", epoch, self.checkpoint_path)
        self._t = time.perf_counter()  # the write does not count towards the next epoch

    # --------------------------------------------------------------- training
    def _diverged(self, epoch: int, detail: str) -> TrainingDivergedError:
        have = self.checkpoint_path is not None and self.saved_epoch is not None
        return TrainingDivergedError(
            self.name,
            epoch,
            detail,
            checkpoint=str(self.checkpoint_path) if have else None,
            checkpoint_epoch=self.saved_epoch if have else None,
        )

    def _train(self) -> MPSState:
        """Run the trainer of ``config.method``; map its failures to TrainingDivergedError."""
        kwargs = dict(
            genes=self.genes, classes=self.classes, config=self.config, on_epoch=self.on_epoch
        )
        if self.checkpoint_path is not None:
            kwargs.update(on_checkpoint=self.on_checkpoint, resume=self.trainer_resume)
        try:
            with _threads(self.config.threads):
                if self.config.method == "sweep":
                    from mpsomics.mps.sweep import train_sweep

                    return train_sweep(
                        self.X_fit, self.y_fit, on_singular_values=self.on_singular_values,
                        **kwargs,
                    )
                if self.config.method == "gradient":
                    from mpsomics.mps.gradient import train_gradient

                    return train_gradient(self.X_fit, self.y_fit, **kwargs)
                raise ValueError(f"unknown method {self.config.method!r}")
        except _StopTraining:
            return self.best["last"]  # the model of the last epoch run
        except TrainingDivergedError as exc:
            raise self._diverged(exc.epoch, exc.detail) from exc
        except (FloatingPointError, np.linalg.LinAlgError) as exc:
            raise self._diverged(self.epoch + 1, str(exc)) from exc

    def _history(self) -> pd.DataFrame:
        columns = (
            HISTORY_COLUMNS
            + (VALIDATION_COLUMNS if self.use_val else [])
            + DIAGNOSTIC_COLUMNS
            + diagnostics.overlap_columns(self.classes)
        )
        history = pd.DataFrame(self.rows, columns=columns)
        history["epoch"] = history["epoch"].astype(np.int64)
        history["max_bond"] = history["max_bond"].astype(np.int64)
        if self.resume is not None:
            history.attrs["resumed_from_epoch"] = int(self.resume["epoch"])
            history.attrs["resumed_lr"] = float(self.resume["lr"])
        if self.use_val:
            history.attrs["best_epoch"] = self.best["epoch"]
        return history

    def run(self) -> tuple[MPSState, pd.DataFrame, Observations]:
        """Train; return (final model, history, observations)."""
        self._open_checkpoint()
        self._split()
        if self.resume is not None:
            self._restore()
        self._open_bar()
        self._t = self._progress_t = self._t_start = time.perf_counter()
        try:
            state = self._train()
        finally:
            if self.bar is not None:
                self.bar.close()
        history = self._history()
        if self.use_val and self.config.early_stopping and self.best["state"] is not None:
            state = self.best["state"]
        return state, history, self.obs


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
    name: str | None = None,
    progress: bool | None = None,
    checkpoint_path: str | Path | None = None,
    correlations: bool = True,
    on_state: Callable[[int, MPSState], None] | None = None,
    representation_every: int = 0,
) -> tuple[MPSState, pd.DataFrame, Observations]:
    """Train one MPS classifier and record its history (``Fit(...).run()``).

    Parameters
    ----------
    X_train, y_train
        Training samples (n, N) in [0, 1] and integer class indices.
    X_test, y_test
        Evaluated after every epoch only; may be empty (metrics NaN).
    genes, classes
        Site names (chain order; the model file calls them ``genes``) and label names.
    config
        :class:`TrainConfig`; ``config.method`` selects the trainer.
    positive
        Index of the positive class for sensitivity/specificity.
    observe_every
        Record observables at epochs 0, K, 2K, ... and the last one (0 = never).
    name
        Name of the fit in error messages and the progress bar.
    progress
        Show a tqdm bar; ``None`` = a bar when stderr is a terminal, else an INFO log
        line every :data:`PROGRESS_EPOCHS` epochs or :data:`PROGRESS_SECONDS` seconds
        (a rule's log); ``False`` = neither.
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
    representation_every
        Record :func:`mpsomics.mps.representation.representation_metrics` of the fit
        samples (the training samples the trainer sees) at epochs 0, K, 2K, ... and the
        last one (0 = never, the default); ``Observations.representation``.

    Returns
    -------
    (final model, history DataFrame (:data:`HISTORY_COLUMNS`, :data:`VALIDATION_COLUMNS` with a
    validation split, :data:`DIAGNOSTIC_COLUMNS`, ``centroid_overlap_<class>``; module docstring),
    :class:`Observations`)

    Raises
    ------
    TrainingDivergedError
        When the loss or any tensor becomes non-finite.
    """
    return Fit(
        X_train, y_train, X_test, y_test, genes=genes, classes=classes, config=config,
        positive=positive, observe_every=observe_every, name=name, progress=progress,
        checkpoint_path=checkpoint_path, correlations=correlations, on_state=on_state,
        representation_every=representation_every,
    ).run()
