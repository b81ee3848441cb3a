"""One self-contained HTML report of a pipeline run.

Reads the files of every stage (formats in ``docs/outputs.md``), draws the figures
with :mod:`mpsomics.report.figures` and renders ``templates/index.html`` with jinja2. Images
are embedded as base64 PNG and the CSS is inline, so the single file can be mailed
or archived and opens offline.

Missing *optional* inputs (observables, a community's enrichment or subcommunity
table, the config JSON, ...) become a visible note in the report rather than an
error: a partial run should still give a readable report. Malformed files are
errors (:class:`~mpsomics.core.errors.InputError`), because silently skipping them would
hide a broken stage.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mpsomics import __version__
from mpsomics.core.errors import InputError
from mpsomics.core.readers import (
    given_input,
    read_gene_list,
    read_prepared,
    read_subcommunities,
    read_tsv,
)
from mpsomics.report.formatting import fmt as _fmt
from mpsomics.report.formatting import is_missing as _is_missing

log = logging.getLogger(__name__)

PAPER = (
    "Pomarico et al. 2025, “Grokking as an entanglement transition in tensor network "
    "machine learning”, arXiv:2503.10483"
)


#: The per-community inputs, in the order of the ``mpsomics report`` options.
COMMUNITY_FILES = (
    "genes", "history", "entanglement", "magnetization", "correlations", "grokking", "controls", "modes",
    "subcommunities", "enrichment", "observed_magnetization", "observed_correlations", "tree", "representation",
)  # fmt: skip

#: the one rule the report applies to an entanglement transition (same words as dynamics.grokking)
TRANSITION_RULE = (
    "a transition counts only when the real run has one and it loses a larger fraction of its peak "
    "entanglement than every label-permutation control trained with the same settings"
)

#: ``transition_status`` of ``mpsomics grokking`` in words; ``{min_drop}`` is the run's threshold
STATUS_WORDS = {
    "transition": "an entanglement transition (after its peak the summed entropy loses at least {min_drop} of it "
                  "and reaches its minimum before the last recorded epoch)",
    "small_drop": "no transition: the summed entropy loses less than {min_drop} of its peak",
    "no_drop": "no transition: the summed entropy never falls below its peak",
    "still_falling": "no transition: the summed entropy is still falling at the last recorded epoch",
    "too_few_epochs": "undecided: too few recorded epochs to find a transition",
    "flat": "no transition: the summed entropy is flat",
}


@dataclass
class CommunityFiles:
    """The files of one community the report reads; each optional (missing -> a note).

    ``entanglement``, ``magnetization`` and ``correlations`` are the per-epoch
    trajectories of ``train``; ``observed_magnetization`` (``magnetization.tsv``) and
    ``observed_correlations`` (the ``correlations/`` directory, one ``{class}.tsv``
    each) are the final-state observables of ``observe``, shown when the trajectories
    were not recorded. ``controls`` is the entanglement trajectory of the community's
    label-permutation controls (``control, epoch, label, bond, entropy``).
    """

    genes: Path | None = None
    history: Path | None = None
    entanglement: Path | None = None
    magnetization: Path | None = None
    correlations: Path | None = None
    grokking: Path | None = None
    controls: Path | None = None  # entanglement_trajectory.tsv of `mpsomics controls`
    modes: Path | None = None  # modes.tsv of `mpsomics controls --compare-updates`
    subcommunities: Path | None = None
    enrichment: Path | None = None
    observed_magnetization: Path | None = None
    observed_correlations: Path | None = None
    tree: Path | None = None  # TTN runs: tree.tsv of `train --model ttn`
    representation: Path | None = None  # representation_trajectory.tsv of `train`


@dataclass
class ReportPaths:
    """Every input file of the report, as passed on the command line (nothing is looked up)."""

    communities: dict[str, CommunityFiles] = field(default_factory=dict)  # in report order
    baseline: Path | None = None
    expression: Path | None = None
    config_json: Path | str | None = None  # a JSON file, or the JSON text itself
    selected: Path | None = None  # shown among the inputs only
    # how far to trust each result: cv.tsv, stability.tsv, summary.tsv of the validation stages
    cv: Path | None = None
    stability: Path | None = None
    validation: Path | None = None
    # beyond the paper: panels-summary + the per-community curves of `panels`; compare-subcommunities
    panels: Path | None = None
    panel_curves: list[Path] = field(default_factory=list)
    comparison: Path | None = None
    comparison_sets: Path | None = None

    def locations(self) -> dict[str, str]:
        """Input locations shown in the report: the run-level files, then one example per kind."""
        out = {k: str(v) for k, v in (("selected", self.selected), ("baseline", self.baseline),
                                       ("expression", self.expression), ("cv", self.cv),
                                       ("stability", self.stability), ("validation", self.validation),
                                       ("panels", self.panels), ("comparison", self.comparison))
               if v is not None}
        if self.config_json is not None:
            out["config_json"] = str(self.config_json)
        files = list(self.communities.values())
        for kind in COMMUNITY_FILES:
            given = [getattr(f, kind) for f in files if getattr(f, kind) is not None]
            if given:
                out[kind] = str(given[0]) + (f" (+{len(given) - 1} more)" if len(given) > 1 else "")
        return out


@dataclass
class CommunitySection:
    """Everything the template shows for one community."""

    id: str
    genes: list[str] = field(default_factory=list)
    figures: list[dict[str, str]] = field(default_factory=list)  # {title, src, caption, key}
    subcommunities: list[dict[str, Any]] = field(default_factory=list)
    enrichment_rows: list[dict[str, Any]] = field(default_factory=list)
    enrichment_note: str = ""
    grokking: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    grokking_png: bytes | None = None
    diagnostics_png: bytes | None = None
    trust: dict[str, Any] = field(default_factory=dict)  # the "How far to trust this" panel (report.trust)


# --------------------------------------------------------------------------- small readers


def _epoch(x: object) -> int | None:
    if _is_missing(x):
        return None
    try:
        return int(float(x))
    except (TypeError, ValueError):
        return None


def _bool(x: object) -> bool | None:
    if _is_missing(x):
        return None
    if isinstance(x, str):
        if not x.strip():
            return None
        return x.strip().lower() in {"true", "1", "yes"}
    return bool(x)


def _float(x: object) -> float | None:
    """A finite float, or None (missing, empty or not a number)."""
    if _is_missing(x):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f} %"


def read_selected(path: Path) -> list[str]:
    """Community ids of ``selected.txt`` (best first; read like a gene list)."""
    if not Path(path).exists():
        raise InputError(path, "missing file: run `mpsomics communities` first")
    return read_gene_list(path, item="community id", allow_empty=True)


def read_samples(expression: Path | None) -> dict[str, Any]:
    """Sample counts per split and label, classes and prepare parameters of the AnnData."""
    if expression is None or not Path(expression).exists():
        return {"available": False, "path": str(expression) if expression else ""}
    adata = read_prepared(expression)
    obs = adata.obs[[c for c in ("label", "split", "group") if c in adata.obs]].copy()
    uns = {k: adata.uns[k] for k in ("positive_label", "classes", "prepare") if k in adata.uns}
    n_genes = int(adata.n_vars)
    classes = [str(c) for c in uns.get("classes", sorted(obs["label"].astype(str).unique()) if "label" in obs else [])]
    counts: list[dict[str, Any]] = []
    if {"label", "split"} <= set(obs.columns):
        tab = pd.crosstab(obs["split"].astype(str), obs["label"].astype(str))
        for split in [s for s in ("train", "test") if s in tab.index] + [s for s in tab.index if s not in ("train", "test")]:
            row = {"split": split, "total": int(tab.loc[split].sum())}
            row.update({c: int(tab.loc[split].get(c, 0)) for c in classes})
            if "group" in obs:
                row["patients"] = int(obs.loc[obs["split"].astype(str) == split, "group"].nunique())
            counts.append(row)
    prepare = uns.get("prepare", {})
    return {
        "available": True,
        "path": str(expression),
        "n_samples": int(len(obs)),
        "n_genes": n_genes,
        "classes": classes,
        "positive_label": str(uns.get("positive_label", classes[-1] if classes else "")),
        "counts": counts,
        "prepare": _flatten(prepare) if isinstance(prepare, dict) else {},
    }


def _flatten(d: Any, prefix: str = "") -> dict[str, str]:
    """Nested dict -> ``{"a.b": "value"}`` for a compact key/value table."""
    out: dict[str, str] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    else:
        if isinstance(d, np.ndarray):
            d = d.tolist()
        out[prefix.rstrip(".")] = json.dumps(d, default=str) if isinstance(d, list | tuple) else str(d)
    return out


def read_config(path: Path | str | None) -> dict[str, str]:
    """Flattened config JSON (empty when not given).

    ``path`` may also be the JSON text itself (starting with ``{``): the workflow
    passes the live config that way, so no extra file has to exist.
    """
    if path is None:
        return {}
    inline = str(path).lstrip().lstrip("\ufeff")  # "$(cat config.json)" keeps a BOM
    if inline.startswith("{"):
        try:
            return _flatten(json.loads(inline))
        except json.JSONDecodeError as exc:
            raise InputError("--config-json", f"not valid JSON: {exc}") from None
    from mpsomics.core.readers import read_text  # the one text reader: UTF-8 only, BOM/CRLF, pipes

    text = read_text(path, what="config JSON", strict=True, allow_empty=True)
    if not text.strip():
        raise InputError(path, "config JSON is empty")
    try:
        return _flatten(json.loads(text))
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON: {exc}") from None


def read_baseline(p: Path | None) -> pd.DataFrame | None:
    if not given_input(p, "the baseline columns"):
        return None
    return read_tsv(p, ["community", "model", "balanced_accuracy"], text=("community", "model"))


def selection_note(baseline: pd.DataFrame | None, communities: Sequence[str]) -> str:
    """One sentence on how the shown communities were selected (``baseline.tsv`` ``selection``)."""
    if baseline is None or "selection" not in baseline.columns or not communities:
        return ""
    per = baseline.drop_duplicates("community").set_index("community")
    per = per.loc[[c for c in communities if c in per.index]]
    n_all = baseline["community"].nunique()
    filled = [c for c in per.index if str(per.at[c, "selection"]) == "min_communities"]
    n_sig = int(per["selection"].astype(str).eq("significant").sum())
    text = (f"{len(per)} of {n_all} communities were trained: {n_sig} beat their label-permutation null "
            "at community selection (baseline.tsv).")
    if filled:
        text += (f" {len(filled)} ({', '.join(filled)}) did not and were trained only to reach "
                 "communities.select.min_communities: they are exploratory, not discoveries.")
    return text


def read_enrichment(path: Path | None) -> pd.DataFrame | None:
    if not given_input(path, "the enrichment table"):
        return None
    from mpsomics.omics.enrichment import COLUMNS

    df = read_tsv(path, COLUMNS, text=("set", "level", "library", "term", "genes"))
    for col in ("significant", "new"):
        df[col] = df[col].map(_bool).fillna(False).astype(bool)
    df["set"] = df["set"].astype(str)
    df["genes"] = df["genes"].fillna("").astype(str)
    return df


def read_control_entanglement(path: Path) -> pd.DataFrame:
    """The control entanglement file (``control, epoch, label, bond, entropy``), checked by its reader."""
    from mpsomics.dynamics import training_run

    return training_run.load_control_entanglement(path)


#: the sweep updates in words (``mps.output_scale``)
UPDATE_WORDS = {
    "fixed": "the paper's update (fixed norm)",
    "free": "the free-norm update",
    "profiled": "the profiled-scale update",
}


def read_modes(path: Path) -> pd.DataFrame:
    """``modes.tsv`` of ``mpsomics controls --compare-updates`` (one row per compared update)."""
    return read_tsv(path, ("output_scale", "transition_status", "beats_control"),
                    numeric=("entropy_drop",), text=("output_scale", "transition_status", "beats_control"))


def modes_summary(tables: Mapping[str, pd.DataFrame | None]) -> dict[str, Any]:
    """Per compared update: how many communities show a transition that beats its controls.

    Returns ``{"modes": [...], "lines": [...], "rows": {community: [cell, ...]}}``; empty
    lists when no community has a ``modes.tsv`` with rows.
    """
    modes: list[str] = []
    for t in tables.values():
        if t is not None:
            modes += [m for m in t["output_scale"].astype(str) if m not in modes]
    lines, rows = [], {}
    for c, t in tables.items():
        by = {} if t is None else {str(r["output_scale"]): r for r in t.to_dict("records")}
        cells = []
        for m in modes:
            r = by.get(m)
            if r is None:
                cells.append("not recorded")
                continue
            beats = str(r["beats_control"]).lower() == "true"
            drop = _float(r.get("entropy_drop"))
            cells.append(f"{r['transition_status']}" + (f", drop {_pct(drop)}" if drop is not None else "")
                         + (" — beats its controls" if beats else ""))
        rows[c] = cells
    for m in modes:
        recorded = [t for t in tables.values() if t is not None and m in set(t["output_scale"].astype(str))]
        rec = [t[t["output_scale"].astype(str) == m].iloc[0] for t in recorded]
        k = sum(str(r["beats_control"]).lower() == "true" for r in rec)
        n_tr = sum(str(r["transition_status"]) == "transition" for r in rec)
        lines.append(f"With {UPDATE_WORDS.get(m, m)} ({m}): {k} of {len(rec)} communities show a transition "
                     f"that beats its controls ({n_tr} with a transition at all).")
    return {"modes": modes, "lines": lines, "rows": rows}


def control_totals(controls: pd.DataFrame) -> pd.DataFrame:
    """Summed entropy ``S_total`` of each control: index epoch, one column per control (file order)."""
    from mpsomics.dynamics import grokking

    cols = {str(k): grokking.total_entropy(d)["total"] for k, d in controls.groupby("control", sort=False)}
    return pd.DataFrame(cols).sort_index()


def _observables_magnetization(p: Path | None) -> pd.DataFrame | None:
    if not given_input(p, "the final model's magnetization"):
        return None
    return read_tsv(p, ["gene", "site", "label", "magnetization"], text=("gene", "label"))


def _observables_correlations(obs_dir: Path | None, classes: Sequence[str]) -> tuple[list[str], np.ndarray] | None:
    """The ``{class}.tsv`` matrices of the ``correlations/`` directory written by ``observe``."""
    if obs_dir is None:
        return None
    mats, genes = [], None
    for c in classes:
        p = Path(obs_dir) / f"{c}.tsv"
        if not given_input(p, "the final model's correlations"):
            return None
        df = read_tsv(p, ["gene"], text=("gene",)).set_index("gene")
        if genes is None:
            genes = [str(g) for g in df.index]
        mats.append(df.loc[genes, genes].to_numpy(dtype=float))
    if genes is None:
        return None
    return genes, np.stack(mats)


# --------------------------------------------------------------------------- sections


def _nearest(epochs: np.ndarray, target: float) -> int:
    return int(epochs[np.argmin(np.abs(epochs - target))])


def _figure(section: CommunitySection, key: str, title: str, fig, caption: str) -> bytes:
    from mpsomics.report.figures import png_bytes

    data = png_bytes(fig)
    section.figures.append(
        {"key": key, "title": title, "src": "data:image/png;base64," + base64.b64encode(data).decode("ascii"), "caption": caption}
    )
    return data


def _missing_note(path: Path | None, what: str) -> str:
    return f"{path} is missing: {what}" if path is not None else f"no file given: {what}"


def _read_optional(sec: CommunitySection, path: Path | None, loader, what: str):
    """``loader(path)``, or None with a note when the file was not given or does not exist.

    A malformed file is an error (the loaders raise InputError): it must stop the report.
    """
    if not given_input(path, what):
        sec.notes.append(_missing_note(path, what))
        return None
    return loader(path)


def _read_community(sec: CommunitySection, files: CommunityFiles) -> dict[str, Any]:
    """Read (and validate) every input of one community before anything is drawn."""
    from mpsomics.dynamics import grokking, training_run

    if files.genes is not None and Path(files.genes).exists():
        sec.genes = read_gene_list(files.genes)
    sub = files.subcommunities
    inputs: dict[str, Any] = {
        "subs": read_subcommunities(sub) if sub is not None and Path(sub).exists() else None,
        "enr": read_enrichment(files.enrichment),
    }
    over_epochs = "over training epochs not available."
    inputs["history"] = _read_optional(sec, files.history, training_run.load_history, f"history {over_epochs}")
    inputs["ent"] = _read_optional(sec, files.entanglement, training_run.load_entanglement, f"entanglement {over_epochs}")
    inputs["mag_all"] = _read_optional(sec, files.magnetization, training_run.load_magnetization, f"magnetization {over_epochs}")
    inputs["corr"] = _read_optional(sec, files.correlations, training_run.load_correlations, f"correlations {over_epochs}")
    inputs["grow"] = _read_optional(sec, files.grokking, grokking.load_grokking, "no transition / jump epochs.") or {}
    inputs["controls"] = None
    if files.controls is not None:  # not given: the run trained no controls (the status says so)
        inputs["controls"] = _read_optional(sec, files.controls, read_control_entanglement,
                                            "no label-permutation controls drawn.")
    inputs["representation"] = None
    if files.representation is not None:
        inputs["representation"] = _read_optional(sec, files.representation, training_run.load_representation,
                                                   "no representation metrics.")
    inputs["tree"] = None
    if files.tree is not None:
        inputs["tree"] = _read_optional(sec, files.tree, read_tree, "no TTN tree figure.")
    _check_one_run(files, inputs)
    return inputs


def _check_one_run(files: CommunityFiles, inputs: dict[str, Any]) -> None:
    """InputError when the trajectories read for one community come from different runs."""
    from mpsomics.dynamics import training_run

    pairs = {
        "history": (files.history, inputs["history"]),
        "entanglement": (files.entanglement, inputs["ent"]),
        "magnetization": (files.magnetization, inputs["mag_all"]),
        "correlations": (files.correlations, None if inputs["corr"] is None else inputs["corr"][0]),
        "representation": (files.representation, inputs["representation"]),
    }
    training_run.check_same_run(**{k: v for k, v in pairs.items() if v[1] is not None})


def read_tree(path: Path) -> pd.DataFrame:
    """``tree.tsv`` of a TTN run (``node``, ``parent``, ``n_genes``, ``genes``), checked."""
    cols = ["node", "parent", "n_genes", "genes"]
    df = read_tsv(path, cols, integer=("node", "parent", "n_genes"), text=("genes",), complete=cols, min_rows=3)
    m = len(df)
    if m % 2 == 0 or list(df["node"]) != list(range(m)) or int(df["parent"].iloc[-1]) != -1:
        raise InputError(path, "not a TTN tree: nodes must be 0..2N-2 with the root last (parent -1)")
    return df


def ttn_entropy_loss_r(history: pd.DataFrame | None, ent: pd.DataFrame | None):
    """(epochs, summed entropy, loss, Pearson r or None) over the epochs with both recorded."""
    if history is None or ent is None:
        return None
    total = ent.groupby("epoch")["entropy"].sum()
    h = history.set_index("epoch")["loss"]
    both = pd.concat([total.rename("S"), h.rename("loss")], axis=1, join="inner").dropna()
    r = None
    if len(both) >= 3 and both["S"].std() > 0 and both["loss"].std() > 0:
        r = float(np.corrcoef(both["S"], both["loss"])[0, 1])
    return both.index.to_numpy(), both["S"].to_numpy(), both["loss"].to_numpy(), r


def _ttn_figures(sec: CommunitySection, inputs: dict[str, Any]) -> None:
    """TTN runs: entropy per dendrogram split (last recorded epoch) and entropy vs loss."""
    from mpsomics.report import figures

    tree, ent = inputs["tree"], inputs["ent"]
    if tree is None or ent is None:
        return
    n = (len(tree) + 1) // 2
    leaf_genes = list(tree["genes"].iloc[:n])
    last = ent[ent["epoch"] == ent["epoch"].max()]
    by_label = {lab: g.sort_values("bond")["entropy"].to_numpy() for lab, g in last.groupby("label", sort=False)}
    _figure(
        sec, "ttn_tree", "TTN: entanglement per dendrogram split",
        figures.ttn_tree_entropy_figure(tree["parent"].to_numpy(), leaf_genes, by_label,
                                        title=f"{sec.id}: entropy per split (epoch {int(last['epoch'].iloc[0])})"),
        "The community's gene dendrogram (average linkage on 1 − |r| of the training samples) that the tree "
        "tensor network follows; every edge is a bipartition of the genes (those below it vs the rest), "
        "coloured and widened by the von Neumann entanglement entropy of the normalised class state across "
        "it, at the last recorded epoch. Red numbers: the three largest. Heights are tree levels.",
    )
    corr = ttn_entropy_loss_r(inputs["history"], ent)
    if corr is not None:
        epochs, total, loss, r = corr
        sec.grokking["entropy_loss_r"] = r
        _figure(
            sec, "ttn_entropy_loss", "TTN: entanglement vs training loss",
            figures.entropy_loss_figure(epochs, total, loss, r, title=sec.id),
            "Entropy summed over all tree edges and labels against the training loss, one point per recorded "
            "epoch (loss is undefined at epoch 0). Pearson r over the epochs: "
            + ("undefined (fewer than 3 epochs or a constant series)." if r is None else f"{r:.3f}")
            + " The q-CNN work reports a negative correlation (entanglement rises as the cost falls).",
        )


def transition_status(grow: dict[str, Any], min_drop: float | None = None) -> dict[str, Any]:
    """The entanglement transition of one grokking row against its label-permutation controls.

    Parameters
    ----------
    grow
        The row of ``results/grokking/{community}.tsv`` (empty when not given).
    min_drop
        The threshold when the row has no ``min_drop`` column (the config's ``grokking.min_drop``).

    Returns
    -------
    dict with ``recorded`` (the row has ``transition_status``), the parsed fields
    (``status``, ``entropy_drop``, ``min_entropy_epoch``, ``n_controls``,
    ``control_transitions``, ``control_max_drop``, ``control_p``, ``beats_control``;
    None when empty), ``counts`` (the row beats its controls), ``sentence`` (the verdict in
    words), ``note`` (a short line for the entropy panel) and ``cells`` (the dynamics
    table's formatted cells: "not recorded" for columns the file lacks).
    """
    recorded = "transition_status" in grow and not _is_missing(grow.get("transition_status")) \
        and str(grow.get("transition_status")).strip() != ""
    status = str(grow["transition_status"]).strip() if recorded else None
    n_controls = _epoch(grow.get("n_controls"))
    out: dict[str, Any] = {
        "recorded": recorded,
        "status": status,
        "entropy_drop": _float(grow.get("entropy_drop")),
        "min_entropy_epoch": _epoch(grow.get("min_entropy_epoch")),
        "n_controls": n_controls,
        "control_transitions": _epoch(grow.get("control_transitions")),
        "control_max_drop": _float(grow.get("control_max_drop")),
        "control_p": _float(grow.get("control_p")),
        "beats_control": _bool(grow.get("beats_control")),
    }
    has_controls = bool(n_controls)
    out["counts"] = status == "transition" and out["beats_control"] is True
    threshold = _float(grow.get("min_drop"))
    threshold = threshold if threshold is not None else min_drop
    words = STATUS_WORDS.get(status or "", f"status {status}")
    words = words.format(min_drop=_pct(threshold) if threshold is not None else "the minimum fraction (min_drop)")

    def cell(col: str, text: str) -> str:
        return text if col in grow else "not recorded"

    drop, cmax = out["entropy_drop"], out["control_max_drop"]
    # controls are trained only for a transition: without one they are not missing, just not needed
    none = "no controls" if status == "transition" or not recorded else "not needed"
    out["cells"] = {
        "status": status or "not recorded",
        "entropy_drop": cell("entropy_drop", _pct(drop)),
        "min_entropy_epoch": cell("min_entropy_epoch", _fmt(out["min_entropy_epoch"])),
        "control_max_drop": cell("control_max_drop", _pct(cmax) if has_controls else none),
        "control_transitions": cell("control_transitions", f"{_fmt(out['control_transitions'])} of {n_controls}"
                                    if has_controls else none),
        "control_p": cell("control_p", _fmt(out["control_p"]) if has_controls else none),
        "beats_control": cell("beats_control", ("yes" if out["beats_control"] else "no")
                              if has_controls and out["beats_control"] is not None
                              else ("no (no transition)" if out["beats_control"] is False else none)),
    }
    if not recorded:
        out["sentence"] = (
            "No grokking file: the transition status is not known." if not grow else
            "The transition status and its label-permutation controls were not recorded (a grokking file written "
            "before they existed): its transition epoch has no size criterion and no control.")
        out["note"] = ""
        return out
    text = f"Entanglement: {words}."
    if drop is not None:
        text += f" The summed entropy loses {_pct(drop)} of its peak"
        text += (f" (minimum at epoch {out['min_entropy_epoch']})." if out["min_entropy_epoch"] is not None else ".")
    note = f"{status}" + (f" (drop {_pct(drop)} of peak)" if drop is not None else "")
    if has_controls:
        ct = out["control_transitions"]
        text += (f" {n_controls} label-permutation control{'s' if n_controls != 1 else ''} trained with the same "
                 f"settings: {_fmt(ct)} with a transition, largest drop {_pct(cmax)}"
                 + (f", p = {_fmt(out['control_p'], 2)}." if out["control_p"] is not None else "."))
        if out["counts"]:
            text += " It beats its controls: the transition counts."
            note += f" — beats its {n_controls} controls (largest drop {_pct(cmax)})"
        elif status == "transition":
            text += (" It does not beat its controls (a control loses at least as large a fraction of its peak): "
                     "the transition does not count.")
            note += f" — does not beat its controls (largest drop {_pct(cmax)})"
        else:
            note += f" — controls: largest drop {_pct(cmax)}"
    else:
        text += " No label-permutation control was run, so the transition cannot be checked against one." \
            if status == "transition" else " Without a transition no label-permutation control is needed."
        note += " — no controls" if status == "transition" else ""
    out["sentence"], out["note"] = text, note
    return out


def dynamics_summary(statuses: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The one-line count of the dynamics section and its context.

    ``statuses`` are :func:`transition_status` results, one per community shown.
    Returns ``line`` ("k of n communities show ..."), ``details`` (status tally and
    communities without controls), ``recorded`` and the counts ``k`` and ``n``.
    """
    n = len(statuses)
    k = sum(bool(s["counts"]) for s in statuses)
    recorded = [s for s in statuses if s["recorded"]]
    line = (f"{k} of {n} communit{'y' if n == 1 else 'ies'} show{'s' if n == 1 else ''} an entanglement "
            "transition that beats its label-permutation controls.")
    details = []
    if recorded:
        tally: dict[str, int] = {}
        for s in recorded:
            tally[s["status"]] = tally.get(s["status"], 0) + 1
        details.append("Transition status: " + ", ".join(f"{name} {c}" for name, c in tally.items()) + ".")
        # controls are trained only for a transition: only a transition without them is a gap
        unchecked = [s for s in recorded if not s["n_controls"] and s["status"] == "transition"]
        if unchecked:
            details.append(f"{len(unchecked)} of {n} ha{'s' if len(unchecked) == 1 else 've'} a transition but no "
                           "label-permutation control, so it cannot count.")
        no_transition = sum(s["status"] != "transition" for s in recorded)
        if no_transition:
            details.append(f"{no_transition} of {n} ha{'s' if no_transition == 1 else 've'} no transition: no "
                           "controls are trained for them (there is nothing to beat).")
    if len(recorded) < n:
        details.append(f"{n - len(recorded)} of {n} grokking file{'s' if n - len(recorded) != 1 else ''} did not "
                       "record the transition status (written before it existed): not counted.")
    return {"line": line, "details": details, "recorded": bool(recorded), "k": k, "n": n}


def _grokking_row(sec: CommunitySection, inputs: dict[str, Any], summary: dict[str, Any],
                  min_drop: float | None = None) -> None:
    """The transition / jump epochs, the transition status and the final accuracies (MPS on the test split)."""
    grow, history = inputs["grow"], inputs["history"]
    sec.grokking = {
        "grokking": _bool(grow.get("grokking")),
        "transition_epoch": _epoch(grow.get("transition_epoch")),
        "jump_epoch": _epoch(grow.get("jump_epoch")),
        "max_rate_epoch": _epoch(grow.get("max_rate_epoch")),
        "train_saturated_epoch": _epoch(grow.get("train_saturated_epoch")),
        "lag": _epoch(grow.get("lag")),
        "notes": "" if _is_missing(grow.get("notes")) else str(grow.get("notes")),
        "dynamics": transition_status(grow, min_drop),
    }
    dyn = sec.grokking["dynamics"]
    if dyn["recorded"] and dyn["status"] != "transition":
        # only a transition that passes the size criterion is marked (the grokking file leaves it empty too)
        sec.grokking["transition_epoch"] = None
    if not sec.genes:
        if inputs["mag_all"] is not None:
            sec.genes = list(inputs["mag_all"].drop_duplicates("site").sort_values("site")["gene"])
        elif inputs["corr"] is not None:
            sec.genes = list(inputs["corr"][2])
        summary["n_genes"] = len(sec.genes) or None
    mps_test = None
    if history is not None and "test_balanced_accuracy" in history and history["test_balanced_accuracy"].notna().any():
        mps_test = float(history["test_balanced_accuracy"].dropna().iloc[-1])
    elif not _is_missing(grow.get("final_test_balanced_accuracy")):
        mps_test = float(grow["final_test_balanced_accuracy"])
    summary["mps_test_ba"] = mps_test
    summary["final_epoch"] = int(history["epoch"].iloc[-1]) if history is not None else None
    summary.update({k: sec.grokking[k] for k in ("grokking", "transition_epoch", "jump_epoch")})
    summary["dynamics"] = sec.grokking["dynamics"]


def _grokking_caption(history: pd.DataFrame | None, controls: pd.DataFrame | None, dyn: dict[str, Any]) -> str:
    """Caption of the learning-curve / entropy-trajectory figure, with the transition verdict."""
    from mpsomics.report import figures

    text = ("Top: balanced accuracy on the training samples and on the held-out test samples (test is never "
            "used for training or model choices).")
    if history is not None and any(c in history for c in figures.CENTROID_ACCURACY.values()):
        text += (f" Dashed horizontal lines: the {figures.CENTROID_LABEL} classifier on the same train and test "
                 "samples, a baseline that needs no training: each sample goes to the class whose normalised "
                 "centroid state of the training samples, Σₙ|Φ(xₙ)⟩ over the class, it overlaps most.")
    else:
        text += f" Nearest-centroid baseline: not recorded (history.tsv without the {figures.CENTROID_LABEL} columns)."
    text += (" Middle: training loss. Bottom: von Neumann entanglement entropy summed over all bonds of the chain, "
             "per label and in total (sum over labels), at the recorded epochs.")
    if controls is not None and controls.shape[1] > 0:
        text += (f" Thin grey lines: the total of each of the {controls.shape[1]} label-permutation control"
                 f"{'s' if controls.shape[1] != 1 else ''}, trained with the same settings on training labels "
                 "permuted among patients.")
    text += (" Dashed purple line: the entanglement transition, drawn only when the transition status is "
             "“transition”; dotted orange line: generalisation jump in test balanced accuracy. "
             + dyn["sentence"] + f" Rule: {TRANSITION_RULE}.")
    return text


def _training_figures(sec: CommunitySection, inputs: dict[str, Any], output_scale: str | None = None) -> None:
    """Learning curves with the total entropy (grokking figure), the diagnostics and the entropy profile."""
    from mpsomics.dynamics import grokking
    from mpsomics.report import figures

    community, history, ent = sec.id, inputs["history"], inputs["ent"]
    transition, jump = sec.grokking["transition_epoch"], sec.grokking["jump_epoch"]
    dyn = sec.grokking["dynamics"]
    entropy_wide = grokking.total_entropy(ent) if ent is not None else None
    controls = control_totals(inputs["controls"]) if inputs.get("controls") is not None else None
    if history is not None or entropy_wide is not None:
        sec.grokking_png = _figure(
            sec, "grokking", "Training and entanglement (grokking)",
            figures.grokking_figure(history, entropy_wide, transition_epoch=transition, jump_epoch=jump,
                                    title=f"{community}: learning curves and entanglement entropy",
                                    controls=controls, entropy_note=dyn["note"]),
            _grokking_caption(history, controls, dyn),
        )
    if figures.has_diagnostics(history):
        scale = (f" This run: output_scale = {output_scale}." if output_scale else "")
        sec.diagnostics_png = _figure(
            sec, "diagnostics", "Class states: centroid overlap, norm and output scale",
            figures.diagnostics_figure(history, transition_epoch=transition, jump_epoch=jump,
                                       title=f"{community}: diagnostics of the class states"),
            "Top: overlap ⟨W_ℓ|c_ℓ⟩ / (‖W_ℓ‖ ‖c_ℓ‖) of each class state W_ℓ with the centroid state of its "
            "training samples, |c_ℓ⟩ = Σₙ|Φ(xₙ)⟩ over the samples of class ℓ (signed, at most 1). A high overlap "
            "(near 1) means the class state is the class-centroid state: the classifier is then a kernel "
            "nearest-centroid classifier, f_ℓ(x) ∝ Σₙ K(xₙ, x) with K(x, x′) = Πᵢ cos(π(xᵢ − x′ᵢ)/2), and does what "
            "the dashed baseline of the learning curves does, whatever the entanglement did on the way. "
            "Middle: ‖W‖, the norm of the whole MPS (all classes); it is 1 by construction for output_scale "
            "fixed and profiled (the state is renormalised after every bond update) and carries the output "
            "scale only in free mode. Bottom: the largest |f_ℓ(xₙ)| = |⟨W_ℓ|Φ(xₙ)⟩| over the training samples "
            "and classes (the raw output, before any profiled scale κ); far below the targets, the residual "
            "y − f is about y and a fixed-scale update only accumulates Σ y Φ(x) instead of fitting the "
            "targets. Log axes when a series spans more than a factor 10; “not recorded”: the history.tsv "
            "lacks that column (written before the diagnostics existed)." + scale,
        )
    elif history is not None:
        why = ("not computed for tree tensor networks." if inputs.get("tree") is not None else
               "not recorded (history.tsv was written before they existed).")
        sec.notes.append(f"Diagnostics of the class states (centroid overlap, ‖W‖, max |f|): {why}")
    if ent is not None and inputs.get("tree") is not None:
        _ttn_figures(sec, inputs)
    elif ent is not None:
        ep = np.sort(ent["epoch"].unique())
        marks = {"start": int(ep[0])}
        if transition is not None:
            marks["transition"] = _nearest(ep, transition)
        marks["end"] = int(ep[-1])
        marks = dict(sorted(marks.items(), key=lambda kv: kv[1]))
        _figure(
            sec, "entropy_profile", "Entanglement profile along the chain",
            figures.entropy_profile_figure(ent, marks, sec.genes, title=f"{community}: entropy per bond"),
            "Von Neumann entanglement entropy (natural log) of the cut between neighbouring genes of the MPS "
            "chain, for each label state, at the first recorded epoch, at the recorded epoch nearest to the "
            "transition, and at the last epoch.",
        )


def _representation_figure(sec: CommunitySection, inputs: dict[str, Any]) -> None:
    """The samples' representation at the half-chain bond against the learning curve (if recorded)."""
    from mpsomics.report.figures import representation_figure

    rep = inputs.get("representation")
    if rep is None or rep.empty:
        return
    fig = representation_figure(rep, inputs.get("history"), bond="half", title=sec.id)
    caption = (
        "Top: balanced accuracy on the training and test splits. Below, per class state: the von Neumann "
        "entropy (nats) and purity of ρ = mean over the training samples of |e⟩⟨e|, e the normalised "
        "projection of a sample's product state of the genes left of the half-chain bond onto the class "
        "state's left Schmidt vectors — how spread the samples are in what the class state passes across "
        "the bond (docs/dynamics.md). A rise then fall of the entropy during a plateau would be the "
        "representation signature of grokking reported for neural networks."
    )
    _figure(sec, "representation", "Representation of the samples", fig, caption)


def _magnetization_figure(sec: CommunitySection, inputs: dict[str, Any], files: CommunityFiles) -> None:
    """Magnetization per gene: last recorded epoch, else the final model's observables."""
    from mpsomics.report import figures

    mag_all = inputs["mag_all"]
    if mag_all is not None:
        mag_epoch: Any = int(mag_all["epoch"].max())
        mag = mag_all[mag_all["epoch"] == mag_epoch]
    else:
        mag = _observables_magnetization(files.observed_magnetization)
        mag_epoch = "final"
    if mag is not None:
        _figure(
            sec, "magnetization", "Magnetization per gene",
            figures.magnetization_figure(mag, title=f"{sec.id}: magnetization per gene and label (epoch {mag_epoch})"),
            "Expected ⟨σᶻ⟩ of each gene in the MPS state of each label: +1 means the label state puts the gene "
            "at low (scaled) expression, −1 at high expression, 0 undecided/mixed.",
        )


def _subcommunity_groups(sec: CommunitySection, subs: pd.DataFrame | None, files: CommunityFiles,
                         summary: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """The subcommunity table rows; returns ``{method: {subcommunity id: genes}}``."""
    groups_by_method: dict[str, dict[str, list[str]]] = {}
    if subs is None:
        sec.notes.append(_missing_note(files.subcommunities, "no subcommunities shown."))
    else:
        for sid, d in subs.groupby("subcommunity", sort=False):
            method = str(d["method"].iloc[0])
            groups_by_method.setdefault(method, {})[str(sid)] = list(dict.fromkeys(d["gene"]))
            sec.subcommunities.append({"id": str(sid), "method": method, "size": int(d["gene"].nunique()),
                                       "genes": ", ".join(dict.fromkeys(d["gene"]))})
    summary["subcommunity_sizes"] = "; ".join(
        f"{m}: " + ", ".join(str(len(v)) for v in g.values()) for m, g in groups_by_method.items()
    ) or "none"
    return groups_by_method


def _correlation_figures(sec: CommunitySection, inputs: dict[str, Any], files: CommunityFiles,
                         classes: Sequence[str], groups_by_method: dict[str, dict[str, list[str]]]) -> None:
    """Connected correlations (last recorded epoch, else the final model), one figure per method."""
    from mpsomics.report import figures

    corr_data = None
    if inputs["corr"] is not None:
        epochs, cls, cgenes, connected = inputs["corr"]
        corr_data = (f"epoch {int(epochs[-1])}", cls, cgenes, connected[-1])
    else:
        obs = _observables_correlations(files.observed_correlations, classes)
        if obs is not None:
            corr_data = ("final model", list(classes), obs[0], obs[1])
    if corr_data is None:
        return
    when, cls, cgenes, mat = corr_data
    methods = list(groups_by_method) or [None]
    # the paper's method first: its subcommunities are defined on these matrices
    methods.sort(key=lambda m: (m != "paper", str(m)))
    for method in methods:
        groups = groups_by_method.get(method, {}) if method else {}
        suffix = f" — {method} subcommunities outlined" if method else ""
        _figure(
            sec, f"correlations_{method or 'none'}", f"Connected correlations{suffix}",
            figures.correlation_figure(mat, cls, cgenes, groups, title=f"{sec.id}: connected correlations ({when}){suffix}"),
            "Connected correlation C(i,j) = ⟨σᶻᵢσᶻⱼ⟩ − ⟨σᶻᵢ⟩⟨σᶻⱼ⟩ between genes in the MPS state of each label. "
            "Red: the two genes move together; blue: opposite; grey diagonal: not a pair (variance 1 − m²). "
            + ("Genes are reordered so that each subcommunity is a contiguous, outlined block (tick labels "
               "coloured by subcommunity); the remaining genes follow in chain order." if groups else
               "Genes in chain order (no subcommunity to outline)."),
        )


def _enrichment_section(sec: CommunitySection, enr: pd.DataFrame | None, files: CommunityFiles,
                        top_terms: int, fdr_note: str) -> str:
    """Dot plot and top-terms rows; returns the summary-table text of the best terms."""
    from mpsomics.report import figures

    if enr is None:
        sec.enrichment_note = _missing_note(files.enrichment, "no enrichment results.")
        sec.notes.append(sec.enrichment_note)
        return ""
    # a "new" term is significant within the parent community, not necessarily against the network
    new = enr["new"].astype(bool) if "new" in enr else False
    sig = enr[enr["significant"].astype(bool) | new].copy()
    if sig.empty:
        sec.enrichment_note = f"No term is enriched{fdr_note} in the community or its subcommunities."
        return ""
    sig = sig.sort_values(["fdr", "p_value"], kind="mergesort")
    order = list(dict.fromkeys(enr["set"]))
    top = pd.concat([sig[sig["set"] == s].head(top_terms) for s in order if (sig["set"] == s).any()])
    _figure(
        sec, "enrichment", "Enrichment dot plot",
        figures.enrichment_dotplot(top, title=f"{sec.id}: top {top_terms} enriched terms per gene set"),
        "Over-representation (hypergeometric test against the genes of the co-expression network; "
        "Benjamini–Hochberg FDR per library over the community and its subcommunities). Dot size: number "
        "of genes of the list in the term. ★ / black edge: “new”, enriched in the subcommunity within its "
        "parent community (tested against the parent's genes) while the community itself is not enriched "
        "for the term.",
    )
    for r in top.itertuples(index=False):
        sec.enrichment_rows.append({
            "set": r.set, "level": r.level, "library": r.library, "term": r.term,
            "overlap": int(r.overlap), "fdr": _fmt(float(r.fdr)), "p_value": _fmt(float(r.p_value)),
            "odds_ratio": _fmt(float(r.odds_ratio), 3), "genes": str(r.genes).replace(";", ", "),
            "new": bool(r.new),
        })
    # best 3 distinct terms; a term found only in a subcommunity names it
    first = sig.drop_duplicates(["library", "term"])
    return "; ".join(
        (f"{t}" if lvl == "community" else f"{t} ({s})")
        for t, lvl, s in zip(first["term"].head(3), first["level"].head(3), first["set"].head(3), strict=True)
    )


def build_community(community: str, files: CommunityFiles, classes: Sequence[str], top_terms: int,
                    fdr_note: str = "", *, output_scale: str | None = None,
                    min_drop: float | None = None) -> tuple[CommunitySection, dict[str, Any]]:
    """Figures, tables and the summary-table row of one community.

    ``output_scale`` (the run's ``mps.output_scale``) is named in the diagnostics caption;
    ``min_drop`` is the transition threshold when the grokking file has no ``min_drop`` column.
    """
    sec = CommunitySection(id=community)
    inputs = _read_community(sec, files)
    summary: dict[str, Any] = {"community": community, "n_genes": len(sec.genes) or None}
    _grokking_row(sec, inputs, summary, min_drop)
    _training_figures(sec, inputs, output_scale)
    _representation_figure(sec, inputs)
    _magnetization_figure(sec, inputs, files)
    groups_by_method = _subcommunity_groups(sec, inputs["subs"], files, summary)
    _correlation_figures(sec, inputs, files, classes, groups_by_method)
    top_summary = _enrichment_section(sec, inputs["enr"], files, top_terms, fdr_note)
    summary["top_terms"] = top_summary or ("–" if inputs["enr"] is None else "none")
    return sec, summary


def _baseline_columns(baseline: pd.DataFrame | None, communities: Sequence[str]) -> tuple[list[str], dict[str, dict[str, float]]]:
    if baseline is None:
        return [], {}
    models = list(dict.fromkeys(baseline["model"].astype(str)))
    out: dict[str, dict[str, float]] = {}
    for r in baseline.itertuples(index=False):
        out.setdefault(str(r.community), {})[str(r.model)] = float(r.balanced_accuracy)
    return models, out


def dynamics_context(paths: ReportPaths, rows: Sequence[dict[str, Any]], config: dict[str, Any]) -> dict[str, Any]:
    """The entanglement-dynamics section: the count line, the per-community table and the compared updates.

    ``rows`` are the formatted summary rows of the communities (in report order).
    """
    communities = [r["community"] for r in rows]
    mode_tables = {}
    for c in communities:
        m = paths.communities[c].modes
        mode_tables[c] = read_modes(m) if given_input(m, "the compared updates") else None
    modes = modes_summary(mode_tables)
    return {
        **dynamics_summary([r["dynamics"] for r in rows]), "rule": TRANSITION_RULE,
        "modes": modes["modes"], "mode_lines": modes["lines"],
        "mode_words": [UPDATE_WORDS.get(m, m) for m in modes["modes"]],
        "mode_rows": [{"community": c, "cells": modes["rows"][c]} for c in communities],
        "output_scale": config.get("mps.output_scale", "profiled"),
        "rows": [{"community": r["community"], "grokking": r["grokking"], "transition_epoch": r["transition_epoch"],
                  "jump_epoch": r["jump_epoch"], **r["dynamics"]["cells"]} for r in rows],
    }


def build_context(paths: ReportPaths, top_terms: int = 5,
                  figures: dict[str, bytes] | None = None) -> dict[str, Any]:
    """Everything the template needs; nothing is written.

    Parameters
    ----------
    paths
        Input files; ``paths.communities`` gives the communities shown, in order.
    top_terms
        Enriched terms shown per gene set.
    figures
        When given, filled with the PNG files of the figures directory (file name ->
        bytes: ``{community}_grokking.png``, ``_diagnostics.png``, ``_panels.png`` and the
        overview figures), written by :func:`write_report` once everything is built.
    """
    from mpsomics.report import beyond, trust

    communities = list(paths.communities)
    samples = read_samples(paths.expression)
    config = read_config(paths.config_json)
    classes = samples.get("classes") or []
    baseline = read_baseline(paths.baseline)
    models, base = _baseline_columns(baseline, communities)
    # read (and check) the validation tables before the slow per-community figures
    validation = trust.read_validation(paths.cv, paths.stability, paths.validation, config, classes,
                                       samples.get("positive_label", ""))
    fdr = config.get("enrichment.fdr")
    fdr_note = f" (FDR ≤ {fdr})" if fdr else " at the chosen FDR threshold"
    sections, rows = [], []
    for c in communities:
        sec, row = build_community(c, paths.communities[c], classes, top_terms, fdr_note,
                                   output_scale=config.get("mps.output_scale"),
                                   min_drop=_float(config.get("grokking.min_drop")))
        row["baselines"] = [_fmt(base.get(c, {}).get(m)) for m in models]
        rows.append(row)
        sections.append(sec)
        for kind, data in (("grokking", sec.grokking_png), ("diagnostics", sec.diagnostics_png)):
            if figures is not None and data is not None:
                figures[f"{c}_{kind}.png"] = data
    trust.include_subcommunities(validation, [s["id"] for sec in sections for s in sec.subcommunities])
    for sec, row in zip(sections, rows, strict=True):
        sec.trust = trust.community_panel(sec.id, validation, [s["id"] for s in sec.subcommunities])
        row["trust"] = trust.summary_columns(sec.id, validation, len(sec.subcommunities))
    overview = _overview_figures(validation, communities, figures)
    for r in rows:
        for k in ("mps_test_ba",):
            r[k] = _fmt(r[k])
        r["grokking"] = _fmt(r["grokking"])
        r["transition_epoch"] = _fmt(r["transition_epoch"])
        r["jump_epoch"] = _fmt(r["jump_epoch"])
        r["n_genes"] = _fmt(r["n_genes"])
    headline_keys = [k for k in config if any(k.endswith(s) for s in (
        "dataset", "input", "expression", "seed", "epochs", "bond_dim", "max_bond", "observe_every", "fdr", "learning_rate", "lr"))]
    return {
        "title": "mpsomics report",
        "version": __version__,
        "generated": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "paper": PAPER,
        "paths": paths.locations(),
        "config": config,
        "config_headline": {k: config[k] for k in headline_keys},
        "software": _software_versions(),
        "samples": samples,
        "classes": classes,
        "baseline_models": models,
        "summary_rows": rows,
        "sections": sections,
        "top_terms": top_terms,
        "n_selected": len(communities),
        "selection_note": selection_note(baseline, communities),
        "dynamics": dynamics_context(paths, rows, config),
        "panels": beyond.panels_context(paths.panels, paths.panel_curves, figures,
                                        _float(config.get("validation.fdr")) or 0.05),
        "comparison": beyond.comparison_context(paths.comparison, paths.comparison_sets),
        "validation": _validation_context(validation, config, communities, overview),
    }


def _overview_figures(validation, communities: Sequence[str], figures: dict[str, bytes] | None) -> list[dict[str, str]]:
    """The validation overview figures for the page (and, when given, the figures directory)."""
    from mpsomics.report import trust
    from mpsomics.report.figures import png_bytes

    overview = []
    for key, title, fig, caption in trust.overview_figures(validation, communities):
        data = png_bytes(fig)
        if figures is not None:
            figures[f"{key}.png"] = data
        overview.append({"key": key, "title": title, "caption": caption,
                         "src": "data:image/png;base64," + base64.b64encode(data).decode("ascii")})
    return overview


def _validation_context(validation, config: dict[str, Any], communities: Sequence[str],
                        overview: list[dict[str, str]]) -> dict[str, Any]:
    """The "How far to trust the results" section: verdict table, overview figures, CV design words."""
    from mpsomics.report import trust

    cv = validation.cv
    design = (None, None) if cv is None or cv.empty else (
        cv["n_folds"].iloc[0], cv.get("n_repeats", pd.Series([None])).iloc[0])
    return {
        "run": validation.run,
        "has_cv": cv is not None,
        "notes": validation.notes,
        "thresholds": validation.thresholds,
        "subcommunities": trust.subcommunity_table(validation, communities),
        "figures": overview,
        "design": trust.cv_design(config, *design),
    }


def _software_versions() -> dict[str, str]:
    """Python, mpsomics and the packages that can change results (``core.provenance``)."""
    from mpsomics.core.provenance import versions

    return {"mpsomics": __version__, **versions()}


def render(context: dict[str, Any], template: str = "index.html", package: str | None = None) -> str:
    """Render ``templates/{template}`` (``index.html``: the pipeline report).

    ``package`` names another package whose ``templates/`` folder is searched first,
    so an experiment's page can extend this layer's ``base.html``.
    """
    import jinja2

    loaders = [jinja2.PackageLoader("mpsomics.report", "templates")]
    if package is not None:
        loaders.insert(0, jinja2.PackageLoader(package, "templates"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,  # a typo in the template must fail the test, not vanish
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    return env.get_template(template).render(**context)


def write_report(out: str | os.PathLike, paths: ReportPaths, top_terms: int = 5,
                 figures_dir: str | os.PathLike | None = None) -> Path:
    """Build and render the report, then write the page (and the figures directory) together.

    Nothing is written before the whole report is built: a bad input of the last
    community leaves the previous page and figures as they were. ``figures_dir`` is
    replaced as a whole (no figure of an earlier run is left beside the new ones).
    """
    from mpsomics.core.files import atomic_files

    figures: dict[str, bytes] | None = {} if figures_dir is not None else None
    ctx = build_context(paths, top_terms, figures)
    html = render(ctx)
    out = Path(out)
    dirs = [Path(figures_dir)] if figures_dir is not None else []
    with atomic_files([out], directories=dirs) as temps:
        temps[0].write_text(html, encoding="utf-8")
        for name, data in (figures or {}).items():
            (temps[1] / name).write_bytes(data)
    log.info("report with %d communities written to %s (%.1f MB, %d figure files)", len(ctx["sections"]), out,
             len(html) / 1e6, len(figures or {}))
    return out


__all__ = ["CommunityFiles", "ReportPaths", "build_context", "read_selected", "render", "write_report"]
