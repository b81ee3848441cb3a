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
    site_sparsity
        Weight lambda of a group-sparsity penalty that pulls every site towards a
        *neutral* site (one that cannot change the prediction), applied as a proximal
        step after every update, so sites without signal become exactly neutral
        (0 = off, the paper's algorithm). Sweep: soft-thresholding by ``lr * lambda``
        of the second singular value of the two-site tensor unfolded along each
        physical index (:func:`mpsomics.mps.sweep._shrink_to_neutral`). Gradient:
        group soft-thresholding by ``lr * lambda`` of each bulk tensor's deviation from
        a pass-through site
        (:meth:`mpsomics.mps.torch_model.MPSClassifier.prox_pass_through`).
    identity_l2
        Gradient: weight of the L2 pull of the bulk tensors towards pass-through sites
        (``MPSClassifier.pass_through_penalty``; 0 = off).
    born_smoothing
        Gradient with ``loss="cross_entropy"``: mix the Born probabilities with the
        uniform distribution, p = (1 - eta) p_Born + eta / C (0 = off); bounds the loss
        and its gradient (:func:`mpsomics.mps.gradient.sample_losses`).
    ema_decay
        Gradient: Polyak averaging of the iterates, an exponential moving average with
        this decay per optimiser step; the averaged tensors are the reported and
        returned model (0 = off).
    lr_schedule
        Gradient: ``"constant"`` or ``"cosine"`` (the rate of step t of T is
        lr (1 + cos(pi t / T)) / 2, annealed to ~0 at the end of training).
    validation_fraction
        Fraction of the *training* samples held out (stratified by class, chosen by
        ``seed``) and used only to monitor validation accuracy (0 = off); the model is
        trained on the rest. See :func:`mpsomics.mps.fit.fit`.
    early_stopping
        With a validation split: return the model of the epoch with the best validation
        balanced accuracy (ties: the later epoch) instead of the last one.
    patience
        With a validation split: stop when the validation balanced accuracy has not
        improved for this many epochs (0 = run all epochs).
    output_scale
        Sweep with MSE: how the output f = <Phi(x)|W> is compared with the 0/1 targets
        (:mod:`mpsomics.mps.sweep`, steps 3-4). ``"profiled"`` (default: a global
        output scale kappa profiled out at every bond; a close fit whose class states
        carry the discriminative gene blocks, but the entanglement keeps growing);
        ``"fixed"`` (targets compared with f itself on the normalised state, which is
        renormalised after every bond: |f| <= 1, for long chains |f| << 1, so the step
        accumulates the class centroids and the state converges to a class-centroid
        superposition, with the paper's rise-then-fall of the entanglement);
        ``"free"`` (the Stoudenmire-Schwab update: the ``fixed`` step without the
        renormalisation, so the kept singular values are not rescaled, ||W|| = ||B||
        after each split up to truncation, and the norm of the MPS carries the output
        scale; with raw environments the bond loss is the dense loss of the current
        state). With ``loss="cross_entropy"``, ``"free"`` acts as ``"fixed"``. The
        gradient method ignores it.
    init
        Sweep: initial state. ``"uniform"`` (default): the uniform product state plus
        Gaussian noise of relative scale ``INIT_NOISE`` (sites start neutral).
        ``"random"``: i.i.d. standard Gaussian entries in every tensor at bond
        dimension ``init_bond_dim`` (the paper's Fashion-MNIST initialisation;
        starts entangled). Both are normalised and brought to canonical form.
    environments
        Sweep: ``"normalized"`` (default) per-sample unit-norm environments, so every
        sample weighs the same in a bond update; ``"raw"``: the plain environments of
        Stoudenmire & Schwab (needs a ~100x larger ``lr``; only for short chains).
        See :mod:`mpsomics.mps.sweep`.
    checkpoint_every
        Write a resumable checkpoint every this many epochs when a checkpoint path is
        given (:func:`mpsomics.mps.fit.fit`, ``mpsomics train``; 0 = off). Not part of
        the checkpoint fingerprint (:mod:`mpsomics.mps.checkpoint`).
    """

    method: Method = "sweep"
    bond_dim: int = 16
    epochs: int = 60
    lr: float = 1e-2
    batch_size: int = 32
    loss: Loss = "mse"
    class_weights: Literal["balanced", "none"] = "balanced"
    cutoff: float = 0.0
    init_bond_dim: int = 2
    seed: int = 0
    dtype: Literal["float64", "float32"] = "float64"
    threads: int = 1
    site_sparsity: float = 0.0
    identity_l2: float = 0.0
    born_smoothing: float = 0.0
    ema_decay: float = 0.0
    lr_schedule: Literal["constant", "cosine"] = "constant"
    validation_fraction: float = 0.0
    early_stopping: bool = False
    patience: int = 0
    checkpoint_every: int = 10
    output_scale: Literal["fixed", "profiled", "free"] = "profiled"
    init: Literal["uniform", "random"] = "uniform"
    environments: Literal["normalized", "raw"] = "normalized"

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


def class_weights(y: np.ndarray, n_classes: int, mode: str) -> np.ndarray:
    """Per-sample weights for ``TrainConfig.class_weights``.

    ``"balanced"`` weighs a sample of class k by n / (K * n_k), K the number of
    classes present (mean weight 1; TCGA-LIHC is 158 tumor / 21 normal);
    ``"none"`` gives 1.
    """
    y = np.asarray(y)
    if mode == "none":
        return np.ones(len(y))
    if mode != "balanced":
        raise ValueError(f"class_weights must be 'balanced' or 'none', got {mode!r}")
    counts = np.bincount(y, minlength=n_classes).astype(float)
    present = counts > 0
    w = np.zeros(n_classes)
    w[present] = len(y) / (present.sum() * counts[present])
    return w[y]

