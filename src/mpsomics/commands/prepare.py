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

from mpsomics.commands.argtypes import integer, number, random_seed
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
    from mpsomics.omics.prepare import FORMATS, GENE_ID_TYPES, ORIENTATIONS

    parser.add_argument(
        "--expression",
        required=True,
        nargs="+",
        metavar="FILE",
        help="expression input: a table (.tsv/.csv, optionally .gz), featureCounts output, a GEO series "
        "matrix, an .h5ad, or salmon/kallisto per-sample files (a directory or several files)",
    )
    parser.add_argument(
        "--samples",
        default=None,
        metavar="SHEET",
        help="sample sheet (.tsv/.csv): sample id, label, group columns; optional for a GEO series "
        "matrix (its !Sample_characteristics lines) and an .h5ad with labels in .obs",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=d["format"],
        help="expression format; auto detects it from the file (default: %(default)s)",
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
    parser.add_argument(
        "--gene-ids",
        choices=GENE_ID_TYPES,
        default=d["gene_ids"],
        help="gene identifiers of the matrix, mapped to symbols (ensembl versions stripped); auto "
        "detects Ensembl/Entrez ids (default: %(default)s = no mapping)",
    )
    parser.add_argument(
        "--gene-map",
        default=d["gene_map"],
        metavar="TSV",
        help="id -> symbol table (first column id, column 'symbol' or the last column), e.g. GEO "
        "probes; default: the bundled Ensembl/Entrez map of --idmaps",
    )
    parser.add_argument(
        "--idmaps",
        default=d["idmaps"],
        metavar="DIR",
        help="folder of the bundled {ensembl,entrez}_to_symbol*.tsv maps (default: data/idmaps)",
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
    parser.add_argument("--seed", type=random_seed, default=d["seed"], help="split seed, 0 .. 2**32 - 1 (default: %(default)s)")
    parser.add_argument(
        "--clinical",
        default=None,
        metavar="TSV",
        help="per-patient clinical table whose column --clinical-label-col gives the labels",
    )
    parser.add_argument(
        "--clinical-join-col",
        default="patient",
        help="clinical-table column matched to the sheet's --group-col (default: %(default)s)",
    )
    parser.add_argument(
        "--clinical-label-col", default=None, help="clinical-table column mapped to the classes"
    )
    parser.add_argument(
        "--clinical-class",
        action="append",
        default=None,
        metavar="CLASS=V1,V2",
        help="a class and the clinical values that make it (repeat; values in no class are excluded)",
    )
    parser.add_argument(
        "--clinical-keep-label",
        default=None,
        help="relabel only samples with this sheet label (e.g. tumor); the others are excluded",
    )


def _add_filter_arguments(parser: argparse.ArgumentParser, d: dict) -> None:
    from mpsomics.omics.prepare import DUPLICATE_RULES, NAN_RULES, SCALES, VALUES

    parser.add_argument(
        "--values",
        choices=VALUES,
        default=d["values"],
        help="what the values are: counts -> log2(CPM + 1) (library size = sample sum over every gene "
        "read); auto detects non-negative integer counts, else follows --scale (default: %(default)s)",
    )
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
        type=integer(1),
        default=d["min_samples_per_class"],
        help="fewer samples in a class is an error (default: %(default)s)",
    )
    parser.add_argument(
        "--min-expression",
        type=number(),
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


def _clinical(args: argparse.Namespace, expr, sheet):
    """Labels from ``--clinical`` (if given) and the non-default input options for ``.uns['prepare']``."""
    from mpsomics.omics.prepare import apply_clinical, parse_classes

    extra: dict = {}
    if args.format != "auto" or expr.attrs.get("format", "table") != "table":
        extra["format"] = expr.attrs.get("format", args.format)
    if args.clinical:
        if not args.clinical_label_col or not args.clinical_class:
            raise InputError(None, "--clinical: needs --clinical-label-col and --clinical-class")
        expr, sheet, extra["clinical"] = apply_clinical(
            expr, sheet, args.clinical, join_col=args.clinical_join_col,
            label_col=args.clinical_label_col, classes=parse_classes(args.clinical_class),
            keep_label=args.clinical_keep_label,
        )
    return expr, sheet, extra


def run(args: argparse.Namespace) -> int:
    """Run the stage; :class:`InputError` propagates to :func:`mpsomics.cli.main`."""
    from mpsomics.core.files import atomic_path
    from mpsomics.omics.prepare import prepare, read_expression, read_sample_sheet

    t0 = time.perf_counter()
    expression = args.expression[0] if len(args.expression) == 1 else list(args.expression)
    expr = read_expression(
        expression, orientation=args.orientation, gene_col=args.gene_col, layer=args.layer,
        format=args.format,
    )
    sheet = read_sample_sheet(
        args.samples, sample_col=args.sample_col, label_col=args.label_col, group_col=args.group_col,
        expression=expression, format=expr.attrs.get("format", args.format),
    )
    expr, sheet, extra = _clinical(args, expr, sheet)
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
        values=args.values,
        gene_ids=args.gene_ids,
        gene_map=args.gene_map,
        idmaps=args.idmaps,
        extra_params={
            "expression": ",".join(map(str, args.expression)),
            "samples": str(args.samples) if args.samples else "",
            "sample_col": args.sample_col,
            "label_col": args.label_col,
            "group_col": args.group_col,
            "gene_col": args.gene_col or "",
            "layer": args.layer or "",
            **extra,
        },
    )
    check_finite(adata, expression)
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


def check_finite(adata, expression) -> None:
    """Last check before writing: ``.X`` (the model input) and the scaling bounds are finite.

    Raises
    ------
    InputError
        Naming the expression file: values whose scaling is not a number (e.g. beyond
        the float64 range) never reach ``.X``.
    """
    import numpy as np

    x = np.asarray(adata.X)
    bad = ~np.isfinite(x)
    if bad.any():
        i, j = (int(k[0]) for k in np.nonzero(bad))
        raise InputError(
            expression if isinstance(expression, str) else ",".join(map(str, expression)),
            f"{int(bad.sum())} scaled value(s) are not finite (first: sample {adata.obs_names[i]!r}, "
            f"gene {adata.var_names[j]!r}); check the expression values and --scale",
        )
    for col in ("scale_min", "scale_max"):
        v = adata.var[col].to_numpy(dtype=float)
        if not np.isfinite(v).all():
            j = int(np.flatnonzero(~np.isfinite(v))[0])
            raise InputError(
                expression if isinstance(expression, str) else ",".join(map(str, expression)),
                f"gene {adata.var_names[j]!r}: {col} is not finite; check the expression values and --scale",
            )
