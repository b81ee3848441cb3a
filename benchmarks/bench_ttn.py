"""TTN vs MPS on the default communities (issue 17): grouped CV AUC and seconds per fit.

Usage (after ``prepare`` + ``communities`` of the default config into a scratch dir)::

    snakemake --cores 2 --until communities --directory /tmp/ttnbench \\
        -s Snakefile --configfile config/config.yaml        # data/ linked into the dir
    python benchmarks/bench_ttn.py --results /tmp/ttnbench/results --out /tmp/ttnbench/bench \\
        [--workers 2] [--communities c04,c15] [--ttn-lr 0.02] [--lr-scan 0.005,0.02,0.05]

Protocol: training split only (the test split is never read). Folds: patient-grouped
stratified K-fold (``sklearn.model_selection.StratifiedGroupKFold``, shuffled with seed
``r``) x R repeats, the **same folds** for both models. Per fold both models are fitted on
the K-1 training folds (all genes of the community, min-max scaled values of the
prepared file) and scored on the held-out fold by the AUC of the Born probability
p(tumor) = f_tumor^2 / sum_l f_l^2. MPS: the config's ``mps`` section as is (sweep,
chi 16, 60 sweeps, lr 0.005, profiled output scale). TTN: the same chi, epochs, loss and
class weights, Adam with ``--ttn-lr``, batch 32; the tree is built on the fold's training
samples only. Interval: 95 % t-interval over the K x R fold AUCs (mean +- t_{0.975, KR-1}
sd / sqrt(KR); folds of repeated CV are not independent, so it is optimistic).
Seconds per fit: wall time of one fit (1 BLAS/torch thread), no observables recorded.

``--lr-scan`` instead runs the TTN only for each listed lr (to pick the default lr on
the training split). ``--top-splits`` fits one TTN per listed community on the whole
training split and prints the 3 edges of largest tumor-class entanglement with genes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import stats
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
_DATA: dict = {}


def load(results: Path, community: str) -> dict:
    import anndata as ad

    adata = ad.read_h5ad(results / "prepared" / "expression.h5ad")
    train = (adata.obs["split"].astype(str) == "train").to_numpy()
    genes = [g.strip() for g in (results / "communities" / "genes" / f"{community}.txt").read_text().split()]
    classes = list(adata.uns["classes"])
    y = np.array([classes.index(v) for v in adata.obs["label"].astype(str)], dtype=np.int64)[train]
    X = np.asarray(adata[:, genes].X, dtype=np.float64)[train]
    groups = adata.obs["group"].astype(str).to_numpy()[train]
    positive = classes.index(str(adata.uns["positive_label"]))
    return {"X": np.clip(X, 0, 1), "y": y, "groups": groups, "genes": genes, "classes": classes,
            "positive": positive}


def folds(y: np.ndarray, groups: np.ndarray, k: int, repeats: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
    out = []
    for r in range(repeats):
        cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=r)
        for f, (tr, te) in enumerate(cv.split(np.zeros(len(y)), y, groups)):
            out.append((r * k + f, np.sort(tr), np.sort(te)))
    return out


def mps_config(cfg: dict, seed: int):
    from mpsomics.mps.config import TrainConfig

    keys = {f for f in TrainConfig.__dataclass_fields__}
    values = {k: v for k, v in cfg["mps"].items() if k in keys}
    values.update(seed=seed, threads=1, checkpoint_every=0)
    return TrainConfig(**values)


def born(scores: np.ndarray, positive: int) -> np.ndarray:
    sq = np.asarray(scores, dtype=np.float64) ** 2
    return sq[:, positive] / np.maximum(sq.sum(axis=1), 1e-300)


def one(task: tuple) -> dict:
    community, model, fold, tr, te, cfg, ttn_lr = task
    d = _DATA[community]
    X, y = d["X"], d["y"]
    config = mps_config(cfg, seed=fold)
    t0 = time.perf_counter()
    if model == "mps":
        from mpsomics.mps.contract import scores
        from mpsomics.mps.fit import fit

        state, _, _ = fit(X[tr], y[tr], X[te][:0], y[te][:0], genes=d["genes"], classes=d["classes"],
                          config=config, positive=d["positive"], progress=False)
        seconds = time.perf_counter() - t0
        p = born(scores(state, X[te]), d["positive"])
    else:
        from dataclasses import replace

        from mpsomics.ttn.contract import scores
        from mpsomics.ttn.fit import fit_ttn

        config = replace(config, method="gradient", lr=ttn_lr)
        state, _, _ = fit_ttn(X[tr], y[tr], X[te][:0], y[te][:0], genes=d["genes"], classes=d["classes"],
                              config=config, positive=d["positive"])
        seconds = time.perf_counter() - t0
        col = [d["genes"].index(g) for g in state.genes]
        p = born(scores(state, X[te][:, col]), d["positive"])
    auc = roc_auc_score((y[te] == d["positive"]).astype(int), p)
    return {"community": community, "model": model, "lr": ttn_lr if model == "ttn" else config.lr,
            "fold": fold, "auc": float(auc), "seconds": seconds}


def interval(a: np.ndarray) -> tuple[float, float, float]:
    a = np.asarray(a, dtype=float)
    m, s, n = a.mean(), a.std(ddof=1), len(a)
    h = stats.t.ppf(0.975, n - 1) * s / np.sqrt(n)
    return m, m - h, m + h


def top_splits(d: dict, cfg: dict, ttn_lr: float, k: int = 3) -> list[dict]:
    from dataclasses import replace

    from mpsomics.ttn.fit import edge_entropies, fit_ttn
    from mpsomics.ttn.observables import observe_all
    from mpsomics.ttn.tree import subtree_leaves

    config = replace(mps_config(cfg, seed=0), method="gradient", lr=ttn_lr)
    state, _, _ = fit_ttn(d["X"], d["y"], d["X"][:0], d["y"][:0], genes=d["genes"], classes=d["classes"],
                          config=config, positive=d["positive"])
    ent = edge_entropies(observe_all(state, correlations=False))[d["positive"]]
    leaves = subtree_leaves(state.parent)
    n = state.n_leaves
    out = []
    for e in np.argsort(-ent)[:k]:
        below = [state.genes[i] for i in leaves[e]]
        out.append({"edge": int(e), "entropy": float(ent[e]), "leaf_edge": bool(e < n),
                    "genes_below": below, "n_other_side": n - len(below)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=Path("/tmp/ttnbench/results"))
    ap.add_argument("--config", type=Path, default=ROOT / "config" / "config.yaml")
    ap.add_argument("--out", type=Path, default=Path("/tmp/ttnbench/bench"))
    ap.add_argument("--communities", default=None, help="comma-separated (default: selected.txt)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ttn-lr", type=float, default=None)
    ap.add_argument("--lr-scan", default=None, help="comma-separated TTN lrs (TTN only)")
    ap.add_argument("--models", default="mps,ttn")
    ap.add_argument("--top-splits", default=None, help="comma-separated communities")
    args = ap.parse_args()
    from mpsomics.ttn.fit import DEFAULT_TTN_LR

    ttn_lr = args.ttn_lr or DEFAULT_TTN_LR
    cfg = yaml.safe_load(args.config.read_text())
    comms = (args.communities.split(",") if args.communities else
             (args.results / "communities" / "selected.txt").read_text().split())
    args.out.mkdir(parents=True, exist_ok=True)
    for c in comms:
        _DATA[c] = load(args.results, c)
    if args.top_splits:
        res = {c: top_splits(_DATA.get(c) or load(args.results, c), cfg, ttn_lr)
               for c in args.top_splits.split(",")}
        (args.out / "top_splits.json").write_text(json.dumps(res, indent=1))
        print(json.dumps(res, indent=1))
        return
    runs = ([("ttn", float(lr)) for lr in args.lr_scan.split(",")] if args.lr_scan
            else [(m, ttn_lr) for m in args.models.split(",")])
    tasks = []
    for c in comms:
        for fold, tr, te in folds(_DATA[c]["y"], _DATA[c]["groups"], args.folds, args.repeats):
            for model, lr in runs:
                tasks.append((c, model, fold, tr, te, cfg, lr))
    t0 = time.perf_counter()
    with mp.get_context("fork").Pool(args.workers) as pool:
        rows = pool.map(one, tasks, chunksize=1)
    wall = time.perf_counter() - t0
    df = pd.DataFrame(rows)
    name = "lr_scan" if args.lr_scan else "folds"
    df.to_csv(args.out / f"{name}.tsv", sep="\t", index=False)
    summary = []
    for (c, m, lr), g in df.groupby(["community", "model", "lr"], sort=False):
        mean, lo, hi = interval(g["auc"].to_numpy())
        summary.append({"community": c, "n_genes": len(_DATA[c]["genes"]), "model": m, "lr": lr,
                        "auc_mean": mean, "auc_lo": lo, "auc_hi": hi,
                        "seconds_per_fit": g["seconds"].mean()})
    s = pd.DataFrame(summary)
    s.to_csv(args.out / f"{name}_summary.tsv", sep="\t", index=False)
    print(s.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wall {wall:.0f} s, {len(tasks)} fits, {args.workers} workers, load {os.getloadavg()}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus")


if __name__ == "__main__":
    main()
