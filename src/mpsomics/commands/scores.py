"""``mpsomics scores``: per-sample scores of communities and subcommunities.

::

    mpsomics scores --expression results/prepared/expression.h5ad \\
        --selected results/communities/selected.txt \\
        --models results/mps/c01/model.npz ... --subcommunities results/subcommunities/c01.tsv ... \\
        --out-dir results/scores

``--models`` and ``--subcommunities`` take one file per community of ``--selected``,
in its order. Writes ``scores.tsv`` and ``expression_scored.h5ad`` (a copy of the
prepared AnnData with the scores in ``.obsm``); definitions in
:mod:`mpsomics.omics.scores`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mpsomics.core.errors import InputError

log = logging.getLogger(__name__)

TSV = "scores.tsv"
H5AD = "expression_scored.h5ad"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--expression", required=True, help="prepared AnnData (.h5ad) from `mpsomics prepare`")
    parser.add_argument("--selected", required=True, help="selected.txt of `mpsomics communities` (may be empty)")
    parser.add_argument("--models", nargs="*", default=[], metavar="FILE",
                        help="model.npz of `mpsomics train`, one per community of --selected, in its order")
    parser.add_argument("--subcommunities", nargs="*", default=[], metavar="FILE",
                        help="{community}.tsv of `mpsomics subcommunities`, one per community of --selected, in its order")
    parser.add_argument("--out-dir", required=True, help=f"output directory: {TSV} and {H5AD}")


def run(args: argparse.Namespace) -> int:
    from mpsomics.core.files import atomic_files
    from mpsomics.core.readers import (
        read_gene_list,
        read_prepared,
        read_subcommunities,
        subcommunity_genes,
    )
    from mpsomics.omics import scores
    from mpsomics.ttn.classifier import load_classifier as load_model  # MPS or TTN

    communities = read_gene_list(args.selected, item="community", allow_empty=True)
    for flag, files in (("--models", args.models), ("--subcommunities", args.subcommunities)):
        if len(files) != len(communities):
            raise InputError(args.selected, f"lists {len(communities)} communities but {flag} has {len(files)} files")
    adata = read_prepared(args.expression)
    models = {c: load_model(p) for c, p in zip(communities, args.models, strict=True)}
    subs: dict[str, list[str]] = {}
    for path in args.subcommunities:
        subs.update(subcommunity_genes(read_subcommunities(path)))
    comm, sub = scores.score_table(adata, models, subs)
    out = Path(args.out_dir)
    with atomic_files([out / TSV, out / H5AD]) as (tmp_tsv, tmp_h5ad):  # published together
        scores.scores_tsv(adata, comm, sub).to_csv(tmp_tsv, sep="\t", index=False, float_format="%.6g")
        scores.scored_anndata(adata, comm, sub).write_h5ad(tmp_h5ad)
    return 0
