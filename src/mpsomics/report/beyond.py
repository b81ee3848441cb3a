"""The report's sections beyond the paper: minimal gene panels and the classical comparison.

Both read finished tables only (``mpsomics panels-summary`` with the per-community curves
of ``mpsomics panels``; ``mpsomics compare-subcommunities``) and say which split each
number comes from: the panel curves are cross-validated on the training split, the
test-split columns are the one final figure; the comparison counts subcommunities by
the verdicts of the validation stages.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mpsomics.core.readers import given_input, read_tsv
from mpsomics.report.formatting import fmt

log = logging.getLogger(__name__)

#: curve modes in plotting order -> (label, colour)
PANEL_MODES = {
    "rewind": ("MPS, retrained from the rewound initial state", "#7f3fbf"),
    "reinit": ("MPS, retrained from a fresh random initial state", "#ff7f0e"),
    "l1": ("L1 logistic regression, same number of genes", "#2ca02c"),
}


def _cell(x: object, digits: int = 3) -> str:
    return fmt(x, digits)


def _interval(row: pd.Series, key: str) -> str:
    """``mean [low, high]`` of ``key`` in ``row`` (– when not measured)."""
    mean = row.get(key)
    if mean is None or pd.isna(mean):
        return "–"
    low, high = row.get(f"{key}_low"), row.get(f"{key}_high")
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return _cell(mean)
    return f"{_cell(mean)} [{_cell(low)}, {_cell(high)}]"


def _read_tsv(path: Path | None, required: Sequence[str]) -> pd.DataFrame | None:
    """A table of the panels / comparison stages through the shared reader (checked), or None."""
    if not given_input(path, "a beyond-the-paper table"):
        return None
    return read_tsv(path, required, text=("community", "panel_genes", "method", "mode", "genes"))


def panel_curve_figure(curve: pd.DataFrame, summary_row: pd.Series | None, community: str):
    """CV AUC against the fraction of sites kept, per retraining mode, with the dense level.

    A second axis shows the mean entanglement of the rewound models (when recorded), the
    quantity the scaling question compares with the onset of the high-error region.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for mode, (label, color) in PANEL_MODES.items():
        part = curve[curve["mode"] == mode].sort_values("kept_fraction")
        if part.empty:
            continue
        x = part["kept_fraction"].to_numpy(float)
        ax.plot(x, part["auc_mean"], "o-", color=color, label=label, ms=3)
        if {"auc_low", "auc_high"} <= set(part):
            ax.fill_between(x, part["auc_low"], part["auc_high"], color=color, alpha=0.15, lw=0)
    if summary_row is not None and pd.notna(summary_row.get("dense_auc")):
        dense = float(summary_row["dense_auc"])
        tol = float(summary_row.get("tolerance", 0.01))
        ax.axhline(dense, color="grey", lw=1, label="dense (all genes)")
        ax.axhline(dense - tol, color="grey", lw=0.8, ls=":", label=f"dense − {tol:g}")
        n = summary_row.get("n_sites")
        size = summary_row.get("panel_size")
        if pd.notna(n) and pd.notna(size) and float(n) > 0:
            ax.axvline(float(size) / float(n), color="#7f3fbf", ls="--", lw=0.8, label="chosen panel")
    ax.set_xscale("log")
    ax.set_xlabel("fraction of the community's genes kept")
    ax.set_ylabel("cross-validated AUC (training split)")
    ax.set_title(f"{community}: gene panels by pruning")
    if "entropy_mean" in curve and curve["entropy_mean"].notna().any():
        part = curve[curve["mode"] == "rewind"].sort_values("kept_fraction")
        ax2 = ax.twinx()
        ax2.plot(part["kept_fraction"], part["entropy_mean"], ":", color="black", lw=1)
        ax2.set_ylabel("entanglement of the pruned MPS (nats, dotted)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def panels_context(summary: Path | None, curves: Sequence[Path], figures: dict[str, bytes] | None = None,
                   fdr: float = 0.05) -> dict[str, Any]:
    """Rows of the panel table and one curve figure per community with a curve file.

    ``figures``, when given, receives ``{community}_panels.png`` (file name -> PNG bytes).

    A panel counts only when its AUC beats the label-permutation null (``panel_q`` ≤
    ``fdr``): on a community at chance level every size is "within tolerance of dense".
    """
    import base64

    from mpsomics.report.figures import png_bytes

    table = _read_tsv(summary, ["community", "n_sites", "panel_size"])
    if table is None:
        return {"run": False, "rows": [], "figures": []}
    rows = []
    for _, r in table.iterrows():
        rows.append({
            "community": str(r["community"]), "n_sites": _cell(r.get("n_sites")),
            "panel_size": _cell(r.get("panel_size")), "dense": _interval(r, "dense_auc"),
            "rewind": _interval(r, "rewind_auc"), "reinit": _interval(r, "reinit_auc"),
            "l1": _interval(r, "l1_auc"), "overlap_l1": _cell(r.get("overlap_l1"), 2),
            "panel_p": _cell(r.get("panel_p")), "panel_q": _cell(r.get("panel_q")),
            "test_dense": _interval(r, "test_dense_auc"), "test_panel": _interval(r, "test_panel_auc"),
            "test_l1": _interval(r, "test_l1_auc"),
            "genes": str(r.get("panel_genes", "")).replace(",", ", ") if pd.notna(r.get("panel_genes")) else "",
        })
    by_community = {str(r["community"]): r for _, r in table.iterrows()}
    shown = []
    for path in curves:
        curve = _read_tsv(Path(path), ["community"])
        if curve is None or curve.empty:
            continue
        c = str(curve["community"].iloc[0])
        data = png_bytes(panel_curve_figure(curve, by_community.get(c), c))
        if figures is not None:
            figures[f"{c}_panels.png"] = data
        shown.append({"community": c, "src": "data:image/png;base64," + base64.b64encode(data).decode("ascii")})
    n = len(table)
    q = table["panel_q"] if "panel_q" in table else table.get("panel_p", pd.Series(np.nan, index=table.index))
    beats = (q.astype(float) <= fdr).to_numpy()
    smaller = (table["panel_size"] < table["n_sites"]).to_numpy()
    tol = _cell(table["tolerance"].iloc[0], 3) if "tolerance" in table and n else "0.01"
    line = (f"{int((smaller & beats).sum())} of {n} communities keep their cross-validated AUC (within {tol}) "
            f"with a panel smaller than the community that beats its label-permutation null (q ≤ {fdr:g}); "
            f"{int((~beats).sum())} panels do not beat it and mean nothing." if n else "No community was pruned.")
    for row, ok in zip(rows, beats, strict=True):
        row["beats_null"] = bool(ok)
    return {"run": True, "rows": rows, "figures": shown, "line": line}


#: columns of the comparison summary shown in the report (the file has every family's counts)
COMPARISON_SHOWN = (
    "n_mps", "n_classical", "n_top_de", "n_mps_validated", "n_classical_validated", "n_top_de_validated",
    "n_mps_only", "n_mps_only_validated", "median_jaccard_best", "genes_jaccard_mps_classical",
)


def _count_sentence(s: pd.Series) -> str:
    """The plain-words conclusion from the ``all`` row of the comparison summary."""
    def n(key: str) -> int:
        v = s.get(key)
        return int(v) if v is not None and pd.notna(v) else 0

    parts = [
        f"The MPS found {n('n_mps')} subcommunities, the classical co-expression + differential-expression "
        f"method {n('n_classical')}.",
        f"{n('n_mps_only')} MPS subcommunities overlap no classical or top-DE set (Jaccard below the overlap "
        f"threshold); {n('n_mps_only_validated')} of those are stable, significant and preserved.",
        f"Validated (stable, significant and preserved): MPS {n('n_mps_validated')}, classical "
        f"{n('n_classical_validated')}" + (f", top-DE {n('n_top_de_validated')}" if "n_top_de_validated" in s else "")
        + ".",
    ]
    if n("n_mps_only_validated") == 0:
        parts.append("On this run the MPS adds no validated subcommunity that the classical analysis misses.")
    return " ".join(parts)


def comparison_context(summary: Path | None, sets: Path | None) -> dict[str, Any]:
    """The MPS-vs-classical table per community and its conclusion sentence."""
    table = _read_tsv(summary, ["community"])
    if table is None:
        return {"run": False, "rows": [], "sets": []}
    total = table[table["community"].astype(str) == "all"]
    per = table[table["community"].astype(str) != "all"]
    columns = [c for c in COMPARISON_SHOWN if c in per.columns]
    rows = [{"community": str(r["community"]), "cells": [_cell(r[c]) for c in columns]} for _, r in per.iterrows()]
    set_rows: list[dict[str, Any]] = []
    detail = _read_tsv(sets, ["subcommunity"])
    if detail is not None and not detail.empty:
        shown = [c for c in ("subcommunity", "method", "n_genes", "best_match", "jaccard_best", "jaccard_top_de",
                             "stable", "significant", "preserved", "validated", "mps_only", "n_new_terms")
                 if c in detail.columns]
        set_rows = [{"cells": [_cell(r[c]) for c in shown]} for _, r in detail.iterrows()]
    else:
        shown = []
    return {
        "run": True, "columns": columns, "rows": rows,
        "line": _count_sentence(total.iloc[0]) if not total.empty else "",
        "set_columns": shown, "sets": set_rows,
    }

