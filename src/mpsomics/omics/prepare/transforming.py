"""Value transforms of ``prepare``: log scale, NaN rules, duplicated symbols, gene filters.

Every step that looks at values (NaN imputation, the duplicate row kept, the gene
filters) is fitted on the **train** samples only, so test samples never decide
which genes or values the model sees.
"""

from __future__ import annotations

import logging
import warnings
from typing import NamedTuple

import numpy as np

from mpsomics.core.errors import InputError
from mpsomics.core.readers import duplicated

# One logger for the whole stage: log lines keep the name they had before the split.
log = logging.getLogger(__package__)

SCALES = ("auto", "linear", "log")
#: ``values``: what the numbers are; ``auto`` defers to ``scale`` when that is given.
VALUES = ("auto", "counts", "log", "linear")
#: Library-size normalisations of count data.
NORMALIZATIONS = ("cpm",)
DUPLICATE_RULES = ("most_variable", "mean", "max", "first")
NAN_RULES = ("drop_gene", "impute_median")
#: Linear-scale threshold of the ``auto`` scale detection.
LINEAR_MAX = 50.0


# ---------------------------------------------------------------------------- log scale


def detect_scale(x: np.ndarray) -> tuple[str, str]:
    """Guess whether values are linear or log scale.

    Linear if the maximum finite value is > :data:`LINEAR_MAX` (no log2 expression
    reaches 2**50), or if every value is a non-negative integer and the maximum is
    > 1 (counts); otherwise log.

    Parameters
    ----------
    x
        Values (NaN allowed).

    Returns
    -------
    tuple
        ``("linear" | "log", reason)``.
    """
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return "log", "no finite values"
    vmax = float(finite.max())
    if vmax > LINEAR_MAX:
        return "linear", f"max {vmax:g} > {LINEAR_MAX:g}"
    if finite.min() >= 0 and vmax > 1 and np.all(finite == np.round(finite)):
        return "linear", f"non-negative integers (counts), max {vmax:g}"
    return "log", f"max {vmax:g} <= {LINEAR_MAX:g} and not integer counts"


def to_log_scale(
    x: np.ndarray, scale: str, genes: list[str], samples: list[str], path: str | None
) -> tuple[np.ndarray, str, str]:
    """Apply ``log2(x + 1)`` to linear-scale data (detected when ``scale="auto"``).

    Parameters
    ----------
    x
        Samples x genes values.
    scale
        ``auto`` | ``linear`` | ``log``.
    genes, samples
        Named in the error about negative values.
    path
        The matrix file, for messages.

    Returns
    -------
    tuple
        ``(x, detected, reason)``: the log-scale values, ``"linear"``/``"log"``
        and why (``"given"`` when not detected).

    Raises
    ------
    InputError
        Negative values in data treated as linear.
    """
    if scale == "auto":
        detected, reason = detect_scale(x)
        log.info("%s: scale detected as %s (%s)", path, detected, reason)
    else:
        detected, reason = scale, "given"
    if detected != "linear":
        return x, detected, reason
    neg = np.nan_to_num(x, nan=0.0) < 0
    if neg.any():
        r, c = (int(v[0]) for v in np.nonzero(neg))
        raise InputError(
            path,
            f"negative value {x[r, c]:g} for gene {genes[c]!r}, sample {samples[r]!r} "
            f"({int(neg.sum())} negative values) but log2(x+1) is applied to linear-scale data "
            f"(scale {reason}); pass --scale log if the data are already log-scale",
        )
    return np.log2(x + 1.0), detected, reason


# ------------------------------------------------------------------------------ counts


def detect_values(x: np.ndarray, hint: str | None = None) -> tuple[str, str]:
    """``counts``, ``linear`` or ``log``: counts when every value is a non-negative integer
    (max > 1) or the reader says so (``hint``, e.g. featureCounts, salmon NumReads);
    otherwise :func:`detect_scale`."""
    finite = x[np.isfinite(x)]
    if hint == "counts":
        return "counts", "the input format holds counts"
    if finite.size and finite.min() >= 0 and finite.max() > 1 and np.all(finite == np.round(finite)):
        return "counts", f"non-negative integers, max {float(finite.max()):g}"
    return detect_scale(x)


def log_cpm(x: np.ndarray, path: str | None, samples: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """log2(CPM + 1) of a samples x genes count matrix; library size = row sums of ``x``.

    ``x`` must hold every gene read (before any gene is dropped). scanpy's
    ``normalize_total(target_sum=1e6)`` + ``log1p(base=2)`` without NaN, numpy otherwise.

    Returns
    -------
    tuple
        ``(log values, library sizes)``.
    """
    neg = np.nan_to_num(x, nan=0.0) < 0
    if neg.any():
        r, c = (int(v[0]) for v in np.nonzero(neg))
        raise InputError(path, f"negative count {x[r, c]:g} (sample {samples[r]!r}): these are not counts; "
                               "pass --values log or linear")
    lib = np.nansum(x, axis=1)
    if (lib <= 0).any():
        raise InputError(path, f"sample {samples[int(np.flatnonzero(lib <= 0)[0])]!r} has no counts "
                               "(library size 0)")
    if np.isnan(x).any():
        return np.log2(x / lib[:, None] * 1e6 + 1.0), lib
    import anndata as ad
    import scanpy as sc

    adata = ad.AnnData(x.copy())
    sc.pp.normalize_total(adata, target_sum=1e6)
    sc.pp.log1p(adata, base=2)
    return np.asarray(adata.X, dtype=np.float64), lib


def to_log_values(
    x: np.ndarray,
    values: str,
    scale: str,
    genes: list[str],
    samples: list[str],
    path: str | None,
    hint: str | None = None,
) -> tuple[np.ndarray, str, str, dict[str, object]]:
    """The log-scale values: counts -> log2(CPM + 1), linear -> log2(x + 1), log as is.

    ``values="auto"`` with ``scale`` other than ``auto`` is the old behaviour of
    ``scale`` (:func:`to_log_scale`); ``values="auto"`` and ``scale="auto"`` detects
    counts first (:func:`detect_values`).

    Returns
    -------
    tuple
        ``(x, detected, reason, extra)``: ``extra`` is empty unless counts were
        normalised (then ``values``, ``normalization`` and library-size figures for
        ``.uns['prepare']``).
    """
    if values == "auto" and scale != "auto":
        x, detected, reason = to_log_scale(x, scale, genes, samples, path)
        return x, detected, reason, {}
    if values == "auto":
        detected, reason = detect_values(x, hint)
        if detected != "counts":  # as before counts were known: the scale detection and its log line
            x, detected, reason = to_log_scale(x, "auto", genes, samples, path)
            return x, detected, reason, {}
        log.info("%s: values detected as counts (%s)", path, reason)
    else:
        detected, reason = values, "given"
    if detected != "counts":
        x, detected, reason = to_log_scale(x, detected, genes, samples, path)
        extra = {} if values == "auto" else {"values": values}
        return x, detected, reason, extra
    if np.nan_to_num(x).max() <= 1:
        log.warning("%s: values treated as counts but the maximum is <= 1", path)
    logged, lib = log_cpm(x, path, samples)
    log.info(
        "%s: counts normalised to log2(CPM + 1) (library size = column sum over all %d genes read; "
        "median %.3g, range %.3g-%.3g)", path, x.shape[1], float(np.median(lib)), float(lib.min()),
        float(lib.max()),
    )
    extra = {
        "values": values,
        "normalization": "log2(CPM + 1)",
        "library_size_median": float(np.median(lib)),
        "library_size_min": float(lib.min()),
        "library_size_max": float(lib.max()),
    }
    return logged, "counts", reason, extra


# ---------------------------------------------------------------------------------- NaN


class NanCounts(NamedTuple):
    """What :func:`resolve_nan` did (the ``n_nan_*`` fields of ``.uns['prepare']``)."""

    values: int
    genes: int
    imputed: int
    dropped: int


def resolve_nan(
    x: np.ndarray, genes: list[str], rule: str, train: np.ndarray, path: str | None
) -> tuple[np.ndarray, list[str], NanCounts]:
    """Apply the NaN rule: drop genes with a NaN, or impute the gene's train median.

    Parameters
    ----------
    x
        Samples x genes log values.
    genes
        Gene symbols of the columns.
    rule
        ``drop_gene`` | ``impute_median`` (genes without a finite train value are
        dropped).
    train
        Boolean mask of the train rows: the median is theirs only.
    path
        The matrix file, for messages.

    Returns
    -------
    tuple
        ``(x, genes, counts)`` without NaN.
    """
    nan_mask = np.isnan(x)
    n_nan = int(nan_mask.sum())
    nan_genes = nan_mask.any(axis=0)
    if not n_nan:
        return x, genes, NanCounts(0, int(nan_genes.sum()), 0, 0)
    n_imputed = 0
    if rule == "drop_gene":
        keep = ~nan_genes
        n_dropped = int(nan_genes.sum())
        log.warning("%s: %d NaN values in %d genes: genes dropped", path, n_nan, n_dropped)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slice
            med = np.nanmedian(x[train], axis=0)
        keep = ~np.isnan(med)
        fill = nan_mask & keep
        n_imputed = int(fill.sum())
        x = np.where(fill, med[None, :], x)
        n_dropped = int((~keep).sum())
        log.warning(
            "%s: %d NaN values in %d genes: %d imputed with the train median, %d genes without train values dropped",
            path,
            n_nan,
            int(nan_genes.sum()),
            n_imputed,
            n_dropped,
        )
    genes = [g for g, k in zip(genes, keep, strict=True) if k]
    return x[:, keep], genes, NanCounts(n_nan, int(nan_genes.sum()), n_imputed, n_dropped)


# ------------------------------------------------------------------- duplicated symbols


def aggregate_duplicates(
    x: np.ndarray, genes: list[str], rule: str, train: np.ndarray | None = None
) -> tuple[np.ndarray, list[str], int, int]:
    """Collapse duplicated gene columns at their first position.

    Parameters
    ----------
    x
        Samples x genes values.
    genes
        Column symbols, possibly duplicated.
    rule
        ``most_variable`` keeps the column with the largest variance, ``max`` the
        one with the largest mean, ``first`` the first one; ``mean`` averages them.
    train
        Rows on which ``most_variable``/``max`` decide (all rows when ``None``), so
        test samples never choose a gene.

    Returns
    -------
    tuple
        ``(x, genes, n_duplicated_symbols, n_columns_removed)``.
    """
    fit = x if train is None else x[train]
    if rule not in DUPLICATE_RULES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_RULES}, got {rule!r}")
    dups = set(duplicated(genes))
    if not dups:
        return x, genes, 0, 0
    positions: dict[str, list[int]] = {}
    for i, g in enumerate(genes):
        positions.setdefault(g, []).append(i)
    out = np.empty((x.shape[0], len(positions)), dtype=np.float64)
    for j, idx in enumerate(positions.values()):
        if len(idx) == 1 or rule == "first":
            out[:, j] = x[:, idx[0]]
            continue
        block = x[:, idx]
        if rule == "most_variable":
            out[:, j] = block[:, int(np.argmax(fit[:, idx].var(axis=0)))]
        elif rule == "max":
            out[:, j] = block[:, int(np.argmax(fit[:, idx].mean(axis=0)))]
        else:  # mean
            out[:, j] = block.mean(axis=1)
    return out, list(positions), len(dups), x.shape[1] - len(positions)


# --------------------------------------------------------------------------- gene filters


class FilterCounts(NamedTuple):
    """Genes dropped by :func:`filter_genes`."""

    low_expression: int
    zero_variance: int
    #: Always 0: zero variance is already judged on train samples (kept for the
    #: ``n_dropped_constant_train`` field of ``.uns['prepare']``).
    constant_train: int = 0


def filter_genes(
    x: np.ndarray,
    genes: list[str],
    train: np.ndarray,
    min_expression: float,
    min_fraction: float,
    path: str | None,
) -> tuple[np.ndarray, list[str], FilterCounts]:
    """Keep expressed genes that vary, judged on the train samples only.

    Parameters
    ----------
    x
        Samples x genes log values.
    genes
        Column symbols.
    train
        Boolean mask of the train rows.
    min_expression, min_fraction
        Keep genes with log value ``>= min_expression`` in at least
        ``min_fraction`` of the train samples; then drop genes with zero variance
        on the train samples.
    path
        The matrix file, for messages.

    Returns
    -------
    tuple
        ``(x, genes, counts)``; may be empty (see :func:`require_genes`).
    """
    xt = x[train]
    expressed = (xt >= min_expression).sum(axis=0) >= min_fraction * xt.shape[0]
    n_low = int((~expressed).sum())
    x, genes = x[:, expressed], [g for g, k in zip(genes, expressed, strict=True) if k]
    xt = x[train]
    varying = xt.max(axis=0) > xt.min(axis=0) if x.shape[1] else np.zeros(0, bool)
    n_zero_var = int((~varying).sum())
    x, genes = x[:, varying], [g for g, k in zip(genes, varying, strict=True) if k]
    counts = FilterCounts(n_low, n_zero_var)
    log.info(
        "%s: dropped %d low-expression genes (log value >= %g in < %g of samples), %d zero-variance "
        "genes, %d genes constant on train",
        path,
        n_low,
        min_expression,
        min_fraction,
        n_zero_var,
        counts.constant_train,
    )
    return x, genes, counts


def require_genes(
    genes: list[str], n_genes_in: int, filtered: FilterCounts, nan: NanCounts, path: str | None
) -> None:
    """Raise :class:`InputError` with every drop count when no gene is left."""
    if genes:
        return
    raise InputError(
        path,
        f"no gene left after filtering ({n_genes_in} read, {filtered.low_expression} low-expression, "
        f"{filtered.zero_variance} zero-variance, {filtered.constant_train} constant on train, "
        f"{nan.dropped} NaN); lower --min-expression / --min-fraction or check --scale",
    )
