"""``mpsomics prepare``: expression table + sample sheet -> prepared AnnData (.h5ad).

Behaviour and validation rules: :mod:`mpsomics.omics.prepare` and :mod:`mpsomics.core.readers`;
output format: ``docs/outputs.md``. The output is written atomically: on any error
nothing is written and the one-line error names the file and the problem.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import time

from mpsomics.commands.argtypes import number
from mpsomics.core.errors import InputError

log = logging.getLogger(__name__)






def _defaults() -> dict:
    """Keyword defaults of the library functions the options feed (not retyped here)."""
    from mpsomics.omics import prepare as lib

    out: dict = {}
    for func in (lib.read_expression, lib.read_sample_sheet, lib.prepare):
        for name, param in inspect.signature(func).parameters.items():
            if param.kind is param.KEYWORD_ONLY:
                out[name] = param.default
    return out


def _add_input_arguments(parser: argparse.ArgumentParser, d: dict) -> None:
    from mpsomics.omics.prepare import ORIENTATIONS

    parser.add_argument(
        "--expression",
        required=True,
        metavar="FILE",
        help="expression table (.tsv/.csv, optionally .gz) or .h5ad (samples x genes)",
    )
    parser.add_argument(
        "--samples",
        required=True,
        metavar="SHEET",
        help="sample sheet (.tsv/.csv): sample id, label, group columns",
    )
    parser.add_argument("--out", required=True, metavar="OUT.h5ad", help="output AnnData file")
    parser.add_argument(
        "--orientation",
        choices=ORIENTATIONS,
        default=d["orientation"],
        help="layout of a text table (default: %(default)s; .h5ad is always samples x genes)",
    )
    parser.add_argument(
        "--gene-col", default=d["gene_col"], help="gene-symbol column (default: the first column)"
    )
    parser.add_argument(
        "--layer", default=d["layer"], help="AnnData layer to read instead of .X (.h5ad input only)"
    )


def _add_sheet_arguments(parser: argparse.ArgumentParser, d: dict) -> None:
    parser.add_argument(
        "--sample-col",
        default=d["sample_col"],
        help="sheet column with the sample ids (default: %(default)s)",
    )
    parser.add_argument(
        "--label-col",
        default=d["label_col"],
        help="sheet column with the class labels (default: %(default)s)",
    )
    parser.add_argument(
        "--group-col",
        default=d["group_col"],
        help="sheet column with the patient/group; 'none' = each sample its own group (default: %(default)s)",
    )
    parser.add_argument(
        "--positive-label", default=d["positive_label"], help="the positive class (default: %(default)s)"
    )
    parser.add_argument(
        "--merge-other-classes",
        action="store_true",
        help="with more than two classes, merge all non-positive classes into 'other'",
    )
    parser.add_argument(
        "--test-fraction",
        type=number(0, 1, lo_open=True, hi_open=True),
        default=d["test_fraction"],
        help="test fraction: one of round(1/f) patient-grouped folds (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=d["seed"], help="split seed (default: %(default)s)")


def _add_filter_arguments(parser: argparse.ArgumentParser, d: dict) -> None:
    from mpsomics.omics.prepare import DUPLICATE_RULES, NAN_RULES, SCALES

    parser.add_argument(
        "--scale",
        choices=SCALES,
        default=d["scale"],
        help="input scale; auto: linear if max > 50 or non-negative integer counts (default: %(default)s)",
    )
    parser.add_argument(
        "--duplicates",
        choices=DUPLICATE_RULES,
        default=d["duplicates"],
        help="duplicated gene symbols: keep the most variable row, the row with the highest "
        "mean (max), the first row, or average them (default: %(default)s)",
    )
    parser.add_argument(
        "--nan", choices=NAN_RULES, default=d["nan"], help="NaN handling (default: %(default)s)"
    )
    parser.add_argument(
        "--min-samples-per-class",
        type=int,
        default=d["min_samples_per_class"],
        help="fewer samples in a class is an error (default: %(default)s)",
    )
    parser.add_argument(
        "--min-expression",
        type=float,
        default=d["min_expression"],
        help="log2 expression threshold of the low-expression filter (default: %(default)s)",
    )
    parser.add_argument(
        "--min-fraction",
        type=number(0, 1),
        default=d["min_fraction"],
        help="fraction of samples that must reach --min-expression (default: %(default)s)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``prepare`` options; defaults are those of :mod:`mpsomics.omics.prepare`."""
    d = _defaults()
    _add_input_arguments(parser, d)
    _add_sheet_arguments(parser, d)
    _add_filter_arguments(parser, d)


def run(args: argparse.Namespace) -> int:
    """Run the stage; :class:`InputError` propagates to :func:`mpsomics.cli.main`."""
    from mpsomics.core.files import atomic_path
    from mpsomics.omics.prepare import prepare, read_expression, read_sample_sheet

    t0 = time.perf_counter()
    expr = read_expression(
        args.expression, orientation=args.orientation, gene_col=args.gene_col, layer=args.layer
    )
    sheet = read_sample_sheet(
        args.samples, sample_col=args.sample_col, label_col=args.label_col, group_col=args.group_col
    )
    adata = prepare(
        expr,
        sheet,
        positive_label=args.positive_label,
        merge_other_classes=args.merge_other_classes,
        test_fraction=args.test_fraction,
        seed=args.seed,
        scale=args.scale,
        duplicates=args.duplicates,
        nan=args.nan,
        min_samples_per_class=args.min_samples_per_class,
        min_expression=args.min_expression,
        min_fraction=args.min_fraction,
        orientation=args.orientation,
        extra_params={
            "expression": str(args.expression),
            "samples": str(args.samples),
            "sample_col": args.sample_col,
            "label_col": args.label_col,
            "group_col": args.group_col,
            "gene_col": args.gene_col or "",
            "layer": args.layer or "",
        },
    )
    try:
        with atomic_path(args.out) as tmp:
            adata.write_h5ad(tmp)
    except OSError as exc:
        raise InputError(args.out, f"cannot write output: {exc.strerror or exc}") from None
    log.info(
        "wrote %s (%d samples x %d genes) in %.1f s",
        args.out,
        adata.n_obs,
        adata.n_vars,
        time.perf_counter() - t0,
    )
    return 0
