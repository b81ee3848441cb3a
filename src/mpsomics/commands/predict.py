"""``mpsomics predict``: apply a saved model to new samples.

::

    mpsomics predict --model results/mps/c01/model.npz --expression new.tsv.gz \\
        [--samples sheet.tsv --sample-col sample --label-col label] [--format auto] [--values auto] \\
        [--scaling cohort|train --reference results/prepared/expression.h5ad] --out scores.tsv

``--expression`` is a prepared ``.h5ad`` (used as it is: ``.X`` is scaled on its own
training split; labels and split are copied) or a raw genes x samples table read like
``prepare`` reads it (``--values auto``: counts -> log2(CPM + 1), linear -> log2(x + 1),
log as is). A raw table is scaled by ``--scaling``: ``cohort`` (default; each gene's
min–max over the new samples, label-free, any platform) or ``train`` (the training
min–max of ``--reference``; same platform only). Writes one row per sample: ``sample``,
``probability_<class>`` (Born probabilities, summing to 1), ``predicted`` and, when known,
``label`` (and ``split`` for an ``.h5ad``).
"""

from __future__ import annotations

import argparse
import logging

from mpsomics.core.errors import InputError

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model.npz of `mpsomics train` (MPS or TTN)")
    parser.add_argument("--expression", required=True, help="prepared .h5ad, or a genes x samples table")
    parser.add_argument("--samples", help="optional sample sheet of a table (adds the label column)")
    parser.add_argument("--sample-col", default="sample", help="sheet column with the sample ids")
    parser.add_argument("--label-col", default="label", help="sheet column with the labels")
    parser.add_argument("--format", default="auto", help="input format of a table, as in `prepare`")
    parser.add_argument("--values", default="auto", choices=("auto", "counts", "linear", "log"),
                        help="what a table's values are (counts -> log2(CPM + 1), linear -> log2(x + 1))")
    parser.add_argument("--scaling", default="cohort", choices=("cohort", "train"),
                        help="features of a table: cohort = per-gene min-max over these samples (label-free); "
                        "train = the training min-max of --reference (same platform only)")
    parser.add_argument("--reference", help="prepared .h5ad whose training min-max --scaling train uses")
    parser.add_argument("--out", required=True, help="output TSV, one row per sample")


def _table_log_values(args: argparse.Namespace):
    import numpy as np
    import pandas as pd

    from mpsomics.omics.prepare.reading import read_expression
    from mpsomics.omics.prepare.transforming import detect_values, log_cpm

    expr = read_expression(args.expression, format=args.format)  # samples x genes
    x = expr.to_numpy(dtype=float)
    kind = args.values if args.values != "auto" else detect_values(x)[0]
    if kind == "counts":
        x, _ = log_cpm(x, args.expression, list(map(str, expr.index)))
    elif kind == "linear":
        if np.nanmin(x) < 0:
            raise InputError(args.expression, "negative values cannot be linear-scale; pass --values log")
        x = np.log2(x + 1.0)
    log.info("%s: %d samples x %d genes, values %s", args.expression, *x.shape, kind)
    return pd.DataFrame(x, index=expr.index.astype(str), columns=expr.columns.astype(str))


def run(args: argparse.Namespace) -> int:
    from mpsomics.core.files import atomic_path
    from mpsomics.core.readers import read_prepared, read_tsv
    from mpsomics.ttn.classifier import load_classifier
    from mpsomics.validation.predict import features, predict_table

    model = load_classifier(args.model)
    genes = list(model.genes)
    if str(args.expression).endswith(".h5ad"):
        import numpy as np

        adata = read_prepared(args.expression)
        missing = [g for g in genes if g not in adata.var_names]
        if missing:
            raise InputError(args.expression, f"{len(missing)} model gene(s) missing: {', '.join(missing[:5])}")
        x = adata[:, genes].X
        x = np.clip(np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=float), 0.0, 1.0)
        table = predict_table(model, x, list(map(str, adata.obs_names)), adata.obs["label"].astype(str).to_numpy())
        table["split"] = adata.obs["split"].astype(str).to_numpy()
    else:
        values = _table_log_values(args)
        ref_var = read_prepared(args.reference).var if args.reference else None
        x = features(values, genes, args.scaling, ref_var, args.expression)
        labels = None
        if args.samples:
            sheet = read_tsv(args.samples, required=(args.sample_col, args.label_col))
            lab = dict(zip(sheet[args.sample_col].astype(str), sheet[args.label_col].astype(str), strict=False))
            labels = [lab.get(s, "") for s in values.index]
        table = predict_table(model, x, list(values.index), labels)
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    log.info("%d samples -> %s", len(table), args.out)
    return 0
