"""Benchmarks of the sweep trainer (importable by benchmarks/bench_mps.py).

``python benchmarks/bench_sweep.py`` prints

* the wall time of one sweep (= one epoch) at N = 48 sites, 150 samples,
  chi = 100 and chi = 400 (the paper's HCC sizes), and
* the reference task: N = 100 sites, 400 train / 400 test samples of
  x ~ U[0, 1]^100, y = [x_10 + x_30 + x_50 + x_70 + x_90 > 2.5], data seeds 0, 1, 2
  (the same data as ``reference_task`` in bench_mps.py for the same seed).
"""

from __future__ import annotations

import time

import numpy as np

from mpsomics.mps.config import TrainConfig
from mpsomics.mps.contract import predict
from mpsomics.mps.sweep import train_sweep

#: Sweep settings used for the reference task (tuned on data seeds 10-15; the same as
#: ``ACCURACY_SETTINGS["sweep"]`` in bench_mps.py; docs/benchmarks.md).
REFERENCE_SETTINGS = {
    "bond_dim": 2,
    "lr": 0.1,
    "epochs": 12,
    "init_bond_dim": 2,
    "cutoff": 0.0,
    "site_sparsity": 0.03,
    "output_scale": "profiled",
}


def reference_task(n_train: int = 400, n_test: int = 400, n_sites: int = 100, seed: int = 1):
    """(X_train, y_train, X_test, y_test) of the planted reference task."""
    rng = np.random.default_rng(seed)
    X = rng.random((n_train + n_test, n_sites))
    y = (X[:, [10, 30, 50, 70, 90]].sum(axis=1) > 2.5).astype(np.int64)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def _threads(n: int):
    from threadpoolctl import threadpool_limits

    return threadpool_limits(n)


def sweep_timing(
    n_sites: int = 48,
    n_samples: int = 150,
    bond_dim: int = 100,
    epochs: int = 3,
    threads: int = 1,
    seed: int = 0,
) -> dict:
    """Seconds per sweep (one epoch) on random data; bonds grow to ``bond_dim`` in the first sweep.

    Returns ``{"n_sites", "n_samples", "bond_dim", "threads", "seconds": [per epoch], "max_bond": [...]}``.
    """
    rng = np.random.default_rng(seed)
    X = rng.random((n_samples, n_sites))
    y = (X[:, : n_sites // 2].mean(axis=1) > 0.5).astype(np.int64)
    cfg = TrainConfig(bond_dim=bond_dim, epochs=epochs, lr=0.3, seed=seed, threads=threads)
    seconds, bonds = [], []
    t = [time.perf_counter()]

    def on_epoch(epoch, state, loss):
        if epoch > 0:
            seconds.append(time.perf_counter() - t[0])
            bonds.append(max(state.bond_dims))
        t[0] = time.perf_counter()

    with _threads(threads):
        train_sweep(
            X,
            y,
            genes=[f"g{i}" for i in range(n_sites)],
            classes=["a", "b"],
            config=cfg,
            on_epoch=on_epoch,
        )
    return {
        "n_sites": n_sites,
        "n_samples": n_samples,
        "bond_dim": bond_dim,
        "threads": threads,
        "seconds": seconds,
        "max_bond": bonds,
    }


def reference_accuracy(
    settings: dict | None = None, threads: int = 1, seed: int = 0, data_seed: int = 1
) -> dict:
    """Train on the reference task (data drawn with ``data_seed``); return settings,
    per-epoch test accuracy (evaluation only), final accuracies and time."""
    settings = dict(REFERENCE_SETTINGS if settings is None else settings)
    Xtr, ytr, Xte, yte = reference_task(seed=data_seed)
    cfg = TrainConfig(method="sweep", seed=seed, threads=threads, **settings)
    test_acc = []

    def on_epoch(epoch, state, loss):
        test_acc.append(float(np.mean(predict(state, Xte) == yte)))

    t0 = time.perf_counter()
    with _threads(threads):
        state = train_sweep(
            Xtr,
            ytr,
            genes=[f"g{i}" for i in range(Xtr.shape[1])],
            classes=["0", "1"],
            config=cfg,
            on_epoch=on_epoch,
        )
    seconds = time.perf_counter() - t0
    return {
        "settings": settings,
        "train_accuracy": float(np.mean(predict(state, Xtr) == ytr)),
        "test_accuracy": test_acc[-1],
        "test_accuracy_per_epoch": test_acc,
        "seconds": seconds,
    }


def main() -> None:
    for chi in (100, 400):
        r = sweep_timing(bond_dim=chi)
        print(
            f"sweep N=48 n=150 chi={chi}: seconds/epoch {[round(s, 2) for s in r['seconds']]} max_bond {r['max_bond']}"
        )
    for data_seed in (0, 1, 2):
        r = reference_accuracy(data_seed=data_seed)
        print(
            f"reference task (data seed {data_seed}) {r['settings']}: train {r['train_accuracy']:.3f} "
            f"test {r['test_accuracy']:.3f} per epoch "
            f"{[round(a, 3) for a in r['test_accuracy_per_epoch']]} in {r['seconds']:.1f} s"
        )


if __name__ == "__main__":
    main()
