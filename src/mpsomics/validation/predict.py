"""Apply a saved model (MPS or TTN) to new samples.

Features must be what the model was trained on: per-gene values in [0, 1].

- A **prepared** ``.h5ad`` (of ``mpsomics prepare``) is used as it is: its ``.X`` is
  already min–max scaled on its own training split, exactly what ``train`` saw, so the
  training samples get their training-time scores back (:func:`predict_prepared`).
- A **raw table** (any input ``prepare`` reads) is turned into log values as ``prepare``
  does (:func:`mpsomics.validation.cohorts.read_log_values`: counts -> log2(CPM + 1),
  linear -> log2(x + 1), log as is) and scaled by one of two policies
  (:func:`features`):

  - ``cohort`` (default): each gene's min–max over the new samples themselves, without
    labels. Invariant under an affine change of the log values, so it works across
    platforms and scales, but needs a cohort of many samples spanning both classes (a
    single sample, or a cohort of one class, is scaled onto the whole [0, 1]).
  - ``train``: the training split's min–max stored in the reference prepared AnnData
    (``var`` ``scale_min``/``scale_max``), clipped to [0, 1] as ``prepare`` does for its
    test samples. Only for samples measured like the training data (same platform, same
    transformation); works for a single sample.

Output (:func:`predict_table`): ``sample``, ``probability_<class>`` of each class (Born
probabilities f_ℓ² / Σ f², summing to 1), ``predicted`` (the most probable class) and,
when known, ``label``.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

from mpsomics.core.errors import InputError
from mpsomics.validation.cohorts import minmax, read_log_values

log = logging.getLogger(__name__)

SCALINGS = ("cohort", "train")


def train_scaled(log_values: pd.DataFrame, reference_var: pd.DataFrame) -> pd.DataFrame:
    """Min–max of ``log_values`` (samples x genes) by the training ``scale_min``/``scale_max``."""
    lo = reference_var.loc[log_values.columns, "scale_min"].to_numpy(dtype=float)
    hi = reference_var.loc[log_values.columns, "scale_max"].to_numpy(dtype=float)
    span = np.where(hi > lo, hi - lo, 1.0)
    return pd.DataFrame(np.clip((log_values.to_numpy() - lo) / span, 0.0, 1.0),
                        index=log_values.index, columns=log_values.columns)


def features(log_values: pd.DataFrame, genes: list[str], scaling: str,
             reference_var: pd.DataFrame | None = None, path: str | None = None,
             reference_path: str | os.PathLike | None = None) -> np.ndarray:
    """The model's feature matrix (samples x ``genes``) under a scaling policy.

    ``path`` (the expression table) and ``reference_path`` (the prepared ``.h5ad``
    behind ``reference_var``) only name the files in messages.

    Raises
    ------
    InputError
        A model gene missing from the table, an unknown policy, or ``train`` without the
        reference's scaling of every gene.
    """
    missing = [g for g in genes if g not in log_values.columns]
    if missing:
        raise InputError(path, f"{len(missing)} model gene(s) missing: {', '.join(missing[:5])}")
    sub = log_values[genes]
    if scaling == "cohort":
        return minmax(sub.to_numpy(dtype=float))
    if scaling == "train":
        if reference_var is None:
            raise InputError("--scaling", "train needs --reference, the prepared .h5ad the model was trained on")
        if not {"scale_min", "scale_max"} <= set(reference_var.columns):
            raise InputError(reference_path or "--reference", "has no var scale_min/scale_max: "
                             "give the prepared .h5ad of `mpsomics prepare` the model was trained on")
        absent = [g for g in genes if g not in reference_var.index]
        if absent:
            raise InputError(reference_path or "--reference", f"has no training scaling for {len(absent)} "
                             f"model gene(s): {', '.join(absent[:5])}")
        return train_scaled(sub, reference_var).to_numpy()
    raise InputError("--scaling", f"unknown scaling {scaling!r}; use one of {', '.join(SCALINGS)}")


def predict_table(model, x: np.ndarray, samples: list[str], labels=None) -> pd.DataFrame:
    """Per-sample Born probabilities of each class and the predicted class (largest)."""
    from mpsomics.ttn.classifier import log_scores

    scaled, _ = log_scores(model, np.asarray(x, dtype=np.float64))
    prob = scaled**2
    table = pd.DataFrame({"sample": samples})
    for j, c in enumerate(model.classes):
        table[f"probability_{c}"] = prob[:, j]
    table["predicted"] = np.asarray(model.classes, dtype=object)[prob.argmax(axis=1)]
    if labels is not None:
        table["label"] = list(labels)
    return table


def predict_prepared(model, path: str | os.PathLike) -> pd.DataFrame:
    """:func:`predict_table` of every sample of a prepared ``.h5ad`` (its ``.X``), with ``label`` and ``split``."""
    from mpsomics.core.readers import read_prepared

    adata = read_prepared(path)
    genes = list(model.genes)
    missing = [g for g in genes if g not in adata.var_names]
    if missing:
        raise InputError(path, f"{len(missing)} model gene(s) missing: {', '.join(missing[:5])}")
    x = adata[:, genes].X
    x = np.clip(np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=float), 0.0, 1.0)
    table = predict_table(model, x, list(map(str, adata.obs_names)), adata.obs["label"].astype(str).to_numpy())
    table["split"] = adata.obs["split"].astype(str).to_numpy()
    return table


def sheet_labels(path: str | os.PathLike, sample_col: str, label_col: str, samples: list[str]) -> list[str]:
    """The label of each of ``samples`` from a sample sheet (``""`` for a sample not in it)."""
    from mpsomics.core.readers import read_tsv

    sheet = read_tsv(path, required=(sample_col, label_col))
    labels = dict(zip(sheet[sample_col].astype(str), sheet[label_col].astype(str), strict=True))
    unknown = [s for s in samples if s not in labels]
    if len(unknown) == len(samples):
        raise InputError(path, f"none of the samples is in column {sample_col!r} (e.g. {samples[0]!r}); "
                         "wrong --sample-col?")
    if unknown:
        log.warning("%s: %d sample(s) without a label: %s", path, len(unknown), ", ".join(unknown[:5]))
    return [labels.get(s, "") for s in samples]


def predict_file(
    model,
    expression: str | os.PathLike,
    *,
    scaling: str = "cohort",
    reference: str | os.PathLike | None = None,
    samples: str | os.PathLike | None = None,
    sample_col: str = "sample",
    label_col: str = "label",
    format: str = "auto",  # noqa: A002 - prepare's option name
    values: str = "auto",
    gene_ids: str = "symbol",
    gene_map: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """The prediction table of a prepared ``.h5ad`` or of a raw expression file.

    A file ending in ``.h5ad`` is read as a prepared AnnData (:func:`predict_prepared`;
    ``scaling`` does not apply); anything else as ``prepare``'s input, scaled by
    ``scaling`` (``train`` reads the min–max of the prepared ``reference``), with the
    labels of the sheet ``samples`` when given.
    """
    if scaling not in SCALINGS:
        raise InputError("--scaling", f"unknown scaling {scaling!r}; use one of {', '.join(SCALINGS)}")
    if str(expression).endswith(".h5ad"):
        if scaling == "train" or reference:
            log.info("%s: a prepared .h5ad is used as it is (its .X is scaled on its training split); "
                     "--scaling/--reference ignored", expression)
        return predict_prepared(model, expression)
    if scaling == "train" and not reference:
        raise InputError("--scaling", "train needs --reference, the prepared .h5ad the model was trained on")
    values_frame = read_log_values(expression, format=format, values=values, gene_ids=gene_ids, gene_map=gene_map)
    log.info("%s: %d samples x %d genes (values %s), scaling %s", expression, *values_frame.shape,
             values_frame.attrs.get("values"), scaling)
    ref_var = None
    if scaling == "train":
        from mpsomics.core.readers import read_prepared

        ref_var = read_prepared(reference).var
    x = features(values_frame, list(model.genes), scaling, ref_var, str(expression), reference)
    ids = [str(s) for s in values_frame.index]
    labels = sheet_labels(samples, sample_col, label_col, ids) if samples else None
    return predict_table(model, x, ids, labels)
