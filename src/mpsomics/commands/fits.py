"""``mpsomics fits``: many fits of one gene list in one job (validation workload).

::

    mpsomics fits --expression results/prepared/expression.h5ad \\
        --genes results/communities/genes/c06.txt --out results/fits/c06 \\
        [--folds 5] [--repeats 1] [--permutations 0] [--threads 2] \\
        [--bond-dim 16] [--epochs 60] [--lr 0.005] [--seed 0] [--observe-every 1]

Loads the training samples once and runs, in one process (``--threads`` forked
workers), repeated stratified K-fold fits (``--folds``, ``--repeats``; evaluated on
the held-out fold) and label-permutation fits (``--permutations``; all training
samples, shuffled labels). The test split is never used. Writes one small file per fit,
``fits/<name>.npz`` (history columns; with ``--observe-every`` the per-epoch
entanglement entropy and magnetization), and ``summary.tsv`` (one row per fit: name,
kind, seed, n_train, n_evaluate, final train/evaluation balanced accuracy, seconds).
Method: two-site sweeps (``mpsomics.mps.fits``); no torch import.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mpsomics.commands.argtypes import integer, number, random_seed
from mpsomics.core.files import atomic_dir

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--expression", required=True, help="prepared AnnData (.h5ad)")
    p.add_argument("--genes", required=True, help="gene list, one symbol per line")
    p.add_argument("--out-dir", required=True, help="output directory (replaced as a whole)")
    p.add_argument("--folds", type=integer(2), default=5, help="K of stratified K-fold")
    p.add_argument("--repeats", type=integer(0), default=1, help="repeats of the K folds")
    p.add_argument("--permutations", type=integer(0), default=0,
                   help="label-permutation fits on all training samples")
    p.add_argument("--threads", type=integer(1), default=1,
                   help="worker processes (one BLAS thread each)")
    p.add_argument("--bond-dim", type=integer(1), default=16)
    p.add_argument("--epochs", type=integer(0), default=60)
    p.add_argument("--lr", type=number(0, lo_open=True), default=0.005)
    p.add_argument("--seed", type=random_seed, default=0)
    p.add_argument("--observe-every", type=integer(0), default=1,
                   help="record entropy and magnetization every K epochs (0 = off)")


def run(args: argparse.Namespace) -> int:
    from mpsomics.commands.train import load_training_data
    from mpsomics.core.readers import read_gene_list
    from mpsomics.mps.config import TrainConfig
    from mpsomics.mps.fits import cv_specs, permutation_specs, run_fits

    t0 = time.perf_counter()
    genes = read_gene_list(args.genes)
    data = load_training_data(args.expression, genes, args.genes)
    X, y = data["X_train"], data["y_train"]
    config = TrainConfig(method="sweep", bond_dim=args.bond_dim, epochs=args.epochs, lr=args.lr,
                         seed=args.seed)
    specs = cv_specs(y, args.folds, args.repeats, args.seed) if args.repeats else []
    specs += permutation_specs(y, args.permutations, args.seed + 10_000)
    log.info("%d fits of %d genes x %d training samples on %d workers", len(specs), len(genes),
             len(y), args.threads)
    rows = []
    out = Path(args.out_dir)
    with atomic_dir(out) as tmp:
        (tmp / "fits").mkdir()
        for r in run_fits(X, y, specs, genes=genes, classes=data["classes"], config=config,
                          positive=data["positive"], observe_every=args.observe_every,
                          workers=args.threads):
            h = r.history
            arrays = {c: h[c].to_numpy() for c in h.columns}
            if r.entropy is not None:
                arrays.update(entropy=r.entropy, magnetization=r.magnetization)
            with open(tmp / "fits" / f"{r.spec.name}.npz", "wb") as fh:
                np.savez(fh, **arrays)
            last = h.iloc[-1]
            rows.append({
                "name": r.spec.name,
                "kind": "permutation" if r.spec.permutation is not None else "cv",
                "seed": r.spec.seed,
                "n_train": len(r.spec.train),
                "n_evaluate": len(r.spec.evaluate),
                "train_balanced_accuracy": float(last["train_balanced_accuracy"]),
                "evaluate_balanced_accuracy": float(last["test_balanced_accuracy"]),
                "seconds": round(r.seconds, 4),
            })
        pd.DataFrame(rows).to_csv(tmp / "summary.tsv", sep="\t", index=False)
        (tmp / "run_info.json").write_text(json.dumps({
            "genes": str(args.genes), "expression": str(args.expression),
            "config": config.to_dict(), "folds": args.folds, "repeats": args.repeats,
            "permutations": args.permutations, "threads": args.threads,
            "wall_seconds": round(time.perf_counter() - t0, 3),
        }, indent=2) + "\n", encoding="utf-8")
    log.info("%d fits in %.1f s -> %s", len(rows), time.perf_counter() - t0, out)
    return 0
