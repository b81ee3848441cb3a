"""Many fits in one job: mpsomics.mps.fits and ``mpsomics fits``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd

from mpsomics.mps.config import TrainConfig
from mpsomics.mps.fit import fit
from mpsomics.mps.fits import cv_specs, permutation_specs, run_fits

CFG = TrainConfig(method="sweep", bond_dim=4, epochs=3, lr=0.05, seed=0)


def _data(n=60, sites=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, sites))
    return X, (X[:, 1] + 0.2 * rng.random(n) > 0.6).astype(np.int64)


def test_cv_specs_partition_each_repeat_stratified():
    _, y = _data()
    specs = cv_specs(y, folds=5, repeats=2, seed=1)
    assert len(specs) == 10 and len({s.seed for s in specs}) == 10
    for r in range(2):
        held = np.concatenate([s.evaluate for s in specs[5 * r : 5 * r + 5]])
        assert sorted(held.tolist()) == list(range(len(y)))
        for s in specs[5 * r : 5 * r + 5]:
            assert not set(s.train) & set(s.evaluate)
            assert abs(y[s.evaluate].mean() - y.mean()) < 0.2


def test_run_fits_equals_single_fits_in_and_across_processes():
    X, y = _data()
    specs = cv_specs(y, 3, 1, seed=0) + permutation_specs(y, 2, seed=5)
    kw = dict(genes=[f"g{i}" for i in range(6)], classes=["a", "b"], config=CFG, observe_every=1)
    one = list(run_fits(X, y, specs, workers=1, **kw))
    two = list(run_fits(X, y, specs, workers=2, **kw))
    assert [r.spec.name for r in one] == [s.name for s in specs]
    for a, b in zip(one, two, strict=True):
        cols = [c for c in a.history.columns if c != "seconds"]
        pd.testing.assert_frame_equal(a.history[cols], b.history[cols])
        np.testing.assert_array_equal(a.entropy, b.entropy)
    # a spec is exactly a fit on its samples (permuted labels for permutation specs)
    s = specs[-1]
    cfg = TrainConfig(**{**CFG.to_dict(), "seed": s.seed})
    _, hist, obs = fit(X[s.train], y[s.train][s.permutation], X[s.evaluate], y[s.evaluate],
                       config=cfg, observe_every=1, correlations=False,
                       **{k: kw[k] for k in ("genes", "classes")})
    cols = [c for c in hist.columns if c != "seconds"]
    pd.testing.assert_frame_equal(one[-1].history[cols], hist[cols])
    np.testing.assert_array_equal(one[-1].magnetization, np.asarray(obs.magnetization))


def test_fits_cli_writes_one_file_per_fit_and_a_summary(make_prepared, tmp_path):
    import anndata

    h5, genes = make_prepared("fits", n_samples=80, n_genes=6, n_train=60)
    adata = anndata.read_h5ad(h5)
    if "log" not in adata.layers:  # prepared files carry the log2 layer
        adata.layers["log"] = adata.X.copy()
        h5 = tmp_path / "expression.h5ad"
        adata.write_h5ad(h5)
    out = tmp_path / "fits"
    cmd = [sys.executable, "-X", "importtime", "-m", "mpsomics", "fits", "--expression", str(h5),
           "--genes", str(genes), "--out-dir", str(out), "--folds", "3", "--permutations", "2",
           "--epochs", "2", "--bond-dim", "3", "--threads", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert " torch" not in proc.stderr  # no torch import on the sweep path
    summary = pd.read_csv(out / "summary.tsv", sep="\t")
    assert summary["name"].tolist() == ["r0_f0", "r0_f1", "r0_f2", "perm0", "perm1"]
    assert summary["kind"].tolist() == ["cv"] * 3 + ["permutation"] * 2
    assert sorted(p.name for p in (out / "fits").iterdir()) == sorted(
        f"{n}.npz" for n in summary["name"]
    )
    with np.load(out / "fits" / "r0_f0.npz") as z:
        assert z["entropy"].shape[0] == 3 and "test_balanced_accuracy" in z.files


def test_fits_command_takes_an_output_directory():
    import argparse

    from mpsomics.commands import fits as fits_command

    parser = argparse.ArgumentParser()
    fits_command.add_arguments(parser)
    args = parser.parse_args(["--expression", "e.h5ad", "--genes", "g.txt", "--out-dir", "o"])
    assert (args.out_dir, args.folds, args.repeats, args.permutations) == ("o", 5, 1, 0)
