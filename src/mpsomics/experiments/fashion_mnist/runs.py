"""The paper's Fashion-MNIST grokking experiment: one run per (task, seed), and its summary.

A run (:func:`run_one`) trains one sweep MPS classifier on a task of
:mod:`mpsomics.experiments.fashion_mnist.data`, recording after every sweep the train/test accuracy,
sensitivity and specificity (``history.tsv``), the entanglement entropy at every bond
per label (``entanglement_trajectory.tsv``), the magnetizations, and the half-chain spectrum
(``spectrum.tsv``), and analyses it with the gene pipeline's grokking analysis
(:func:`mpsomics.dynamics.grokking.analyze`; ``grokking.tsv``). The test images are only
evaluated: no choice depends on them.

``spectrum.tsv`` (``epoch``, ``state``, ``rank``, ``eigenvalue``): eigenvalues
(squared Schmidt values, descending, ``rank`` 0, 1, ...) of the reduced density
matrix of the first ``N // 2`` sites (bond ``N // 2 - 1``). ``state`` is ``all`` for
the label-carrying state with both classes
(:func:`mpsomics.mps.observables.label_schmidt_values`) and a class name for that
class's normalised state. Eigenvalues below :data:`SPECTRUM_FLOOR` are not written.

:func:`summarize` collects runs into ``summary.tsv`` (one row per run) and
``comparison.tsv`` (one row per task: mean and standard deviation over seeds beside
the paper's values, :data:`PAPER`). The transition is the gene pipeline's
(:func:`mpsomics.dynamics.grokking.entropy_transition`: the minimum after the first-half
peak, before the last sweep, having lost at least ``min_drop`` = 0.5 of the peak);
``transition_found`` marks runs whose ``transition_status`` is ``transition``, and the
comparison's transition statistics use these runs only.

Label-permutation controls (``controls`` = K > 0, :mod:`mpsomics.dynamics.controls`): the
same task, seed and settings trained K times on shuffled training labels (each image its
own group), written as ``controls_entanglement.tsv`` and ``controls_history.tsv`` in the
run directory. A run's transition counts (``beats_control``) only when it loses a larger
fraction of its peak entanglement than every control: the per-run analogue of the
sneaker-vs-sneaker task.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from mpsomics.core.errors import InputError
from mpsomics.core.files import atomic_dir, atomic_path
from mpsomics.core.readers import read_tsv
from mpsomics.dynamics import grokking, training_run
from mpsomics.experiments.fashion_mnist import data
from mpsomics.mps.config import TrainConfig
from mpsomics.mps.observables import half_chain_bond, half_chain_summary, label_schmidt_values
from mpsomics.mps.state import MPSState

log = logging.getLogger(__name__)

SPECTRUM_FILE = "spectrum.tsv"
GROKKING_FILE = "grokking.tsv"
CONTROLS_ENTANGLEMENT_FILE = "controls_entanglement.tsv"
CONTROLS_HISTORY_FILE = "controls_history.tsv"
#: eigenvalues below this are numerically zero for the plots and are not written
SPECTRUM_FLOOR = 1e-14

#: The paper's published numbers (Pomarico et al. 2025, as summarised in the issue that
#: asked for this reproduction): grokking sweep and final (100-sweep) test accuracy per
#: task. ``None`` = not stated in the text available to us.
PAPER: dict[str, dict[str, float | None]] = {
    t.name: {"grokking_sweep": None, "final_test_accuracy": None} for t in data.all_tasks()
}
PAPER["sneaker_vs_dress"] = {"grokking_sweep": 60.0, "final_test_accuracy": 0.88}
PAPER["sneaker_vs_trouser"] = {"grokking_sweep": None, "final_test_accuracy": 0.95}
PAPER["sneaker_vs_sneaker"] = {"grokking_sweep": None, "final_test_accuracy": 0.5}
PAPER_NOTES = {
    "sneaker_vs_dress": "grokking after ~60 sweeps; sensitivity jumps before specificity",
    "sneaker_vs_trouser": "highest final test accuracy of the tasks (~0.95)",
    "sneaker_vs_sneaker": "control: cannot generalise (chance, 0.5)",
}

#: final test accuracy from which a run counts as generalising (``generalization_epoch``)
GENERALIZED = 0.7

#: Defaults of the fast setting (the paper's are in config/paper.yaml).
DEFAULTS: dict[str, object] = {
    "n_per_label": 60,
    "size": 6,
    "bond_dim": 32,
    "init_bond_dim": 32,
    "epochs": 100,
    "lr": 0.1,
    "init": "random",
    "environments": "normalized",
    "output_scale": "fixed",
    "loss": "mse",
    "cutoff": 0.0,
    "dtype": "float64",
    "controls": 1,
}


def run_dir(out_dir: str | os.PathLike, task: str, seed: int) -> Path:
    """Directory of one run: ``{out_dir}/runs/{task}/seed{seed}``."""
    return Path(out_dir) / "runs" / task / f"seed{int(seed)}"


def spectrum_rows(epoch: int, state: MPSState) -> list[tuple[int, str, int, float]]:
    """Half-chain spectra of ``state`` (label-carrying and per class) as spectrum.tsv rows."""
    bond = half_chain_bond(state.n_sites)
    rows = []
    spectra = [("all", label_schmidt_values(state, bond))]
    spectra += [(name, half_chain_summary(state, k)["schmidt_values"]) for k, name in enumerate(state.classes)]
    for name, s in spectra:
        ev = np.sort(np.asarray(s, dtype=np.float64) ** 2)[::-1]
        for r, v in enumerate(ev[ev >= SPECTRUM_FLOOR]):
            rows.append((int(epoch), name, r, float(v)))
    return rows


def _read_table(path: Path, required: Sequence[str], missing_hint: str, **rules) -> pd.DataFrame:
    if not path.exists():
        raise InputError(path, f"missing file ({missing_hint})")
    return read_tsv(path, required, **rules)


def load_spectrum(run: str | os.PathLike) -> pd.DataFrame:
    """``spectrum.tsv`` of a run directory; InputError naming the file when unusable."""
    return _read_table(Path(run) / SPECTRUM_FILE, ("epoch", "state", "rank", "eigenvalue"),
                       "run `mpsomics fashion-run` first", integer=("epoch", "rank"),
                       numeric=("eigenvalue",), text=("state",), complete=("epoch", "state", "rank", "eigenvalue"))


def run_one(
    X: np.ndarray,
    labels: np.ndarray,
    task: data.Task,
    seed: int,
    out: str | os.PathLike,
    *,
    n_per_label: int,
    config: TrainConfig,
    run_info: dict | None = None,
    controls: int = 0,
) -> dict[str, object]:
    """Train and analyse one (task, seed); write its directory ``out`` atomically.

    Parameters
    ----------
    X
        (n_images, N) pixel intensities in [0, 1] (:func:`mpsomics.experiments.fashion_mnist.data.features`).
    labels
        Fashion-MNIST class of every image.
    config
        Training settings; ``config.seed`` is replaced by ``seed``.
    controls
        Number of label-permutation controls (0 = none; see the module docstring).

    Returns
    -------
    The grokking row (:func:`mpsomics.dynamics.grokking.analyze`) with ``task`` and ``seed``.
    """
    from mpsomics.mps.fit import fit

    config = replace(config, seed=int(seed), checkpoint_every=0)
    tr, y_tr, te, y_te = data.task_split(labels, task, n_per_label=n_per_label, seed=seed)
    n_sites = X.shape[1]
    size = math.isqrt(n_sites)
    names = data.pixel_names(size) if size * size == n_sites else [f"p{i}" for i in range(n_sites)]
    spec: list[tuple[int, str, int, float]] = []
    state, history, obs = fit(
        X[tr],
        y_tr,
        X[te],
        y_te,
        genes=names,
        classes=task.classes,
        config=config,
        positive=1,
        observe_every=1,
        name=f"{task.name}/seed{seed}",
        correlations=False,
        on_state=lambda epoch, st: spec.extend(spectrum_rows(epoch, st)),
    )
    ctrl_ent = ctrl_hist = None
    if controls > 0:
        from mpsomics.dynamics.controls import train_controls

        # one group per image: the task has no patients
        ctrl_ent, ctrl_hist = train_controls(
            X[tr], y_tr, np.arange(len(tr)), X[te], y_te, genes=names, classes=task.classes,
            config=config, n_controls=int(controls), seed=int(seed), positive=1,
            name=f"{task.name}/seed{seed}",
        )
    row = {
        "task": task.name,
        "seed": int(seed),
        **grokking.analyze(history, training_run.entanglement_frame(obs, task.classes), name=task.name,
                           control_entanglement=ctrl_ent),
    }
    info = {
        "task": task.name,
        "seed": int(seed),
        "n_per_label": int(n_per_label),
        "train_images": [int(i) for i in tr],
        "test_images": [int(i) for i in te],
        "config": config.to_dict(),
        "controls": int(controls),
        **(run_info or {}),
    }
    with atomic_dir(out) as tmp:
        training_run.write_train_dir(tmp, state, history, obs, info)
        pd.DataFrame(spec, columns=["epoch", "state", "rank", "eigenvalue"]).to_csv(
            tmp / SPECTRUM_FILE, sep="\t", index=False, float_format="%.10g"
        )
        grokking.write_tsv(_grokking_frame([row]), tmp / GROKKING_FILE)
        if ctrl_ent is not None:
            ctrl_ent.to_csv(tmp / CONTROLS_ENTANGLEMENT_FILE, sep="\t", index=False)
            ctrl_hist.to_csv(tmp / CONTROLS_HISTORY_FILE, sep="\t", index=False, na_rep="NaN")
    last = history.iloc[-1]
    log.info(
        "%s seed %d: test accuracy %.3f (sensitivity %.3f, specificity %.3f), train %.3f, "
        "transition sweep %s (%s, beats its controls: %s), jump sweep %s, grokking %s",
        task.name,
        seed,
        last["test_accuracy"],
        last["test_sensitivity"],
        last["test_specificity"],
        last["train_accuracy"],
        row["transition_epoch"],
        row["transition_status"],
        row["beats_control"],
        row["jump_epoch"],
        row["grokking"],
    )
    return row


def _grokking_frame(rows: Sequence[dict[str, object]]) -> pd.DataFrame:
    """Grokking rows keyed by task and seed, in that column order."""
    df = grokking.to_frame(rows)
    lead = ["task", "seed"]
    return df[lead + [c for c in df.columns if c not in lead]]


def read_run(path: str | os.PathLike) -> pd.DataFrame:
    """``grokking.tsv`` of one run directory: one row of a known task, integer seed >= 0."""
    file = Path(path) / GROKKING_FILE
    df = _read_table(file, ("task", "seed", "transition_epoch", "jump_epoch", "grokking"),
                     "the run did not finish; rerun `mpsomics fashion-run`", text=("task",),
                     integer=("seed", "transition_epoch", "jump_epoch"), complete=("task", "seed"))
    if len(df) != 1:
        raise InputError(file, f"expected exactly one data row, found {len(df)}")
    known = [t.name for t in data.all_tasks()]
    task, seed = str(df["task"].iloc[0]), int(df["seed"].iloc[0])
    if task not in known:
        raise InputError(file, f"unknown task {task!r}; known: {', '.join(known)}")
    if seed < 0:
        raise InputError(file, f"column 'seed': negative seed {seed}")
    return df


#: history.tsv columns the summary reads
_FINAL_COLUMNS = ("test_accuracy", "test_sensitivity", "test_specificity", "train_accuracy")


def _final_metrics(run: Path) -> dict[str, float]:
    h = training_run.load_history(run)
    hist_path = run / training_run.HISTORY_FILE
    missing = [k for k in _FINAL_COLUMNS if k not in h.columns]
    if missing:
        raise InputError(hist_path, f"missing column(s) {', '.join(missing)}")
    last = h.iloc[-1]
    out = {f"final_{k}": float(last[k]) for k in _FINAL_COLUMNS}
    # the first sweep at which each test metric reaches its final plateau value
    for k in ("test_sensitivity", "test_specificity"):
        v = h[k].to_numpy(dtype=float)
        hit = np.flatnonzero(v >= 0.9 * np.nanmax(v)) if np.isfinite(v).any() else []
        out[f"{k}_90_epoch"] = float(h["epoch"].iloc[hit[0]]) if len(hit) else float("nan")
    # generalisation sweep: first sweep 90 % of the way from chance (0.5) to the final test accuracy
    test = h["test_accuracy"].to_numpy(dtype=float)
    final = float(test[-1])
    gen = float("nan")
    if final >= GENERALIZED:
        hit = np.flatnonzero(test >= 0.5 + 0.9 * (final - 0.5))
        gen = float(h["epoch"].iloc[hit[0]])
    out["generalization_epoch"] = gen
    ent = training_run.load_entanglement(run)
    training_run.check_same_run(
        history=(hist_path, h), entanglement=(run / training_run.ENTANGLEMENT_FILE, ent)
    )
    tot = ent.groupby("epoch")["entropy"].sum()
    out["min_entropy_epoch"] = float(tot.idxmin())
    out["initial_entropy"] = float(tot.iloc[0])
    out["min_entropy"] = float(tot.min())
    return out


def run_keys(run_dirs: Sequence[str | os.PathLike]) -> dict[Path, tuple[str, int]]:
    """(task, seed) of every run directory, from its ``grokking.tsv``; a pair at most once."""
    keys: dict[Path, tuple[str, int]] = {}
    seen: dict[tuple[str, int], Path] = {}
    for d in map(Path, run_dirs):
        row = read_run(d).iloc[0]
        key = (str(row["task"]), int(row["seed"]))
        if key in seen:
            raise InputError(
                d / GROKKING_FILE, f"task {key[0]} seed {key[1]} again (already in {seen[key] / GROKKING_FILE})"
            )
        seen[key] = d
        keys[d] = key
    return keys


def summarize(run_dirs: Sequence[str | os.PathLike]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, comparison) tables of finished runs (see the module docstring)."""
    rows = []
    run_keys(run_dirs)  # every run readable, no (task, seed) twice
    for d in run_dirs:
        d = Path(d)
        g = read_run(d).iloc[0].to_dict()
        g.update(_final_metrics(d))
        rows.append(g)
    if not rows:
        raise InputError(None, "no Fashion-MNIST runs to summarize")
    summary = pd.DataFrame(rows)
    # the gene pipeline's definition: grokking.tsv's transition_status
    if "transition_status" in summary.columns:
        summary["transition_found"] = summary["transition_status"].astype(str) == "transition"
    else:  # a run directory written before the unified definition
        summary["transition_found"] = pd.to_numeric(summary["transition_epoch"], errors="coerce").notna()
    order = [t.name for t in data.all_tasks()]
    summary["_o"] = summary["task"].map({t: i for i, t in enumerate(order)})
    summary = summary.sort_values(["_o", "seed"]).drop(columns="_o").reset_index(drop=True)
    comp = []
    for task, g in summary.groupby("task", sort=False):
        grok = g["grokking"].astype(str).str.lower() == "true"
        paper = PAPER.get(task, {})
        r = {
            "task": task,
            "n_seeds": len(g),
            "paper_grokking_sweep": paper.get("grokking_sweep"),
            "paper_final_test_accuracy": paper.get("final_test_accuracy"),
            "n_grokking": int(grok.sum()),
            "n_transition": int(g["transition_found"].astype(bool).sum()),
            "n_beats_control": (
                int((g["beats_control"].astype(str).str.lower() == "true").sum())
                if "beats_control" in g.columns else 0
            ),
        }
        found = g["transition_found"].astype(bool)
        for col, name in (
            ("transition_epoch", "transition_sweep"),
            ("jump_epoch", "jump_sweep"),
            ("generalization_epoch", "generalization_sweep"),
            ("min_entropy_epoch", "min_entropy_sweep"),
            ("final_test_accuracy", "final_test_accuracy"),
            ("final_test_sensitivity", "final_test_sensitivity"),
            ("final_test_specificity", "final_test_specificity"),
            ("final_train_accuracy", "final_train_accuracy"),
        ):
            v = pd.to_numeric(g[col], errors="coerce")
            if col == "transition_epoch":
                v = v.where(found)
            r[f"{name}_mean"] = float(v.mean()) if v.notna().any() else float("nan")
            r[f"{name}_sd"] = float(v.std(ddof=1)) if v.notna().sum() > 1 else float("nan")
            r[f"{name}_n"] = int(v.notna().sum())
        r["paper_note"] = PAPER_NOTES.get(task, "")
        comp.append(r)
    return summary, pd.DataFrame(comp)


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False, na_rep="", float_format="%.6g")
