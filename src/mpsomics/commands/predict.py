"""``mpsomics predict``: apply a saved model to new samples.

::

    mpsomics predict --model results/mps/c01/model.npz --expression new.tsv.gz \\
        [--samples sheet.tsv --sample-col sample --label-col label] [--format auto] [--values auto] \\
        [--gene-ids symbol] [--gene-map map.tsv] \\
        [--scaling cohort|train --reference results/prepared/expression.h5ad] --out scores.tsv

``--expression`` is a prepared ``.h5ad`` (used as it is: ``.X`` is scaled on its own
training split; labels and split are copied) or any input ``prepare`` reads, turned into
log values as ``prepare`` does (``--values auto``: counts -> log2(CPM + 1), linear ->
log2(x + 1), log as is; ``--gene-ids``/``--gene-map`` map ids to symbols). A raw table
is scaled by ``--scaling``: ``cohort`` (default; each gene's min–max over the new
samples, label-free, any platform) or ``train`` (the training min–max of ``--reference``;
same platform only). Writes one row per sample: ``sample``, ``probability_<class>``
(Born probabilities, summing to 1), ``predicted`` and, when known, ``label`` (and ``split``
for an ``.h5ad``). Definitions: :mod:`mpsomics.validation.predict`.
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mpsomics.omics.prepare.formats import FORMATS
    from mpsomics.omics.prepare.geneids import GENE_ID_TYPES
    from mpsomics.omics.prepare.transforming import VALUES
    from mpsomics.validation.predict import SCALINGS

    parser.add_argument("--model", required=True, help="model.npz of `mpsomics train` (MPS or TTN)")
    parser.add_argument("--expression", required=True,
                        help="prepared .h5ad of `mpsomics prepare`, or an expression input as `prepare` reads it")
    parser.add_argument("--samples", help="optional sample sheet of a table (adds the label column)")
    parser.add_argument("--sample-col", default="sample", help="sheet column with the sample ids")
    parser.add_argument("--label-col", default="label", help="sheet column with the labels")
    parser.add_argument("--format", default="auto", choices=FORMATS, help="input format of a table, as in `prepare`")
    parser.add_argument("--values", default="auto", choices=VALUES,
                        help="what a table's values are (counts -> log2(CPM + 1), linear -> log2(x + 1))")
    parser.add_argument("--gene-ids", default="symbol", choices=GENE_ID_TYPES,
                        help="gene ids of a table, mapped to symbols as in `prepare`")
    parser.add_argument("--gene-map", default=None, help="id -> symbol table, as in `prepare`")
    parser.add_argument("--scaling", default="cohort", choices=SCALINGS,
                        help="features of a table: cohort = per-gene min-max over these samples (label-free, any "
                        "platform; default); train = the training min-max of --reference (same platform only)")
    parser.add_argument("--reference", help="prepared .h5ad whose training min-max --scaling train uses")
    parser.add_argument("--out", required=True, help="output TSV, one row per sample")


def run(args: argparse.Namespace) -> int:
    from mpsomics.core.files import atomic_path
    from mpsomics.ttn.classifier import load_classifier
    from mpsomics.validation.predict import predict_file

    model = load_classifier(args.model)
    table = predict_file(model, args.expression, scaling=args.scaling, reference=args.reference,
                         samples=args.samples, sample_col=args.sample_col, label_col=args.label_col,
                         format=args.format, values=args.values, gene_ids=args.gene_ids, gene_map=args.gene_map)
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.10g")
    log.info("%d samples -> %s", len(table), args.out)
    return 0
