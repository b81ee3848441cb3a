"""Networks as GraphML (networkx), to open in Cytoscape, Gephi or networkx.

Two graphs:

* :func:`coexpression_graph` — the co-expression network of ``mpsomics communities``
  (``network.tsv``, edges |r| ≥ threshold between genes of kept communities). Nodes:
  genes with ``community``, ``degree``, ``path`` (Leiden block at each level) and
  ``selected`` (the community went on to MPS training). Edges: ``weight`` = |r|.
* :func:`community_graph` — one community's MPS correlation graph with its
  subcommunities. Nodes: the community's genes (site order) with ``site``,
  ``magnetization_<class>``, ``subcommunity`` (``;``-joined ids, ``""`` when none),
  ``in_subcommunity`` (bool) and ``contrast`` (|m_pos − m_neg|/2). Edges: gene pairs
  whose mean over classes of the connected correlation |C_ℓ(i, j)| is ≥
  ``min_correlation``, with ``corr_<class>`` (signed C_ℓ), ``weight`` (that mean
  |C|) and ``subcommunity`` (the id when both genes belong to it, else ``""``).
  Correlations and magnetizations are those of ``correlations_trajectory.npz`` and
  ``magnetization_trajectory.tsv`` at each class's epoch recorded in the
  subcommunity table (``epoch_<class>``), or at the last recorded epoch when the table
  names none (no subcommunity, or the ``graph`` method).

GraphML attribute values must be str, int, float or bool; missing values are
written as NaN (float) or ``""`` (str).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import networkx as nx
import numpy as np
import pandas as pd

from mpsomics.core.errors import InputError
from mpsomics.core.files import atomic_path


def coexpression_graph(
    network: pd.DataFrame, communities: pd.DataFrame, selected: Sequence[str] = ()
) -> nx.Graph:
    """The co-expression network as a networkx graph.

    Parameters
    ----------
    network
        ``network.tsv``: ``gene1``, ``gene2``, ``weight``.
    communities
        ``communities.tsv``: ``gene``, ``community``, ``degree``, ``path``.
    selected
        Selected community ids (``selected.txt``).
    """
    chosen = set(selected)
    g = nx.Graph(name="co-expression network")
    for row in communities.itertuples(index=False):
        g.add_node(
            str(row.gene),
            community=str(row.community),
            degree=int(row.degree),
            path=str(row.path),
            selected=str(row.community) in chosen,
        )
    for a, b, w in zip(network["gene1"], network["gene2"], network["weight"], strict=True):
        for gene in (a, b):
            if gene not in g:
                g.add_node(str(gene), community="", degree=0, path="", selected=False)
        g.add_edge(str(a), str(b), weight=float(w))
    return g


def _epoch_index(epochs: np.ndarray, subs: pd.DataFrame, label: str) -> int:
    col = f"epoch_{label}"
    if col in subs.columns:
        values = pd.to_numeric(subs[col], errors="coerce").dropna()
        if len(values):
            want = int(values.iloc[0])
            hit = np.flatnonzero(epochs == want)
            if hit.size:
                return int(hit[0])
    return len(epochs) - 1


def community_graph(
    community: str,
    epochs: np.ndarray,
    classes: Sequence[str],
    genes: Sequence[str],
    connected: np.ndarray,
    magnetization: pd.DataFrame,
    subcommunities: pd.DataFrame,
    *,
    positive: str | None = None,
    min_correlation: float = 0.1,
) -> nx.Graph:
    """One community's correlation graph with its subcommunities.

    Parameters
    ----------
    community
        Community id (graph name).
    epochs, classes, genes, connected
        :func:`mpsomics.dynamics.training_run.load_correlations`.
    magnetization
        :func:`mpsomics.dynamics.training_run.load_magnetization` (``epoch``,
        ``label``, ``gene``, ``magnetization``).
    subcommunities
        :func:`mpsomics.core.readers.read_subcommunities` (may be empty).
    positive
        Positive class (the contrast is |m_pos − m_neg|/2; default: the last class).
    min_correlation
        Edge if the mean over classes of |C_ℓ(i, j)| is ≥ this.
    """
    if not 0 <= min_correlation <= 1:
        raise InputError(None, f"--min-correlation must be in [0, 1], got {min_correlation}")
    classes, genes = list(classes), list(genes)
    picks = {lab: _epoch_index(epochs, subcommunities, lab) for lab in classes}
    corr = np.stack([connected[picks[lab], k] for k, lab in enumerate(classes)])  # (C, N, N)
    mags: dict[str, dict[str, float]] = {}
    for lab in classes:
        m = magnetization[(magnetization["label"] == lab) & (magnetization["epoch"] == int(epochs[picks[lab]]))]
        mags[lab] = dict(zip(m["gene"].astype(str), m["magnetization"].astype(float), strict=True))
    members: dict[str, list[str]] = {}
    for gene, sid in zip(subcommunities.get("gene", []), subcommunities.get("subcommunity", []), strict=True):
        members.setdefault(str(gene), []).append(str(sid))
    pos = positive if positive in classes else classes[-1]
    neg = next(c for c in classes if c != pos) if len(classes) > 1 else pos
    g = nx.Graph(name=f"{community} MPS correlations", community=community,
                 epochs=";".join(f"{lab}={int(epochs[picks[lab]])}" for lab in classes))
    for i, gene in enumerate(genes):
        attrs = {"site": i}
        for lab in classes:
            attrs[f"magnetization_{lab}"] = float(mags[lab].get(gene, np.nan))
        attrs["contrast"] = abs(attrs[f"magnetization_{pos}"] - attrs[f"magnetization_{neg}"]) / 2
        attrs["subcommunity"] = ";".join(members.get(gene, []))
        attrs["in_subcommunity"] = gene in members
        g.add_node(gene, **attrs)
    weight = np.abs(corr).mean(axis=0)
    iu, ju = np.triu_indices(len(genes), k=1)
    keep = weight[iu, ju] >= min_correlation
    for i, j in zip(iu[keep], ju[keep], strict=True):
        shared = sorted(set(members.get(genes[i], [])) & set(members.get(genes[j], [])))
        attrs = {f"corr_{lab}": float(corr[k, i, j]) for k, lab in enumerate(classes)}
        g.add_edge(genes[i], genes[j], weight=float(weight[i, j]), subcommunity=";".join(shared), **attrs)
    return g


def write_graphml(graph: nx.Graph, path: str | os.PathLike) -> None:
    """Write ``graph`` as GraphML, atomically."""
    with atomic_path(path) as tmp:
        nx.write_graphml(graph, tmp, named_key_ids=True)


__all__ = ["coexpression_graph", "community_graph", "write_graphml"]
