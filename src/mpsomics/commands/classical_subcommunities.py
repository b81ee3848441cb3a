"""``mpsomics classical-subcommunities``: classical baselines of the MPS subcommunities.

::

    mpsomics classical-subcommunities --expression results/prepared/expression.h5ad \\
        --genes results/communities/genes/c30.txt \\
        --subcommunities results/subcommunities/c30.tsv \\
        --out results/classical/c30.tsv \\
        [--community c30] [--threshold 0.6] [--resolution 1] [--min-size 3] \\
        [--min-contrast 0.15] [--fdr 0.05] [--seed 0]

On the training split only: ``classical`` = Leiden clusters of the community's
co-expression graph (Spearman ``|r| >= --threshold``, the communities stage's rule)
filtered gene by gene by differential expression (Mann-Whitney BH ``q <= --fdr`` and data
contrast ``|mean_pos cos(pi x) - mean_neg cos(pi x)| / 2 >= --min-contrast``);
``top_de`` = for every MPS subcommunity of ``--subcommunities``, the same number of the
community's genes with the smallest Mann-Whitney p. Definitions:
:mod:`mpsomics.omics.classical`.

Writes one TSV (columns :data:`mpsomics.omics.classical.CLASSICAL_COLUMNS`, readable by
:func:`mpsomics.core.readers.read_subcommunities`; header only when nothing is found);
nothing on failure.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mpsomics.commands.argtypes import integer, number, random_seed
from mpsomics.core.errors import InputError
from mpsomics.omics import classical

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = classical.DEFAULTS
    p.add_argument("--expression", required=True, help="prepared AnnData (.h5ad) from `mpsomics prepare`")
    p.add_argument("--genes", required=True, help="the community's gene list, one symbol per line")
    p.add_argument(
        "--subcommunities", required=True,
        help="the community's MPS subcommunity table (results/subcommunities/{community}.tsv): one top_de "
        "set per subcommunity, of its size",
    )
    p.add_argument("--community", default=None, help="community id (default: name of --genes)")
    p.add_argument("--out", required=True, help="output TSV (results/classical/{community}.tsv)")
    p.add_argument(
        "--threshold", type=number(0, 1, lo_open=True), default=d["threshold"],
        help="co-expression edge: Spearman |r| >= this on the training samples (default %(default)s, as the "
        "communities stage)",
    )
    p.add_argument("--resolution", type=number(0), default=d["resolution"], help="Leiden resolution (default %(default)s)")
    p.add_argument(
        "--min-size", type=integer(1), default=d["min_size"],
        help="smallest classical subcommunity, before and after the DE filter (default %(default)s)",
    )
    p.add_argument(
        "--min-contrast", type=number(0, 1, hi_open=True), default=d["min_contrast"],
        help="DE filter: a gene's data contrast |mean_pos cos(pi x) - mean_neg cos(pi x)|/2 must be at least "
        "this (the MPS graph method's units; default %(default)s)",
    )
    p.add_argument(
        "--fdr", type=number(0, 1, lo_open=True), default=d["fdr"],
        help="DE filter: Mann-Whitney BH q over the community's genes must be at most this (default %(default)s)",
    )
    p.add_argument("--seed", type=random_seed, default=d["seed"], help="Leiden seed (default %(default)s)")


def mps_sizes(path: str | Path, community: str, genes: list[str]) -> dict[str, int]:
    """``{subcommunity id: size}`` of an MPS subcommunity table, checked against the community."""
    from mpsomics.core.readers import read_subcommunities, subcommunity_genes

    sets = subcommunity_genes(read_subcommunities(path))
    known = set(genes)
    for sid, members in sets.items():
        if not sid.startswith(f"{community}/"):
            raise InputError(path, f"subcommunity {sid!r} is not of community {community!r} (ids {community}/...)")
        outside = [g for g in members if g not in known]
        if outside:
            raise InputError(
                path, f"subcommunity {sid!r} has {len(outside)} genes not in the community's gene list: "
                f"{', '.join(outside[:5])}",
            )
    return {sid: len(members) for sid, members in sets.items()}


def run(args: argparse.Namespace) -> int:
    from mpsomics.core.files import atomic_path
    from mpsomics.core.readers import read_gene_list
    from mpsomics.validation.crossval import load_cv_data

    community = args.community or Path(args.genes).stem
    genes = read_gene_list(args.genes)
    sizes = mps_sizes(args.subcommunities, community, genes)
    data = load_cv_data(args.expression, genes, args.genes)  # training split used below, test never
    y01 = (data.y_train == data.positive).astype(int)
    if min(y01.sum(), len(y01) - y01.sum()) < 2:
        raise InputError(args.expression, "needs at least 2 training samples of each class")
    table = classical.classical_subcommunities(
        data.X_train, y01, genes, community, threshold=args.threshold, resolution=args.resolution,
        min_size=args.min_size, min_contrast=args.min_contrast, fdr=args.fdr, seed=args.seed, sizes=sizes,
    )
    out = Path(args.out)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, sep="\t", index=False, na_rep="", float_format="%.6g")
    counts = table.drop_duplicates("subcommunity")["method"].value_counts()
    log.info(
        "%s: %d classical, %d top_de subcommunities -> %s",
        community, int(counts.get("classical", 0)), int(counts.get("top_de", 0)), out,
    )
    return 0
