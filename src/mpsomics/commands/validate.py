"""``mpsomics validate``: communities and subcommunities in independent cohorts.

::

    mpsomics validate --expression results/prepared/expression.h5ad \\
        --selected results/communities/selected.txt [--pool results/communities/pool.txt] \\
        --genes results/communities/genes/c01.txt ... --models results/mps/c01/model.npz ... \\
        --subcommunities results/subcommunities/c01.tsv ... \\
        --cohorts-json '{"gse77314": {"expression": "...", "samples": "...", ...}}' \\
        [--random-sets 200] [--bootstrap 1000] [--seed 0] --out results/validation/summary.tsv

``--genes``, ``--models`` and ``--subcommunities`` take one file per community of
``--selected``, in its order; so does ``--classical`` (the tables of ``mpsomics
classical-subcommunities``; optional): their ``classical`` / ``top_de`` sets get the same
rows as MPS subcommunities (kind ``subcommunity``, the ``method`` column says which),
with ``null_q`` adjusted within each method family so the MPS rows do not change. Each cohort of ``--cohorts-json`` (config
``validation.cohorts``) is read like ``prepare`` reads its input and scaled on its own
samples without labels. Writes one row per cohort x community or subcommunity: external
AUC with a patient bootstrap interval, its null p against size-matched random gene sets of
the pool, and module preservation Z (definitions: :mod:`mpsomics.validation.external`,
:mod:`mpsomics.validation.preservation`). No cohort: a header-only table.

The pool of the random sets is ``--pool`` (the workflow passes ``pool.txt``, every gene of
the co-expression network: the genes a community could have been made of); without it,
the genes of all ``--genes`` files (the selected communities).
"""

from __future__ import annotations

import argparse
import json
import logging

from mpsomics.commands.argtypes import integer, random_seed
from mpsomics.core.errors import InputError

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--expression", required=True, help="prepared AnnData (.h5ad): the TCGA reference")
    parser.add_argument("--selected", required=True, help="selected.txt of `mpsomics communities` (may be empty)")
    parser.add_argument("--pool", default=None,
                        help="gene list the random sets are drawn from: pool.txt of `mpsomics communities`, the "
                        "network's genes (default: the genes of all --genes files, the selected communities)")
    for flag, what in (("--genes", "genes/{community}.txt"), ("--models", "model.npz of `mpsomics train`"),
                       ("--subcommunities", "{community}.tsv of `mpsomics subcommunities`")):
        parser.add_argument(flag, nargs="*", default=[], metavar="FILE",
                            help=f"{what}, one per community of --selected, in its order")
    parser.add_argument("--classical", nargs="*", default=[], metavar="FILE",
                        help="{community}.tsv of `mpsomics classical-subcommunities`, one per community of "
                        "--selected, in its order (omitted: MPS subcommunities only)")
    parser.add_argument("--cohorts-json", default="{}",
                        help="cohorts as JSON: name -> {expression, samples, sample_col, label_col, group_col, "
                        "positive_label, format, values, gene_ids, gene_map} (config validation.cohorts)")
    parser.add_argument("--random-sets", type=integer(10), default=200,
                        help="size-matched random gene sets per null (AUC, preservation Z)")
    parser.add_argument("--bootstrap", type=integer(0), default=1000, help="patient bootstrap replicates of each AUC")
    parser.add_argument("--seed", type=random_seed, default=0)
    parser.add_argument("--out", required=True, help="output TSV (results/validation/summary.tsv)")


def _cohorts(text: str) -> dict:
    try:
        cohorts = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(None, f"--cohorts-json is not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(cohorts, dict) or not all(isinstance(v, dict) for v in cohorts.values()):
        raise InputError(None, "--cohorts-json must map each cohort name to its settings")
    return cohorts


def _sets(communities: list[str], mps_files: list[str], classical_files: list[str],
          selected: str) -> tuple[dict[str, tuple[str, list[str]]], dict[str, str]]:
    """Subcommunity id -> (community, genes) and -> method, MPS tables first, then classical ones.

    Raises
    ------
    InputError
        ``--classical`` not one file per community, a classical set id that is also an MPS
        subcommunity, or an MPS method in a classical table.
    """
    from mpsomics.core.readers import read_subcommunities, subcommunity_genes
    from mpsomics.validation.external import CLASSICAL_METHODS

    if classical_files and len(classical_files) != len(communities):
        raise InputError(selected, f"lists {len(communities)} communities but --classical has "
                                   f"{len(classical_files)} files")
    subs: dict[str, tuple[str, list[str]]] = {}
    methods: dict[str, str] = {}
    tables = [(c, p, False) for c, p in zip(communities, mps_files, strict=True)]
    tables += [(c, p, True) for c, p in zip(communities, classical_files, strict=False)]
    for c, path, classical in tables:
        table = read_subcommunities(path)
        sets = subcommunity_genes(table)
        if classical:
            other = sorted(set(table["method"]) - set(CLASSICAL_METHODS))
            if other:
                raise InputError(path, f"--classical table with method(s) {', '.join(other)}; expected "
                                       f"{' or '.join(CLASSICAL_METHODS)}")
            clash = sorted(set(sets) & set(subs))
            if clash:
                raise InputError(path, f"set id {clash[0]} is also an MPS subcommunity")
        subs.update({s: (c, g) for s, g in sets.items()})
        methods.update({str(s): str(m) for s, m in zip(table["subcommunity"], table["method"], strict=True)})
    return subs, methods


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    from mpsomics.core.files import atomic_path
    from mpsomics.core.readers import read_gene_list, read_prepared
    from mpsomics.ttn.classifier import load_classifier
    from mpsomics.validation.cohorts import load_cohort
    from mpsomics.validation.external import COLUMNS, summary_table

    cohorts_cfg = _cohorts(args.cohorts_json)
    communities = read_gene_list(args.selected, item="community", allow_empty=True)
    for flag, files in (("--genes", args.genes), ("--models", args.models),
                        ("--subcommunities", args.subcommunities)):
        if len(files) != len(communities):
            raise InputError(args.selected, f"lists {len(communities)} communities but {flag} has {len(files)} files")
    adata = read_prepared(args.expression)
    genes = {c: read_gene_list(p) for c, p in zip(communities, args.genes, strict=True)}
    # The null's pool: genes of all selected communities (unless --pool names another list).
    pool = read_gene_list(args.pool) if args.pool else list(dict.fromkeys(g for gs in genes.values() for g in gs))
    models = {c: load_classifier(p) for c, p in zip(communities, args.models, strict=True)}
    for c, path in zip(communities, args.models, strict=True):
        if list(models[c].genes) != genes[c]:
            raise InputError(path, f"the model's genes are not those of community {c}'s gene list")
    subs, methods = _sets(communities, args.subcommunities, args.classical, args.selected)
    cohorts = [load_cohort(name, cfg) for name, cfg in cohorts_cfg.items()]
    for cohort in cohorts:
        for c in communities:
            if cohort.positive not in models[c].classes:
                raise InputError(None, f"cohort {cohort.name!r}: positive_label {cohort.positive!r} is not a class "
                                 f"of the models ({', '.join(models[c].classes)})")
    train = (adata.obs["split"].astype(str) == "train").to_numpy()
    values = adata.layers["log"]
    values = np.asarray(values.toarray() if hasattr(values, "toarray") else values, dtype=np.float64)[train]
    reference = pd.DataFrame(values, columns=adata.var_names.astype(str))
    y_ref = (adata.obs["label"].astype(str).to_numpy()[train] == str(adata.uns["positive_label"])).astype(int)
    try:
        table = (summary_table(cohorts, reference, y_ref, pool, genes, models, subs,
                               args.random_sets, args.bootstrap, args.seed, methods)
                 if cohorts else pd.DataFrame(columns=COLUMNS))
    except ValueError as exc:
        raise InputError(args.pool, str(exc)) from None
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    for r in table.itertuples(index=False):
        log.info("%s %s %s: AUC %.3f [%.3f, %.3f], null p %.3g, preservation Z %.2f (%s)", r.cohort, r.kind,
                 r.set, r.auc, r.auc_low, r.auc_high, r.null_p, r.preservation_z, r.preservation)
    return 0
