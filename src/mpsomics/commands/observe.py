"""``mpsomics observe``: exact observables of a trained MPS classifier.

::

    mpsomics observe --model results/mps/c03/model.npz --out-dir results/observables/c03 \\
        [--expression results/prepared/expression.h5ad] [--genes results/communities/genes/c03.txt]

Writes the observables of the *final* model, atomically as one directory (see
``docs/outputs.md``; the per-epoch trajectories of ``train`` have other names):
``magnetization.tsv``, ``correlations/<class>.tsv``, ``mutual_information/<class>.tsv``,
``entanglement.tsv``, ``schmidt.npz``, ``label_density.tsv`` and ``summary.json``
(names: the ``*_FILE`` / ``*_DIR`` constants below). Conventions are those of
:mod:`mpsomics.mps.observables`. ``entanglement.tsv`` has per class and bond the von
Neumann and Rényi-2 entropies and the Schmidt gap p_1 - p_2 of the two largest Schmidt
probabilities (:func:`mpsomics.mps.observables.schmidt_gap_from_schmidt`; 1 at a
product bond).

``mutual_information/<class>.tsv`` is the quantum mutual information
I(i:j) = S_i + S_j - S_ij (natural log, in [0, 2 ln 2]) between the genes of the
normalised class state, from its exact one- and two-site reduced density matrices
(:func:`mpsomics.mps.observables.mutual_information`); N x N in the layout of
``correlations/<class>.tsv`` (a ``gene`` column, then one column per gene in site
order); diagonal I(i:i) = 2 S_i, so the single-gene entropy is half the diagonal.

A TTN model (``train --model ttn``; the file has a ``parent`` array) is detected and
gets the same files from :mod:`mpsomics.ttn.observables`: ``entanglement.tsv`` and
``schmidt.npz`` (``{label}_bond{b}``) per tree edge, ``bond`` = edge index b (the edge
above node b), the duplicated root edge 2N - 3 left out; magnetization and correlations
per leaf (the model's leaf order); ``label_density.tsv`` from the root tensor of the
root-canonical form; ``summary.json`` with ``root_split_*`` (the entropy of the root
bipartition) instead of ``half_chain_*``. The mutual information is not computed for a
TTN (no ``mutual_information/`` directory).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mpsomics.commands.argtypes import integer
from mpsomics.core.errors import InputError
from mpsomics.core.files import atomic_dir
from mpsomics.core.readers import read_gene_list, read_prepared
from mpsomics.mps import observables as obs
from mpsomics.mps.state import MPSState, load_model

log = logging.getLogger(__name__)

#: Files ``observe`` writes into ``--out-dir`` (final-state observables).
MAGNETIZATION_FILE = "magnetization.tsv"
ENTANGLEMENT_FILE = "entanglement.tsv"
SCHMIDT_FILE = "schmidt.npz"
LABEL_DENSITY_FILE = "label_density.tsv"
SUMMARY_FILE = "summary.json"
#: columns of ``entanglement.tsv``: per class and bond (TTN: tree edge)
ENTANGLEMENT_COLUMNS = ["label", "bond", "entropy", "renyi2", "schmidt_gap"]
#: one gene x gene table per class: ``correlations/{class}.tsv``
CORRELATIONS_DIR = "correlations"
#: one gene x gene table per class (MPS models): ``mutual_information/{class}.tsv``
MUTUAL_INFORMATION_DIR = "mutual_information"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model.npz written by `mpsomics train`")
    p.add_argument("--out-dir", required=True, help="output directory (replaced as a whole)")
    p.add_argument(
        "--expression", default=None,
        help="optional prepared .h5ad: check that every model gene is in its var_names",
    )
    p.add_argument(
        "--genes", default=None,
        help="optional gene list (one per line): check it matches the model's sites",
    )
    p.add_argument(
        "--threads", type=integer(1), default=1,
        help="BLAS threads (default: %(default)s; the matrices are small, more threads rarely help)",
    )




def _entanglement_row(label: str, bond: int, entropy: float, renyi2: float, schmidt: np.ndarray) -> dict:
    """One ``entanglement.tsv`` row; ``schmidt_gap`` = p_1 - p_2 of the bond's Schmidt values."""
    return {
        "label": label, "bond": bond, "entropy": float(entropy), "renyi2": float(renyi2),
        "schmidt_gap": obs.schmidt_gap_from_schmidt(schmidt),
    }


def observable_tables_ttn(state) -> dict:
    """:func:`observable_tables` of a :class:`~mpsomics.ttn.state.TTNState` (module docstring)."""
    from mpsomics.ttn import observables as tobs
    from mpsomics.ttn.tree import children

    allobs = tobs.observe_all(state)
    n_edges = 2 * state.n_leaves - 3  # edge 2N - 3 duplicates the root bipartition
    root_edge = int(min(children(state.parent)[-1]))
    tables: dict[str, object] = {}
    mag_rows, ent_rows, schmidt, summary = [], [], {}, {}
    for li, label in enumerate(state.classes):
        mag = allobs["magnetization"][li]
        for i, g in enumerate(state.genes):
            mag_rows.append({"gene": g, "site": i, "label": label, "magnetization": float(mag[i])})
        sv = allobs["schmidt_values"][li]
        ent = np.array([obs.entropy_from_schmidt(sv[b]) for b in range(n_edges)])
        ren = np.array([obs.renyi2_from_schmidt(sv[b]) for b in range(n_edges)])
        for b in range(n_edges):
            ent_rows.append(_entanglement_row(label, b, ent[b], ren[b], sv[b]))
            schmidt[f"{label}_bond{b}"] = np.asarray(sv[b], dtype=np.float64)
        tables[f"{CORRELATIONS_DIR}/{label}.tsv"] = pd.concat(
            [pd.DataFrame({"gene": state.genes}), pd.DataFrame(allobs["correlation"][li], columns=state.genes)],
            axis=1,
        )
        summary[label] = {
            "root_split_edge": root_edge,
            "root_split_entropy": float(ent[root_edge]),
            "root_split_renyi2": float(ren[root_edge]),
            "max_entropy": float(ent.max()),
            "max_entropy_bond": int(ent.argmax()),
            "mean_entropy": float(ent.mean()),
            "mean_abs_magnetization": float(np.mean(np.abs(mag))),
        }
    rho = ttn_label_density(state)
    tables[MAGNETIZATION_FILE] = pd.DataFrame(mag_rows, columns=["gene", "site", "label", "magnetization"])
    tables[ENTANGLEMENT_FILE] = pd.DataFrame(ent_rows, columns=ENTANGLEMENT_COLUMNS)
    tables[LABEL_DENSITY_FILE] = pd.concat(
        [pd.DataFrame({"label": state.classes}), pd.DataFrame(rho, columns=state.classes)], axis=1
    )
    return {"tables": tables, "schmidt": schmidt, "summary": summary, "label_density": rho}


def ttn_label_density(state) -> np.ndarray:
    """Label density matrix of a TTN, (C, C): rho = M^T M / tr, M = root tensor (isometric basis)."""
    from mpsomics.ttn.observables import canonical_form

    root = canonical_form(state).root
    m = root.reshape(-1, root.shape[-1])
    rho = m.T @ m
    rho = 0.5 * (rho + rho.T)
    tr = np.trace(rho)
    if not tr > 0:
        raise ValueError("the TTN is zero: no label density")
    return rho / tr


def check_genes(state, model_path: Path, genes_path: Path) -> None:
    """Raise :class:`InputError` unless the gene list is the model's site order."""
    genes = read_gene_list(genes_path)
    if not hasattr(state, "n_sites"):  # TTN: the tree reorders the list, compare as sets
        if sorted(genes) != sorted(state.genes):
            raise InputError(
                genes_path, f"the genes differ from the {state.n_leaves} leaves of the TTN {model_path}"
            )
        return
    if len(genes) != state.n_sites:
        raise InputError(
            genes_path,
            f"lists {len(genes)} genes but the model {model_path} has {state.n_sites} sites; "
            "pass the gene list the model was trained on",
        )
    for i, (g, m) in enumerate(zip(genes, state.genes, strict=True)):
        if g != m:
            raise InputError(
                genes_path,
                f"gene {i + 1} of the list is {g!r} but site {i} of the model {model_path} is {m!r}; "
                "pass the gene list the model was trained on",
            )


def check_expression(state, model_path: Path, expression: Path) -> None:
    """Raise :class:`InputError` when model genes are absent from the AnnData's var_names."""
    var = set(read_prepared(expression).var_names)
    missing = [g for g in state.genes if g not in var]
    if missing:
        raise InputError(
            expression,
            f"{len(missing)} of the {len(state.genes)} genes of the model {model_path} are missing: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}",
        )


def observable_tables(state: MPSState) -> dict:
    """The final-state observables ``observe`` writes, as in-memory tables and arrays.

    ``{"tables": {relative path: DataFrame}, "schmidt": {name: values}, "summary": {label: ...}}``.
    """
    n = state.n_sites
    allobs = obs.observe_all(state, mutual_information=True)
    tables: dict[str, object] = {}
    mag_rows, ent_rows, schmidt, summary = [], [], {}, {}
    for li, label in enumerate(state.classes):
        mag = allobs["magnetization"][li]
        for i, g in enumerate(state.genes):
            mag_rows.append({"gene": g, "site": i, "label": label, "magnetization": float(mag[i])})
        sv = obs.schmidt_values(state, li)
        # Entropies from the SVD Schmidt values (full precision) for the files.
        ent = np.array([obs.entropy_from_schmidt(s) for s in sv])
        ren = np.array([obs.renyi2_from_schmidt(s) for s in sv])
        for b in range(n - 1):
            ent_rows.append(_entanglement_row(label, b, ent[b], ren[b], sv[b]))
            schmidt[f"{label}_bond{b}"] = np.asarray(sv[b], dtype=np.float64)
        conn = allobs["connected"][li]
        tables[f"{CORRELATIONS_DIR}/{label}.tsv"] = _gene_matrix(state.genes, conn)
        tables[f"{MUTUAL_INFORMATION_DIR}/{label}.tsv"] = _gene_matrix(state.genes, allobs["mutual_information"][li])
        half = obs.half_chain_summary(state, li)
        summary[label] = {
            "half_chain_bond": half["bond"],
            "half_chain_entropy": half["entropy"],
            "half_chain_renyi2": half["renyi2"],
            "half_chain_purity": half["purity"],
            "half_chain_effective_rank": half["effective_rank"],
            "half_chain_schmidt_rank": half["schmidt_rank"],
            "max_entropy": float(ent.max()) if ent.size else 0.0,
            "max_entropy_bond": int(ent.argmax()) if ent.size else None,
            "mean_entropy": float(ent.mean()) if ent.size else 0.0,
            "mean_abs_magnetization": float(np.mean(np.abs(mag))),
        }
    rho = obs.label_density(state)
    rho = rho.real  # trained models are real; a complex model's rho has its real part written
    tables[MAGNETIZATION_FILE] = pd.DataFrame(mag_rows, columns=["gene", "site", "label", "magnetization"])
    tables[ENTANGLEMENT_FILE] = pd.DataFrame(ent_rows, columns=ENTANGLEMENT_COLUMNS)
    tables[LABEL_DENSITY_FILE] = pd.concat(
        [pd.DataFrame({"label": state.classes}), pd.DataFrame(rho, columns=state.classes)], axis=1
    )
    return {"tables": tables, "schmidt": schmidt, "summary": summary}


def _gene_matrix(genes: list[str], values: np.ndarray) -> pd.DataFrame:
    """A gene x gene table: a ``gene`` column, then one column per gene (site order)."""
    return pd.concat([pd.DataFrame({"gene": genes}), pd.DataFrame(values, columns=genes)], axis=1)


def run(args: argparse.Namespace) -> int:
    model_path = Path(args.model)
    out = Path(args.out_dir)
    from mpsomics.ttn.classifier import is_ttn_file

    if is_ttn_file(model_path):
        return run_ttn(args, model_path, out)
    state = load_model(model_path)  # all checks of the model file
    if args.genes is not None:
        check_genes(state, model_path, Path(args.genes))
    if args.expression is not None:
        check_expression(state, model_path, Path(args.expression))
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    try:
        # Oversubscribed BLAS threads make the many small QRs dramatically slower on a
        # shared node, so the default is one thread.
        with threadpool_limits(limits=args.threads):
            result = observable_tables(state)
    except ValueError as exc:  # e.g. a class whose state has zero norm
        raise InputError(model_path, f"cannot compute observables: {exc}") from None
    seconds = time.perf_counter() - t0
    summary = {
        "model": str(model_path),
        "n_sites": state.n_sites,
        "label_site": state.label_site,
        "classes": state.classes,
        "bond_dims": state.bond_dims,
        "half_chain_bond": obs.half_chain_bond(state.n_sites),
        "label_density": obs.label_density(state).real.tolist(),
        "seconds": round(seconds, 4),
        "labels": result["summary"],
    }
    write_observables(out, result, summary)
    log.info("observables of %d sites x %d classes written to %s (%.2f s)", state.n_sites, state.n_classes, out, seconds)
    return 0


def write_observables(out: Path, result: dict, summary: dict) -> None:
    """Write the tables, Schmidt values and summary of either model kind, all or nothing.

    Everything is computed before this is called: an error must not leave (or even
    create) the output directory.
    """
    with atomic_dir(out) as tmp:
        (tmp / CORRELATIONS_DIR).mkdir()
        for name, df in result["tables"].items():
            (tmp / name).parent.mkdir(exist_ok=True)  # correlations/, mutual_information/
            df.to_csv(tmp / name, sep="\t", index=False)
        with open(tmp / SCHMIDT_FILE, "wb") as fh:
            np.savez(fh, **result["schmidt"])
        (tmp / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def run_ttn(args: argparse.Namespace, model_path: Path, out: Path) -> int:
    """``observe`` of a TTN model file: the same files (module docstring)."""
    from threadpoolctl import threadpool_limits

    from mpsomics.core.errors import NumericalError
    from mpsomics.ttn.state import load_ttn

    state = load_ttn(model_path)
    if args.genes is not None:
        check_genes(state, model_path, Path(args.genes))
    if args.expression is not None:
        check_expression(state, model_path, Path(args.expression))
    t0 = time.perf_counter()
    try:
        with threadpool_limits(limits=args.threads):
            result = observable_tables_ttn(state)
    except (ValueError, NumericalError) as exc:
        raise InputError(model_path, f"cannot compute observables: {exc}") from None
    seconds = time.perf_counter() - t0
    summary = {
        "model": str(model_path),
        "model_kind": "ttn",
        "n_sites": state.n_leaves,
        "label_node": state.label_node,
        "classes": state.classes,
        "parent": [int(p) for p in state.parent],
        "bond_dims": [int(b) for b in state.bond_dims()[: 2 * state.n_leaves - 3]],
        "label_density": result["label_density"].tolist(),
        "seconds": round(seconds, 4),
        "labels": result["summary"],
    }
    write_observables(out, result, summary)
    log.info("TTN observables of %d leaves x %d classes written to %s (%.2f s)", state.n_leaves, state.n_classes, out, seconds)
    return 0
