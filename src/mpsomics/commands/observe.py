"""``mpsomics observe``: exact observables of a trained MPS classifier.

::

    mpsomics observe --model results/mps/c03/model.npz --out-dir results/observables/c03 \\
        [--expression results/prepared/expression.h5ad] [--genes results/communities/genes/c03.txt]

Writes the observables of the *final* model, atomically as one directory (see
``docs/outputs.md``; the per-epoch trajectories of ``train`` have other names):
``magnetization.tsv``, ``correlations/<class>.tsv``, ``entanglement.tsv``,
``schmidt.npz``, ``label_density.tsv`` and ``summary.json`` (names: the ``*_FILE``
constants below). Conventions are those of :mod:`mpsomics.mps.observables`.
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
#: one gene x gene table per class: ``correlations/{class}.tsv``
CORRELATIONS_DIR = "correlations"


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




def check_genes(state: MPSState, model_path: Path, genes_path: Path) -> None:
    """Raise :class:`InputError` unless the gene list is the model's site order."""
    genes = read_gene_list(genes_path)
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


def check_expression(state: MPSState, model_path: Path, expression: Path) -> None:
    """Raise :class:`InputError` when model genes are absent from the AnnData's var_names."""
    var = set(read_prepared(expression).var_names)
    missing = [g for g in state.genes if g not in var]
    if missing:
        raise InputError(
            expression,
            f"{len(missing)} of the {state.n_sites} genes of the model {model_path} are missing: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}",
        )


def observable_tables(state: MPSState) -> dict:
    """The final-state observables ``observe`` writes, as in-memory tables and arrays.

    ``{"tables": {relative path: DataFrame}, "schmidt": {name: values}, "summary": {label: ...}}``.
    """
    n = state.n_sites
    allobs = obs.observe_all(state)
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
            ent_rows.append({"label": label, "bond": b, "entropy": float(ent[b]), "renyi2": float(ren[b])})
            schmidt[f"{label}_bond{b}"] = np.asarray(sv[b], dtype=np.float64)
        conn = allobs["connected"][li]
        tables[f"{CORRELATIONS_DIR}/{label}.tsv"] = pd.concat(
            [pd.DataFrame({"gene": state.genes}), pd.DataFrame(conn, columns=state.genes)], axis=1
        )
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
    tables[ENTANGLEMENT_FILE] = pd.DataFrame(ent_rows, columns=["label", "bond", "entropy", "renyi2"])
    tables[LABEL_DENSITY_FILE] = pd.concat(
        [pd.DataFrame({"label": state.classes}), pd.DataFrame(rho, columns=state.classes)], axis=1
    )
    return {"tables": tables, "schmidt": schmidt, "summary": summary}


def run(args: argparse.Namespace) -> int:
    model_path = Path(args.model)
    out = Path(args.out_dir)
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
    # Compute everything first: an error must not leave (or even create) the output dir.
    with atomic_dir(out) as tmp:
        (tmp / CORRELATIONS_DIR).mkdir()
        for name, df in result["tables"].items():
            df.to_csv(tmp / name, sep="\t", index=False)
        with open(tmp / SCHMIDT_FILE, "wb") as fh:
            np.savez(fh, **result["schmidt"])
        (tmp / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    log.info("observables of %d sites x %d classes written to %s (%.2f s)", state.n_sites, state.n_classes, out, seconds)
    return 0
