"""HTML page of the Fashion-MNIST grokking experiment (same machinery as the pipeline report).

Figures come from :mod:`mpsomics.report.figures`, the page is ``templates/fashion.html`` (which
extends the pipeline report's ``base.html``) rendered by :func:`mpsomics.report.html.render`;
images are inline PNG, so the one file opens offline.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mpsomics import __version__
from mpsomics.core.files import atomic_path
from mpsomics.dynamics import training_run
from mpsomics.experiments.fashion_mnist import runs as fx
from mpsomics.report.html import PAPER as PAPER_CITATION
from mpsomics.report.html import render

log = logging.getLogger(__name__)

#: the task whose half-chain spectrum is shown (the paper's example)
SPECTRUM_TASK = "sneaker_vs_dress"


def _num(x: object) -> float | None:
    v = pd.to_numeric(pd.Series([x]), errors="coerce").iloc[0]
    return None if pd.isna(v) else float(v)


def _pm(mean: object, sd: object, digits: int = 3, integer: bool = False) -> str:
    m, s = _num(mean), _num(sd)
    if m is None:
        return "—"
    fmt = (lambda v: f"{v:.1f}") if integer else (lambda v: f"{v:.{digits}f}")
    return fmt(m) if s is None else f"{fmt(m)} ± {fmt(s)}"


def comparison_rows(comparison: pd.DataFrame) -> list[dict[str, str]]:
    """Rows of the our-numbers-beside-the-paper's table (strings ready to print)."""
    rows = []
    for r in comparison.to_dict("records"):
        pg, pa = _num(r["paper_grokking_sweep"]), _num(r["paper_final_test_accuracy"])
        rows.append(
            {
                "task": r["task"],
                "n_seeds": str(r["n_seeds"]),
                "paper_grokking": "—" if pg is None else f"~{pg:.0f}",
                "transition": _pm(r["transition_sweep_mean"], r["transition_sweep_sd"], integer=True)
                + f" ({r['transition_sweep_n']}/{r['n_seeds']})",
                "jump": _pm(r["jump_sweep_mean"], r["jump_sweep_sd"], integer=True) + f" ({r['jump_sweep_n']}/{r['n_seeds']})",
                "generalization": _pm(r["generalization_sweep_mean"], r["generalization_sweep_sd"], integer=True)
                + f" ({r['generalization_sweep_n']}/{r['n_seeds']})",
                "grokking": f"{r['n_grokking']}/{r['n_seeds']}",
                "beats_control": f"{r.get('n_beats_control', 0)}/{r['n_seeds']}",
                "paper_accuracy": "—" if pa is None else (f"~{pa:.2f}" if r["task"] != "sneaker_vs_sneaker" else "chance"),
                "accuracy": _pm(r["final_test_accuracy_mean"], r["final_test_accuracy_sd"]),
                "sensitivity": _pm(r["final_test_sensitivity_mean"], r["final_test_sensitivity_sd"]),
                "specificity": _pm(r["final_test_specificity_mean"], r["final_test_specificity_sd"]),
                "train": _pm(r["final_train_accuracy_mean"], r["final_train_accuracy_sd"]),
                "note": r.get("paper_note") or "",
            }
        )
    return rows


def _settings(run: Path) -> dict[str, str]:
    try:
        info = json.loads((run / "run_info.json").read_text())
    except (OSError, ValueError):
        return {}
    cfg = info.get("config", {})
    keys = ("bond_dim", "init_bond_dim", "epochs", "lr", "init", "environments", "output_scale", "loss", "cutoff", "dtype")
    out = {k: str(cfg[k]) for k in keys if k in cfg}
    out["images per label"] = str(info.get("n_per_label", ""))
    out["image size"] = f"{info.get('size', '')} x {info.get('size', '')}"
    return out


def build_context(summary: pd.DataFrame, comparison: pd.DataFrame, run_dirs: Sequence[Path]) -> dict[str, Any]:
    """Everything ``templates/fashion.html`` shows."""
    from mpsomics.report import figures
    by_task: dict[str, list[tuple[int, Path]]] = {}
    for d, (task, seed) in fx.run_keys(run_dirs).items():  # from grokking.tsv, not the directory names
        by_task.setdefault(task, []).append((seed, d))
    sections = []
    for task in comparison["task"]:
        seed, run = min(by_task[task])  # lowest seed is the representative run
        row = summary[(summary["task"] == task) & (summary["seed"] == seed)].iloc[0]
        t_ep, j_ep = _num(row["transition_epoch"]), _num(row["jump_epoch"])
        ent = training_run.load_entanglement(run)
        n_sites = int(ent["bond"].max()) + 2
        fig = figures.training_entropy_figure(
            training_run.load_history(run), ent,
            transition_epoch=t_ep, jump_epoch=j_ep, title=f"{task}, {run.name}",
        )
        task_figures = [{"src": "data:image/png;base64," + figures.png_base64(fig), "caption": (
            "Top: accuracy on the training and test images, and test sensitivity (sneakers found) and "
            "specificity (the other label recognised), after every sweep. Below: entanglement entropy "
            f"(natural log) of each label's normalised state at every bond of the {n_sites}-site lattice "
            "(bond b separates pixels 0..b from the rest, pixels unrolled row by row). "
            "Dashed: transition sweep (entropy minimum after the initial peak); dotted: generalisation jump.")}]
        if task == SPECTRUM_TASK:
            fig = figures.spectrum_figure(fx.load_spectrum(run),
                                        transition_epoch=t_ep, title=f"{task}, {run.name}: half-chain spectrum")
            task_figures.append({"src": "data:image/png;base64," + figures.png_base64(fig), "caption": (
                f"Half-chain spectrum: eigenvalues λ² of the reduced density matrix of the first {n_sites // 2} "
                "pixels (log scale) after every "
                "sweep: left for the state carrying both labels, then per label. The paper describes "
                "detached eigenvalues near 0.5 that later merge into a group near 0.018.")})
        runs = summary[summary["task"] == task]
        sections.append({
            "task": task,
            "figures": task_figures,
            "runs": [
                {k: ("—" if _num(v) is None and k not in ("task", "seed", "grokking", "transition_status", "beats_control")
                 else v) for k, v in r.items()}
                for r in runs.reindex(columns=["seed", "transition_epoch", "transition_status", "entropy_drop",
                               "control_max_drop", "beats_control", "max_rate_epoch", "generalization_epoch", "jump_epoch", "train_saturated_epoch",
                               "grokking", "final_test_accuracy", "final_test_sensitivity",
                               "final_test_specificity", "final_train_accuracy"]).to_dict("records")
            ],
        })
    grok = summary["grokking"].astype(str).str.lower() == "true"
    acc_fig = figures.task_accuracy_figure(comparison)
    return {
        "title": "Fashion-MNIST grokking: reproduction of Pomarico et al. 2025",
        "paper": PAPER_CITATION,
        "generated": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "version": __version__,
        "settings": _settings(Path(run_dirs[0])),
        "comparison": comparison_rows(comparison),
        "accuracy_figure": "data:image/png;base64," + figures.png_base64(acc_fig),
        "n_runs": len(summary),
        "n_grokking": int(grok.sum()),
        "sections": sections,
    }


def write_report(out: str | os.PathLike, summary: pd.DataFrame, comparison: pd.DataFrame,
                 run_dirs: Sequence[str | os.PathLike]) -> Path:
    """Render the page and write it atomically to ``out``."""
    return write_html(out, render_report(summary, comparison, run_dirs), len(summary))


def render_report(summary: pd.DataFrame, comparison: pd.DataFrame, run_dirs: Sequence[str | os.PathLike]) -> str:
    """The page as a string (every input read; nothing written)."""
    return render(build_context(summary, comparison, [Path(d) for d in run_dirs]), "fashion.html",
                  package="mpsomics.experiments.fashion_mnist")


def write_html(out: str | os.PathLike, html: str, n_runs: int) -> Path:
    """Write the rendered page atomically to ``out``."""
    out = Path(out)
    with atomic_path(out) as tmp:
        tmp.write_text(html, encoding="utf-8")
    log.info("Fashion-MNIST report (%d runs) written to %s", n_runs, out)
    return out
