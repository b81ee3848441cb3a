"""Tables of the TCGA-LIHC dynamics study (``python studies/hcc_dynamics.py analyze``).

Reads ``hcc_dynamics_epochs.tsv.gz`` of ``hcc_dynamics.py run`` and writes, next to it,

``hcc_dynamics_settings.tsv``
    one row per setting: transitions (the pipeline's definition,
    :func:`mpsomics.dynamics.grokking.entropy_transition`) and how many beat their controls,
    entropy drop, and (chi 16) the 5-fold CV of the training samples: held-out balanced
    accuracy at the last sweep, folds where train saturation precedes a held-out jump.
``hcc_dynamics_runs.tsv``
    one row per (setting, community): status, drop, control drops, CV summary.
``hcc_dynamics_jaccard.tsv``
    for runs with a transition: graph-method subcommunities at the transition vs at the end.
``hcc_dynamics.md``
    the markdown tables quoted in ``docs/dynamics.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

KEYS = ["output_scale", "environments", "lr", "bond_dim", "init"]
#: the current default (config/config.yaml `mps`): kept unless another setting is better by more than TIE
DEFAULT = ("profiled", "normalized", 0.005, 16, "uniform")
TIE = 0.005


def _transition(ep: np.ndarray, S: np.ndarray, min_drop: float) -> dict:
    from mpsomics.dynamics import grokking

    return grokking.entropy_transition(ep, S, min_drop=min_drop)


def run_table(df: pd.DataFrame, min_drop: float) -> pd.DataFrame:
    from mpsomics.dynamics import grokking

    rows = []
    for key, g in df.groupby(KEYS + ["community"], sort=False):
        full = g[g.kind == "full"].dropna(subset=["S_total"]).sort_values("epoch")
        t = _transition(full.epoch.to_numpy(), full.S_total.to_numpy(), min_drop)
        r = dict(zip(KEYS + ["community"], key, strict=True))
        r.update(status=t["transition_status"], drop=t["entropy_drop"], min_epoch=t["min_entropy_epoch"],
                 transition_epoch=t["transition_epoch"], final_train_bacc=full.train_bacc.iloc[-1])
        ctrl = g[g.kind == "control"].dropna(subset=["S_total"])
        drops, cstat = [], []
        for _, c in ctrl.groupby("rep"):
            c = c.sort_values("epoch")
            ct = _transition(c.epoch.to_numpy(), c.S_total.to_numpy(), min_drop)
            drops.append(ct["entropy_drop"])
            cstat.append(ct["transition_status"])
        r["n_controls"] = len(drops)
        r["control_max_drop"] = max(drops) if drops else np.nan
        r["control_transitions"] = sum(s == "transition" for s in cstat)
        # controls were fitted only for runs whose drop reached the screen (hcc_dynamics.CONTROL_SCREEN_DROP),
        # a superset of the runs with a transition; without controls a run has no transition to count
        r["beats_control"] = bool(r["status"] == "transition" and drops and r["drop"] > max(drops))
        cv = g[g.kind == "cv"]
        if len(cv):
            last = cv[cv.epoch == cv.epoch.max()]
            r["cv_heldout_bacc"] = last.heldout_bacc.mean()
            r["cv_train_bacc"] = last.train_bacc.mean()
            flags = []
            for _, f in cv.groupby("rep"):
                h = f.sort_values("epoch").rename(columns={"train_bacc": "train_balanced_accuracy",
                                                           "heldout_bacc": "test_balanced_accuracy"})
                j = grokking.jump_columns(h, delta=0.1, window=5, plateau=3, saturation=0.99, notes=[])
                flags.append((j["grokking"], j["train_saturated_epoch"], _generalisation_epoch(h)))
            r["cv_folds"] = len(flags)
            r["cv_grokking_folds"] = sum(bool(x[0]) for x in flags)
            r["cv_saturated_folds"] = sum(np.isfinite(x[1]) for x in flags)
            lags = [x[2] - x[1] for x in flags if np.isfinite(x[1]) and np.isfinite(x[2])]
            r["cv_lags"] = ",".join(str(int(v)) for v in lags)
        rows.append(r)
    return pd.DataFrame(rows)


def _generalisation_epoch(h: pd.DataFrame) -> float:
    """First sweep where held-out balanced accuracy is 90 % of the way from 0.5 to its final value."""
    a = h.test_balanced_accuracy.to_numpy(dtype=float)
    final = a[-1]
    if not final > 0.5:
        return np.nan
    hit = np.flatnonzero(a >= 0.5 + 0.9 * (final - 0.5))
    return float(h.epoch.iloc[hit[0]])


def setting_table(runs: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for key, g in runs.groupby(KEYS, sort=False):
        r = dict(zip(KEYS, key, strict=True))
        r["communities"] = len(g)
        r["transitions"] = int((g.status == "transition").sum())
        r["beat_controls"] = int(g.beats_control.sum())
        r["median_drop"] = float(g["drop"].median())
        r["max_drop"] = float(g["drop"].max())
        r["statuses"] = ", ".join(f"{k} {v}" for k, v in g.status.value_counts().items())
        r["final_train_bacc"] = float(g.final_train_bacc.mean())
        if "cv_heldout_bacc" in g and g.cv_heldout_bacc.notna().any():
            v = g.cv_heldout_bacc.dropna()
            r["cv_heldout_bacc"] = float(v.mean())
            r["cv_heldout_bacc_low"] = float(v.quantile(0.025))
            r["cv_heldout_bacc_high"] = float(v.quantile(0.975))
            r["cv_grokking_folds"] = int(g.cv_grokking_folds.sum())
            r["cv_saturated_folds"] = int(g.cv_saturated_folds.sum())
            r["cv_folds"] = int(g.cv_folds.sum())
            lags = [int(x) for s in g.cv_lags.dropna() for x in str(s).split(",") if x != ""]
            r["cv_lag_median"] = float(np.median(lags)) if lags else np.nan
            r["cv_lag_low"] = float(np.percentile(lags, 2.5)) if lags else np.nan
            r["cv_lag_high"] = float(np.percentile(lags, 97.5)) if lags else np.nan
        rows.append(r)
    out = pd.DataFrame(rows)
    cv = out.dropna(subset=["cv_heldout_bacc"]) if "cv_heldout_bacc" in out else out.iloc[:0]
    out["chosen"] = False
    if len(cv):
        best = cv.cv_heldout_bacc.max()
        is_default = (out[KEYS].apply(tuple, axis=1) == DEFAULT)
        default_score = out.loc[is_default, "cv_heldout_bacc"]
        if len(default_score) and default_score.iloc[0] >= best - TIE:
            out.loc[is_default, "chosen"] = True
        else:
            out.loc[cv.cv_heldout_bacc.idxmax(), "chosen"] = True
    return out


def jaccard_table(df: pd.DataFrame, runs: pd.DataFrame, results: Path, limit: int = 60) -> pd.DataFrame:
    """Graph-method subcommunities at the transition vs the last epoch (refits with correlations)."""
    import hcc_dynamics as study

    from mpsomics.dynamics import training_run
    from mpsomics.mps.fit import fit
    from mpsomics.omics.subcommunities import subcommunity_table
    from mpsomics.validation.stats import best_match_jaccard

    todo = runs[(runs.status == "transition") & (runs.bond_dim == 16)].head(limit)
    rows = []
    for _, r in todo.iterrows():
        s = {k: r[k] for k in KEYS}
        genes, d, X, _, _ = study._load(str(results), r.community)
        _, _, obs = fit(X, d.y_train, np.zeros((0, len(genes))), np.zeros(0, dtype=np.int64),
                        genes=genes, classes=d.classes, config=study._config(s, 0), positive=d.positive,
                        observe_every=1, progress=False)
        epochs = np.asarray(obs.epochs)
        conn = np.stack(obs.connected)
        mag = training_run.magnetization_frame(obs, genes, d.classes)
        kw = dict(community=r.community, methods=["graph"], epoch_window=10, graph_threshold=0.1,
                  min_contrast=0.15, resolution=1.0, min_size=3)
        at_t, _ = subcommunity_table(epochs, d.classes, genes, conn, mag,
                                     transition_epoch=int(r.transition_epoch), **kw)
        at_end, _ = subcommunity_table(epochs, d.classes, genes, conn, mag, transition_epoch=int(epochs[-1]), **kw)
        a, b = _groups(at_t), _groups(at_end)
        rows.append({**s, "community": r.community, "transition_epoch": int(r.transition_epoch),
                     "n_at_transition": len(a), "n_at_end": len(b),
                     "mean_best_jaccard": float(np.mean([best_match_jaccard(x, b) for x in a])) if a else np.nan})
    return pd.DataFrame(rows)


def _groups(table: pd.DataFrame) -> list[set[str]]:
    return [set(g.gene) for _, g in table.groupby("subcommunity")] if len(table) else []


def analyze(a: argparse.Namespace) -> None:
    out = Path(a.out)
    df = pd.read_csv(out / "hcc_dynamics_epochs.tsv.gz", sep="\t")
    min_drop = getattr(a, "min_drop", 0.5)
    runs = run_table(df, min_drop)
    runs.to_csv(out / "hcc_dynamics_runs.tsv", sep="\t", index=False, float_format="%.4g")
    settings = setting_table(runs)
    settings.to_csv(out / "hcc_dynamics_settings.tsv", sep="\t", index=False, float_format="%.4g")
    print(settings.to_string(index=False))
    if getattr(a, "jaccard", True):
        jac = jaccard_table(df, runs, Path(a.results))
        jac.to_csv(out / "hcc_dynamics_jaccard.tsv", sep="\t", index=False, float_format="%.4g")
        print(jac.to_string(index=False))
