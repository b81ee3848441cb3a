"""Entanglement dynamics on TCGA-LIHC: update mode x environments x step size x bond dimension.

The study behind ``docs/dynamics.md`` (issue 13). It needs a finished default run (the
prepared AnnData and the selected communities) and writes per-epoch records, then tables::

    python studies/hcc_dynamics.py run --results results --out studies/results   # ~30 min, 2 cores
    python studies/hcc_dynamics.py analyze --out studies/results                  # tables -> markdown

Three kinds of fits per setting and community, all on the *training* split only (the test
split of ``prepare`` is never read):

``full``
    All training samples, observables every sweep: the entanglement transition
    (:func:`mpsomics.dynamics.grokking.entropy_transition`, the pipeline's definition).
``control``
    The same settings on patient-respecting permuted training labels
    (:func:`mpsomics.core.stats.label_permutations`), ``--controls`` of them; fitted for the
    runs whose entropy falls by at least 25 % after its peak (a superset of the runs that
    can have a transition at ``min_drop`` >= 0.25; the others cannot beat anything).
``cv``
    Patient-grouped stratified 5-fold CV of the training samples
    (:func:`mpsomics.validation.folds.grouped_folds`, the ``cv`` stage's folds): train and
    held-out balanced accuracy after every sweep. Used for two things only: whether train
    saturation precedes held-out generalisation, and choosing the default setting (mean
    held-out balanced accuracy at the last sweep) -- both training-only criteria.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

FULL_GRID = {
    "output_scale": ["profiled", "fixed", "free"],
    "environments": ["normalized", "raw"],
    "lr_index": [0, 1],
    "bond_dim": [8, 16],
}
#: step sizes per environment: raw environments need ~100x larger steps (mps.sweep docstring)
LRS = {"normalized": [0.005, 0.05], "raw": [0.05, 0.5]}
#: the Fashion-MNIST-like start (Gaussian random tensors): does the HCC entropy collapse from it?
RANDOM_INIT = [
    {"output_scale": "fixed", "environments": "raw", "lr": 0.5, "bond_dim": 16, "init": "random"},
    {"output_scale": "free", "environments": "raw", "lr": 0.5, "bond_dim": 16, "init": "random"},
]
CV_BOND_DIM = 16
EPOCHS = 60
CONTROL_SCREEN_DROP = 0.25


def settings(kind: str) -> list[dict]:
    out = []
    for mode, env, li, chi in itertools.product(*FULL_GRID.values()):
        if kind == "cv" and chi != CV_BOND_DIM:
            continue
        out.append({"output_scale": mode, "environments": env, "lr": LRS[env][li], "bond_dim": chi,
                    "init": "uniform"})
    if kind == "full":
        out += RANDOM_INIT
    return out


def _config(s: dict, seed: int):
    from mpsomics.mps.config import TrainConfig

    return TrainConfig(
        bond_dim=s["bond_dim"], epochs=EPOCHS, lr=s["lr"], output_scale=s["output_scale"],
        environments=s["environments"], init=s["init"], init_bond_dim=16 if s["init"] == "random" else 2,
        seed=seed, checkpoint_every=0,
    )


def _records(s: dict, community: str, kind: str, rep: int, history, obs, classes) -> list[dict]:
    rows = []
    ent = {e: x for e, x in zip(obs.epochs, obs.entropy, strict=True)}
    for _, h in history.iterrows():
        e = int(h["epoch"])
        r = {**{k: s[k] for k in ("output_scale", "environments", "lr", "bond_dim", "init")},
             "community": community, "kind": kind, "rep": rep, "epoch": e,
             "train_bacc": h["train_balanced_accuracy"], "heldout_bacc": h["test_balanced_accuracy"],
             "loss": h["loss"]}
        if e in ent:
            r["S_total"] = float(ent[e].sum())
            for k in range(len(classes)):
                r[f"S_{k}"] = float(ent[e][k].sum())
        rows.append(r)
    return rows


def _drop(S: np.ndarray) -> float:
    half = len(S) // 2
    p = int(np.argmax(S[: half + 1]))
    return float((S[p] - S[p:].min()) / S[p]) if S[p] > 0 else 0.0


def _load(results: str, community: str):
    """Genes and training arrays of one community (the ``cv`` stage's reader; the test split is not used)."""
    from mpsomics.core.readers import read_gene_list
    from mpsomics.validation.crossval import load_cv_data

    genes_path = Path(results) / "communities" / "genes" / f"{community}.txt"
    genes = read_gene_list(genes_path)
    d = load_cv_data(Path(results) / "prepared" / "expression.h5ad", genes, genes_path)
    return genes, d, np.clip(d.X_train, 0, 1), d.y_train, d.groups_train


def _control_rows(s: dict, community: str, genes, d, X, y, groups, n_controls: int, seed: int) -> list[dict]:
    """``n_controls`` fits on patient-respecting permuted training labels (as ``mpsomics controls``)."""
    from mpsomics.core.stats import label_permutations
    from mpsomics.mps.fit import fit

    empty = np.zeros((0, X.shape[1]))
    rows: list[dict] = []
    for k, perm in enumerate(label_permutations(y, groups, n_controls, seed=seed)):
        _, h, obs = fit(X, perm, empty, np.zeros(0, dtype=np.int64), genes=genes, classes=d.classes,
                        config=_config(s, seed), positive=d.positive, progress=False, observe_every=1,
                        correlations=False)
        rows += _records(s, community, "control", k, h, obs, d.classes)
    return rows


def job(args: tuple) -> list[dict]:
    """All fits of one (setting, community): full, its controls (if screened in), CV folds."""
    from mpsomics.mps.fit import fit
    from mpsomics.validation.folds import grouped_folds

    s, community, results, kinds, n_controls, seed = args
    genes, d, X, y, groups = _load(results, community)
    cfg = _config(s, seed)
    empty = np.zeros((0, X.shape[1]))
    kw = dict(genes=genes, classes=d.classes, config=cfg, positive=d.positive, progress=False)
    rows: list[dict] = []
    if "full" in kinds:
        _, h, obs = fit(X, y, empty, np.zeros(0, dtype=np.int64), observe_every=1, correlations=False, **kw)
        rows += _records(s, community, "full", 0, h, obs, d.classes)
        S = np.array([e.sum() for e in obs.entropy])
        if n_controls and _drop(S) >= CONTROL_SCREEN_DROP:
            rows += _control_rows(s, community, genes, d, X, y, groups, n_controls, seed)
    if "cv" in kinds:
        for f in grouped_folds(y, groups, folds=5, repeats=1, seed=seed):
            _, h, obs = fit(X[f.train], y[f.train], X[f.test], y[f.test], observe_every=0, **kw)
            rows += _records(s, community, "cv", f.fold, h, obs, d.classes)
    return rows


def control_job(args: tuple) -> list[dict]:
    """``n_controls`` permuted-label fits of one (setting, community) (the ``controls`` step)."""
    s, community, results, n_controls, seed = args
    return _control_rows(s, community, *_load(results, community), n_controls, seed)


def controls(a: argparse.Namespace) -> None:
    """Refit the controls (``--controls`` of them) of every run with a transition in ``hcc_dynamics_runs.tsv``."""
    out = Path(a.out)
    runs = pd.read_csv(out / "hcc_dynamics_runs.tsv", sep="\t")
    todo = runs[runs.status == "transition"]
    keys = ["output_scale", "environments", "lr", "bond_dim", "init"]
    jobs = [({k: r[k] for k in keys} | {"bond_dim": int(r["bond_dim"])}, r["community"], a.results, a.controls,
             a.seed) for _, r in todo.iterrows()]
    t0 = time.time()
    rows: list[dict] = []
    with ProcessPoolExecutor(a.workers) as ex:
        for r in ex.map(control_job, jobs, chunksize=1):
            rows += r
    df = pd.read_csv(out / "hcc_dynamics_epochs.tsv.gz", sep="\t")
    done = {tuple(j[0][k] for k in keys) + (j[1],) for j in jobs}
    old = df.kind.eq("control") & df[keys + ["community"]].apply(tuple, axis=1).isin(done)
    df = pd.concat([df[~old], pd.DataFrame(rows)], ignore_index=True)
    df.to_csv(out / "hcc_dynamics_epochs.tsv.gz", sep="\t", index=False, float_format="%.6g")
    print(f"{len(jobs)} runs x {a.controls} controls in {time.time() - t0:.0f} s", file=sys.stderr)


def run(a: argparse.Namespace) -> None:
    communities = Path(a.results, "communities", "selected.txt").read_text().split()
    jobs = []
    full = settings("full")
    cv = settings("cv")
    key = lambda s: tuple(sorted(s.items()))  # noqa: E731
    cv_keys = {key(s) for s in cv}
    for s in full:
        kinds = ("full", "cv") if key(s) in cv_keys else ("full",)
        for c in communities:
            jobs.append((s, c, a.results, kinds, a.controls, a.seed))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    rows: list[dict] = []
    with ProcessPoolExecutor(a.workers) as ex:
        for i, r in enumerate(ex.map(job, jobs, chunksize=1)):
            rows += r
            if (i + 1) % 20 == 0:
                print(f"{i + 1}/{len(jobs)} jobs, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(out / "hcc_dynamics_epochs.tsv.gz", sep="\t", index=False, float_format="%.6g")
    (out / "hcc_dynamics_run.json").write_text(json.dumps({
        "results": str(a.results), "communities": communities, "epochs": EPOCHS, "controls": a.controls,
        "seed": a.seed, "seconds": round(time.time() - t0, 1), "workers": a.workers,
        "grid": FULL_GRID, "lrs": LRS, "random_init": RANDOM_INIT, "cv_bond_dim": CV_BOND_DIM,
    }, indent=1))
    print(f"{len(jobs)} jobs in {time.time() - t0:.0f} s -> {out}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--results", default="results")
    r.add_argument("--out", default="studies/results")
    r.add_argument("--controls", type=int, default=5)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    c = sub.add_parser("controls", help="refit the controls of the runs with a transition")
    c.add_argument("--results", default="results")
    c.add_argument("--out", default="studies/results")
    c.add_argument("--controls", type=int, default=19)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    an = sub.add_parser("analyze")
    an.add_argument("--out", default="studies/results")
    an.add_argument("--results", default="results")
    a = p.parse_args(argv)
    if a.cmd == "run":
        run(a)
    elif a.cmd == "controls":
        controls(a)
    else:
        from hcc_dynamics_analysis import analyze  # noqa: PLC0415 (sibling script)

        analyze(a)


if __name__ == "__main__":
    main()
