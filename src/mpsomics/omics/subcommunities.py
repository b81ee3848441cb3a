"""Gene subcommunities from the connected correlations of a trained MPS classifier.

Two methods, reported side by side.

``paper``: :func:`intersection_method` (Pomarico et al. 2025, arXiv:2503.10483)
    1. *Epochs*: the recorded epochs of ``correlations.npz`` within
       ``[transition - epoch_window, transition + epoch_window]`` around the
       entanglement transition (``transition_epoch`` of the grokking stage); all
       recorded epochs if the transition is undefined or no recorded epoch falls in
       the window (a warning says so).
    2. *Curve*: for each label k and each threshold t in {0, 0.1, ..., 0.9} (plus the
       chosen ``threshold`` if it is off that grid), count the gene pairs i < j with
       ``|C_k(i, j)| > t`` at every candidate epoch and keep the epoch with the
       largest count (ties: the epoch closest to the transition, then the earliest).
       The curve (label, threshold, epoch, n_pairs) is non-increasing in t.
    3. *Subcommunity*: at ``threshold`` the pair list of label k is the set of pairs
       with ``|C_k| > threshold`` at label k's chosen epoch (correlated and
       anti-correlated pairs alike). The subcommunity is the set of genes appearing in
       the *intersection* of the labels' pair lists; its ``degree`` is the number of
       partners of a gene among the intersection pairs. An empty intersection gives an
       empty subcommunity (no rows, a warning) - genes are never invented.

``graph``: :func:`graph_method`
    1. Per label, the epoch is chosen as in the paper method but at
       ``graph_threshold`` (epoch with the most pairs ``|C_k| > graph_threshold``).
    2. Edge weight ``w_ij = mean_k |C_k(i, j)|`` at those epochs (mean, not max: a
       pair must be strong on average over the labels; unlike the paper intersection
       a strong block in one label alone can still pass). Edges: ``w_ij >
       graph_threshold``. Optional magnetization weighting (``magnetization_weight``
       alpha > 0, default off): the weights Leiden sees become ``w_ij * (1 + alpha *
       (d_i + d_j) / 2)`` with ``d_i = max_{k,l} |m_k(i) - m_l(i)| / 2`` in [0, 1]
       (for two classes ``|m_tumor(i) - m_normal(i)| / 2``); the edge set itself is
       decided by the correlations alone.
    3. Leiden (``leidenalg``, RBConfiguration, ``resolution``, ``seed``, iterated to
       convergence) on the genes that have at least one edge; clusters of at least
       ``min_size`` genes, ordered by size (ties: first site), become
       ``{community}/graph1``, ``graph2``, ...; ``degree`` = edges inside the cluster.

``graph`` on the mutual information (``graph_measure="mutual_information"``):
:func:`mutual_information_graph`
    The same graph method with ``w_ij = mean_k I_k(i:j)``, the quantum mutual
    information (natural log, in [0, 2 ln 2];
    :func:`mpsomics.mps.observables.mutual_information`) of the class states, and
    edges ``w_ij > mi_threshold``; magnetization weighting, Leiden and the contrast
    filter as above. The mutual information is not recorded per epoch during training
    (it costs ~4x the correlations), so this measure uses the *final* model
    (``model.npz``): no epoch window, one state per label, and the magnetizations of
    the contrast filter are those of the same final states. The ``epoch_<class>``
    columns then hold the recorded epoch whose magnetizations the final model
    reproduces (:func:`model_epoch`: the last epoch, or the early-stopping epoch),
    ``threshold`` holds ``mi_threshold`` and ``degree`` counts MI edges. I(i:j) sees
    every dependence of two genes in the class state (all two-site Pauli
    correlations, not only sigma^z sigma^z) and is basis independent. On the
    planted-module data (pipeline training settings, data seeds 0-4) it recovers the
    module as well as |C| does, not better: Jaccard 1.0 in 5/5 seeds for
    ``mi_threshold`` 0.015-0.05 (default 0.03) against ``graph_threshold`` 0.03-0.1
    (default 0.1), nothing reported on the null data at any threshold, and like |C|
    it also clusters the co-expressed background blocks (their I is larger than the
    module's), which only the contrast filter removes.

Gates of the graph method
    A cluster is kept when it passes at least one of the gates that are on (with
    none on, every cluster is kept):

    * *magnetization contrast* (``min_contrast``, default 0.15; 0 = off): the mean
      over its genes of ``d_i = max_{k,l} |m_k(i) - m_l(i)| / 2`` reaches
      ``min_contrast`` - in effect a per-gene differential-expression filter;
    * *correlation contrast* (``min_correlation_contrast``, default off; None or 0 =
      off): the mean over its within-cluster pairs i < j of ``D_ij = max_{k,l}
      |C_k(i, j) - C_l(i, j)| / 2`` (in [0, 1]; for two classes ``|C_tumor -
      C_normal| / 2``) reaches ``min_correlation_contrast``, with ``C_k`` the
      connected correlations of label k at the epoch the graph method chose for it.
      This keeps a block through which the label acts by an *interaction* (genes
      co-expressed in one class only, equal per-gene distributions), which the
      magnetization gate drops: on the planted interaction module of
      ``tests/integration/test_interaction_planted.py`` the ungated graph method
      clusters the module and its correlation contrast is the largest of the
      clusters (``studies/interaction_planted.py``). The gate is off by default
      because no threshold was clean on all the planted data: 0.09-0.10 reports
      nothing on label-free data (10 seeds; largest value 0.080) and keeps the
      interaction module in 4/5 seeds (0.089-0.159), but in one of 5 mean-shift
      datasets both label-independent background blocks pass too (0.126, 0.145):
      the class states of a discriminative module can also differ in the
      correlations of unrelated blocks.

    The ``gate`` column says which of the gates that are on a cluster passed
    (``contrast``, ``correlation``, ``both``; ``none`` when no gate is on; empty
    for the paper method) and ``correlation_contrast`` holds the cluster's mean
    ``D_ij`` (at the method's epochs; empty for the mutual-information graph, whose
    final states have no recorded correlations - the correlation gate needs
    ``graph_measure="connected"``).

Magnetization columns
    ``magnetization_<class>`` = <Z> of the gene in the state of label ``<class>`` at
    the epoch chosen for that label by the same method (the epoch whose correlations
    defined the subcommunity), read from ``magnetization.tsv`` (nearest recorded
    epoch if that epoch is missing there); for the mutual-information graph, <Z> of
    the final model's class states.

Leakage
-------
The choice of epochs and thresholds never uses test data: only the train-stage
correlations (functions of the trained MPS) and the entropy-based transition epoch
(computed from ``entanglement.tsv``, itself a function of the trained MPS) enter, and
for the mutual-information graph the final trained model. Test accuracies in the
grokking TSV are not read.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import igraph as ig
import leidenalg
import numpy as np
import pandas as pd

from mpsomics.core.errors import InputError

log = logging.getLogger(__name__)

#: thresholds of the count-vs-threshold curve
THRESHOLDS: tuple[float, ...] = tuple(round(0.1 * i, 10) for i in range(10))
METHODS = ("paper", "graph")
#: edge measure of the graph method: connected sigma^z correlations over the training
#: trajectory, or the quantum mutual information of the final model
GRAPH_MEASURES = ("connected", "mutual_information")
DEFAULTS: dict[str, object] = {
    "methods": METHODS,
    "threshold": 0.5,
    "epoch_window": 10,
    # Connected correlations of a trained, normalised MPS are small: an informative
    # block of K genes has |C| <= ~2/K (W-like superposition), so 0.1, not 0.3.
    "graph_threshold": 0.1,
    "resolution": 1.0,
    "min_size": 3,
    "seed": 0,
    "magnetization_weight": 0.0,
    # Co-expressed but label-independent blocks are just as correlated in both class
    # states; what marks a discriminative block is the magnetization contrast.
    "min_contrast": 0.15,
    "graph_measure": "connected",
    # Edge threshold on mean_k I_k(i:j) (natural log) of the mutual-information graph: on
    # the planted-module data (7-gene module, I ~ 0.05-0.08 inside it, ~0.005 to the
    # rest) the module is recovered for 0.015-0.05 in all 5 seeds; 0.03 is the middle.
    "mi_threshold": 0.03,
    # Correlation-contrast gate (module docstring): off - the planted sweep
    # (studies/results/interaction_planted_gate_sweep.tsv) found no threshold that is
    # clean on label-free data and background blocks and recovers the interaction module.
    "min_correlation_contrast": None,
}
CURVE_COLUMNS = ["label", "threshold", "epoch", "n_pairs", "chosen"]


@dataclass
class IntersectionResult:
    """Result of :func:`intersection_method`.

    Attributes
    ----------
    genes
        Subcommunity genes in site order (empty if the intersection is empty).
    degree
        Gene -> number of partners among the intersection pairs.
    pairs
        Intersection pairs ``(gene_i, gene_j)`` with i < j in site order.
    threshold
        The threshold t used.
    epochs
        Label -> chosen epoch at ``threshold``.
    curve
        DataFrame ``label, threshold, epoch, n_pairs, chosen``.
    notes
        Warnings (also logged).
    """

    genes: list[str]
    degree: dict[str, int]
    pairs: list[tuple[str, str]]
    threshold: float
    epochs: dict[str, int]
    curve: pd.DataFrame
    notes: list[str] = field(default_factory=list)


@dataclass
class GraphResult:
    """Result of :func:`graph_method`.

    Attributes
    ----------
    clusters
        Subcommunities (lists of genes in site order), largest first.
    degree
        Gene -> number of edges inside its cluster.
    threshold
        The edge threshold used.
    epochs
        Label -> chosen epoch.
    weights
        (N, N) combined weight matrix ``mean_k |C_k|`` (``mean_k I_k`` for the
        mutual-information graph), zero diagonal.
    notes
        Warnings (also logged).
    gates
        Per cluster (same order): the gates it passed, ``"contrast"``,
        ``"correlation"``, ``"both"``, or ``"none"`` when no gate is on.
    correlation_contrast
        Per cluster: mean ``D_ij`` over its pairs (:func:`cluster_correlation_contrast`);
        NaN without the class-state correlations (mutual-information graph).
    """

    clusters: list[list[str]]
    degree: dict[str, int]
    threshold: float
    epochs: dict[str, int]
    weights: np.ndarray
    notes: list[str] = field(default_factory=list)
    gates: list[str] = field(default_factory=list)
    correlation_contrast: list[float] = field(default_factory=list)


# --------------------------------------------------------------------------- epochs


def candidate_epochs(
    epochs: np.ndarray, transition_epoch: int | None, epoch_window: int | None
) -> tuple[np.ndarray, list[str]]:
    """Indices of the recorded epochs within ``transition ± epoch_window``.

    Falls back to all recorded epochs (with a note) when the transition is undefined,
    ``epoch_window`` is None, or the window contains no recorded epoch.
    """
    epochs = np.asarray(epochs)
    notes: list[str] = []
    if transition_epoch is None:
        notes.append("no entanglement transition epoch: using all recorded epochs")
        return np.arange(epochs.size), notes
    if epoch_window is None:
        return np.arange(epochs.size), notes
    idx = np.flatnonzero(np.abs(epochs - transition_epoch) <= epoch_window)
    if idx.size == 0:
        notes.append(
            f"no recorded epoch within {transition_epoch} ± {epoch_window}: using all recorded epochs"
        )
        return np.arange(epochs.size), notes
    return idx, notes


def _upper(connected: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """|C| over pairs i < j: array (..., P) and the pair index arrays (iu, ju)."""
    n = connected.shape[-1]
    iu, ju = np.triu_indices(n, k=1)
    return np.abs(connected[..., iu, ju]), iu, ju


def _choose(counts: np.ndarray, epochs: np.ndarray, transition_epoch: int | None) -> int:
    """Position of the max count; ties -> closest to the transition, then earliest."""
    ref = epochs[0] if transition_epoch is None else transition_epoch
    order = np.lexsort((epochs, np.abs(epochs - ref)))  # primary key last
    return int(order[np.argmax(counts[order])])


def pair_curve(
    epochs: np.ndarray,
    classes: Sequence[str],
    connected: np.ndarray,
    candidates: np.ndarray,
    thresholds: Sequence[float],
    transition_epoch: int | None,
) -> pd.DataFrame:
    """Count-vs-threshold curve: per label and threshold, the epoch with most pairs.

    Returns
    -------
    DataFrame ``label, threshold, epoch, n_pairs``.
    """
    absu, _, _ = _upper(connected[candidates])  # (E', C, P)
    ep = np.asarray(epochs)[candidates]
    rows = []
    for k, label in enumerate(classes):
        for t in thresholds:
            counts = (absu[:, k, :] > t).sum(axis=1)
            i = _choose(counts, ep, transition_epoch)
            rows.append({"label": label, "threshold": float(t), "epoch": int(ep[i]), "n_pairs": int(counts[i])})
    return pd.DataFrame(rows, columns=["label", "threshold", "epoch", "n_pairs"])


def _degree(genes: Sequence[str], pairs: Sequence[tuple[int, int]]) -> dict[str, int]:
    deg: dict[str, int] = {}
    for i, j in pairs:
        deg[genes[i]] = deg.get(genes[i], 0) + 1
        deg[genes[j]] = deg.get(genes[j], 0) + 1
    return deg


# --------------------------------------------------------------------------- methods


def epochs_at_threshold(
    epochs: np.ndarray,
    classes: Sequence[str],
    connected: np.ndarray,
    threshold: float,
    transition_epoch: int | None,
    epoch_window: int | None,
) -> tuple[dict[str, int], list[str]]:
    """Per label, the candidate epoch with the most pairs ``|C_k| > threshold``.

    Parameters
    ----------
    epochs, classes, connected
        As returned by :func:`mpsomics.dynamics.training_run.load_correlations`.
    threshold
        Pair threshold on ``|C_k(i, j)|``.
    transition_epoch, epoch_window
        Candidate epochs (:func:`candidate_epochs`).

    Returns
    -------
    tuple
        ``(epoch_of, notes)``: label -> chosen epoch, and the notes of
        :func:`candidate_epochs`.
    """
    epochs = np.asarray(epochs)
    cand, notes = candidate_epochs(epochs, transition_epoch, epoch_window)
    curve = pair_curve(epochs, classes, connected, cand, [threshold], transition_epoch)
    return {str(r.label): int(r.epoch) for r in curve.itertuples()}, notes


def intersection_method(
    epochs: np.ndarray,
    classes: Sequence[str],
    genes: Sequence[str],
    connected: np.ndarray,
    *,
    transition_epoch: int | None = None,
    threshold: float = 0.5,
    epoch_window: int | None = 10,
    thresholds: Sequence[float] = THRESHOLDS,
) -> IntersectionResult:
    """Genes of the pairs strong (``|C| > threshold``) in every label: the intersection.

    The subcommunity of Pomarico et al. 2025 (arXiv:2503.10483); method ``"paper"``
    in configurations, on the command line and in the ``method`` column.

    Parameters
    ----------
    epochs, classes, genes, connected
        As returned by :func:`mpsomics.dynamics.training_run.load_correlations`.
    transition_epoch
        Entanglement transition epoch (grokking stage); ``None`` = use all epochs.
    threshold
        The threshold t defining the pair lists.
    epoch_window
        Half-width (in epochs) of the window around the transition; ``None`` = all.
    thresholds
        Grid of the count-vs-threshold curve (``threshold`` is added if missing).

    Returns
    -------
    IntersectionResult
    """
    epochs = np.asarray(epochs)
    cand, notes = candidate_epochs(epochs, transition_epoch, epoch_window)
    grid = sorted({round(float(t), 10) for t in thresholds} | {round(float(threshold), 10)})
    curve = pair_curve(epochs, classes, connected, cand, grid, transition_epoch)
    curve["chosen"] = np.isclose(curve["threshold"], threshold)
    chosen = curve[curve["chosen"]].set_index("label")["epoch"]
    epoch_of = {str(lab): int(chosen[lab]) for lab in classes}
    pairs = pairs_strong_in_every_label(epochs, classes, len(genes), connected, epoch_of, threshold)
    members = sorted({i for p in pairs for i in p})
    if not members:
        notes.append(f"no gene pair has |C| > {threshold} in every label: empty paper subcommunity")
    for n in notes:
        log.warning("paper method: %s", n)
    return IntersectionResult(
        genes=[genes[i] for i in members],
        degree=_degree(genes, pairs),
        pairs=[(genes[i], genes[j]) for i, j in pairs],
        threshold=float(threshold),
        epochs=epoch_of,
        curve=curve[CURVE_COLUMNS],
        notes=notes,
    )


def pairs_strong_in_every_label(
    epochs: np.ndarray,
    classes: Sequence[str],
    n_genes: int,
    connected: np.ndarray,
    epoch_of: dict[str, int],
    threshold: float,
) -> list[tuple[int, int]]:
    """Site pairs ``i < j`` with ``|C_k(i, j)| > threshold`` for every label k at its epoch."""
    pos = {int(e): i for i, e in enumerate(epochs)}
    iu, ju = np.triu_indices(n_genes, k=1)
    keep = np.ones(iu.size, dtype=bool)
    for k, lab in enumerate(classes):
        c = connected[pos[epoch_of[lab]], k]
        keep &= np.abs(c[iu, ju]) > threshold
    return list(zip(iu[keep].tolist(), ju[keep].tolist(), strict=True))


def magnetization_contrast(magnetization: np.ndarray) -> np.ndarray:
    """``d_i = max_{k,l} |m_k(i) - m_l(i)| / 2`` in [0, 1] from a (C, N) array."""
    m = np.asarray(magnetization, dtype=float)
    return (m.max(axis=0) - m.min(axis=0)) / 2.0


def states_at(
    epochs: np.ndarray, classes: Sequence[str], connected: np.ndarray, epoch_of: dict[str, int]
) -> np.ndarray:
    """(C, N, N) connected correlations of each label at that label's epoch ``epoch_of``."""
    pos = {int(e): i for i, e in enumerate(np.asarray(epochs))}
    return np.stack([np.asarray(connected[pos[epoch_of[lab]], k], dtype=float) for k, lab in enumerate(classes)])


def correlation_contrast(states: np.ndarray) -> np.ndarray:
    """``D_ij = max_{k,l} |C_k(i, j) - C_l(i, j)| / 2`` in [0, 1] from (C, N, N), zero diagonal.

    The pair analogue of :func:`magnetization_contrast`: how differently two genes
    co-vary in the class states (|C| <= 1, so D is in [0, 1]).
    """
    c = np.asarray(states, dtype=float)
    d = (c.max(axis=0) - c.min(axis=0)) / 2.0
    np.fill_diagonal(d, 0.0)
    return d


def cluster_correlation_contrast(cluster: Sequence[int], pair_contrast: np.ndarray | None) -> float:
    """Mean of ``pair_contrast[i, j]`` over the cluster's pairs i < j (NaN without it or a pair)."""
    idx = np.asarray(cluster, dtype=int)
    if pair_contrast is None or idx.size < 2:
        return float("nan")
    iu, ju = np.triu_indices(idx.size, k=1)
    return float(np.mean(pair_contrast[idx[iu], idx[ju]]))


def gate_clusters(
    clusters: list[list[int]],
    genes: Sequence[str],
    contrast: np.ndarray | None,
    min_contrast: float,
    pair_contrast: np.ndarray | None,
    min_correlation_contrast: float | None,
    notes: list[str],
) -> tuple[list[list[int]], list[str]]:
    """Clusters passing the magnetization **or** the correlation-contrast gate.

    A gate is on when its threshold is > 0 (``min_correlation_contrast`` None = off).
    With no gate on every cluster is kept (gate ``"none"``); with gates on, a cluster
    is kept when it passes at least one: mean magnetization contrast ``>=
    min_contrast`` (:func:`drop_low_contrast`) or mean pair correlation contrast
    ``>= min_correlation_contrast`` (:func:`cluster_correlation_contrast`). Each
    dropped cluster gets a note (appended to ``notes``).

    Returns
    -------
    tuple
        ``(kept, gates)``: the kept clusters in input order and, per kept cluster,
        ``"contrast"``, ``"correlation"``, ``"both"`` or ``"none"``.
    """
    mag_on = min_contrast > 0
    corr_on = bool(min_correlation_contrast)
    if mag_on and contrast is None:
        raise ValueError("min_contrast > 0 needs the magnetization contrast")
    if corr_on and pair_contrast is None:
        raise ValueError("min_correlation_contrast needs the class-state correlations")
    if not (mag_on or corr_on):
        return list(clusters), ["none"] * len(clusters)
    kept: list[list[int]] = []
    gates: list[str] = []
    for cl in clusters:
        m = float(np.mean(contrast[cl])) if mag_on else float("nan")
        c = cluster_correlation_contrast(cl, pair_contrast) if corr_on else float("nan")
        mag_ok = mag_on and m >= min_contrast
        corr_ok = corr_on and c >= min_correlation_contrast
        passed = [name for name, ok in (("contrast", mag_ok), ("correlation", corr_ok)) if ok]
        if passed:
            kept.append(cl)
            gates.append("both" if len(passed) == 2 else passed[0])
            continue
        why = [f"mean magnetization contrast {m:.3f} < min_contrast {min_contrast}"] if mag_on else []
        why += [f"correlation contrast {c:.3f} < min_correlation_contrast {min_correlation_contrast}"] if corr_on else []
        notes.append(
            f"cluster of {len(cl)} genes ({', '.join(genes[i] for i in cl[:4])}{', ...' if len(cl) > 4 else ''}) "
            f"dropped: {' and '.join(why)} (co-expressed, not discriminative)"
        )
    return kept, gates


def graph_method(
    epochs: np.ndarray,
    classes: Sequence[str],
    genes: Sequence[str],
    connected: np.ndarray,
    *,
    transition_epoch: int | None = None,
    epoch_window: int | None = 10,
    graph_threshold: float = 0.3,
    resolution: float = 1.0,
    min_size: int = 3,
    seed: int = 0,
    magnetization: np.ndarray | None = None,
    magnetization_weight: float = 0.0,
    min_contrast: float = 0.0,
    min_correlation_contrast: float | None = None,
) -> GraphResult:
    """Leiden clusters of the graph of genes with ``mean_k |C_k| > graph_threshold``.

    Parameters
    ----------
    epochs, classes, genes, connected
        As returned by :func:`mpsomics.dynamics.training_run.load_correlations`.
    transition_epoch, epoch_window
        Candidate epochs, as in :func:`intersection_method`.
    graph_threshold
        Edge threshold on the combined weight ``mean_k |C_k(i, j)|``.
    resolution, seed
        Leiden (RBConfiguration) resolution and seed.
    min_size
        Smallest reported cluster.
    magnetization
        (C, N) magnetization per label at the chosen epochs; only needed when
        ``magnetization_weight > 0``.
    magnetization_weight
        alpha of the edge re-weighting ``w * (1 + alpha * (d_i + d_j) / 2)``.
    min_contrast
        Keep only clusters whose mean magnetization contrast
        ``d_i = |m_k(i) - m_l(i)| / 2`` (see :func:`magnetization_contrast`) is at
        least this: the class states share the correlations of co-expressed,
        label-independent gene blocks, and only the contrast tells a
        discriminative block from those. 0 turns this gate off.
    min_correlation_contrast
        Also keep clusters whose mean pair correlation contrast ``D_ij = max_{k,l}
        |C_k(i, j) - C_l(i, j)| / 2`` (at the chosen epochs;
        :func:`correlation_contrast`) is at least this: blocks co-expressed in one
        class only. None or 0 turns this gate off. A cluster passing either gate
        that is on is kept (:func:`gate_clusters`); with both off, every cluster.

    Returns
    -------
    GraphResult
    """
    if (magnetization_weight > 0 or min_contrast > 0) and magnetization is None:
        raise ValueError("magnetization_weight > 0 or min_contrast > 0 needs the magnetization array")
    epochs = np.asarray(epochs)
    epoch_of, notes = epochs_at_threshold(
        epochs, classes, connected, graph_threshold, transition_epoch, epoch_window
    )
    weights = combined_weights(epochs, classes, connected, epoch_of)
    return _weighted_graph(
        weights, genes, graph_threshold, epoch_of, notes, "mean |C|",
        resolution=resolution, min_size=min_size, seed=seed, magnetization=magnetization,
        magnetization_weight=magnetization_weight, min_contrast=min_contrast,
        pair_contrast=correlation_contrast(states_at(epochs, classes, connected, epoch_of)),
        min_correlation_contrast=min_correlation_contrast,
    )


def _weighted_graph(
    weights: np.ndarray,
    genes: Sequence[str],
    threshold: float,
    epoch_of: dict[str, int],
    notes: list[str],
    measure: str,
    *,
    resolution: float,
    min_size: int,
    seed: int,
    magnetization: np.ndarray | None,
    magnetization_weight: float,
    min_contrast: float,
    pair_contrast: np.ndarray | None = None,
    min_correlation_contrast: float | None = None,
) -> GraphResult:
    """Edges ``weights > threshold``, optional re-weighting, Leiden, the gates (:func:`gate_clusters`)."""
    ei, ej, w = strong_edges(weights, threshold)
    if magnetization_weight > 0:
        d = magnetization_contrast(magnetization)
        w = w * (1.0 + magnetization_weight * (d[ei] + d[ej]) / 2.0)
    clusters = leiden_clusters(ei, ej, w, resolution=resolution, seed=seed, min_size=min_size)
    contrast = magnetization_contrast(magnetization) if min_contrast > 0 else None
    clusters, gates = gate_clusters(
        clusters, genes, contrast, min_contrast, pair_contrast, min_correlation_contrast, notes
    )
    if not clusters:
        notes.append(f"no cluster of >= {min_size} genes with {measure} > {threshold}: empty graph subcommunities")
    for note in notes:
        log.warning("graph method: %s", note)
    return GraphResult(
        clusters=[[genes[i] for i in cl] for cl in clusters],
        degree=cluster_degrees(clusters, genes, ei, ej),
        threshold=float(threshold),
        epochs=epoch_of,
        weights=weights,
        notes=notes,
        gates=gates,
        correlation_contrast=[cluster_correlation_contrast(cl, pair_contrast) for cl in clusters],
    )


@dataclass
class FinalState:
    """Observables of the final trained model for the mutual-information graph.

    Attributes
    ----------
    epoch
        The recorded epoch the model belongs to (:func:`model_epoch`); written to the
        ``epoch_<class>`` columns.
    mutual_information
        (C, N, N) quantum mutual information of each class state
        (:func:`mpsomics.mps.observables.mutual_information`, natural log).
    magnetization
        (C, N) <Z> of each class state.
    notes
        Warnings about the match of the model with the trajectory.
    """

    epoch: int
    mutual_information: np.ndarray
    magnetization: np.ndarray
    notes: list[str] = field(default_factory=list)


def model_epoch(
    magnetization: pd.DataFrame,
    classes: Sequence[str],
    genes: Sequence[str],
    model_magnetization: np.ndarray,
    tol: float = 1e-6,
) -> tuple[int, list[str]]:
    """The recorded epoch whose magnetizations the final model reproduces.

    The model file carries no epoch: the last recorded epoch is the final model unless
    early stopping restored an earlier one, and the magnetization trajectory (exact
    values, written in full precision) tells which. The latest epoch within ``tol``
    (max |difference| over labels and genes) wins; without any match the last
    recorded epoch is returned with a note (a model from another run, or an
    early-stopping epoch that was not recorded).

    Parameters
    ----------
    magnetization
        ``magnetization.tsv`` of the run (checked with :func:`check_consistent`).
    classes, genes
        Label and site order of ``model_magnetization``.
    model_magnetization
        (C, N) <Z> of the model's class states.
    """
    wide = magnetization.pivot_table(index=["epoch", "label"], columns="site", values="magnetization")
    epochs = np.unique(magnetization["epoch"].to_numpy())
    diffs = []
    for e in epochs:
        m = wide.loc[e].reindex(list(classes)).to_numpy()
        diffs.append(float(np.max(np.abs(m - model_magnetization))))
    diffs = np.asarray(diffs)
    match = np.flatnonzero(diffs <= tol)
    if match.size:
        return int(epochs[match[-1]]), []
    return int(epochs[-1]), [
        f"the model's magnetizations match no recorded epoch (closest: epoch {int(epochs[np.argmin(diffs)])}, "
        f"max |dm| {diffs.min():.2g}): is the model from this run? epoch columns show the last epoch {int(epochs[-1])}"
    ]


def mutual_information_graph(
    classes: Sequence[str],
    genes: Sequence[str],
    final: FinalState,
    *,
    mi_threshold: float = 0.03,
    resolution: float = 1.0,
    min_size: int = 3,
    seed: int = 0,
    magnetization_weight: float = 0.0,
    min_contrast: float = 0.0,
) -> GraphResult:
    """Leiden clusters of the graph of genes with ``mean_k I_k(i:j) > mi_threshold``.

    The graph method (:func:`graph_method`) on the quantum mutual information of the
    final model's class states instead of the connected correlations over the
    training trajectory (module docstring: why the final model).

    Parameters
    ----------
    classes, genes
        Label and site order.
    final
        The final model's mutual information and magnetizations.
    mi_threshold
        Edge threshold on ``mean_k I_k(i:j)`` (natural log; I is at most 2 ln 2).
    resolution, seed, min_size, magnetization_weight, min_contrast
        As in :func:`graph_method`; the magnetization contrast is that of the final
        class states.

    Returns
    -------
    GraphResult
        ``weights`` = ``mean_k I_k`` (zero diagonal); ``epochs`` = the model's epoch
        for every label.
    """
    mi = np.asarray(final.mutual_information, dtype=float)
    if mi.shape != (len(classes), len(genes), len(genes)):
        raise ValueError(f"mutual information of shape {mi.shape}, expected {(len(classes), len(genes), len(genes))}")
    weights = mi.mean(axis=0)
    np.fill_diagonal(weights, 0.0)
    return _weighted_graph(
        weights, genes, mi_threshold, {str(lab): int(final.epoch) for lab in classes}, list(final.notes),
        "mean I", resolution=resolution, min_size=min_size, seed=seed,
        magnetization=np.asarray(final.magnetization, dtype=float),
        magnetization_weight=magnetization_weight, min_contrast=min_contrast,
    )


def combined_weights(
    epochs: np.ndarray, classes: Sequence[str], connected: np.ndarray, epoch_of: dict[str, int]
) -> np.ndarray:
    """``w_ij = mean_k |C_k(i, j)|`` at each label's epoch, zero diagonal.

    The mean, not the max: a pair must be strong on average over the labels.
    """
    pos = {int(e): i for i, e in enumerate(epochs)}
    weights = np.mean(
        [np.abs(connected[pos[epoch_of[lab]], k]) for k, lab in enumerate(classes)], axis=0
    )
    np.fill_diagonal(weights, 0.0)
    return weights


def strong_edges(weights: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges ``i < j`` with ``weights[i, j] > threshold``: ``(i, j, weight)`` arrays."""
    iu, ju = np.triu_indices(weights.shape[0], k=1)
    strong = weights[iu, ju] > threshold
    ei, ej = iu[strong], ju[strong]
    return ei, ej, weights[ei, ej]


def leiden_clusters(
    ei: np.ndarray, ej: np.ndarray, w: np.ndarray, *, resolution: float, seed: int, min_size: int
) -> list[list[int]]:
    """Leiden (RBConfiguration, iterated to convergence) clusters of the edge list.

    Parameters
    ----------
    ei, ej, w
        Edges (site indices) and their weights.
    resolution, seed
        Leiden resolution and seed.
    min_size
        Smallest cluster kept.

    Returns
    -------
    list of list of int
        Clusters as sorted site indices, largest first (ties: first site). Sites
        without an edge are never clustered.
    """
    if not ei.size:
        return []
    nodes = np.unique(np.concatenate([ei, ej]))  # isolated genes are not clustered
    local = {int(g): i for i, g in enumerate(nodes)}
    g = ig.Graph(n=nodes.size, edges=[(local[int(a)], local[int(b)]) for a, b in zip(ei, ej, strict=True)])
    g.es["weight"] = w.tolist()
    part = leidenalg.find_partition(
        g,
        leidenalg.RBConfigurationVertexPartition,
        weights="weight",
        resolution_parameter=resolution,
        seed=seed,
        n_iterations=-1,
    )
    clusters = [sorted(int(nodes[m]) for m in members) for members in part if len(members) >= min_size]
    clusters.sort(key=lambda c: (-len(c), c[0]))
    return clusters


def drop_low_contrast(
    clusters: list[list[int]],
    genes: Sequence[str],
    contrast: np.ndarray,
    min_contrast: float,
    notes: list[str],
) -> list[list[int]]:
    """Clusters whose mean magnetization contrast is ``>= min_contrast``.

    Co-expressed but label-independent blocks are as correlated in every class
    state; only the contrast tells a discriminative block from those. Each dropped
    cluster gets a note (appended to ``notes``).
    """
    kept = [cl for cl in clusters if float(np.mean(contrast[cl])) >= min_contrast]
    for cl in clusters:
        if cl not in kept:
            notes.append(
                f"cluster of {len(cl)} genes ({', '.join(genes[i] for i in cl[:4])}"
                f"{', ...' if len(cl) > 4 else ''}) dropped: mean magnetization contrast "
                f"{float(np.mean(contrast[cl])):.3f} < min_contrast {min_contrast} (co-expressed, not discriminative)"
            )
    return kept


def cluster_degrees(
    clusters: list[list[int]], genes: Sequence[str], ei: np.ndarray, ej: np.ndarray
) -> dict[str, int]:
    """Gene -> number of its edges inside its own cluster (0 written explicitly)."""
    degree: dict[str, int] = {}
    for cl in clusters:
        inside = set(cl)
        pairs = [(a, b) for a, b in zip(ei.tolist(), ej.tolist(), strict=True) if a in inside and b in inside]
        degree.update(_degree(genes, pairs))
        for gi in cl:  # a cluster member always has >= 1 edge, but keep 0 explicit
            degree.setdefault(genes[gi], 0)
    return degree


# --------------------------------------------------------------------------- output


def magnetization_at(
    magnetization: pd.DataFrame, classes: Sequence[str], genes: Sequence[str], epoch_of: dict[str, int]
) -> tuple[np.ndarray, list[str]]:
    """(C, N) magnetization of each label at that label's chosen epoch.

    Uses the nearest recorded epoch of ``magnetization`` (with a note) when the
    chosen epoch is not recorded there.
    """
    notes: list[str] = []
    out = np.empty((len(classes), len(genes)))
    for k, lab in enumerate(classes):
        sub = magnetization[magnetization["label"] == lab]
        recorded = np.unique(sub["epoch"].to_numpy())
        e = epoch_of[lab]
        if e not in recorded:
            near = int(recorded[np.argmin(np.abs(recorded - e))])
            notes.append(f"magnetization of {lab} not recorded at epoch {e}: using epoch {near}")
            e = near
        m = sub[sub["epoch"] == e].set_index("gene")["magnetization"]
        out[k] = m.reindex(list(genes)).to_numpy()
    return out, notes


def check_consistent(
    magnetization: pd.DataFrame, classes: Sequence[str], genes: Sequence[str], path: str | os.PathLike
) -> None:
    """InputError unless ``magnetization.tsv`` has the labels and site genes of the correlations."""
    labels = set(magnetization["label"].unique())
    if labels != set(classes):
        raise InputError(path, f"labels {sorted(labels)} differ from correlations.npz classes {list(classes)}")
    site_gene = magnetization.drop_duplicates("site").sort_values("site")["gene"].tolist()
    if site_gene != list(genes):
        raise InputError(path, "genes per site differ from correlations.npz genes")


def result_rows(
    community: str,
    method: str,
    clusters: Sequence[tuple[str, Sequence[str]]],
    degree: dict[str, int],
    threshold: float,
    epoch_of: dict[str, int],
    classes: Sequence[str],
    genes: Sequence[str],
    magnetization: np.ndarray,
    gates: Sequence[str] | None = None,
    correlation_contrasts: Sequence[float] | None = None,
) -> list[dict[str, object]]:
    """Output rows (one per gene and subcommunity) of one method.

    ``gates`` and ``correlation_contrasts`` (per cluster, in the order of
    ``clusters``) fill the ``gate`` and ``correlation_contrast`` columns; empty
    without them.
    """
    site = {g: i for i, g in enumerate(genes)}
    contrast = magnetization_contrast(magnetization)
    rows = []
    for c, (sub_id, members) in enumerate(clusters):
        for gene in members:
            row: dict[str, object] = {"gene": gene, "subcommunity": f"{community}/{sub_id}", "method": method}
            for k, lab in enumerate(classes):
                row[f"magnetization_{lab}"] = float(magnetization[k, site[gene]])
            row["degree"] = int(degree.get(gene, 0))
            row["contrast"] = float(contrast[site[gene]])
            row["site"] = site[gene]
            row["threshold"] = threshold
            for lab in classes:
                row[f"epoch_{lab}"] = epoch_of[lab]
            row["correlation_contrast"] = float(correlation_contrasts[c]) if correlation_contrasts else float("nan")
            row["gate"] = gates[c] if gates else ""
            rows.append(row)
    return rows


def output_columns(classes: Sequence[str]) -> list[str]:
    """Columns of ``{community}.tsv``: contract columns then extras."""
    return (
        ["gene", "subcommunity", "method"]
        + [f"magnetization_{c}" for c in classes]
        + ["degree", "contrast", "site", "threshold"]
        + [f"epoch_{c}" for c in classes]
        + ["correlation_contrast", "gate"]
    )


def subcommunity_table(
    epochs: np.ndarray,
    classes: Sequence[str],
    genes: Sequence[str],
    connected: np.ndarray,
    magnetization: pd.DataFrame,
    *,
    community: str,
    transition_epoch: int | None,
    methods: Sequence[str] = METHODS,
    threshold: float = 0.5,
    epoch_window: int | None = 10,
    graph_threshold: float = 0.1,
    resolution: float = 1.0,
    min_size: int = 3,
    seed: int = 0,
    magnetization_weight: float = 0.0,
    min_contrast: float = 0.15,
    graph_measure: str = "connected",
    mi_threshold: float = 0.03,
    final: FinalState | None = None,
    min_correlation_contrast: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Subcommunities of one community by the requested methods, as the output tables.

    Parameters are those of :func:`intersection_method` (method ``"paper"``) and
    :func:`graph_method` (method ``"graph"``); ``magnetization`` is
    ``magnetization.tsv`` as returned by
    :func:`mpsomics.dynamics.training_run.load_magnetization` (already checked with
    :func:`check_consistent`). ``graph_measure`` selects the edges of the graph
    method: ``"connected"`` (:func:`graph_method`, ``graph_threshold``) or
    ``"mutual_information"`` (:func:`mutual_information_graph` on ``final``,
    ``mi_threshold``); the paper method always uses the connected correlations.
    ``min_correlation_contrast`` (the graph method's correlation-contrast gate,
    None or 0 = off) needs ``graph_measure="connected"``.

    Returns
    -------
    table
        Rows of ``{community}.tsv`` (methods in the order given).
    curve
        The intersection method's count-vs-threshold curve, or ``None`` without it.
    """
    _check_options(methods, graph_measure, final, min_correlation_contrast)
    graph_options = dict(resolution=resolution, min_size=min_size, seed=seed,
                         magnetization_weight=magnetization_weight, min_contrast=min_contrast)
    rows: list[dict[str, object]] = []
    curve = None
    for method in methods:
        gates = None
        if method == "paper":
            res, mag, notes, corr = _paper_with_magnetization(
                epochs, classes, genes, connected, magnetization,
                transition_epoch=transition_epoch, threshold=threshold, epoch_window=epoch_window,
            )
            curve = res.curve
            clusters = [("paper", res.genes)] if res.genes else []
        else:
            if graph_measure == "mutual_information":
                res = mutual_information_graph(classes, genes, final, mi_threshold=mi_threshold, **graph_options)
                mag, notes = np.asarray(final.magnetization, dtype=float), []
            else:
                res, mag, notes = _graph_with_magnetization(
                    epochs, classes, genes, connected, magnetization,
                    transition_epoch=transition_epoch, epoch_window=epoch_window,
                    graph_threshold=graph_threshold, min_correlation_contrast=min_correlation_contrast,
                    **graph_options,
                )
            clusters = [(f"graph{i + 1}", cl) for i, cl in enumerate(res.clusters)]
            gates, corr = res.gates, res.correlation_contrast
        rows += result_rows(community, method, clusters, res.degree, res.threshold, res.epochs, classes, genes, mag,
                            gates=gates, correlation_contrasts=corr)
        for note in notes:
            log.warning("%s: %s", method, note)
    table = pd.DataFrame(rows, columns=output_columns(classes))
    return table, curve


def _check_options(
    methods: Sequence[str], graph_measure: str, final: FinalState | None, min_correlation_contrast: float | None
) -> None:
    """ValueError for an unknown method or graph measure, or options the measure cannot serve."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
    if graph_measure not in GRAPH_MEASURES:
        raise ValueError(f"unknown graph measure {graph_measure!r}; choose from {list(GRAPH_MEASURES)}")
    if graph_measure == "mutual_information" and "graph" in methods:
        if final is None:
            raise ValueError("graph_measure 'mutual_information' needs the final model's observables (final)")
        if min_correlation_contrast:
            raise ValueError("min_correlation_contrast needs graph_measure 'connected' (the final model's "
                             "correlations are not recorded)")


def _paper_with_magnetization(
    epochs: np.ndarray,
    classes: Sequence[str],
    genes: Sequence[str],
    connected: np.ndarray,
    magnetization: pd.DataFrame,
    **paper_options: object,
) -> tuple[IntersectionResult, np.ndarray, list[str], list[float]]:
    """:func:`intersection_method`, the magnetizations and the correlation contrast at its epochs."""
    res = intersection_method(epochs, classes, genes, connected, **paper_options)
    mag, notes = magnetization_at(magnetization, classes, genes, res.epochs)
    pc = correlation_contrast(states_at(epochs, classes, connected, res.epochs))
    site = {g: i for i, g in enumerate(genes)}
    corr = [cluster_correlation_contrast([site[g] for g in res.genes], pc)] if res.genes else []
    return res, mag, notes, corr


def _graph_with_magnetization(
    epochs: np.ndarray,
    classes: Sequence[str],
    genes: Sequence[str],
    connected: np.ndarray,
    magnetization: pd.DataFrame,
    *,
    transition_epoch: int | None,
    epoch_window: int | None,
    graph_threshold: float,
    **graph_options: object,
) -> tuple[GraphResult, np.ndarray, list[str]]:
    """:func:`graph_method` with the magnetizations of the states it will choose.

    The epochs are chosen first (cheap) so that the magnetization weighting and the
    contrast filter use the same states as the correlations.
    """
    epoch_of, _ = epochs_at_threshold(
        np.asarray(epochs), classes, connected, graph_threshold, transition_epoch, epoch_window
    )
    mag, notes = magnetization_at(magnetization, classes, genes, epoch_of)
    res = graph_method(
        epochs, classes, genes, connected,
        transition_epoch=transition_epoch, epoch_window=epoch_window, graph_threshold=graph_threshold,
        magnetization=mag, **graph_options,
    )
    return res, mag, notes
