"""``gradient`` training: every MPS tensor trained by autograd + Adam on minibatches.

Implements the :class:`~mpsomics.mps.config.Trainer` protocol::

    state = train_gradient(X, y, genes=genes, classes=classes, config=cfg, on_epoch=cb)

The model is :class:`~mpsomics.mps.torch_model.MPSClassifier` (stacked bulk tensors,
tree-reduced batched contraction, identity-channel initialisation with fixed per-site
scales, label index on the middle site). ``on_epoch(0, state0, nan)`` is called before
training and ``on_epoch(epoch, state, mean_loss)`` after each epoch, with the model
exported exactly as an :class:`~mpsomics.mps.state.MPSState`.

Determinism: the run is a function of (data, config) for a fixed ``config.threads``:
initial noise and minibatch order come from a ``torch.Generator`` seeded with
``config.seed``; ``torch.use_deterministic_algorithms(True)`` is on during training.
Global torch settings (threads, determinism flag) are restored afterwards.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from mpsomics.core.errors import InputError
from mpsomics.mps.config import EpochCallback, TrainConfig, class_weights
from mpsomics.mps.contract import scores as contract_scores
from mpsomics.mps.state import MPSState
from mpsomics.mps.torch_model import MPSClassifier, as_torch_dtype, embed

__all__ = [
    "accuracy",
    "class_weights",
    "make_adam",
    "predict_scores",
    "sample_losses",
    "train_gradient",
]




def sample_losses(
    f: torch.Tensor, y: torch.Tensor, loss: str, born_smoothing: float = 0.0
) -> torch.Tensor:
    """Per-sample loss (B,).

    ``"mse"``: 1/2 sum_l (f^l - onehot(y)^l)^2 (the paper's).
    ``"cross_entropy"``: -log p_y with Born probabilities p_l = (f^l)^2 / sum_k (f^k)^2,
    i.e. softmax cross-entropy on the logits log (f^l)^2. Unlike softmax on f itself,
    this is consistent with the prediction rule argmax_l |f^l| and invariant to a common
    per-sample factor of all f^l (which this feature map produces at large N).

    ``born_smoothing`` eta in [0, 1) (cross_entropy only) mixes the Born distribution
    with the uniform one, p_l = (1 - eta) f_l^2 / sum_k f_k^2 + eta / C. The loss is
    then bounded by log(C / eta) and its gradient stays finite when f_y crosses zero
    (with eta = 0 a single sample with f_y ~ 0 produces an arbitrarily large gradient,
    which destabilises Adam). It is the usual label-noise / smoothing model; the
    prediction rule and the scale invariance are unchanged.
    """
    if loss == "mse":
        target = F.one_hot(y, f.shape[1]).to(f.dtype)
        return 0.5 * ((f - target) ** 2).sum(dim=1)
    if loss == "cross_entropy":
        tiny = torch.finfo(f.dtype).tiny
        logits = 2.0 * torch.log(f.abs().clamp_min(tiny))
        if born_smoothing > 0:
            logp = torch.log_softmax(logits, dim=1)
            logp_y = logp.gather(1, y[:, None])[:, 0]
            eta = float(born_smoothing)
            return -torch.logaddexp(
                logp_y + math.log1p(-eta), torch.full_like(logp_y, math.log(eta / f.shape[1]))
            )
        return F.cross_entropy(logits, y, reduction="none")
    raise ValueError(f"loss must be 'mse' or 'cross_entropy', got {loss!r}")


def predict_scores(model_or_state: MPSClassifier | MPSState, X: np.ndarray) -> np.ndarray:
    """Scores f (n, C) of a torch model or an exported :class:`MPSState` on inputs X (n, N).

    The argmax over |f^l| is the predicted class. For an ``MPSState`` this is
    :func:`mpsomics.mps.contract.scores` (NumPy, per-site renormalised).
    """
    X = np.asarray(X, dtype=np.float64)
    if isinstance(model_or_state, MPSClassifier):
        return model_or_state.scores(X)
    return contract_scores(model_or_state, X)


def make_adam(params, lr: float = 1e-3) -> torch.optim.Adam:
    """Adam, fused (one kernel for all parameters) where this torch build supports it."""
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr)


@contextmanager
def _torch_settings(threads: int) -> Iterator[None]:
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(max(1, int(threads)))
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)


@contextmanager
def _swapped(params: list[torch.Tensor], values: list[torch.Tensor]) -> Iterator[None]:
    """Temporarily give ``params`` the data ``values`` (export of the averaged iterate)."""
    saved = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p, v in zip(params, values, strict=False):
            p.copy_(v)
    try:
        yield
    finally:
        with torch.no_grad():
            for p, v in zip(params, saved, strict=False):
                p.copy_(v)


def _check_inputs(
    X: np.ndarray, y: np.ndarray, genes: list[str], classes: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise InputError(
            None, f"training matrix must be (n_samples > 0, n_sites > 0), got shape {X.shape}"
        )
    if not np.all(np.isfinite(X)):
        raise InputError(None, "training matrix contains NaN or inf")
    if X.min() < -1e-9 or X.max() > 1 + 1e-9:
        raise InputError(
            None,
            f"training values must lie in [0, 1] (got {X.min():.3g}..{X.max():.3g}); scale genes first",
        )
    if y.shape != (X.shape[0],):
        raise InputError(None, f"labels have shape {y.shape}, expected ({X.shape[0]},)")
    if not np.issubdtype(y.dtype, np.integer):
        raise InputError(None, "labels must be integer class indices")
    if len(genes) != X.shape[1]:
        raise InputError(None, f"{X.shape[1]} sites but {len(genes)} gene names")
    if len(classes) < 1 or y.min() < 0 or y.max() >= len(classes):
        raise InputError(
            None, f"labels must lie in 0..{len(classes) - 1} for classes {list(classes)}"
        )
    return np.clip(X, 0.0, 1.0), y.astype(np.int64)


def train_gradient(
    X: np.ndarray,
    y: np.ndarray,
    *,
    genes: list[str],
    classes: list[str],
    config: TrainConfig,
    on_epoch: EpochCallback | None = None,
    init_std: float = 1e-2,
    label_init_std: float = 0.5,
    bulk_lr_ref: float = 100.0,
    identity_l2: float = 0.0,
    identity_group: float = 0.0,
    identity_prox: float = 0.0,
    born_smoothing: float = 0.0,
    ema_decay: float = 0.0,
    return_model: bool = False,
    on_checkpoint=None,
    resume: dict | None = None,
) -> MPSState:
    """Train an MPS classifier by Adam on minibatches; return the final model as MPSState.

    Parameters
    ----------
    X, y
        Inputs (n_samples, n_sites) in [0, 1] and integer labels in 0..C-1.
    genes, classes
        Site names (chain order) and class names (label order).
    config
        Uses ``bond_dim``, ``epochs``, ``lr``, ``batch_size``, ``loss``,
        ``class_weights``, ``seed``, ``dtype``, ``threads`` (``method``, ``cutoff`` and
        ``init_bond_dim`` are sweep settings and are ignored).
    on_epoch
        Called as ``on_epoch(0, state0, nan)`` and then ``on_epoch(e, state_e, loss_e)``.
    init_std, label_init_std
        Relative noise of the bulk and label tensors at initialisation (see
        :class:`~mpsomics.mps.torch_model.MPSClassifier`).
    bulk_lr_ref
        The bulk tensors use the Adam rate ``lr * min(1, bulk_lr_ref / (N - 1))``; the
        label tensor uses ``lr``. Adam moves every parameter by ~lr per step whatever the
        gradient size, and the gradients of all N bulk tensors along their common scale
        direction have the same sign, so log f moves by ~N * lr per step; capping the
        bulk rate keeps that below ~bulk_lr_ref * lr (no effect for N <= 101).
    identity_l2
        Weight of :meth:`~mpsomics.mps.torch_model.MPSClassifier.pass_through_penalty`
        (0 = off; defaults to ``config.identity_l2``). It pulls every bulk tensor towards a pass-through site
        (A[:, s, :] proportional to the identity), so sites the labels do not depend
        on stop injecting noise into the bond channels. Included in the reported loss.
    identity_group
        Weight of the group-lasso form ``pass_through_penalty(group=True)`` (0 = off):
        favours few sites that are not pass-through (few relevant genes), added to the
        loss as a subgradient term (sites jitter around pass-through).
    identity_prox
        The same group-lasso penalty applied as a proximal step after every Adam step
        (:meth:`~mpsomics.mps.torch_model.MPSClassifier.prox_pass_through`, threshold
        ``bulk lr * identity_prox``): sites without signal become exactly pass-through.
        Defaults to ``config.site_sparsity``.
    born_smoothing
        eta of :func:`sample_losses` (``cross_entropy`` only); defaults to
        ``config.born_smoothing``.
    ema_decay
        Polyak averaging: exponential moving average of the tensors with this decay per
        step; the averaged model is passed to ``on_epoch`` and returned. Defaults to
        ``config.ema_decay``.
    return_model
        Return ``(state, model)`` instead of ``state`` (benchmarks, tests).
    on_checkpoint
        ``on_checkpoint(epoch, get_state)`` after ``on_epoch`` of every trained epoch;
        ``get_state()`` returns the complete training state: parameters, Adam state,
        EMA tensors, schedule step, minibatch generator and global torch RNG states.
    resume
        A state from ``get_state()``: continue after its epoch (no epoch-0 callback),
        bit-identically to the uninterrupted run. The learning rate of ``config`` is
        used from then on (the one stored in the Adam state is replaced).

    Raises
    ------
    InputError
        Malformed inputs.
    FloatingPointError
        The loss became NaN/inf (lower ``lr``).
    """
    run = _GradientRun(
        X, y, genes=genes, classes=classes, config=config, init_std=init_std,
        label_init_std=label_init_std, bulk_lr_ref=bulk_lr_ref, identity_l2=identity_l2,
        identity_group=identity_group, identity_prox=identity_prox,
        born_smoothing=born_smoothing, ema_decay=ema_decay,
    )
    with _torch_settings(config.threads):
        run.build()
        state = run.train(on_epoch=on_epoch, on_checkpoint=on_checkpoint, resume=resume)
    if return_model:
        return state, run.model  # type: ignore[return-value]
    return state


class _GradientRun:
    """State of one :func:`train_gradient` run; its methods are the named steps.

    ``build`` (seeded model, optimizer, schedule, embedded inputs), ``restore`` (from
    a checkpoint), ``epoch`` (one pass over the minibatches), ``step`` (one Adam step
    with schedule, prox and EMA), ``export``/``get_state``. The order of all random
    draws is the one of the former single function (bit-identical runs).
    """

    def __init__(self, X, y, *, genes, classes, config: TrainConfig, init_std, label_init_std,
                 bulk_lr_ref, identity_l2, identity_group, identity_prox, born_smoothing,
                 ema_decay) -> None:
        X, y = _check_inputs(X, y, genes, classes)
        # TrainConfig fields; an explicitly given (non-zero) keyword takes precedence
        self.identity_l2 = identity_l2 or float(config.identity_l2)
        self.identity_group = identity_group
        self.identity_prox = identity_prox or float(config.site_sparsity)
        self.born_smoothing = born_smoothing or float(config.born_smoothing)
        self.ema_decay = ema_decay or float(config.ema_decay)
        if not 0.0 <= self.born_smoothing < 1.0 or not 0.0 <= self.ema_decay < 1.0:
            raise ValueError("born_smoothing and ema_decay must lie in [0, 1)")
        if config.epochs < 0 or config.batch_size < 1 or config.bond_dim < 1:
            raise ValueError("epochs must be >= 0, batch_size >= 1, bond_dim >= 1")
        if config.lr_schedule not in ("constant", "cosine"):
            raise ValueError(
                f"lr_schedule must be 'constant' or 'cosine', got {config.lr_schedule!r}"
            )
        self.X, self.y = X, y
        self.n, self.n_sites = X.shape
        self.genes, self.classes, self.config = genes, classes, config
        self.init_std, self.label_init_std = init_std, label_init_std
        self.bulk_lr_ref = bulk_lr_ref
        self.dtype = as_torch_dtype(config.dtype)
        self.step_count = 0

    # ------------------------------------------------------------------ set-up
    def build(self) -> None:
        """Seeded model and minibatch generator, Adam groups, embedded inputs (once)."""
        cfg = self.config
        torch.manual_seed(cfg.seed)
        self.gen = torch.Generator().manual_seed(int(cfg.seed))
        self.model = model = MPSClassifier(
            self.n_sites, len(self.classes), cfg.bond_dim, dtype=self.dtype,
            init_std=self.init_std, label_init_std=self.label_init_std, X_init=self.X,
            generator=self.gen,
        )
        self.bulk_lr = cfg.lr * min(1.0, self.bulk_lr_ref / max(1, self.n_sites - 1))
        self.opt = make_adam([
            {"params": [model.cores], "lr": self.bulk_lr},
            {"params": [model.label_core], "lr": cfg.lr},
        ])
        self.total_steps = max(1, math.ceil(self.n / cfg.batch_size) * int(cfg.epochs))
        self.base_lrs = [g["lr"] for g in self.opt.param_groups]
        phi_all = embed(self.X, self.dtype)
        # parameter-independent inputs, computed once: label-site input and block features
        self.phi_label_all = phi_all[:, model.label_site, :].contiguous()
        self.feats_all = model.features(phi_all) if self.n_sites > 1 else None
        self.y_all = torch.as_tensor(self.y)
        self.w_all = torch.as_tensor(
            class_weights(self.y, len(self.classes), cfg.class_weights), dtype=self.dtype
        )
        self.params = [model.cores, model.label_core]
        self.ema = [p.detach().clone() for p in self.params] if self.ema_decay > 0 else None

    def restore(self, resume: dict) -> int:
        """Continue from a checkpoint state; return its epoch."""
        model, opt = self.model, self.opt
        with torch.no_grad():
            model.cores.copy_(torch.as_tensor(resume["cores"]))
            model.label_core.copy_(torch.as_tensor(resume["label_core"]))
        opt.load_state_dict(resume["optimizer"])
        lrs = [self.bulk_lr, self.config.lr]
        for g, lr_g in zip(opt.param_groups, lrs, strict=True):
            g["lr"] = lr_g  # a resumed run may use another lr than the checkpoint
        self.base_lrs = lrs
        if (self.ema is None) != (resume["ema"] is None):
            raise ValueError("checkpoint EMA state does not match ema_decay")
        if self.ema is not None:
            for a, v in zip(self.ema, resume["ema"], strict=True):
                a.copy_(torch.as_tensor(v))
        self.step_count = int(resume["step"])
        self.gen.set_state(resume["generator"])
        torch.set_rng_state(resume["torch_rng"])
        return int(resume["epoch"])

    # ------------------------------------------------------------ the model out
    def export(self) -> MPSState:
        """The current model (the EMA average when Polyak averaging is on)."""
        if self.ema is None:
            return self.model.to_state(self.genes, self.classes)
        with _swapped(self.params, self.ema):
            return self.model.to_state(self.genes, self.classes)

    def get_state(self, epoch: int) -> dict:
        return {
            "epoch": int(epoch),
            "cores": self.model.cores.detach().clone(),
            "label_core": self.model.label_core.detach().clone(),
            "optimizer": self.opt.state_dict(),
            "ema": None if self.ema is None else [a.clone() for a in self.ema],
            "step": int(self.step_count),
            "generator": self.gen.get_state(),
            "torch_rng": torch.get_rng_state(),
        }

    # ---------------------------------------------------------------- training
    def batch_loss(self, idx: torch.Tensor, epoch: int) -> torch.Tensor:
        model, cfg = self.model, self.config
        f = model.forward_features(
            self.phi_label_all[idx], None if self.feats_all is None else self.feats_all[:, :, idx]
        )
        loss = (
            self.w_all[idx] * sample_losses(f, self.y_all[idx], cfg.loss, self.born_smoothing)
        ).mean()
        if self.identity_l2 > 0:
            loss = loss + self.identity_l2 * model.pass_through_penalty()
        if self.identity_group > 0:
            loss = loss + self.identity_group * model.pass_through_penalty(group=True)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"gradient training diverged at epoch {epoch} (loss {loss.item()}); "
                f"lower lr (now {cfg.lr})"
            )
        return loss

    def step(self, loss: torch.Tensor) -> None:
        """Backward, learning-rate schedule, Adam step, proximal step, EMA update."""
        opt = self.opt
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.lr_schedule == "cosine":  # lr of this step: base * (1 + cos(pi t / T)) / 2
            factor = 0.5 * (1.0 + math.cos(math.pi * self.step_count / self.total_steps))
            for g, base in zip(opt.param_groups, self.base_lrs, strict=False):
                g["lr"] = base * factor
        self.step_count += 1
        opt.step()
        if self.identity_prox > 0:
            self.model.prox_pass_through(opt.param_groups[0]["lr"] * self.identity_prox)
        if self.ema is not None:
            with torch.no_grad():
                for a, p in zip(self.ema, self.params, strict=False):
                    a.lerp_(p, 1.0 - self.ema_decay)

    def epoch(self, epoch: int) -> float:
        """One pass over the shuffled minibatches; the mean loss."""
        n, batch = self.n, self.config.batch_size
        perm = torch.randperm(n, generator=self.gen)
        total = 0.0
        for start in range(0, n, batch):
            idx = perm[start : start + batch]
            loss = self.batch_loss(idx, epoch)
            self.step(loss)
            total += loss.item() * len(idx)
        return total / n

    def train(self, *, on_epoch, on_checkpoint, resume) -> MPSState:
        cfg = self.config
        start = 0
        if resume is None:
            if on_epoch is not None:
                on_epoch(0, self.export(), float("nan"))
        else:
            start = self.restore(resume)
        epochs = range(start + 1, cfg.epochs + 1)
        if sys.stderr.isatty() and cfg.epochs > start:
            from tqdm.auto import tqdm

            epochs = tqdm(epochs, desc="gradient", unit="epoch", leave=False)
        for epoch in epochs:
            mean_loss = self.epoch(epoch)
            if hasattr(epochs, "set_postfix"):
                epochs.set_postfix(loss=f"{mean_loss:.4g}")
            if on_epoch is not None:
                on_epoch(epoch, self.export(), mean_loss)
            if on_checkpoint is not None:
                on_checkpoint(epoch, lambda epoch=epoch: self.get_state(epoch))
        if self.ema is not None:  # the averaged iterate is the trained model
            with torch.no_grad():
                for a, p in zip(self.ema, self.params, strict=False):
                    p.copy_(a)
        return self.model.to_state(self.genes, self.classes)


def accuracy(model_or_state: MPSClassifier | MPSState, X: np.ndarray, y: np.ndarray) -> float:
    """Fraction of samples with argmax_l |f^l(x)| == y."""
    f = predict_scores(model_or_state, X)
    if len(y) == 0:
        return math.nan
    return float(np.mean(np.argmax(np.abs(f), axis=1) == np.asarray(y)))
