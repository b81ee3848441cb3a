"""Independent cohorts: read, transform to log scale and scale without labels.

A cohort is read by the ``prepare`` package's own readers and transformations (format
detection, counts -> log2(CPM + 1), gene-id mapping, duplicate symbols, NaN), so any input
``prepare`` accepts is a valid cohort; only its ``layers["log"]`` is kept — the split and the
training-split min–max of ``prepare`` are not used, and no gene is filtered by expression.

Scaling is **per cohort and label-free**: the MPS features are each gene's min–max over all
the cohort's samples (:func:`minmax`), subcommunity scores use each gene's z-score over the
cohort's samples (:func:`zscores`). Both are invariant under an affine change of the log
values (another platform's offset and spread), so a cohort given as ``3 x + 5`` validates
exactly as the original, and a counts table goes through the same log-CPM as ``prepare``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mpsomics.core.errors import InputError

log = logging.getLogger(__name__)

#: Keys of a cohort's config (``validation.cohorts.<name>``).
COHORT_KEYS = ("expression", "samples", "sample_col", "label_col", "group_col", "positive_label",
               "format", "values", "gene_ids", "gene_map")


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


def load_cohort(name: str, cfg: Mapping) -> Cohort:
    """Read cohort ``name`` from its config mapping (keys :data:`COHORT_KEYS`).

    Raises
    ------
    InputError
        Unknown key, missing ``expression``/``positive_label``, or anything ``prepare``
        rejects (naming the cohort's file).
    """
    from mpsomics.omics.prepare.pipeline import prepare
    from mpsomics.omics.prepare.reading import read_expression, read_sample_sheet

    unknown = sorted(set(cfg) - set(COHORT_KEYS))
    if unknown:
        raise InputError(None, f"cohort {name!r}: unknown key(s) {', '.join(unknown)}; use {', '.join(COHORT_KEYS)}")
    for key in ("expression", "positive_label"):
        if not cfg.get(key):
            raise InputError(None, f"cohort {name!r}: {key!r} is required")
    fmt = cfg.get("format") or "auto"
    expr = read_expression(cfg["expression"], format=fmt)
    sheet = read_sample_sheet(
        cfg.get("samples"), sample_col=cfg.get("sample_col") or "sample",
        label_col=cfg.get("label_col") or "label", group_col=cfg.get("group_col"),
        expression=cfg["expression"], format=fmt,
    )
    adata = prepare(
        expr, sheet, positive_label=str(cfg["positive_label"]), min_expression=-np.inf,
        min_fraction=0.0, values=cfg.get("values") or "auto", gene_ids=cfg.get("gene_ids") or "symbol",
        gene_map=cfg.get("gene_map"),
    )
    values = adata.layers["log"]
    values = np.asarray(values.toarray() if hasattr(values, "toarray") else values, dtype=np.float64)
    frame = pd.DataFrame(values, index=adata.obs_names.astype(str), columns=adata.var_names.astype(str))
    cohort = Cohort(name, frame, adata.obs["label"].astype(str).to_numpy(),
                    adata.obs["group"].astype(str).to_numpy(), str(cfg["positive_label"]))
    log.info("cohort %s: %d samples (%d %s), %d patients, %d genes", name, len(frame),
             int(cohort.y.sum()), cohort.positive, len(set(cohort.groups)), frame.shape[1])
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
