"""Training settings shared by the ``sweep`` and ``gradient`` methods, and the trainer protocol."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal, Protocol

import numpy as np

from mpsomics.mps.state import MPSState

Method = Literal["sweep", "gradient"]
Loss = Literal["mse", "cross_entropy"]


@dataclass
class TrainConfig:
    """Hyper-parameters of one MPS training run.

    Attributes
    ----------
    method
        ``"sweep"``: paper-faithful two-site DMRG-like sweeps (one sweep = one
        epoch). ``"gradient"``: all tensors by autograd + Adam on minibatches.
    bond_dim
        Maximum bond dimension chi.
    epochs
        Number of epochs (sweeps).
    lr
        Step size alpha (sweep) or Adam learning rate (gradient).
    batch_size
        Minibatch size (gradient; sweep uses all training samples per bond update).
    loss
        ``"mse"``: 1/2 sum_l (f^l - y^l)^2 (the paper's); ``"cross_entropy"``.
    class_weights
        ``"balanced"`` weighs each sample by n / (C * n_class); ``"none"``.
    cutoff
        Discard singular values below ``cutoff`` times the largest (sweep).
    init_bond_dim
        Bond dimension of the initial MPS (sweep grows it up to ``bond_dim``).
    seed
        Seed for initialisation and minibatch order.
    dtype
        ``"float64"`` or ``"float32"``.
    threads
        Torch/BLAS threads (determinism holds for a fixed seed and thread count).
    """

    method: Method = "sweep"
    bond_dim: int = 10
    epochs: int = 30
    lr: float = 1e-2
    batch_size: int = 32
    loss: Loss = "mse"
    class_weights: Literal["balanced", "none"] = "balanced"
    cutoff: float = 0.0
    init_bond_dim: int = 2
    seed: int = 0
    dtype: Literal["float64", "float32"] = "float64"
    threads: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


#: Called after every epoch (and once for epoch 0, before training) with the
#: epoch number, the current model exported as an :class:`MPSState`, and the
#: mean training loss of that epoch (NaN for epoch 0).
EpochCallback = Callable[[int, MPSState, float], None]


class Trainer(Protocol):
    """What ``sweep`` and ``gradient`` training both implement."""

    def __call__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        genes: list[str],
        classes: list[str],
        config: TrainConfig,
        on_epoch: EpochCallback | None = None,
    ) -> MPSState:
        """Train on ``X`` (n_samples, n_sites) in [0, 1] with integer labels ``y``; return the final model."""
        ...
