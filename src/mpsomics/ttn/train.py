"""Gradient training of a TTN classifier: all node tensors by autograd + Adam on minibatches.

Usage::

    parent, genes = gene_tree(X_train, genes)          # columns reordered to leaf order
    state = train_ttn(X_train[:, order], y, parent=parent, genes=genes,
                      classes=classes, config=TrainConfig(method="gradient", ...))

Losses and class weights are the MPS gradient trainer's
(:func:`mpsomics.mps.gradient.sample_losses`, :func:`mpsomics.mps.config.class_weights`):
``mse`` = 1/2 sum_l (f^l - onehot(y)^l)^2, ``cross_entropy`` on the Born probabilities
(f^l)^2 / sum_k (f^k)^2 with optional ``born_smoothing``. Used ``TrainConfig`` fields:
``bond_dim``, ``epochs``, ``lr``, ``batch_size``, ``loss``, ``class_weights``, ``seed``,
``dtype``, ``threads``, ``born_smoothing``, ``lr_schedule``; the others (sweep settings,
sparsity, EMA, validation split, checkpoints) are MPS-specific and ignored.

Determinism: the run is a function of (data, tree, config) for a fixed
``config.threads``: initial noise and minibatch order come from a ``torch.Generator``
seeded with ``config.seed``, and ``torch.use_deterministic_algorithms(True)`` is on
during training. Global torch settings are restored afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch

from mpsomics.core.errors import InputError, NumericalError
from mpsomics.mps.config import TrainConfig, class_weights
from mpsomics.mps.gradient import make_adam, sample_losses
from mpsomics.mps.torch_model import as_torch_dtype, embed
from mpsomics.ttn.contract import predict
from mpsomics.ttn.contract import scores as contract_scores
from mpsomics.ttn.state import TTNState
from mpsomics.ttn.torch_model import TTNClassifier
from mpsomics.ttn.tree import check_parent, n_leaves

__all__ = ["TTNEpochCallback", "accuracy", "predict_scores", "train_ttn"]

#: ``on_epoch(epoch, state, mean_loss)``: epoch 0 (before training, loss NaN), then
#: after every epoch with the model exported as a :class:`TTNState`.
TTNEpochCallback = Callable[[int, TTNState, float], None]


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


def _check_inputs(
    X: np.ndarray, y: np.ndarray, parent: np.ndarray, genes: list[str], classes: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        parent = check_parent(parent)
    except ValueError as exc:
        raise InputError(None, f"bad gene tree: {exc}") from None
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    n = n_leaves(parent)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] != n:
        raise InputError(None, f"training matrix must be (n_samples > 0, {n} leaves), got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise InputError(None, "training matrix contains NaN or inf")
    if X.min() < -1e-9 or X.max() > 1 + 1e-9:
        raise InputError(
            None, f"training values must lie in [0, 1] (got {X.min():.3g}..{X.max():.3g})"
        )
    if y.shape != (X.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise InputError(None, f"labels must be {X.shape[0]} integer class indices")
    if len(genes) != n:
        raise InputError(None, f"{n} leaves but {len(genes)} gene names")
    if len(classes) < 1 or y.min() < 0 or y.max() >= len(classes):
        raise InputError(None, f"labels must lie in 0..{len(classes) - 1}")
    return np.clip(X, 0.0, 1.0), y.astype(np.int64), parent


def train_ttn(
    X: np.ndarray,
    y: np.ndarray,
    *,
    parent: np.ndarray,
    genes: list[str],
    classes: list[str],
    config: TrainConfig,
    on_epoch: TTNEpochCallback | None = None,
    init_std: float = 0.1,
    label_init_std: float = 0.5,
    return_model: bool = False,
) -> TTNState:
    """Train a TTN classifier on the tree ``parent`` by Adam; return the final model.

    Parameters
    ----------
    X, y
        Inputs (n_samples, N) in [0, 1], columns in leaf order, and labels 0..C-1.
    parent
        Gene tree (:func:`mpsomics.ttn.tree.gene_tree`), N leaves.
    genes, classes
        Leaf genes and class names.
    config
        See the module docstring for the fields used.
    on_epoch
        :data:`TTNEpochCallback`.
    init_std, label_init_std
        Initial noise (:class:`~mpsomics.ttn.torch_model.TTNClassifier`).
    return_model
        Return ``(state, model)`` instead of ``state``.

    Raises
    ------
    InputError
        Malformed inputs.
    NumericalError
        The loss became NaN/inf (lower ``lr``).
    """
    X, y, parent = _check_inputs(X, y, parent, genes, classes)
    n = X.shape[0]
    n_classes = len(classes)
    if config.epochs < 0 or config.batch_size < 1 or config.bond_dim < 1:
        raise ValueError("epochs must be >= 0, batch_size >= 1, bond_dim >= 1")
    if config.lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {config.lr_schedule!r}")
    born = float(config.born_smoothing)
    dtype = as_torch_dtype(config.dtype)

    with _torch_settings(config.threads):
        torch.manual_seed(config.seed)
        gen = torch.Generator().manual_seed(int(config.seed))
        model = TTNClassifier(
            parent,
            n_classes,
            config.bond_dim,
            dtype=dtype,
            init_std=init_std,
            label_init_std=label_init_std,
            X_init=X,
            generator=gen,
        )
        opt = make_adam(model.parameters(), lr=config.lr)
        total_steps = max(1, math.ceil(n / config.batch_size) * int(config.epochs))
        phi_all = embed(X, dtype)
        y_all = torch.as_tensor(y)
        w_all = torch.as_tensor(class_weights(y, n_classes, config.class_weights), dtype=dtype)
        if on_epoch is not None:
            on_epoch(0, model.to_state(genes, classes), float("nan"))
        step = 0
        for epoch in range(1, config.epochs + 1):
            perm = torch.randperm(n, generator=gen)
            total = 0.0
            for start in range(0, n, config.batch_size):
                idx = perm[start : start + config.batch_size]
                out, log_scale = model.forward_log(phi_all[idx])
                # cross_entropy is invariant to the common factor exp(log_scale): skip it
                f = out if config.loss == "cross_entropy" else out * torch.exp(log_scale)[:, None]
                loss = (w_all[idx] * sample_losses(f, y_all[idx], config.loss, born)).mean()
                if not torch.isfinite(loss):
                    raise NumericalError(
                        None,
                        f"TTN training diverged at epoch {epoch} (loss {loss.item()}); "
                        f"lower lr (now {config.lr})",
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if config.lr_schedule == "cosine":
                    for g in opt.param_groups:
                        g["lr"] = config.lr * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))
                step += 1
                opt.step()
                total += loss.item() * len(idx)
            if on_epoch is not None:
                on_epoch(epoch, model.to_state(genes, classes), total / n)
        state = model.to_state(genes, classes)
    if return_model:
        return state, model  # type: ignore[return-value]
    return state


def predict_scores(model_or_state: TTNClassifier | TTNState, X: np.ndarray) -> np.ndarray:
    """Scores f (n, C) of a torch model or a :class:`TTNState` on inputs X (n, N)."""
    X = np.asarray(X, dtype=np.float64)
    if isinstance(model_or_state, TTNClassifier):
        return model_or_state.scores(X)
    return contract_scores(model_or_state, X)


def accuracy(model_or_state: TTNClassifier | TTNState, X: np.ndarray, y: np.ndarray) -> float:
    """Fraction of samples with argmax_l |f^l(x)| == y (NaN for no samples)."""
    if len(y) == 0:
        return math.nan
    if isinstance(model_or_state, TTNState):
        return float(np.mean(predict(model_or_state, X) == np.asarray(y)))
    f = predict_scores(model_or_state, X)
    return float(np.mean(np.argmax(np.abs(f), axis=1) == np.asarray(y)))
