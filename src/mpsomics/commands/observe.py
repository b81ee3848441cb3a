"""``mpsomics observe``: exact observables of a trained MPS classifier.

::

    mpsomics observe --model results/mps/c03/model.npz --out results/observables/c03 \\
        [--expression results/prepared/expression.h5ad] [--genes results/communities/genes/c03.txt]

Writes, atomically as one directory (see ``docs/outputs.md``): ``magnetization.tsv``,
``correlations_<class>.tsv``, ``entanglement.tsv``, ``schmidt.npz``,
``label_density.tsv`` and ``summary.json``. Conventions are those of
:mod:`mpsomics.mps.observables`.
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
from mpsomics.mps import observables as obs
from mpsomics.mps.state import MPSState, load_model

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model.npz written by `mpsomics train`")
    p.add_argument("--out", required=True, help="output directory (replaced as a whole)")
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




def _read_gene_list(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(path, "gene list does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read gene list ({type(exc).__name__}: {exc})") from None
    genes = [s.strip() for s in lines if s.strip() and not s.strip().startswith("#")]
    if not genes:
        raise InputError(path, "gene list is empty (expected one gene symbol per line)")
    return genes


def check_genes(state: MPSState, model_path: Path, genes_path: Path) -> None:
    """Raise :class:`InputError` unless the gene list is the model's site order."""
    genes = _read_gene_list(genes_path)
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
                f"line {i + 1} is {g!r} but site {i} of the model {model_path} is {m!r}; "
                "pass the gene list the model was trained on",
            )


def check_expression(state: MPSState, model_path: Path, expression: Path) -> None:
    """Raise :class:`InputError` when model genes are absent from the AnnData's var_names."""
    import anndata

    if not expression.is_file():
        raise InputError(expression, "expression file does not exist")
    try:
        adata = anndata.read_h5ad(expression, backed="r")
    except Exception as exc:  # noqa: BLE001 - any reader failure is bad input
        raise InputError(expression, f"not a readable .h5ad file ({type(exc).__name__}: {exc})") from None
    try:
        var = set(map(str, adata.var_names))
    finally:
        if getattr(adata, "file", None) is not None:
            adata.file.close()
    missing = [g for g in state.genes if g not in var]
    if missing:
        raise InputError(
            expression,
            f"{len(missing)} of the {state.n_sites} genes of the model {model_path} are missing: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}",
        )


def _check_npz(path: Path) -> None:
    # np.load reports a text file as "pickled (object) data"; say what is wrong instead.
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except FileNotFoundError:
        raise InputError(path, "model file does not exist") from None
    except OSError as exc:
        raise InputError(path, f"cannot read model file: {exc.strerror or exc}") from None
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise InputError(path, "not an .npz (zip) archive; expected the model.npz written by `mpsomics train`")


def _check_class_names(state: MPSState, model_path: Path) -> None:
    # Class names become file names (correlations_<class>.tsv) and npz keys.
    for c in state.classes:
        if not c or "/" in c or "\\" in c or "\x00" in c or c in {".", ".."}:
            raise InputError(model_path, f"class name {c!r} cannot be used in an output file name")
    if len(set(state.classes)) != len(state.classes):
        raise InputError(model_path, f"class names are not unique: {state.classes}")


def compute(state: MPSState) -> dict:
    """Everything ``observe`` writes, as in-memory tables and arrays."""
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
        tables[f"correlations_{label}.tsv"] = pd.concat(
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
    tables["magnetization.tsv"] = pd.DataFrame(mag_rows, columns=["gene", "site", "label", "magnetization"])
    tables["entanglement.tsv"] = pd.DataFrame(ent_rows, columns=["label", "bond", "entropy", "renyi2"])
    tables["label_density.tsv"] = pd.concat(
        [pd.DataFrame({"label": state.classes}), pd.DataFrame(rho, columns=state.classes)], axis=1
    )
    return {"tables": tables, "schmidt": schmidt, "summary": summary}


def run(args: argparse.Namespace) -> int:
    model_path = Path(args.model)
    out = Path(args.out)
    _check_npz(model_path)
    state = load_model(model_path)
    _check_class_names(state, model_path)
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
            result = compute(state)
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
        for name, df in result["tables"].items():
            df.to_csv(tmp / name, sep="\t", index=False)
        with open(tmp / "schmidt.npz", "wb") as fh:
            np.savez(fh, **result["schmidt"])
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    log.info("observables of %d sites x %d classes written to %s (%.2f s)", state.n_sites, state.n_classes, out, seconds)
    return 0
