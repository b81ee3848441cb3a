"""Independent cohorts: read, transform to log scale and scale without labels.

A cohort is read by the ``prepare`` package's own readers and transformations
(:func:`read_log_values`: format detection, counts -> log2(CPM + 1), linear -> log2(x + 1),
gene-id mapping, NaN genes dropped, duplicate symbols collapsed), so any input ``prepare``
accepts is a valid cohort and is transformed exactly as ``prepare`` would. Unlike
``prepare`` there is no train/test split and no gene filter: every step that looks at the
values looks at **all** the cohort's samples and never at the labels (the duplicate row
kept is the most variable over all samples), and every gene is kept, so a gene missing
from a set is missing from the file, not filtered away.

Scaling is **per cohort and label-free**: the MPS features are each gene's min–max over all
the cohort's samples (:func:`minmax`), subcommunity scores use each gene's z-score over the
cohort's samples (:func:`zscores`). Both are invariant under an affine change of the log
values (another platform's offset and spread), so a cohort given as ``3 x + 5`` validates
exactly as the original, and a counts table goes through the same log-CPM as ``prepare``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mpsomics.core.errors import InputError

log = logging.getLogger(__name__)

#: Keys of a cohort's config (``validation.cohorts.<name>``).
COHORT_KEYS = ("expression", "samples", "sample_col", "label_col", "group_col", "positive_label",
               "format", "values", "gene_ids", "gene_map")
#: Smallest class of a cohort (an AUC and its bootstrap need a few samples of each class).
MIN_PER_CLASS = 3


@dataclass
class Cohort:
    """One labelled cohort: log values (samples x genes), labels, patients."""

    name: str
    log: pd.DataFrame
    labels: np.ndarray
    groups: np.ndarray
    positive: str

    @property
    def y(self) -> np.ndarray:
        """1 for the positive class, 0 otherwise."""
        return (self.labels == self.positive).astype(int)

    @property
    def genes(self) -> list[str]:
        return [str(g) for g in self.log.columns]


def _check_choice(value: str, choices: tuple[str, ...], what: str, where: str | None) -> None:
    if value not in choices:
        raise InputError(where, f"{what} {value!r} is not one of {', '.join(choices)}")


def read_log_values(
    expression: str | os.PathLike,
    *,
    format: str = "auto",  # noqa: A002 - the config key's name
    values: str = "auto",
    gene_ids: str = "symbol",
    gene_map: str | os.PathLike | None = None,
    what: str | None = None,
) -> pd.DataFrame:
    """Log values (samples x gene symbols) of an expression file, transformed as ``prepare`` does.

    Parameters
    ----------
    expression
        Any input of ``prepare`` (table, featureCounts, salmon/kallisto, GEO series, h5ad).
    format, values, gene_ids, gene_map
        As the ``prepare`` options of the same names (``values: auto`` detects counts).
    what
        Prefix of error messages for options (e.g. ``cohort 'gse77314':``).

    Returns
    -------
    pandas.DataFrame
        Samples x genes, no NaN, unique gene symbols; ``attrs['values']`` is the detected
        or given kind of values and ``attrs['path']`` the file.

    Raises
    ------
    InputError
        Anything ``prepare`` rejects, or an unknown option value.
    """
    from mpsomics.omics.prepare.formats import FORMATS
    from mpsomics.omics.prepare.geneids import GENE_ID_TYPES, map_gene_ids
    from mpsomics.omics.prepare.reading import read_expression
    from mpsomics.omics.prepare.transforming import (
        VALUES,
        aggregate_duplicates,
        resolve_nan,
        to_log_values,
    )

    where = f"{what} " if what else ""
    _check_choice(format, FORMATS, f"{where}format", None)
    _check_choice(values, VALUES, f"{where}values", None)
    _check_choice(gene_ids, GENE_ID_TYPES, f"{where}gene_ids", None)
    expr = read_expression(expression, format=format)
    epath = expr.attrs.get("path")
    samples, genes = list(expr.index.astype(str)), [str(g) for g in expr.columns]
    x = expr.to_numpy(dtype=np.float64, copy=True)
    x, detected, _, _ = to_log_values(x, values, "auto", genes, samples, epath, expr.attrs.get("values_hint"))
    if expr.attrs.get("format") == "geo_series" and gene_map is None and gene_ids == "symbol":
        raise InputError(epath, f"{where}a GEO series matrix is keyed by probe ids: give gene_map (probe -> "
                         "symbol) or gene_ids ensembl/entrez")
    symbols, mapped, mapping = map_gene_ids(genes, gene_ids, gene_map, None, epath)
    if mapping is not None:
        x, genes = x[:, mapped], [s for s, k in zip(symbols, mapped, strict=True) if k]
    everyone = np.ones(len(samples), dtype=bool)  # no split: all samples, labels never looked at
    x, genes, _ = resolve_nan(x, genes, "drop_gene", everyone, epath)
    x, genes, n_dup, n_removed = aggregate_duplicates(x, genes, "most_variable", None)
    if n_dup:
        log.warning("%s: %d duplicated gene symbols (%d extra rows): the most variable row kept", epath, n_dup,
                    n_removed)
    if not genes:
        raise InputError(epath, "no gene left (every gene has a NaN or no id maps to a symbol)")
    frame = pd.DataFrame(x, index=pd.Index(samples, dtype=object), columns=pd.Index(genes, dtype=object))
    frame.attrs.update(path=epath, values=detected)
    return frame


def load_cohort(name: str, cfg: Mapping) -> Cohort:
    """Read cohort ``name`` from its config mapping (keys :data:`COHORT_KEYS`).

    Raises
    ------
    InputError
        Unknown key, missing ``expression``/``positive_label``, samples of the matrix
        and the sheet that do not match, labels that are not two classes with the
        positive one, a class with fewer than :data:`MIN_PER_CLASS` samples, or
        anything ``prepare`` rejects (naming the cohort's file).
    """
    from mpsomics.omics.prepare.matching import match_samples, resolve_classes
    from mpsomics.omics.prepare.reading import read_sample_sheet

    unknown = sorted(set(cfg) - set(COHORT_KEYS))
    if unknown:
        raise InputError(None, f"cohort {name!r}: unknown key(s) {', '.join(unknown)}; use {', '.join(COHORT_KEYS)}")
    for key in ("expression", "positive_label"):
        if not cfg.get(key):
            raise InputError(None, f"cohort {name!r}: {key!r} is required")
    fmt = cfg.get("format") or "auto"
    frame = read_log_values(cfg["expression"], format=fmt, values=cfg.get("values") or "auto",
                            gene_ids=cfg.get("gene_ids") or "symbol", gene_map=cfg.get("gene_map"),
                            what=f"cohort {name!r}:")
    sheet = read_sample_sheet(
        cfg.get("samples"), sample_col=cfg.get("sample_col") or "sample",
        label_col=cfg.get("label_col") or "label", group_col=cfg.get("group_col"),
        expression=cfg["expression"], format=fmt,
    )
    sheet = match_samples(frame, sheet)
    labels = sheet["label"].astype(str).str.strip().to_numpy(dtype=object)
    positive = str(cfg["positive_label"]).strip()
    cls = resolve_classes(labels, positive, False, MIN_PER_CLASS, sheet.attrs.get("path") or cfg.get("samples"))
    cohort = Cohort(name, frame, np.asarray(cls.labels, dtype=str), sheet["group"].astype(str).to_numpy(), positive)
    log.info("cohort %s: %d samples (%d %s), %d patients, %d genes (values %s)", name, len(frame),
             int(cohort.y.sum()), positive, len(set(cohort.groups)), frame.shape[1], frame.attrs["values"])
    return cohort


def minmax(values: np.ndarray) -> np.ndarray:
    """Per-column min–max over the rows, in [0, 1]; a constant column becomes 0.5."""
    lo, hi = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
    span = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(span > 0, (values - lo) / np.where(span > 0, span, 1.0), 0.5)
    return np.clip(out, 0.0, 1.0)


def zscores(values: np.ndarray) -> np.ndarray:
    """Per-column z-scores over the rows (sample SD); a constant column becomes 0."""
    mu = values.mean(axis=0)
    sd = values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 0, (values - mu) / np.where(sd > 0, sd, 1.0), 0.0)
