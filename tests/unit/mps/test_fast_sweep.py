"""The fast sweep engine reproduces the engine before issue 19 (frozen in helpers.reference_sweep).

Equality criteria of issue 19: for the same seed and settings the tensors after the
first sweep equal the old engine's to 1e-12; after the full default training of a
community-sized problem (39 sites, 134 training samples, chi 16, 60 sweeps, lr 0.005,
profiled output scale, balanced weights) the predictions on every sample are the same
and the observables agree to 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.reference_sweep import reference_epochs

from mpsomics.mps.config import TrainConfig
from mpsomics.mps.contract import predict
from mpsomics.mps.observables import observe_all, observe_training
from mpsomics.mps.state import MPSState
from mpsomics.mps.sweep import train_sweep

DEFAULT = dict(
    method="sweep", bond_dim=16, epochs=60, lr=0.005, init_bond_dim=2, dtype="float64",
    output_scale="profiled", class_weights="balanced", seed=0,
)  # the default run's `mps` settings (config/config.yaml)


def community_like(n_sites=39, n_train=134, n_test=45, seed=6):
    """Co-expressed genes in [0, 1] with a planted label-dependent block (c06-like sizes)."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    y = (rng.random(n) < 0.8).astype(np.int64)  # ~80 % tumour, as in TCGA-LIHC
    modules = rng.integers(0, 4, n_sites)
    latent = rng.standard_normal((n, 4))
    z = latent[:, modules] + 0.7 * rng.standard_normal((n, n_sites))
    z[:, modules == 0] += 1.2 * y[:, None]
    X = (z - z.min(0)) / (z.max(0) - z.min(0))
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def _states(X, y, cfg):
    out = []
    train_sweep(X, y, genes=[f"g{i}" for i in range(X.shape[1])], classes=["normal", "tumor"],
                config=cfg, on_epoch=lambda e, s, loss: out.append(s))
    return out


def _as_state(sites, label_site, n):
    return MPSState(sites=sites, label_site=label_site, genes=[f"g{i}" for i in range(n)],
                    classes=["normal", "tumor"])


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"output_scale": "fixed"},
        {"environments": "raw", "lr": 0.5, "init": "random", "bond_dim": 8},
        {"loss": "cross_entropy", "class_weights": "none"},
        {"site_sparsity": 0.03, "lr": 0.1},
        {"cutoff": 1e-3},
    ],
)
def test_first_sweep_tensors_equal_the_old_engine(extra):
    X, y, _, _ = community_like()
    cfg = TrainConfig(**{**DEFAULT, "epochs": 2, **extra})
    new = _states(X, y, cfg)
    ref = reference_epochs(X, y, 2, cfg, epochs=2)
    for epoch in (0, 1):
        sites, label_site = ref[epoch]
        assert new[epoch].label_site == label_site
        assert [t.shape for t in new[epoch].sites] == [t.shape for t in sites]
        for a, b in zip(new[epoch].sites, sites, strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_default_training_matches_the_old_engine():
    X, y, Xt, yt = community_like()
    cfg = TrainConfig(**DEFAULT)
    new = _states(X, y, cfg)[-1]
    sites, label_site = reference_epochs(X, y, 2, cfg, epochs=cfg.epochs)[-1]
    old = _as_state(sites, label_site, X.shape[1])
    for data in (X, Xt):
        np.testing.assert_array_equal(predict(new, data), predict(old, data))
    a, b = observe_all(new), observe_all(old)
    for key in ("entropy", "magnetization", "connected"):
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-6)
    # the largest tensor drift (floating-point reordering only) stays far below 1e-6
    drift = max(float(np.abs(p - q).max()) for p, q in zip(new.sites, old.sites, strict=True))
    assert drift < 1e-8


def test_training_observables_equal_observe_all():
    X, y, _, _ = community_like(n_sites=12, n_train=60)
    for state in _states(X, y, TrainConfig(**{**DEFAULT, "bond_dim": 6, "epochs": 3})):
        a, b = observe_training(state), observe_all(state)
        for key in ("entropy", "magnetization", "connected"):
            np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-12)


def test_sweep_fit_with_checkpoints_never_imports_torch(tmp_path):
    import subprocess
    import sys

    code = f"""
import sys, numpy as np
from mpsomics.mps.config import TrainConfig
from mpsomics.mps.fit import fit
from mpsomics.mps.fits import run_fits, cv_specs
X = np.random.default_rng(0).random((40, 5)); y = (X[:, 0] > 0.5).astype(int)
cfg = TrainConfig(method="sweep", bond_dim=3, epochs=4, lr=0.05, checkpoint_every=2)
fit(X, y, X[:10], y[:10], genes=list("abcde"), classes=["a", "b"], config=cfg,
    observe_every=1, checkpoint_path=r"{tmp_path / 'c.checkpoint.pt'}")
list(run_fits(X, y, cv_specs(y, 2), genes=list("abcde"), classes=["a", "b"], config=cfg))
assert "torch" not in sys.modules, "torch imported"
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
