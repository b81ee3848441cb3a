"""Subcommunity graph method: connected sigma^z correlations vs quantum mutual information.

On the planted-module community of tests/unit/omics/test_planted.py (7-gene module whose
latent factor shifts with the class, two co-expressed label-independent background blocks,
5 independent genes), data seeds 0-4, pipeline training settings (sweep, chi 16, 60 epochs,
lr 0.005, output_scale profiled, observe_every 1): for each measure and edge threshold, the
best Jaccard of the reported graph subcommunities with the planted module (with the default
magnetization-contrast filter min_contrast 0.15, and without it), the number of reported
subcommunities, and the number reported on the null data (no class shift).

    python studies/mi_study.py --out studies/results
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit" / "omics"))

import test_planted as planted  # noqa: E402

from mpsomics.dynamics import training_run  # noqa: E402
from mpsomics.mps import observables  # noqa: E402
from mpsomics.mps.config import TrainConfig  # noqa: E402
from mpsomics.mps.fit import fit  # noqa: E402
from mpsomics.omics import subcommunities as sc  # noqa: E402

SEEDS = [0, 1, 2, 3, 4]
GRIDS = {
    "connected": [0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3],
    "mutual_information": [0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.06, 0.075, 0.1, 0.15, 0.2],
}
CONFIG = TrainConfig(bond_dim=16, epochs=60, lr=0.005, output_scale="profiled", checkpoint_every=0)


def train(seed: int, discriminative: bool):
    ad = planted.make_community(seed, discriminative=discriminative)
    train_ = ad.obs["split"].to_numpy() == "train"
    y = (ad.obs["label"].to_numpy() == "tumor").astype(np.int64)
    X = np.asarray(ad.X)
    state, hist, obs = fit(X[train_], y[train_], X[~train_], y[~train_], genes=planted.GENES,
                           classes=planted.CLASSES, config=CONFIG, positive=1, observe_every=1, progress=False)
    mag_frame = training_run.magnetization_frame(obs, planted.GENES, planted.CLASSES)
    mi = np.stack([observables.mutual_information(state, k) for k in range(state.n_classes)])
    mag = np.stack([observables.magnetization(state, k) for k in range(state.n_classes)])
    epoch, notes = sc.model_epoch(mag_frame, planted.CLASSES, planted.GENES, mag)
    assert not notes and epoch == obs.epochs[-1], (epoch, notes)
    final = sc.FinalState(epoch=epoch, mutual_information=mi, magnetization=mag)
    return {"epochs": np.asarray(obs.epochs), "connected": np.stack(obs.connected), "mag": mag_frame,
            "final": final, "train_bacc": float(hist.train_balanced_accuracy.iloc[-1]),
            "test_bacc": float(hist.test_balanced_accuracy.iloc[-1])}


def subsets(run: dict, measure: str, t: float, min_contrast: float) -> list[set[str]]:
    kw = {"graph_threshold": t} if measure == "connected" else {"mi_threshold": t, "final": run["final"]}
    table, _ = sc.subcommunity_table(run["epochs"], planted.CLASSES, planted.GENES, run["connected"], run["mag"],
                                     community="c01", transition_epoch=None, methods=["graph"],
                                     graph_measure=measure, min_contrast=min_contrast, **kw)
    return [set(g.gene) for _, g in table.groupby("subcommunity")] if len(table) else []


def block_scales(run: dict) -> dict:
    """Mean over labels of |C| at the last epoch and of I of the final model, within/between blocks."""
    g = np.array(planted.GENES)
    blocks = {"module": planted.MODULE, "bgA": planted.BACKGROUND_A, "bgB": planted.BACKGROUND_B}
    conn = np.abs(run["connected"][-1]).mean(axis=0)
    mi = run["final"].mutual_information.mean(axis=0)
    out = {}
    for name, genes in blocks.items():
        idx = np.flatnonzero(np.isin(g, genes))
        iu = np.triu_indices(idx.size, 1)
        out[f"C_{name}"] = float(conn[np.ix_(idx, idx)][iu].mean())
        out[f"I_{name}"] = float(mi[np.ix_(idx, idx)][iu].mean())
    mod = np.isin(g, planted.MODULE)
    out["C_module_rest"] = float(conn[np.ix_(mod, ~mod)].mean())
    out["I_module_rest"] = float(mi[np.ix_(mod, ~mod)].mean())
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="studies/results")
    a = p.parse_args(argv)
    logging.getLogger("mpsomics").setLevel(logging.ERROR)  # the per-cluster notes of every grid point
    rows, scales = [], []
    for seed in SEEDS:
        for disc in (True, False):
            t0 = time.perf_counter()
            run = train(seed, disc)
            scales.append({"seed": seed, "discriminative": disc, "train_bacc": run["train_bacc"],
                           "test_bacc": run["test_bacc"], **block_scales(run)})
            for measure, grid in GRIDS.items():
                for t in grid:
                    r = {"seed": seed, "discriminative": disc, "measure": measure, "threshold": t}
                    for label, mc in (("", 0.15), ("_nofilter", 0.0)):
                        subs = subsets(run, measure, t, mc)
                        r[f"n_subcommunities{label}"] = len(subs)
                        r[f"best_jaccard{label}"] = max((planted.jaccard(s, planted.MODULE) for s in subs),
                                                        default=0.0)
                    rows.append(r)
            print(f"seed {seed} discriminative {disc}: {time.perf_counter() - t0:.1f} s", flush=True)
    df = pd.DataFrame(rows)
    real, null = df[df.discriminative], df[~df.discriminative]
    keys = ["measure", "threshold"]
    table = real.groupby(keys, sort=False).agg(
        jaccard_mean=("best_jaccard", "mean"), jaccard_min=("best_jaccard", "min"),
        recovered=("best_jaccard", lambda v: int((v >= 0.8).sum())),
        n_subcommunities=("n_subcommunities", "sum"),
        jaccard_nofilter_mean=("best_jaccard_nofilter", "mean"),
        n_clusters_nofilter=("n_subcommunities_nofilter", "sum"),
    ).reset_index()
    table["null_subcommunities"] = null.groupby(keys, sort=False)["n_subcommunities"].sum().to_numpy()
    table["null_clusters_nofilter"] = null.groupby(keys, sort=False)["n_subcommunities_nofilter"].sum().to_numpy()
    out = Path(a.out)
    df.to_csv(out / "mi_study_runs.tsv", sep="\t", index=False, float_format="%.4g")
    table.to_csv(out / "mi_study.tsv", sep="\t", index=False, float_format="%.4g")
    pd.DataFrame(scales).to_csv(out / "mi_study_scales.tsv", sep="\t", index=False, float_format="%.4g")
    pd.set_option("display.width", 200)
    print(table.to_string(index=False))
    print(pd.DataFrame(scales).to_string(index=False, float_format=lambda x: f"{x:.3g}"))


if __name__ == "__main__":
    main()
