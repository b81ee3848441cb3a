"""Gene panels: accuracy against the fraction of sites kept, on communities of three sizes and planted sets.

The study behind the scaling section of ``docs/panels.md`` (issue 16). It runs the
``panels`` procedure (:func:`mpsomics.validation.panels.panel_tables`: per patient-grouped
fold of the training split, iterative pruning of 20 % of the remaining sites per round,
retrained from the rewound and from a fresh initial state; L1 at the same sizes) without
the permutation null, on

- three TCGA-LIHC communities of a finished default run (``--results``): the smallest,
  one near the median and the largest of ``selected.txt`` (training split only);
- planted communities (N sites, k of them informative): Gaussian values around 0.5
  (sd 0.15, clipped to [0, 1]), the positive class shifted by 0.1 on the informative
  sites only, 140 training samples in 100 patients (40 patients with one sample of each
  class).

each with the pipeline's MPS settings and with ``init: random`` (where rewinding can
differ from a fresh start). Per curve it records the normalised deficit of the rewound
curve below its best point, ``d = (AUC_peak - AUC) / (AUC_peak - 0.5)`` (the peak, not
the dense model: pruning the noise sites of a planted set *raises* the AUC), and the
**onset of the high-error region**: the largest kept size below the peak whose deficit
exceeds ``ONSET`` (0.1, a tenth of the above-chance AUC lost), with the entanglement of
the pruned model just before and at the onset. Rescaling: the kept size over ``k``
(planted: the informative sites; real data: the panel size, the only estimate there is).

    python studies/panel_scaling.py run --results results --out studies/results --workers 2   # ~10 min
    python studies/panel_scaling.py analyze --out studies/results    # onsets again from the curves
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from mpsomics.mps.config import TrainConfig
from mpsomics.validation.crossval import CVData, load_cv_data
from mpsomics.validation.panels import panel_tables

ONSET = 0.1
#: planted communities: (N sites, k informative)
PLANTED = ((24, 3), (24, 6), (48, 6))
#: the pipeline's `mps` settings (config/config.yaml)
PIPELINE = TrainConfig(method="sweep", bond_dim=16, epochs=60, lr=0.005, init_bond_dim=2, seed=0,
                       checkpoint_every=0, output_scale="profiled")


def planted(n_sites: int, k: int, seed: int = 0) -> CVData:
    """Planted community: k informative sites spread along the chain (see the module docstring)."""
    rng = np.random.default_rng([seed, n_sites, k])
    n_pairs, n_single, n_test = 40, 60, 60
    n_train = 2 * n_pairs + n_single
    y_train = np.concatenate([np.tile([0, 1], n_pairs), rng.integers(0, 2, n_single)])
    groups = np.array([f"p{i // 2}" for i in range(2 * n_pairs)] + [f"s{i}" for i in range(n_single)])
    y_test = rng.integers(0, 2, n_test)
    informative = np.linspace(1, n_sites - 2, k).round().astype(int)

    def values(y: np.ndarray) -> np.ndarray:
        x = 0.5 + 0.15 * rng.standard_normal((len(y), n_sites))
        x[:, informative] += 0.1 * y[:, None]
        return np.clip(x, 0.0, 1.0)

    genes = [f"{'INF' if i in set(informative) else 'G'}{i}" for i in range(n_sites)]
    assert len(y_train) == n_train
    return CVData(genes, values(y_train), y_train, groups, values(y_test), y_test, ["normal", "tumor"], 1)


def real(results: Path) -> dict[str, CVData]:
    """The smallest, a median-sized and the largest selected community of a finished run."""
    selected = [c.strip() for c in (results / "communities" / "selected.txt").read_text().split() if c.strip()]
    genes = {c: (results / "communities" / "genes" / f"{c}.txt").read_text().split() for c in selected}
    by_size = sorted(selected, key=lambda c: (len(genes[c]), c))
    chosen = [by_size[0], by_size[len(by_size) // 2], by_size[-1]]
    h5 = results / "prepared" / "expression.h5ad"
    return {c: load_cv_data(h5, genes[c], results / "communities" / "genes" / f"{c}.txt") for c in chosen}


def onset(curve: pd.DataFrame) -> dict:
    """Peak of the rewound curve, the onset size below it and the entanglement around the onset."""
    rw = curve[curve["mode"] == "rewind"].sort_values("n_kept", ascending=False)
    auc = rw["auc_mean"].to_numpy(float)
    top = int(np.argmax(auc))
    deficit = (auc[top] - auc) / max(auc[top] - 0.5, 1e-9)
    high = [i for i in range(top + 1, len(auc)) if deficit[i] > ONSET]
    out = {"peak_auc": float(auc[top]), "peak_size": int(rw["n_kept"].iloc[top]), "onset_size": np.nan,
           "entropy_before": np.nan, "entropy_at": np.nan}
    if high:
        i = high[0]
        ent = rw["entropy_mean"].to_numpy(float)
        out.update(onset_size=int(rw["n_kept"].iloc[i]), entropy_before=float(ent[i - 1]), entropy_at=float(ent[i]))
    return out


def analyze(out: Path) -> pd.DataFrame:
    """Recompute the onset columns of ``panel_scaling.tsv`` from the saved curves."""
    table = pd.read_csv(out / "panel_scaling.tsv", sep="\t")
    curves = pd.read_csv(out / "panel_scaling_curves.tsv", sep="\t")
    rows = []
    for _, r in table.iterrows():
        curve = curves[(curves["community"] == r["community"]) & (curves["init"] == r["init"])]
        k_scale = float(curve["k_scale"].iloc[0])
        o = onset(curve)
        rows.append({**r.to_dict(), **o,
                     "onset_over_k": o["onset_size"] / k_scale if np.isfinite(o["onset_size"]) else np.nan})
    table = pd.DataFrame(rows)
    table.to_csv(out / "panel_scaling.tsv", sep="\t", index=False, float_format="%.4g")
    return table


def run_one(name: str, data: CVData, config: TrainConfig, init: str, k: float | None, workers: int):
    cfg = replace(config, init=init)
    t0 = time.perf_counter()
    curve, summary = panel_tables(data, cfg, community=name, permutations=0, bootstrap=200, workers=workers)
    s = summary.iloc[0]
    k_scale = float(k) if k is not None else float(s["panel_size"])
    row = {"community": name, "init": init, "n_sites": int(s["n_sites"]), "k": k, "panel_size": int(s["panel_size"]),
           "dense_auc": float(s["dense_auc"]), "rewind_auc": float(s["rewind_auc"]),
           "reinit_auc": float(s["reinit_auc"]), "l1_auc": float(s["l1_auc"]), "overlap_l1": float(s["overlap_l1"]),
           "panel_genes": s["panel_genes"], "seconds": time.perf_counter() - t0}
    if k is not None:
        inf = {g for g in data.genes if g.startswith("INF")}
        panel = set(str(s["panel_genes"]).split(","))
        row["panel_jaccard_informative"] = len(inf & panel) / len(inf | panel)
    curve = curve.assign(init=init, k_scale=k_scale, kept_over_k=curve["n_kept"] / k_scale)
    return row, curve


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("step", choices=("run", "analyze"))
    p.add_argument("--results", default="results", help="a finished default run")
    p.add_argument("--out", default="studies/results")
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.step == "run":
        run(Path(a.results), out, a.workers)
    table = analyze(out)
    cols = ["community", "init", "n_sites", "k", "panel_size", "dense_auc", "rewind_auc", "reinit_auc", "l1_auc",
            "peak_size", "peak_auc", "onset_size", "onset_over_k", "entropy_before", "entropy_at",
            "panel_jaccard_informative"]
    print(table[cols].to_string(index=False, float_format=lambda x: f"{x:.3g}"))


def run(results: Path, out: Path, workers: int) -> None:
    cases: list[tuple[str, CVData, int | None]] = [(c, d, None) for c, d in real(results).items()]
    cases += [(f"planted_N{n}_k{k}", planted(n, k), k) for n, k in PLANTED]
    rows, curves = [], []
    t0 = time.perf_counter()
    for name, data, k in cases:
        for init in ("uniform", "random"):
            row, curve = run_one(name, data, PIPELINE, init, k, workers)
            rows.append(row)
            curves.append(curve)
            print(f"{name} {init}: panel {row['panel_size']}/{row['n_sites']}, dense {row['dense_auc']:.3f}, "
                  f"rewind {row['rewind_auc']:.3f}, reinit {row['reinit_auc']:.3f} ({row['seconds']:.0f} s)",
                  file=sys.stderr)
    pd.DataFrame(rows).to_csv(out / "panel_scaling.tsv", sep="\t", index=False, float_format="%.4g")
    pd.concat(curves).to_csv(out / "panel_scaling_curves.tsv", sep="\t", index=False, float_format="%.4g")
    (out / "panel_scaling_run.json").write_text(json.dumps(
        {"seconds": time.perf_counter() - t0, "workers": workers, "onset": ONSET, "planted": PLANTED}, indent=1))


if __name__ == "__main__":
    main()
