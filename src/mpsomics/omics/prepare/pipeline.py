"""``prepare()``: the stage as a short sequence of named steps (see the package docstring)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mpsomics.core.errors import InputError
from mpsomics.omics.prepare.geneids import GENE_ID_TYPES, map_gene_ids
from mpsomics.omics.prepare.matching import Classes, class_counts, match_samples, resolve_classes
from mpsomics.omics.prepare.scaling import minmax_fit_transform
from mpsomics.omics.prepare.splitting import grouped_split
from mpsomics.omics.prepare.transforming import (
    DUPLICATE_RULES,
    NAN_RULES,
    SCALES,
    VALUES,
    FilterCounts,
    NanCounts,
    aggregate_duplicates,
    filter_genes,
    require_genes,
    resolve_nan,
    to_log_values,
)

if TYPE_CHECKING:
    import anndata

# One logger for the whole stage: log lines keep the name they had before the split.
log = logging.getLogger(__package__)


def prepare(
    expr: pd.DataFrame,
    sheet: pd.DataFrame,
    *,
    positive_label: str | None = "tumor",
    merge_other_classes: bool = False,
    test_fraction: float = 0.25,
    seed: int = 0,
    scale: str = "auto",
    duplicates: str = "most_variable",
    nan: str = "drop_gene",
    min_samples_per_class: int = 5,
    min_expression: float = 1.0,
    min_fraction: float = 0.1,
    orientation: str = "genes-x-samples",
    values: str = "auto",
    gene_ids: str = "symbol",
    gene_map: str | None = None,
    idmaps: str | None = None,
    extra_params: dict | None = None,
) -> anndata.AnnData:
    """Validate, transform, split and scale; return the prepared AnnData.

    Parameters
    ----------
    expr
        Samples x genes values (:func:`read_expression`); ``expr.attrs['path']``
        names the file in error messages.
    sheet
        Sample sheet (:func:`read_sample_sheet`): index sample id, columns
        ``label`` and ``group``.
    positive_label
        The positive class (default ``"tumor"``).
    merge_other_classes
        With more than two classes, merge all non-positive classes into
        ``"other"`` instead of failing.
    test_fraction, seed
        See :func:`grouped_split`.
    scale
        ``auto`` | ``linear`` | ``log`` (see the package docstring).
    duplicates
        ``most_variable`` | ``mean`` | ``max`` | ``first``.
    nan
        ``drop_gene`` | ``impute_median``.
    min_samples_per_class
        Minimum number of samples of each class.
    min_expression, min_fraction
        Keep genes with log value ``>= min_expression`` in ``>= min_fraction`` of
        the samples.
    orientation
        Only used to suggest the other orientation when the matrix looks transposed.
    values
        ``auto`` | ``counts`` | ``log`` | ``linear``. Counts become log2(CPM + 1),
        library size = each sample's sum over **every gene read** (before any gene is
        dropped). ``auto`` defers to ``scale`` when that is not ``auto``, else detects
        non-negative integers (or a count format's ``expr.attrs['values_hint']``) as counts.
    gene_ids, gene_map, idmaps
        Map gene ids to symbols (:func:`~mpsomics.omics.prepare.geneids.map_gene_ids`)
        after the log transform, before duplicates are collapsed.
    extra_params
        Recorded as is in ``.uns['prepare']`` (e.g. file names, column names).

    Returns
    -------
    anndata.AnnData
        As documented in ``docs/outputs.md``.

    Raises
    ------
    InputError
        For every validation failure (see the package docstring).
    """
    _check_options(scale, duplicates, nan)
    if values not in VALUES:
        raise ValueError(f"values must be one of {VALUES}, got {values!r}")
    if gene_ids not in GENE_ID_TYPES:
        raise ValueError(f"gene_ids must be one of {GENE_ID_TYPES}, got {gene_ids!r}")
    if positive_label is not None:
        positive_label = str(positive_label).strip()
    epath, spath = expr.attrs.get("path"), sheet.attrs.get("path")

    sheet = match_samples(expr, sheet, orientation)  # 1
    labels = sheet["label"].astype(str).str.strip().to_numpy(dtype=object)
    groups = sheet["group"].astype(str).to_numpy(dtype=object).astype(str)
    cls = resolve_classes(labels, positive_label, merge_other_classes, min_samples_per_class, spath)  # 2
    try:  # 3: before any value-dependent step, so that those are fitted on train samples only
        split = grouped_split(cls.labels, groups, test_fraction=test_fraction, seed=seed)
    except InputError as exc:
        raise InputError(spath, exc.message) from None
    train = split == "train"

    samples = list(expr.index.astype(str))
    genes = [str(g) for g in expr.columns]
    x = expr.to_numpy(dtype=np.float64, copy=True)
    x, detected, reason, value_info = to_log_values(
        x, values, scale, genes, samples, epath, expr.attrs.get("values_hint")
    )  # 4
    if expr.attrs.get("format") == "geo_series" and gene_map is None and gene_ids == "symbol":
        raise InputError(
            epath, "a GEO series matrix is keyed by probe ids: pass --gene-map (a probe -> symbol "
            "table, e.g. the platform's GPL annotation) or --gene-ids ensembl/entrez",
        )
    symbols, mapped, mapping = map_gene_ids(genes, gene_ids, gene_map, idmaps, epath)  # 4b
    if mapping is not None:
        x, genes = x[:, mapped], [s for s, k in zip(symbols, mapped, strict=True) if k]
        value_info["gene_ids"] = gene_ids
        value_info["gene_id_mapping"] = mapping.as_dict()
    x, genes, nan_counts = resolve_nan(x, genes, nan, train, epath)  # 5
    x, genes, n_dup_symbols, n_dup_removed = aggregate_duplicates(x, genes, duplicates, train)  # 6
    if n_dup_symbols:
        log.warning(
            "%s: %d duplicated gene symbols (%d extra rows) aggregated with rule %r",
            epath,
            n_dup_symbols,
            n_dup_removed,
            duplicates,
        )
    x, genes, filtered = filter_genes(x, genes, train, min_expression, min_fraction, epath)  # 7
    require_genes(genes, expr.shape[1], filtered, nan_counts, epath)
    scaled, mins, maxs = minmax_fit_transform(x, train)  # 8

    summary = {
        **(extra_params or {}),
        "orientation": orientation,
        "positive_label": cls.positive,
        "merge_other_classes": bool(merge_other_classes),
        "test_fraction": float(test_fraction),
        "n_splits": int(max(2, round(1 / test_fraction))),
        "test_fraction_observed": round(float((split == "test").mean()), 4),
        "seed": int(seed),
        "scale": scale,
        "scale_detected": detected,
        "scale_reason": reason,
        **value_info,
        "duplicates": duplicates,
        "nan": nan,
        "min_samples_per_class": int(min_samples_per_class),
        "min_expression": float(min_expression),
        "min_fraction": float(min_fraction),
        **_counts_summary(expr, x, genes, groups, nan_counts, filtered, n_dup_symbols, n_dup_removed),
        **_classes_summary(cls, split),
    }
    adata = _assemble(scaled, x, mins, maxs, samples, genes, cls, groups, split, summary)
    log.info(
        "prepared %d samples x %d genes (of %d read); train %s, test %s",
        x.shape[0],
        len(genes),
        summary["n_genes_in"],
        summary["samples_per_class"]["train"],
        summary["samples_per_class"]["test"],
    )
    return adata


def _check_options(scale: str, duplicates: str, nan: str) -> None:
    """ValueError for an option outside its choices (the CLI never passes one)."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    if duplicates not in DUPLICATE_RULES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_RULES}, got {duplicates!r}")
    if nan not in NAN_RULES:
        raise ValueError(f"nan must be one of {NAN_RULES}, got {nan!r}")


def _counts_summary(
    expr: pd.DataFrame,
    x: np.ndarray,
    genes: list[str],
    groups: np.ndarray,
    nan: NanCounts,
    filtered: FilterCounts,
    n_dup_symbols: int,
    n_dup_removed: int,
) -> dict[str, object]:
    """The sample, gene and drop counts of ``.uns['prepare']`` (in their documented order)."""
    repairs = expr.attrs.get("excel_repairs", {})
    return {
        "n_samples": int(x.shape[0]),
        "n_groups": int(len(set(groups))),
        "n_genes_in": int(expr.attrs.get("n_genes_read", expr.shape[1])),
        "n_excel_repaired": len(repairs),
        "excel_repairs": dict(repairs),
        "n_duplicate_symbols": int(n_dup_symbols),
        "n_duplicate_rows_aggregated": int(n_dup_removed),
        "n_nan_values": nan.values,
        "n_nan_genes": nan.genes,
        "n_nan_imputed": nan.imputed,
        "n_dropped_nan": nan.dropped,
        "n_dropped_low_expression": filtered.low_expression,
        "n_dropped_zero_variance": filtered.zero_variance,
        "n_dropped_constant_train": filtered.constant_train,
        "n_genes_out": len(genes),
    }


def _classes_summary(cls: Classes, split: np.ndarray) -> dict[str, object]:
    """Class counts as read, merged, and per split, for ``.uns['prepare']``."""
    return {
        "classes_found": {k: int(v) for k, v in cls.found.items()},
        "merged_into_other": {k: int(v) for k, v in cls.merged.items()},
        "samples_per_class": {
            s: class_counts(cls.labels[split == s], cls.classes) for s in ("train", "test")
        },
    }


def _assemble(
    scaled: np.ndarray,
    x: np.ndarray,
    mins: np.ndarray,
    maxs: np.ndarray,
    samples: list[str],
    genes: list[str],
    cls: Classes,
    groups: np.ndarray,
    split: np.ndarray,
    summary: dict[str, object],
) -> anndata.AnnData:
    """The prepared AnnData: scaled ``.X``, ``layers['log']``, categorical ``.obs``."""
    obs = pd.DataFrame(
        {
            "label": pd.Categorical(cls.labels, categories=cls.classes),
            "group": pd.Categorical(groups),
            "split": pd.Categorical(split, categories=["train", "test"]),
        },
        index=pd.Index(samples, dtype=object),
    )
    var = pd.DataFrame({"scale_min": mins, "scale_max": maxs}, index=pd.Index(genes, dtype=object))
    import anndata as ad  # imported late: validation errors are reported without its import cost

    adata = ad.AnnData(X=scaled, obs=obs, var=var, layers={"log": x})
    adata.uns["positive_label"] = cls.positive
    adata.uns["classes"] = cls.classes
    adata.uns["prepare"] = summary
    adata.uns["log1p"] = {"base": 2}  # layers['log'] is log2(x + 1): scanpy's fold changes
    return adata
