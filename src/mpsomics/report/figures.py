"""Matplotlib figures of the report (Agg backend, no display needed).

Every function returns a :class:`matplotlib.figure.Figure`; :func:`png_base64`
turns it into the ``data:`` URI embedded in the HTML and closes it. Figures are
meant for biologists: gene names on the axes, class names as in the data, units
in the axis labels.
"""

from __future__ import annotations

import base64
import io
import os
import textwrap
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # headless cluster nodes; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

DPI = 100
#: class colours in label-index order ([negative, positive] = normal, tumor)
CLASS_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
SUB_COLORS = plt.get_cmap("tab10").colors


def png_bytes(fig: Figure) -> bytes:
    """Render ``fig`` as PNG bytes and close it (frees memory in long reports)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def png_base64(fig: Figure) -> str:
    """``data:image/png;base64,...`` URI of ``fig`` (the figure is closed)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(fig)).decode("ascii")


def save_png(data: bytes, path: str | os.PathLike) -> None:
    """Write PNG bytes atomically."""
    from mpsomics.core.files import atomic_path
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _gene_fontsize(n: int) -> float:
    return float(np.clip(420 / max(n, 1), 4, 9))


def _mark_epochs(ax, marks: Mapping[str, float | None]) -> None:
    styles = {"transition": ("#7f3fbf", "--"), "jump": ("#ff7f0e", ":")}
    for name, epoch in marks.items():
        if epoch is None or (isinstance(epoch, float) and np.isnan(epoch)):
            continue
        color, ls = styles.get(name, ("grey", "-."))
        ax.axvline(epoch, color=color, ls=ls, lw=1.5, label=f"{name} epoch ({int(epoch)})")


#: history.tsv columns of the nearest-centroid (kernel) classifier, constant over epochs
CENTROID_ACCURACY = {"train": "centroid_train_balanced_accuracy", "test": "centroid_test_balanced_accuracy"}
#: history.tsv diagnostics: prefix of the per-class centroid overlaps, the norm, the largest |f|
CENTROID_OVERLAP_PREFIX = "centroid_overlap_"
NORM_COLUMN = "norm"
MAX_F_COLUMN = "max_abs_f"
CENTROID_LABEL = "nearest class centroid (kernel)"
#: a positive series spanning more than this factor is drawn on a log axis
LOG_SPAN = 10.0


def _numeric(df: pd.DataFrame, col: str) -> np.ndarray:
    """``df[col]`` as floats (unparseable -> NaN): readers of older versions keep unknown columns as text."""
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)


def _last_finite(values: np.ndarray) -> float | None:
    ok = values[np.isfinite(values)]
    return float(ok[-1]) if ok.size else None


def centroid_baselines(ax, history: pd.DataFrame | None, colors: Mapping[str, str] | None = None) -> int:
    """Dashed horizontal lines at the nearest-centroid classifier's train and test balanced accuracy.

    Drawn only for the columns of :data:`CENTROID_ACCURACY` that ``history`` has with a
    finite value (the classifier does not change over epochs: the last finite value is
    drawn). Returns the number of lines drawn.
    """
    colors = {"train": "#555555", "test": "#d62728", **(colors or {})}
    drawn = 0
    if history is None:
        return drawn
    for split, col in CENTROID_ACCURACY.items():
        if col not in history:
            continue
        value = _last_finite(_numeric(history, col))
        if value is None:
            continue
        ax.axhline(value, color=colors[split], ls="--", lw=1.1, alpha=0.8,
                   label=f"{CENTROID_LABEL}: {split} ({value:.2f})")
        drawn += 1
    return drawn


def _log_if_spread(ax, values: np.ndarray) -> bool:
    """Log y axis when the finite values are positive and span more than :data:`LOG_SPAN`."""
    v = values[np.isfinite(values)]
    if v.size and (v > 0).all() and v.max() / v.min() > LOG_SPAN:
        ax.set_yscale("log")
        return True
    return False


def _plain_axis(ax, values: np.ndarray) -> None:
    """A linear axis without matplotlib's offset; a constant series (‖W‖ = 1) gets a range around it."""
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")
    v = values[np.isfinite(values)]
    if v.size and np.ptp(v) <= 1e-6 * max(1.0, float(np.abs(v).max())):
        mid = float(v.mean())
        half = 0.5 * abs(mid) if mid else 1.0
        ax.set_ylim(mid - half, mid + half)


def _not_recorded(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"{what}: not recorded", transform=ax.transAxes, ha="center", va="center", color="0.4")
    ax.set_yticks([])


def grokking_figure(
    history: pd.DataFrame | None,
    entropy: pd.DataFrame | None,
    *,
    transition_epoch: float | None = None,
    jump_epoch: float | None = None,
    title: str = "",
    controls: pd.DataFrame | None = None,
    entropy_note: str = "",
) -> Figure:
    """Training curves and entanglement entropy on one epoch axis.

    Parameters
    ----------
    history
        ``history.tsv`` as read by :func:`mpsomics.dynamics.training_run.load_history`;
        its ``centroid_train_balanced_accuracy`` / ``centroid_test_balanced_accuracy``
        columns, when present, are drawn as dashed horizontal baselines on the accuracy
        panel (the nearest-centroid kernel classifier).
    entropy
        Output of :func:`mpsomics.dynamics.grokking.total_entropy` (index epoch, one column
        per label plus ``total``).
    transition_epoch, jump_epoch
        Marked with vertical lines on every panel (omitted when ``None``/NaN). Pass the
        transition only when it counts (``transition_status == transition``).
    title
        Figure title.
    controls
        Summed entropy ``S_total`` of each label-permutation control (index epoch, one
        column per control), drawn as thin grey lines beside the real ``total``.
    entropy_note
        One line written in the entropy panel (e.g. the transition status against the controls).
    """
    panels = []
    if history is not None and any(c in history for c in ("train_balanced_accuracy", "test_balanced_accuracy")):
        panels.append("acc")
    if history is not None and "loss" in history:
        panels.append("loss")
    if entropy is not None and len(entropy):
        panels.append("ent")
    if not panels:
        fig, ax = plt.subplots(figsize=(8, 2))
        ax.text(0.5, 0.5, "no training history or entanglement recorded", ha="center", va="center")
        ax.set_axis_off()
        return fig
    heights = {"acc": 3, "loss": 2, "ent": 3}
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(9, 1.2 + 1.6 * len(panels)), sharex=True,
        gridspec_kw={"height_ratios": [heights[p] for p in panels]},
    )
    axes = np.atleast_1d(axes)
    marks = {"transition": transition_epoch, "jump": jump_epoch}
    for ax, panel in zip(axes, panels, strict=True):
        if panel == "acc":
            for col, name, color in (
                ("train_balanced_accuracy", "train", "#555555"),
                ("test_balanced_accuracy", "test", "#d62728"),
            ):
                if col in history:
                    ax.plot(history["epoch"], history[col], color=color, lw=1.8, label=f"{name} balanced accuracy")
            centroid_baselines(ax, history)
            ax.set_ylabel("balanced accuracy")
            ax.set_ylim(-0.02, 1.02)
            ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        elif panel == "loss":
            ax.plot(history["epoch"], history["loss"], color="black", lw=1.5, label="train loss")
            ax.set_ylabel("train loss")
            if (history["loss"] > 0).all() and history["loss"].max() / max(history["loss"].min(), 1e-12) > 50:
                ax.set_yscale("log")
        else:
            labels = [c for c in entropy.columns if c != "total"]
            if controls is not None and controls.shape[1]:
                for k, col in enumerate(controls.columns):
                    d = controls[col].dropna()
                    ax.plot(d.index, d.to_numpy(), color="0.55", lw=0.8, alpha=0.8,
                            label=f"label-permutation controls ({controls.shape[1]}, total)" if k == 0 else None)
            if "total" in entropy:
                ax.plot(entropy.index, entropy["total"], color="black", lw=2, marker="o", ms=3, label="total (sum over labels)")
            for i, lab in enumerate(labels):
                ax.plot(entropy.index, entropy[lab], color=CLASS_COLORS[i % len(CLASS_COLORS)], lw=1.5,
                        marker=".", ms=3, label=f"label {lab}")
            ax.set_ylabel("entanglement entropy\n(sum over bonds, nats)")
            if entropy_note:
                ax.set_title(entropy_note, fontsize=8, loc="left")
        _mark_epochs(ax, marks)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best", framealpha=0.8)
    axes[-1].set_xlabel("epoch")
    if title:
        axes[0].set_title(title)
    fig.tight_layout()
    return fig


def overlap_columns(history: pd.DataFrame | None) -> dict[str, str]:
    """``{class: column}`` of the ``centroid_overlap_<class>`` columns of ``history`` (file order)."""
    if history is None:
        return {}
    return {c[len(CENTROID_OVERLAP_PREFIX):]: c for c in history.columns
            if c.startswith(CENTROID_OVERLAP_PREFIX) and _recorded(history, c)}


def _recorded(history: pd.DataFrame, col: str) -> bool:
    """``col`` exists with at least one finite value (an all-empty column was not recorded)."""
    return col in history and bool(np.isfinite(_numeric(history, col)).any())


def has_diagnostics(history: pd.DataFrame | None) -> bool:
    """Whether ``history`` holds any of the per-epoch diagnostics :func:`diagnostics_figure` draws."""
    return history is not None and bool(
        overlap_columns(history) or _recorded(history, NORM_COLUMN) or _recorded(history, MAX_F_COLUMN))


def diagnostics_figure(
    history: pd.DataFrame,
    *,
    transition_epoch: float | None = None,
    jump_epoch: float | None = None,
    title: str = "",
) -> Figure:
    """Per-epoch diagnostics of the class states: centroid overlap, ‖W‖ and max |f|.

    Three panels on one epoch axis; a panel whose columns ``history`` lacks (older
    files) says "not recorded".

    Parameters
    ----------
    history
        ``history.tsv`` with ``centroid_overlap_<class>`` (signed, in [-1, 1]), ``norm``
        (‖W‖ of the whole MPS; log axis when it spans more than :data:`LOG_SPAN`) and
        ``max_abs_f`` (largest |f_ℓ(x_n)| over the training samples and classes; log
        axis likewise).
    transition_epoch, jump_epoch
        Marked as in :func:`grokking_figure`.
    title
        Figure title.
    """
    fig, axes = plt.subplots(3, 1, figsize=(9, 6.2), sharex=True, gridspec_kw={"height_ratios": [3, 2, 2]})
    epochs = history["epoch"].to_numpy()
    marks = {"transition": transition_epoch, "jump": jump_epoch}
    ax = axes[0]
    overlaps = overlap_columns(history)
    if overlaps:
        low = 0.0
        for i, (cls, col) in enumerate(overlaps.items()):
            v = _numeric(history, col)
            ax.plot(epochs, v, color=CLASS_COLORS[i % len(CLASS_COLORS)], lw=1.6, marker=".", ms=3, label=f"class {cls}")
            low = min(low, float(np.nanmin(v)))
        ax.axhline(1.0, color="grey", lw=0.8, ls=":")
        ax.set_ylim(max(-1.05, low - 0.05), 1.05)
    else:
        _not_recorded(ax, "centroid overlap")
    ax.set_ylabel("overlap with the\nclass-centroid state")
    for ax, col, ylabel, name in (
        (axes[1], NORM_COLUMN, "‖W‖ (norm of the MPS)", "‖W‖"),
        (axes[2], MAX_F_COLUMN, "max |f| on the\ntraining samples", "max |f|"),
    ):
        if _recorded(history, col):
            v = _numeric(history, col)
            ax.plot(epochs, v, color="black", lw=1.5, marker=".", ms=3, label=name)
            if not _log_if_spread(ax, v):
                _plain_axis(ax, v)
        else:
            _not_recorded(ax, name)
        ax.set_ylabel(ylabel)
    for ax in axes:
        _mark_epochs(ax, marks)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best", framealpha=0.8)
    axes[-1].set_xlabel("epoch")
    if title:
        axes[0].set_title(title)
    fig.tight_layout()
    return fig


def entropy_profile_figure(
    entanglement: pd.DataFrame, epochs: Mapping[str, int], genes: Sequence[str] | None = None, title: str = ""
) -> Figure:
    """Von Neumann entropy per bond along the chain, one panel per label.

    Parameters
    ----------
    entanglement
        Long table ``epoch, label, bond, entropy``.
    epochs
        Legend name -> recorded epoch (e.g. start / transition / end).
    genes
        Site genes (chain order); bond ``b`` is labelled ``gene_b | gene_{b+1}``.
    """
    labels = list(dict.fromkeys(entanglement["label"].astype(str)))
    n_bonds = int(entanglement["bond"].max()) + 1
    fig, axes = plt.subplots(len(labels), 1, figsize=(max(8, 0.2 * n_bonds + 3), 2.6 * len(labels)), sharex=True, squeeze=False)
    styles = ["-", "--", "-.", ":"]
    cmap = plt.get_cmap("viridis")
    for k, (ax, lab) in enumerate(zip(axes[:, 0], labels, strict=True)):
        sub = entanglement[entanglement["label"].astype(str) == lab]
        for i, (name, ep) in enumerate(epochs.items()):
            d = sub[sub["epoch"] == ep].sort_values("bond")
            if d.empty:
                continue
            ax.plot(d["bond"], d["entropy"], ls=styles[i % 4], marker="o", ms=3,
                    color=cmap(i / max(len(epochs) - 1, 1)), label=f"{name} (epoch {ep})")
        ax.set_ylabel("entropy (nats)")
        ax.set_title(f"label {lab}", fontsize=9, color=CLASS_COLORS[k % len(CLASS_COLORS)])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    ax = axes[-1, 0]
    ax.set_xticks(range(n_bonds))
    if genes is not None and len(genes) == n_bonds + 1:
        ax.set_xticklabels([f"{genes[b]} | {genes[b + 1]}" for b in range(n_bonds)], rotation=90, fontsize=_gene_fontsize(n_bonds))
        ax.set_xlabel("bond (between neighbouring genes of the chain)")
    else:
        ax.set_xlabel("bond index")
    if title:
        axes[0, 0].figure.suptitle(title)
    fig.tight_layout()
    return fig


def magnetization_figure(mag: pd.DataFrame, title: str = "") -> Figure:
    """⟨σᶻ⟩ per site (gene) and label.

    Parameters
    ----------
    mag
        Rows ``label, site, gene, magnetization`` of one epoch.
    """
    labels = list(dict.fromkeys(mag["label"].astype(str)))
    sites = mag[["site", "gene"]].drop_duplicates().sort_values("site")
    n = len(sites)
    fig, ax = plt.subplots(figsize=(max(8, 0.22 * n + 2), 3.6))
    width = 0.8 / max(len(labels), 1)
    for i, lab in enumerate(labels):
        d = mag[mag["label"].astype(str) == lab].set_index("site").reindex(sites["site"])
        x = np.arange(n) + (i - (len(labels) - 1) / 2) * width
        ax.bar(x, d["magnetization"].to_numpy(), width=width, color=CLASS_COLORS[i % len(CLASS_COLORS)], label=f"label {lab}")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xticks(np.arange(n))
    ax.set_xticklabels(sites["gene"], rotation=90, fontsize=_gene_fontsize(n))
    ax.set_xlim(-0.7, n - 0.3)
    ax.set_xlabel("gene (MPS site, chain order)")
    ax.set_ylabel("magnetization $\\langle\\sigma^z\\rangle$\n(+1 low, −1 high expression)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def subcommunity_order(genes: Sequence[str], groups: Mapping[str, Sequence[str]]) -> tuple[list[int], list[tuple[str, int, int]]]:
    """Gene order that makes every subcommunity contiguous.

    Parameters
    ----------
    genes
        Genes in chain order.
    groups
        Subcommunity id -> genes (a gene in several groups goes to the first).

    Returns
    -------
    order
        Indices into ``genes``: subcommunity members first (group order, chain order
        inside), then the remaining genes in chain order.
    blocks
        ``(subcommunity id, start, stop)`` position ranges in the new order.
    """
    pos = {g: i for i, g in enumerate(genes)}
    used: set[int] = set()
    order: list[int] = []
    blocks: list[tuple[str, int, int]] = []
    for sid, members in groups.items():
        idx = sorted(pos[g] for g in members if g in pos and pos[g] not in used)
        if not idx:
            continue
        blocks.append((sid, len(order), len(order) + len(idx)))
        order += idx
        used.update(idx)
    order += [i for i in range(len(genes)) if i not in used]
    return order, blocks


def correlation_figure(
    connected: np.ndarray,
    classes: Sequence[str],
    genes: Sequence[str],
    groups: Mapping[str, Sequence[str]] | None = None,
    title: str = "",
) -> Figure:
    """Connected-correlation heatmaps, one per label, subcommunities outlined.

    Parameters
    ----------
    connected
        Array (C, N, N) of one epoch.
    classes, genes
        Label and site names.
    groups
        Subcommunity id -> genes of one method; genes are reordered so each is a
        contiguous block, outlined and coloured on the tick labels.
    """
    order, blocks = subcommunity_order(genes, groups or {})
    g = [genes[i] for i in order]
    n = len(g)
    colour_of: dict[int, tuple] = {}
    for b, (_, start, stop) in enumerate(blocks):
        for p in range(start, stop):
            colour_of[p] = SUB_COLORS[b % len(SUB_COLORS)]
    side = float(np.clip(0.16 * n + 2.5, 4.5, 9))
    # constrained layout keeps the square heatmaps, colour bar and legend tight
    fig, axes = plt.subplots(1, len(classes), figsize=(side * len(classes) + 1.5, side + 1.0), squeeze=False,
                             layout="constrained")
    off = connected[:, ~np.eye(connected.shape[-1], dtype=bool)]
    vmax = float(np.abs(off).max()) if off.size else 1.0
    vmax = vmax if vmax > 0 else 1.0
    im = None
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="#dddddd")
    for k, (ax, lab) in enumerate(zip(axes[0], classes, strict=True)):
        m = connected[k][np.ix_(order, order)].astype(float)
        # The diagonal is a variance (1 - m^2), not a correlation between two
        # genes: masked so it does not dominate the colour scale.
        np.fill_diagonal(m, np.nan)
        im = ax.imshow(m, cmap=cmap, vmin=-vmax, vmax=vmax, interpolation="nearest")
        for b, (_sid, start, stop) in enumerate(blocks):
            ax.add_patch(Rectangle((start - 0.5, start - 0.5), stop - start, stop - start, fill=False,
                                   edgecolor=SUB_COLORS[b % len(SUB_COLORS)], lw=2.2))
        fs = _gene_fontsize(n)
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
        ax.set_xticklabels(g, rotation=90, fontsize=fs)
        ax.set_yticklabels(g, fontsize=fs)
        for p, tick in enumerate(ax.get_xticklabels()):
            if p in colour_of:
                tick.set_color(colour_of[p])
        for p, tick in enumerate(ax.get_yticklabels()):
            if p in colour_of:
                tick.set_color(colour_of[p])
        ax.set_title(f"label {lab}", color=CLASS_COLORS[k % len(CLASS_COLORS)])
    cbar = fig.colorbar(im, ax=list(axes[0]), shrink=0.7)
    cbar.set_label(
        r"connected correlation $\langle\sigma^z_i\sigma^z_j\rangle - \langle\sigma^z_i\rangle\langle\sigma^z_j\rangle$"
        "\n(diagonal not shown)",
        fontsize=8,
    )
    if blocks:
        handles = [Rectangle((0, 0), 1, 1, fill=False, edgecolor=SUB_COLORS[b % len(SUB_COLORS)], lw=2, label=sid)
                   for b, (sid, _, _) in enumerate(blocks)]
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def enrichment_dotplot(df: pd.DataFrame, title: str = "", max_label: int = 60) -> Figure:
    """Dot plot of enriched terms: −log10 FDR vs term, dot size = overlap.

    Parameters
    ----------
    df
        Rows of ``results/enrichment/{community}.tsv`` to show (already selected);
        ``new`` terms get a black edge and a ``★`` prefix.
    """
    d = df.copy()
    d["score"] = -np.log10(np.clip(d["fdr"].astype(float), 1e-300, 1))
    d["label"] = [
        ("★ " if bool(nw) else "") + textwrap.shorten(f"{t} [{lib}]", max_label, placeholder="…")
        for t, lib, nw in zip(d["term"], d["library"], d["new"], strict=True)
    ]
    sets = list(dict.fromkeys(d["set"]))
    fig, ax = plt.subplots(figsize=(9, max(2.6, 1.2 + 0.28 * len(d))))
    y = np.arange(len(d))[::-1]
    omax = max(float(d["overlap"].max()), 1.0)
    sizes = 30 + 270 * d["overlap"].astype(float).to_numpy() / omax
    for i, s in enumerate(sets):
        mask = (d["set"] == s).to_numpy()
        ax.scatter(d["score"].to_numpy()[mask], y[mask], s=sizes[mask], color=SUB_COLORS[i % len(SUB_COLORS)],
                   alpha=0.85, label=s, linewidths=0)
    new = d["new"].astype(bool).to_numpy()
    if new.any():
        # a separate ring layer: "new" terms stay visible whatever the set colour
        ax.scatter(d["score"].to_numpy()[new], y[new], s=sizes[new], facecolors="none", edgecolors="black",
                   linewidths=1.8, label="new in subcommunity")
    ax.set_yticks(y)
    ax.set_yticklabels(d["label"], fontsize=7)
    ax.set_xlabel("−log10 FDR (Benjamini–Hochberg)")
    ax.set_xlim(left=0)
    ax.grid(axis="x", alpha=0.3)
    leg = ax.legend(title="gene set (dot size = overlap)", fontsize=7, title_fontsize=7, loc="lower right")
    for h in leg.legend_handles:
        h.set_sizes([40])
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def training_entropy_figure(
    history: pd.DataFrame,
    entanglement: pd.DataFrame,
    *,
    transition_epoch: float | None = None,
    jump_epoch: float | None = None,
    title: str = "",
) -> Figure:
    """Accuracy, sensitivity, specificity and the entropy along the lattice vs epoch (sweep).

    Top: train/test accuracy and test sensitivity/specificity. Below, one panel per
    label: the von Neumann entropy (nats) at every bond (y) and epoch (x) as a
    heat map, so the dip of the entanglement along the whole lattice is visible.
    """
    labels = list(dict.fromkeys(entanglement["label"].astype(str)))
    # constrained layout + one colorbar for all panels keeps the epoch axes aligned
    fig, axes = plt.subplots(
        1 + len(labels), 1, figsize=(9, 2.8 + 1.9 * len(labels)), sharex=True,
        gridspec_kw={"height_ratios": [3] + [2] * len(labels)}, layout="constrained",
    )
    ax = axes[0]
    for col, name, color, ls in (
        ("train_accuracy", "train accuracy", "#555555", "-"),
        ("test_accuracy", "test accuracy", "#d62728", "-"),
        ("test_sensitivity", "test sensitivity", "#2ca02c", "--"),
        ("test_specificity", "test specificity", "#1f77b4", ":"),
    ):
        if col in history:
            ax.plot(history["epoch"], history[col], color=color, ls=ls, lw=1.6, label=name)
    centroid_baselines(ax, history)
    ax.set_ylim(-0.02, 1.02)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_ylabel("fraction")
    marks = {"transition": transition_epoch, "jump": jump_epoch}
    _mark_epochs(ax, marks)
    ax.legend(fontsize=7, loc="lower right", framealpha=0.8, ncol=2)
    ax.grid(alpha=0.3)
    vmax = float(entanglement["entropy"].max()) or 1.0
    for k, (ax, lab) in enumerate(zip(axes[1:], labels, strict=True)):
        wide = entanglement[entanglement["label"].astype(str) == lab].pivot(index="bond", columns="epoch", values="entropy")
        ep = wide.columns.to_numpy(dtype=float)
        im = ax.imshow(
            wide.to_numpy(), aspect="auto", origin="lower", cmap="magma", vmin=0, vmax=vmax,
            extent=(ep.min() - 0.5, ep.max() + 0.5, -0.5, wide.shape[0] - 0.5), interpolation="nearest",
        )
        ax.set_ylabel(f"bond\nlabel {lab}", color=CLASS_COLORS[k % len(CLASS_COLORS)])
        for name, e in marks.items():
            if e is not None and not (isinstance(e, float) and np.isnan(e)):
                ax.axvline(e, color="white", ls="--" if name == "transition" else ":", lw=1.2)
    fig.colorbar(im, ax=list(axes), pad=0.01, shrink=0.5, anchor=(0.0, 0.0), label="entropy (nats)")
    axes[-1].set_xlabel("epoch (sweep)")
    if title:
        axes[0].set_title(title)
    return fig


def spectrum_figure(spectrum: pd.DataFrame, *, transition_epoch: float | None = None, title: str = "") -> Figure:
    """Half-chain reduced-density-matrix eigenvalues vs epoch, one panel per ``state``.

    ``spectrum`` is the long table ``epoch, state, rank, eigenvalue``; eigenvalues
    are drawn as dots on a log axis, so detached large eigenvalues and the bulk they
    later merge into are both visible.
    """
    states = list(dict.fromkeys(spectrum["state"].astype(str)))
    fig, axes = plt.subplots(1, len(states), figsize=(4.2 * len(states), 3.6), sharey=True, squeeze=False)
    for ax, st in zip(axes[0], states, strict=True):
        d = spectrum[spectrum["state"].astype(str) == st]
        ax.scatter(d["epoch"], d["eigenvalue"], s=3, c=np.minimum(d["rank"], 9), cmap="viridis", alpha=0.7, lw=0)
        ax.set_yscale("log")
        ax.set_ylim(1e-6, 1.5)
        ax.set_title("both labels (label-carrying state)" if st == "all" else f"label {st}", fontsize=9)
        ax.set_xlabel("epoch (sweep)")
        ax.grid(alpha=0.3)
        _mark_epochs(ax, {"transition": transition_epoch})
    axes[0, 0].set_ylabel("half-chain eigenvalue λ²")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def task_accuracy_figure(comparison: pd.DataFrame) -> Figure:
    """Final test accuracy per task, mean ± standard deviation over seeds, with the paper's values."""
    fig, ax = plt.subplots(figsize=(9, 3.6))
    x = np.arange(len(comparison))
    mean = comparison["final_test_accuracy_mean"].to_numpy(dtype=float)
    sd = np.nan_to_num(comparison["final_test_accuracy_sd"].to_numpy(dtype=float))
    ax.bar(x, mean, yerr=sd, color="#9ecae1", edgecolor="#3182bd", capsize=3, label="mpsomics (mean ± sd over seeds)")
    paper = pd.to_numeric(comparison["paper_final_test_accuracy"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(paper)
    ax.scatter(x[ok], paper[ok], marker="D", color="#d62728", zorder=3, label="paper")
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xticks(x)
    ax.set_xticklabels([t.replace("sneaker_vs_", "vs ") for t in comparison["task"]], rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("final test accuracy")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def _tree_layout(parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x (leaf i at x = i, a node at the mean of its children) and y (height) of every node."""
    parent = np.asarray(parent, dtype=np.int64)
    n = (len(parent) + 1) // 2
    x = np.zeros(len(parent))
    y = np.zeros(len(parent))
    x[:n] = np.arange(n)
    kids: dict[int, list[int]] = {}
    for i, p in enumerate(parent[:-1]):
        kids.setdefault(int(p), []).append(i)
    for k in range(n, len(parent)):  # children have smaller indices
        c = kids[k]
        x[k] = np.mean(x[c])
        y[k] = 1.0 + max(y[c])
    return x, y


def ttn_tree_entropy_figure(
    parent: Sequence[int], genes: Sequence[str], entropy: Mapping[str, np.ndarray], title: str = "",
    annotate: int = 3,
) -> Figure:
    """The gene dendrogram of a TTN, every edge coloured and sized by its entanglement entropy.

    ``entropy[label]`` has one value per tree edge 0..2N-3 (edge i = above node i) or
    2N-3 values (the second root edge, which duplicates the first, left out as in the
    train files). One panel per label; the ``annotate`` largest edges are labelled.
    """
    from matplotlib.collections import LineCollection

    parent = np.asarray(parent, dtype=np.int64)
    n = (len(parent) + 1) // 2
    x, y = _tree_layout(parent)
    labels = list(entropy)
    vmax = max([float(np.max(v)) for v in entropy.values() if len(v)] + [1e-12])
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(len(labels), 1, figsize=(max(7.0, 0.22 * n + 2), 3.2 * len(labels)), squeeze=False)
    for ax, label in zip(axes[:, 0], labels, strict=True):
        ent = np.asarray(entropy[label], dtype=float)
        if len(ent) == 2 * n - 3:  # the dropped root edge has the other root edge's value
            root_kids = [i for i in range(2 * n - 2) if parent[i] == 2 * n - 2]
            ent = np.append(ent, ent[min(root_kids)])
        segs, vals = [], []
        for i in range(2 * n - 2):
            p = parent[i]
            segs.append([(x[i], y[i]), (x[i], y[p]), (x[p], y[p])])
            vals.append(ent[i])
        vals = np.asarray(vals)
        lc = LineCollection(segs, colors=cmap(vals / vmax), linewidths=0.8 + 4.0 * vals / vmax)
        ax.add_collection(lc)
        for i in np.argsort(-vals)[:annotate]:
            ax.annotate(f"{vals[i]:.2f}", (x[i], (y[i] + y[parent[i]]) / 2), fontsize=7, color="crimson",
                        xytext=(3, 0), textcoords="offset points")
        ax.set_xlim(-0.8, n - 0.2)
        ax.set_ylim(-0.2, y.max() + 0.4)
        ax.set_xticks(np.arange(n))
        ax.set_xticklabels(list(genes), rotation=90, fontsize=_gene_fontsize(n))
        ax.set_ylabel("tree level")
        ax.set_title(f"label {label}", fontsize=9)
        sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, vmax))
        fig.colorbar(sm, ax=ax, label="entropy S (nats)", fraction=0.03)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def entropy_loss_figure(epochs: np.ndarray, total_entropy: np.ndarray, loss: np.ndarray, r: float | None,
                        title: str = "") -> Figure:
    """Summed entanglement entropy against the training loss over epochs (coloured by epoch)."""
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    sc = ax.scatter(loss, total_entropy, c=epochs, cmap="viridis", s=14)
    ax.plot(loss, total_entropy, color="0.7", lw=0.6, zorder=0)
    fig.colorbar(sc, ax=ax, label="epoch")
    ax.set_xlabel("training loss")
    ax.set_ylabel("summed entropy (all edges, labels)")
    rtxt = "r undefined" if r is None else f"Pearson r = {r:.2f}"
    ax.set_title(f"{title} ({rtxt})" if title else rtxt, fontsize=9)
    fig.tight_layout()
    return fig


#: one colour per model of the validation figures (MPS red, like the test curves)
MODEL_COLORS = {"mps": "#d62728", "logistic_regression": "#1f77b4", "random_forest": "#2ca02c"}


def _interval_rows(ax, y: np.ndarray, mean: np.ndarray, low: np.ndarray, high: np.ndarray, *, color: str,
                   label: str, filled: np.ndarray | None = None, marker: str = "o") -> None:
    """Points with horizontal 95 % interval bars; ``filled`` False draws an open marker."""
    ok = np.isfinite(mean)
    lo = np.where(np.isfinite(low), low, mean)
    hi = np.where(np.isfinite(high), high, mean)
    ax.hlines(y[ok], lo[ok], hi[ok], color=color, lw=1.6)
    filled = np.ones(len(y), dtype=bool) if filled is None else filled
    for full, lab in ((True, label), (False, None)):
        m = ok & (filled == full)
        if m.any():
            ax.scatter(mean[m], y[m], s=28, marker=marker, color=color if full else "white", edgecolors=color,
                       linewidths=1.4, zorder=3, label=lab if full or not (ok & filled).any() else None)


def cv_forest_figure(cv: pd.DataFrame, communities: Sequence[str], labels: Mapping[str, str] | None = None,
                     *, test_counts: str = "", model_names: Mapping[str, str] | None = None) -> Figure:
    """AUC with 95 % intervals per community and model: cross-validated (left) and held-out test (right).

    Parameters
    ----------
    cv
        ``cv.tsv`` rows (``community, model, auc_mean, auc_low, auc_high, test_auc,
        test_auc_low, test_auc_high``).
    communities
        Rows top to bottom.
    labels
        Tick label of each community (default: its id).
    test_counts
        Class counts of the test split for the right panel's title.
    """
    models = [m for m in MODEL_COLORS if (cv["model"] == m).any()]
    names = dict(model_names or {})
    n = len(communities)
    fig, axes = plt.subplots(1, 2, figsize=(10, 1.3 + 0.36 * max(n, 1)), sharey=True, squeeze=False)
    y0 = np.arange(n)[::-1].astype(float)
    offsets = np.linspace(0.22, -0.22, len(models)) if len(models) > 1 else np.zeros(1)
    lows = []
    for ax, prefix, title in ((axes[0, 0], "auc", "cross-validation on the training split"),
                              (axes[0, 1], "test_auc", "held-out test split" + (f" ({test_counts})" if test_counts else ""))):
        for m, off in zip(models, offsets, strict=True):
            d = cv[cv["model"] == m].set_index("community").reindex(list(communities))
            mean_col = "auc_mean" if prefix == "auc" else "test_auc"
            low, high = d[f"{prefix}_low"].to_numpy(float), d[f"{prefix}_high"].to_numpy(float)
            _interval_rows(ax, y0 + off, d[mean_col].to_numpy(float), low, high, color=MODEL_COLORS[m],
                           label=names.get(m, m.replace("_", " ")))
            lows.append(np.nanmin(np.r_[low, d[mean_col].to_numpy(float), np.inf]))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("AUC (mean and 95 % interval)" if prefix == "auc" else "AUC (bootstrap 95 % interval)")
        ax.grid(axis="x", alpha=0.3)
        for k in range(n - 1):  # separate the communities
            ax.axhline(k + 0.5, color="0.9", lw=0.6)
    left = float(np.nanmin(lows)) if lows and np.isfinite(np.nanmin(lows)) else 0.5
    for ax in axes[0]:
        # zoomed to the values: AUCs near 1 would merge on a 0.5-1 axis; the 0.5 line only when in range
        ax.set_xlim(max(0.0, min(left, 0.9) - 0.03), 1.01)
        if left - 0.03 <= 0.5:
            ax.axvline(0.5, color="grey", lw=0.8, ls=":")
    axes[0, 0].set_yticks(y0)
    axes[0, 0].set_yticklabels([(labels or {}).get(c, c) for c in communities], fontsize=8)
    axes[0, 0].set_ylim(-0.6, n - 0.4)
    handles, texts = axes[0, 0].get_legend_handles_labels()
    if handles:
        axes[0, 1].legend(handles, texts, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def subcommunity_evidence_figure(verdicts: pd.DataFrame, summary: pd.DataFrame | None, *,
                                 stable_jaccard: float = 0.75, fdr: float = 0.05,
                                 preserved_z: float = 2.0) -> Figure:
    """Stability, external AUC and preservation Z of every subcommunity, one row each.

    Parameters
    ----------
    verdicts
        :func:`mpsomics.validation.verdict.subcommunity_verdicts` rows, top to bottom.
    summary
        ``summary.tsv`` of ``validate`` (subcommunity rows used) or ``None``.
    """
    ids = list(verdicts["subcommunity"].astype(str))
    n = len(ids)
    y = np.arange(n)[::-1].astype(float)
    subs = (summary[summary["kind"] == "subcommunity"] if summary is not None else
            pd.DataFrame(columns=["cohort", "set", "auc", "auc_low", "auc_high", "null_q", "preservation_z"]))
    cohorts = list(dict.fromkeys(subs["cohort"].astype(str)))
    fig, axes = plt.subplots(1, 3, figsize=(11, 1.4 + 0.38 * max(n, 1)), sharey=True, squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1, 1.1]})
    ax_j, ax_a, ax_z = axes[0]
    _interval_rows(ax_j, y, verdicts["jaccard_mean"].to_numpy(float), verdicts["jaccard_low"].to_numpy(float),
                   verdicts["jaccard_high"].to_numpy(float), color="#444444", label="mean Jaccard")
    ax_j.axvline(stable_jaccard, color="#7f3fbf", ls="--", lw=1.2)
    ax_j.set_xlim(0, 1.02)
    ax_j.set_xlabel("stability: best-match Jaccard\nacross resamples of patients")
    offsets = np.linspace(0.15, -0.15, len(cohorts)) if len(cohorts) > 1 else np.zeros(max(len(cohorts), 1))
    zmax = 12.0 * 1.2
    for k, (cohort, off) in enumerate(zip(cohorts, offsets, strict=False)):
        d = subs[subs["cohort"].astype(str) == cohort].drop_duplicates("set").set_index("set").reindex(ids)
        color = SUB_COLORS[k % len(SUB_COLORS)]
        q = d["null_q"].to_numpy(float)
        _interval_rows(ax_a, y + off, d["auc"].to_numpy(float), d["auc_low"].to_numpy(float),
                       d["auc_high"].to_numpy(float), color=color, label=cohort, filled=np.isfinite(q) & (q < fdr))
        z = d["preservation_z"].to_numpy(float)
        ok = np.isfinite(z)
        ax_z.scatter(z[ok], (y + off)[ok], color=color, s=30, zorder=3, label=cohort)
        if ok.any():
            zmax = max(zmax, float(np.max(z[ok])) * 1.2)
    ax_a.set_xlabel("external AUC (bootstrap 95 %)\nfilled: beats random gene sets")
    # zoomed to the values (AUCs near 1 would merge on a 0.5-1 axis); the 0.5 line only when in range
    aucs = np.r_[subs["auc_low"].to_numpy(float), subs["auc"].to_numpy(float)]
    left = float(np.nanmin(aucs)) - 0.02 if np.isfinite(aucs).any() else 0.5
    ax_a.set_xlim(max(0.0, min(left, 0.9)), 1.01)
    if left <= 0.5:
        ax_a.axvline(0.5, color="grey", lw=0.8, ls=":")
    zs = subs["preservation_z"].to_numpy(float)
    zmin = min(-1.0, float(np.nanmin(np.r_[zs, 0.0])) * 1.1)
    zmax = max(zmax / 1.2, 12.0) * 1.1
    if zmax > 40:  # a few very large Z: keep the 2 and 10 boundaries readable
        ax_z.set_xscale("symlog", linthresh=10, linscale=2)
        from matplotlib.ticker import FixedLocator, ScalarFormatter

        ax_z.xaxis.set_major_locator(FixedLocator([0, 2, 5, 10, 20, 50, 100, 200, 500, 1000]))
        ax_z.xaxis.set_major_formatter(ScalarFormatter())
    for lo, hi, color in ((zmin, 2, "#f2f2f2"), (2, 10, "#fdf1d6"), (10, zmax, "#dcefdc")):
        ax_z.axvspan(lo, hi, color=color, zorder=0)
    ax_z.axvline(preserved_z, color="#7f3fbf", ls="--", lw=1.2)
    ax_z.set_xlim(zmin, zmax)
    ax_z.set_xlabel("preservation Zsummary\n(< 2 none, 2–10 moderate, > 10 strong)")
    for ax in axes[0]:
        ax.grid(axis="x", alpha=0.3)
        for k in range(n - 1):
            ax.axhline(k + 0.5, color="0.92", lw=0.6)
    ax_j.set_yticks(y)
    ax_j.set_yticklabels([("★ " if disc else "") + sid for sid, disc in zip(ids, verdicts["discovery"], strict=True)],
                         fontsize=8)
    ax_j.set_ylim(-0.6, n - 0.4)
    if cohorts:
        ax_z.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="cohort", title_fontsize=7,
                    frameon=False)
    else:
        for ax in (ax_a, ax_z):
            ax.text(0.5, 0.5, "no independent cohort", transform=ax.transAxes, ha="center", va="center", color="0.4")
    fig.tight_layout()
    return fig


def _representation_series(trajectory: pd.DataFrame, bond: int | str) -> tuple[pd.DataFrame, str]:
    """Per (label, epoch) entropy and purity at one bond or averaged over the bonds; the bond's name."""
    name = "bond"
    if bond == "half":
        bond = int(trajectory["bond"].max() + 2) // 2 - 1  # N // 2 - 1 with N - 1 bonds
        name = "half-chain bond"
    cols = ["representation_entropy", "representation_purity"]
    if bond == "mean":
        grouped = trajectory.groupby(["label", "epoch"], sort=False)[cols].mean()
        return grouped.reset_index(), "mean over bonds"
    rows = trajectory[trajectory["bond"] == int(bond)]
    return rows[["label", "epoch", *cols]].reset_index(drop=True), f"{name} {int(bond)}"


def representation_figure(
    trajectory: pd.DataFrame,
    history: pd.DataFrame | None,
    path: str | os.PathLike | None = None,
    *,
    bond: int | str = "half",
    title: str = "",
) -> Figure:
    """Representation entropy and purity per class vs epoch, next to the balanced accuracies.

    Parameters
    ----------
    trajectory
        ``representation_trajectory.tsv`` as read by
        :func:`mpsomics.dynamics.training_run.load_representation` (at least ``epoch``,
        ``label``, ``bond``, ``representation_entropy``, ``representation_purity``).
    history
        ``history.tsv`` (``train_balanced_accuracy``, ``test_balanced_accuracy``), or None.
    path
        When given, the PNG is also written there (atomically); the figure stays open.
    bond
        ``"half"`` (default: the half-chain bond N // 2 - 1), ``"mean"`` (mean over the
        bonds) or a bond index.
    title
        Figure title.

    Returns
    -------
    The figure: the accuracies on top, then one panel per class with the entropy
    (nats, left axis) and the purity (right axis) of the representation density matrix.
    """
    series, where = _representation_series(trajectory, bond)
    labels = list(dict.fromkeys(series["label"].astype(str)))
    fig, axes = plt.subplots(
        1 + len(labels), 1, figsize=(7, 1.8 + 1.6 * len(labels)), sharex=True,
        gridspec_kw={"height_ratios": [3] + [2] * len(labels)},
    )
    ax = axes[0]
    for col, name, color in (("train_balanced_accuracy", "train", "#555555"), ("test_balanced_accuracy", "test", "#d62728")):
        if history is not None and col in history:
            ax.plot(history["epoch"], _numeric(history, col), color=color, lw=1.6, label=f"{name} balanced accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_ylabel("balanced\naccuracy")
    ax.grid(alpha=0.3)
    if ax.lines[1:]:
        ax.legend(fontsize=7, loc="lower right", framealpha=0.8)
    for k, (ax, lab) in enumerate(zip(axes[1:], labels, strict=True)):
        d = series[series["label"].astype(str) == lab].sort_values("epoch")
        color = CLASS_COLORS[k % len(CLASS_COLORS)]
        ax.plot(d["epoch"], d["representation_entropy"], color=color, lw=1.6, marker=".", ms=3, label="entropy S")
        ax.set_ylabel(f"S (nats)\nlabel {lab}", color=color)
        ax.grid(alpha=0.3)
        twin = ax.twinx()
        twin.plot(d["epoch"], d["representation_purity"], color="black", lw=1.1, ls="--", label="purity tr ρ²")
        twin.set_ylabel("purity", fontsize=8)
        twin.set_ylim(0, 1.02)
        handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        ax.legend(handles, [h.get_label() for h in handles], fontsize=7, loc="best", framealpha=0.8)
    axes[-1].set_xlabel("epoch")
    axes[0].set_title(f"{title}: training-sample representations, {where}" if title else
                      f"training-sample representations, {where}", fontsize=9)
    fig.tight_layout()
    if path is not None:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
        save_png(buf.getvalue(), path)
    return fig
