"""The ``prepare`` stage: validate, transform, split and scale an expression matrix.

Output contract: ``docs/outputs.md`` ("prepare"). Library API (scanpy style)::

    expr = read_expression("expr.tsv.gz")            # samples x genes DataFrame
    sheet = read_sample_sheet("labels.tsv")          # index sample id; label, group
    adata = prepare(expr, sheet, positive_label="tumor")

Pipeline, in this order
-----------------------
1. **Match samples** between matrix and sheet. Errors: matrix looks transposed
   (more sheet ids among the genes than among the samples), duplicated sample
   ids, samples of the matrix missing from the sheet, samples of the sheet missing
   from the matrix (strict both ways; the first 5 are listed with a count; if no
   id matches at all, example ids of both files are shown: wrong ``--sample-col``?).
   Sheet: a missing ``group_col`` is an error unless it is ``"none"`` (each sample
   its own group, warning); empty or NA labels and empty groups are errors, and
   so are class labels containing ``/`` (they are h5ad keys in ``.uns``).
2. **Labels** (whitespace already stripped). Errors: labels that differ only by
   case (``Tumor`` vs ``tumor`` - never merged silently), fewer than two classes,
   more than two classes (even with ``positive_label``: a typo class such as
   ``tumour`` must not disappear) unless ``merge_other_classes=True``, which
   merges every non-positive class into a negative class named ``"other"`` with a
   warning; ``positive_label`` not among the classes; a class with fewer than
   ``min_samples_per_class`` samples. ``positive_label=None`` with exactly two
   classes takes the alphabetically last one as positive (warning).
3. **Split** (:func:`grouped_split`): patient-grouped, stratified; the first fold
   of ``StratifiedGroupKFold(n_splits=max(2, round(1/test_fraction)), shuffle=True,
   random_state=seed)`` in which every class has samples in both train and test
   (later folds are tried, in order, only if the first lacks a class; a class
   seen in a single patient is an error).
   Split before any value-dependent step so that NaN imputation and scaling are
   fitted on train samples only.
4. **Scale detection** (``scale="auto"``): the data are *linear* if the maximum
   finite value is > 50 (no log2 expression reaches 2**50), or if every value is
   a non-negative integer and the maximum is > 1 (counts); otherwise *log*.
   Linear data are transformed with ``log2(x + 1)``; negative values are then an
   error naming the gene and sample. ``scale="linear" | "log"`` overrides.
5. **NaN** (after the log transform): ``drop_gene`` drops every gene with a NaN;
   ``impute_median`` fills NaN with the gene's **train** median (genes without a
   finite train value are dropped). Counts are logged.
6. **Duplicated gene symbols** (after Excel-date repair, on the log scale):
   ``most_variable`` (default) keeps the duplicate row with the largest variance
   across samples, ``max`` keeps the row with the largest mean (the rule used to
   build the bundled TCGA matrix), ``first`` the first occurrence, and ``mean``
   averages the rows element-wise.
7. **Gene filters** (on **train** samples only, so test samples never influence
   which genes are kept): keep genes whose log value is ``>= min_expression`` in
   at least ``min_fraction`` of the train samples, then drop genes with zero
   variance on the train samples. Duplicate aggregation (step 6) likewise picks
   the row on train samples.
8. **Min-max scaling** (:func:`minmax_fit_transform`) per gene, fitted on train
   samples; test values clipped to [0, 1].

Output notes: ``.obs['label']``, ``['group']`` and ``['split']`` are categoricals
of str (h5ad stores strings that way anyway; ``label`` categories are
``[negative, positive]``); ``.uns['classes']`` reads back from h5ad as a str
array; ``.uns['prepare']`` holds only str/int/float/bool and nested dicts of
those (no ``None``: absent optional parameters are ``""``), so it is
JSON-serialisable as produced and h5ad-serialisable.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from mpsomics.core.errors import InputError
from mpsomics.core.readers import (
    NA_VALUES,
    duplicated,
    read_table,
    repair_excel_gene_symbols,
    short_list,
)

if TYPE_CHECKING:
    import anndata

log = logging.getLogger(__name__)

Orientation = Literal["genes-x-samples", "samples-x-genes"]
ORIENTATIONS = ("genes-x-samples", "samples-x-genes")
SCALES = ("auto", "linear", "log")
DUPLICATE_RULES = ("most_variable", "mean", "max", "first")
NAN_RULES = ("drop_gene", "impute_median")
OTHER_CLASS = "other"
#: Linear-scale threshold of the ``auto`` scale detection.
LINEAR_MAX = 50.0


# ------------------------------------------------------------------------------ reading


def read_expression(
    path: str | os.PathLike,
    *,
    orientation: Orientation = "genes-x-samples",
    gene_col: str | None = None,
    layer: str | None = None,
) -> pd.DataFrame:
    """Read an expression matrix as a samples x genes float DataFrame.

    Parameters
    ----------
    path
        TSV/CSV (optionally gzipped) or ``.h5ad``. For ``.h5ad`` the AnnData is
        samples x genes (``orientation`` is ignored); values come from ``.X`` or
        ``.layers[layer]``.
    orientation
        ``genes-x-samples``: one row per gene, the gene column (``gene_col``, default
        the first column) then one column per sample. ``samples-x-genes``: one row
        per sample, the sample ids in the first column, one column per gene.
    gene_col
        Name of the gene-symbol column (``genes-x-samples`` only).
    layer
        AnnData layer to use instead of ``.X`` (``.h5ad`` only).

    Returns
    -------
    pandas.DataFrame
        Index: sample ids (str); columns: gene symbols (str, may be duplicated;
        Excel-date symbols repaired). ``df.attrs`` holds ``path``, ``n_genes_read``
        and ``excel_repairs``. NaN is kept; infinities and non-numeric cells raise.

    Raises
    ------
    InputError
        Unreadable, empty, header-only, non-numeric, infinite values ...
    """
    path = Path(path)
    if orientation not in ORIENTATIONS:
        raise ValueError(f"orientation must be one of {ORIENTATIONS}, got {orientation!r}")
    if path.suffix.lower() == ".h5ad":
        df = _read_h5ad(path, layer)
    else:
        if layer:
            log.warning("%s: --layer is only used for .h5ad input; ignored", path)
        if orientation == "genes-x-samples":
            table = read_table(
                path, numeric_except=gene_col if gene_col else 0, row_kind="gene", col_kind="sample"
            )
            id_pos = list(table.columns).index(gene_col) if gene_col else 0
        else:
            if gene_col:
                log.warning("%s: --gene-col is ignored with --orientation samples-x-genes", path)
            table = read_table(path, numeric_except=0, row_kind="sample", col_kind="gene")
            id_pos = 0
        ids = table.iloc[:, id_pos].astype(str).to_numpy()
        values = table.iloc[:, [i for i in range(table.shape[1]) if i != id_pos]]
        names = [str(c) for c in values.columns]
        x = values.to_numpy(dtype=float)
        if orientation == "genes-x-samples":
            df = pd.DataFrame(x.T, index=names, columns=ids)
        else:
            df = pd.DataFrame(x, index=ids, columns=names)
    if (df.index == "").any():
        where = int(np.flatnonzero(df.index == "")[0]) + 1
        raise InputError(path, f"empty sample id (sample number {where} of {df.shape[0]})")
    empty_genes = np.asarray(df.columns == "")
    if empty_genes.any():
        log.warning("%s: dropping %d gene(s) with an empty symbol", path, int(empty_genes.sum()))
        df = df.loc[:, ~empty_genes]
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise InputError(path, f"no data: {df.shape[0]} samples x {df.shape[1]} genes")
    genes, repairs = repair_excel_gene_symbols(list(df.columns), path)
    df.columns = pd.Index(genes, dtype=object)
    df.index = pd.Index(df.index.astype(str), dtype=object, name="sample")
    df.attrs.update(path=str(path), n_genes_read=int(df.shape[1]), excel_repairs=repairs)
    log.info("%s: read %d samples x %d genes", path, df.shape[0], df.shape[1])
    return df


def _read_h5ad(path: Path, layer: str | None) -> pd.DataFrame:
    import anndata as ad
    import scipy.sparse as sp

    if not path.exists():
        raise InputError(path, "file not found")
    try:
        adata = ad.read_h5ad(path)
    except Exception as exc:  # h5py/anndata raise many types for a bad file
        msg = " ".join(str(exc).split())[:200]
        raise InputError(
            path, f"cannot read as AnnData .h5ad: {type(exc).__name__}: {msg}"
        ) from None
    if layer:
        if layer not in adata.layers:
            raise InputError(
                path,
                f"layer {layer!r} not found; layers are {short_list(list(adata.layers)) or 'none'}",
            )
        x = adata.layers[layer]
    else:
        x = adata.X
    if x is None:
        raise InputError(path, "AnnData has no .X; pass --layer")
    x = x.toarray() if sp.issparse(x) else np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise InputError(path, f"AnnData values are not numeric (dtype {x.dtype})")
    x = x.astype(float)
    inf = np.isinf(x)
    if inf.any():
        r, c = (int(v[0]) for v in np.nonzero(inf))
        raise InputError(
            path,
            f"infinite value {x[r, c]} for sample {adata.obs_names[r]!r}, gene {adata.var_names[c]!r}",
        )
    return pd.DataFrame(
        x, index=list(map(str, adata.obs_names)), columns=list(map(str, adata.var_names))
    )


def read_sample_sheet(
    path: str | os.PathLike,
    *,
    sample_col: str = "aliquot_barcode",
    label_col: str = "label",
    group_col: str | None = "patient",
) -> pd.DataFrame:
    """Read and validate a sample sheet.

    Parameters
    ----------
    path
        TSV/CSV (optionally gzipped) with a header row.
    sample_col, label_col
        Columns with the sample ids (as in the matrix) and the class labels.
    group_col
        Column with the group (patient) of each sample; ``None`` or ``"none"``
        makes each sample its own group (a warning: patients with several samples
        may then end up on both sides of the split).

    Returns
    -------
    pandas.DataFrame
        Index ``sample`` (str); columns ``label`` and ``group`` (str, stripped).

    Raises
    ------
    InputError
        Missing columns, empty ids/labels/groups, duplicated sample ids.
    """
    path = Path(path)
    table = read_table(path)
    cols = list(table.columns)
    no_group = group_col is None or group_col.strip().lower() == "none"
    for what, col in (
        ("sample", sample_col),
        ("label", label_col),
        ("group", None if no_group else group_col),
    ):
        if col is not None and col not in cols:
            hint = (
                "; pass --group-col none to make each sample its own group"
                if what == "group"
                else ""
            )
            raise InputError(
                path, f"{what} column {col!r} not found; columns are {short_list(cols, 10)}{hint}"
            )
    ids = table[sample_col].to_numpy(dtype=str)
    if (ids == "").any():
        raise InputError(
            path,
            f"empty sample id in column {sample_col!r} (data row {int(np.flatnonzero(ids == '')[0]) + 1})",
        )
    dups = duplicated(ids)
    if dups:
        raise InputError(
            path, f"duplicated sample ids in column {sample_col!r}: {short_list(dups)}"
        )
    labels = table[label_col].to_numpy(dtype=str)
    labels[np.isin(labels, NA_VALUES)] = ""
    if (labels == "").any():
        raise InputError(
            path,
            f"{int((labels == '').sum())} sample(s) have no {label_col!r}: {short_list(ids[labels == ''])}",
        )
    if no_group:
        log.warning(
            "%s: --group-col none: each sample is its own group (no patient grouping)", path
        )
        groups = ids.copy()
    else:
        groups = table[group_col].to_numpy(dtype=str)
        if (groups == "").any():
            raise InputError(
                path,
                f"{int((groups == '').sum())} sample(s) have an empty {group_col!r}: {short_list(ids[groups == ''])}",
            )
    sheet = pd.DataFrame(
        {"label": labels, "group": groups}, index=pd.Index(ids, name="sample", dtype=object)
    )
    sheet.attrs.update(
        path=str(path),
        sample_col=sample_col,
        label_col=label_col,
        group_col="none" if no_group else group_col,
    )
    return sheet


# ------------------------------------------------------------------------------- split


def grouped_split(
    labels: Sequence[str] | np.ndarray,
    groups: Sequence[str] | np.ndarray,
    test_fraction: float = 0.25,
    seed: int = 0,
) -> np.ndarray:
    """Patient-grouped, stratified train/test split.

    Parameters
    ----------
    labels, groups
        One class label and one group (patient) per sample.
    test_fraction
        Approximate test fraction, in (0, 1): the test set is one of
        ``n_splits = max(2, round(1 / test_fraction))`` folds, so fractions above 0.5
        give 0.5 (a warning is logged when the effective fraction differs by > 0.1).
    seed
        ``random_state`` of :class:`sklearn.model_selection.StratifiedGroupKFold`.

    Returns
    -------
    numpy.ndarray
        ``'train'`` / ``'test'`` per sample. No group is on both sides; every class
        has at least one sample on each side; deterministic for a seed.

    Raises
    ------
    InputError
        (without a file) when no such split exists.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    labels = np.asarray(labels).astype(str)
    groups = np.asarray(groups).astype(str)
    if labels.shape != groups.shape or labels.ndim != 1:
        raise ValueError("labels and groups must be 1-D and of the same length")
    if not 0 < test_fraction < 1:
        raise InputError(None, f"test fraction must be in (0, 1), got {test_fraction}")
    n_splits = max(2, round(1 / test_fraction))
    if abs(1 / n_splits - test_fraction) > 0.1:
        log.warning(
            "test fraction %g: using %d folds, i.e. a test fraction of about %.2f",
            test_fraction,
            n_splits,
            1 / n_splits,
        )
    classes = [str(c) for c in np.unique(labels)]
    for c in classes:
        n_groups_c = len(np.unique(groups[labels == c]))
        if n_groups_c < 2:
            raise InputError(
                None,
                f"class {c!r} occurs in only {n_groups_c} group(s); it needs at least 2 groups "
                "(patients) to have samples in both train and test",
            )
    n_groups = len(np.unique(groups))
    if n_groups < n_splits:
        raise InputError(
            None,
            f"only {n_groups} groups (patients) for test fraction {test_fraction} ({n_splits} folds)",
        )
    class_sizes = {c: int((labels == c).sum()) for c in classes}
    if all(n < n_splits for n in class_sizes.values()):  # StratifiedGroupKFold refuses this
        raise InputError(
            None,
            f"test fraction {test_fraction:g} needs {n_splits} folds but every class has fewer "
            f"samples than that ({', '.join(f'{c}: {n}' for c, n in class_sizes.items())}); "
            "use a larger --test-fraction",
        )
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has only k members"
        try:
            for _, test_idx in cv.split(np.zeros(len(labels)), labels, groups):
                split = np.full(len(labels), "train", dtype="<U5")
                split[test_idx] = "test"
                if all(set(labels[split == s]) == set(classes) for s in ("train", "test")):
                    assert not set(groups[split == "train"]) & set(groups[split == "test"])
                    return split
        except ValueError as exc:  # any other refusal of scikit-learn: report it on one line
            raise InputError(None, f"no patient-grouped split: {exc}") from None
    raise InputError(
        None,
        f"no patient-grouped split with every class in both train and test (classes "
        f"{ {c: int((labels == c).sum()) for c in classes} }, {n_groups} groups); "
        "try another --seed or --test-fraction",
    )


# ------------------------------------------------------------------------------ scaling


def minmax_fit_transform(
    x: np.ndarray, train: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-gene min-max scaling fitted on the train rows.

    Parameters
    ----------
    x
        Samples x genes values.
    train
        Boolean mask of the train rows (at least one).

    Returns
    -------
    tuple
        ``(scaled, mins, maxs)``: ``scaled`` is float64 in [0, 1] (train exactly,
        test clipped), ``mins``/``maxs`` the per-gene train minimum and maximum.

    Raises
    ------
    ValueError
        A gene is constant on the train rows (drop those first) or there are no
        train rows.
    """
    x = np.asarray(x, dtype=np.float64)
    train = np.asarray(train, dtype=bool)
    if not train.any():
        raise ValueError("no train rows")
    mins = x[train].min(axis=0)
    maxs = x[train].max(axis=0)
    span = maxs - mins
    if np.any(span <= 0):
        raise ValueError(
            f"{int((span <= 0).sum())} gene(s) constant on train; drop them before scaling"
        )
    scaled = (x - mins) / span
    np.clip(scaled, 0.0, 1.0, out=scaled)
    return scaled, mins, maxs


def detect_scale(x: np.ndarray) -> tuple[str, str]:
    """Guess whether values are linear or log scale (rule in the module docstring).

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


# ------------------------------------------------------------------------------ prepare


def _aggregate_duplicates(
    x: np.ndarray, genes: list[str], rule: str, train: np.ndarray | None = None
) -> tuple[np.ndarray, list[str], int, int]:
    """Collapse duplicated gene columns at their first position.

    Which row ``most_variable``/``max`` keep is decided on the ``train`` rows only
    (all rows when ``train`` is None), so test samples never choose a gene.
    Returns ``(x, genes, n_duplicated_symbols, n_columns_removed)``.
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


def _counts(labels: np.ndarray, classes: Sequence[str]) -> dict[str, int]:
    return {c: int((labels == c).sum()) for c in classes}


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
        ``auto`` | ``linear`` | ``log`` (see module docstring).
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
    extra_params
        Recorded as is in ``.uns['prepare']`` (e.g. file names, column names).

    Returns
    -------
    anndata.AnnData
        As documented in ``docs/outputs.md``.

    Raises
    ------
    InputError
        For every validation failure (see the module docstring).
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    if duplicates not in DUPLICATE_RULES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_RULES}, got {duplicates!r}")
    if nan not in NAN_RULES:
        raise ValueError(f"nan must be one of {NAN_RULES}, got {nan!r}")
    if positive_label is not None:
        positive_label = str(positive_label).strip()
    epath = expr.attrs.get("path")
    spath = sheet.attrs.get("path")
    ename = Path(epath).name if epath else "the expression matrix"
    sample_col = sheet.attrs.get("sample_col", "sample id")

    # 1. match samples ------------------------------------------------------------
    sheet_ids = pd.Index(sheet.index.astype(str))
    expr_ids = pd.Index(expr.index.astype(str))
    in_rows = sheet_ids.isin(expr_ids).sum()
    in_cols = sheet_ids.isin(pd.Index(expr.columns.astype(str))).sum()
    if in_cols > in_rows:
        other = "samples-x-genes" if orientation == "genes-x-samples" else "genes-x-samples"
        example = sheet_ids[sheet_ids.isin(pd.Index(expr.columns.astype(str)))][0]
        raise InputError(
            epath,
            f"the matrix looks transposed: {in_cols} sample ids of the sheet (e.g. {example!r}) are "
            f"where the genes should be; pass --orientation {other}",
        )
    dups = duplicated(expr_ids)
    if dups:
        raise InputError(epath, f"duplicated sample ids: {short_list(dups)}")
    sheet_set, expr_set = set(sheet_ids), set(expr_ids)
    missing_sheet = [s for s in expr_ids if s not in sheet_set]
    if missing_sheet:
        hint = ""
        if in_rows == 0:
            hint = f"; matrix ids look like {expr_ids[0]!r}, sheet ids like {sheet_ids[0]!r}: wrong --sample-col?"
        norm = {re.sub(r"[^0-9a-z]", "", i.lower()): i for i in sheet_ids}
        near = [
            (i, norm[k])
            for i in missing_sheet
            if (k := re.sub(r"[^0-9a-z]", "", i.lower())) in norm
        ]
        if near:
            hint = (
                f"; {len(near)} match only when ignoring case and punctuation (e.g. {near[0][0]!r} vs "
                f"{near[0][1]!r}: R make.names or Excel may have altered the ids)"
            )
        raise InputError(
            spath,
            f"{len(missing_sheet)} sample(s) of {ename} missing from the sheet "
            f"(column {sample_col!r}): {short_list(missing_sheet)}{hint}",
        )
    missing_expr = [s for s in sheet_ids if s not in expr_set]
    if missing_expr:
        raise InputError(
            spath,
            f"{len(missing_expr)} sample(s) of the sheet missing from {ename}: {short_list(missing_expr)}",
        )
    sheet = sheet.loc[expr_ids]
    samples = list(expr_ids)

    # 2. labels ---------------------------------------------------------------------
    labels = sheet["label"].astype(str).str.strip().to_numpy(dtype=object)
    groups = sheet["group"].astype(str).to_numpy(dtype=object)
    found = dict(sorted(_counts(labels, sorted(set(labels))).items()))
    found_txt = ", ".join(f"{k} ({v})" for k, v in found.items())
    by_fold: dict[str, list[str]] = {}
    for c in found:
        by_fold.setdefault(c.casefold(), []).append(c)
    case_variants = [v for v in by_fold.values() if len(v) > 1]
    if case_variants:
        raise InputError(
            spath,
            f"labels differ only by case: {', '.join('/'.join(map(repr, v)) for v in case_variants)} "
            f"(classes found: {found_txt}); fix the sheet",
        )
    if len(found) < 2:
        raise InputError(spath, f"fewer than two classes: found {found_txt}")
    slashed = [c for c in found if "/" in c]
    if slashed:  # class names are keys of .uns['prepare'] dicts; h5ad keys cannot hold '/'
        raise InputError(
            spath, f"class labels must not contain '/': {short_list(slashed)}; rename them"
        )
    if positive_label is not None and positive_label not in found:
        raise InputError(
            spath,
            f"positive label {positive_label!r} is not a class; classes found: {found_txt}; pass --positive-label",
        )
    merged: dict[str, int] = {}
    if len(found) > 2:
        if positive_label is None or not merge_other_classes:
            raise InputError(
                spath,
                f"{len(found)} classes found: {found_txt}; expected 2. Fix the labels, or pass "
                "--positive-label and --merge-other-classes to merge all other classes into "
                f"{OTHER_CLASS!r}",
            )
        merged = {c: n for c, n in found.items() if c != positive_label}
        log.warning(
            "%s: merging classes %s into the negative class %r", spath, found_txt, OTHER_CLASS
        )
        labels = np.where(labels == positive_label, positive_label, OTHER_CLASS).astype(object)
    if positive_label is None:
        positive_label = sorted(set(labels))[1]
        log.warning("%s: no positive label given; using %r", spath, positive_label)
    negative = next(c for c in sorted(set(labels)) if c != positive_label)
    classes = [negative, positive_label]
    class_counts = _counts(labels, classes)
    small = {c: n for c, n in class_counts.items() if n < min_samples_per_class}
    if small:
        raise InputError(
            spath,
            f"class(es) with fewer than {min_samples_per_class} samples: "
            f"{', '.join(f'{c} ({n})' for c, n in small.items())}",
        )
    labels = labels.astype(str)
    groups = groups.astype(str)

    # 3. split ----------------------------------------------------------------------
    try:
        split = grouped_split(labels, groups, test_fraction=test_fraction, seed=seed)
    except InputError as exc:
        raise InputError(spath, exc.message) from None
    train = split == "train"

    # 4. scale ----------------------------------------------------------------------
    x = expr.to_numpy(dtype=np.float64, copy=True)
    genes = [str(g) for g in expr.columns]
    n_genes_in = len(genes)
    if scale == "auto":
        detected, reason = detect_scale(x)
        log.info("%s: scale detected as %s (%s)", epath, detected, reason)
    else:
        detected, reason = scale, "given"
    if detected == "linear":
        neg = np.nan_to_num(x, nan=0.0) < 0
        if neg.any():
            r, c = (int(v[0]) for v in np.nonzero(neg))
            raise InputError(
                epath,
                f"negative value {x[r, c]:g} for gene {genes[c]!r}, sample {samples[r]!r} "
                f"({int(neg.sum())} negative values) but log2(x+1) is applied to linear-scale data "
                f"(scale {reason}); pass --scale log if the data are already log-scale",
            )
        x = np.log2(x + 1.0)

    # 5. NaN --------------------------------------------------------------------------
    nan_mask = np.isnan(x)
    n_nan = int(nan_mask.sum())
    nan_genes = nan_mask.any(axis=0)
    n_nan_dropped = n_imputed = 0
    if n_nan:
        if nan == "drop_gene":
            keep = ~nan_genes
            n_nan_dropped = int(nan_genes.sum())
            log.warning("%s: %d NaN values in %d genes: genes dropped", epath, n_nan, n_nan_dropped)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slice
                med = np.nanmedian(x[train], axis=0)
            keep = ~np.isnan(med)
            fill = nan_mask & keep
            n_imputed = int(fill.sum())
            x = np.where(fill, med[None, :], x)
            n_nan_dropped = int((~keep).sum())
            log.warning(
                "%s: %d NaN values in %d genes: %d imputed with the train median, %d genes without train values dropped",
                epath,
                n_nan,
                int(nan_genes.sum()),
                n_imputed,
                n_nan_dropped,
            )
        x = x[:, keep]
        genes = [g for g, k in zip(genes, keep, strict=True) if k]

    # 6. duplicates -----------------------------------------------------------------
    x, genes, n_dup_symbols, n_dup_removed = _aggregate_duplicates(x, genes, duplicates, train)
    if n_dup_symbols:
        log.warning(
            "%s: %d duplicated gene symbols (%d extra rows) aggregated with rule %r",
            epath,
            n_dup_symbols,
            n_dup_removed,
            duplicates,
        )

    # 7. gene filters -----------------------------------------------------------------
    # On train samples only: test samples never influence which genes are kept.
    xt = x[train]
    expressed = (xt >= min_expression).sum(axis=0) >= min_fraction * xt.shape[0]
    n_low = int((~expressed).sum())
    x, genes = x[:, expressed], [g for g, k in zip(genes, expressed, strict=True) if k]
    xt = x[train]
    varying = xt.max(axis=0) > xt.min(axis=0) if x.shape[1] else np.zeros(0, bool)
    n_zero_var = int((~varying).sum())
    x, genes = x[:, varying], [g for g, k in zip(genes, varying, strict=True) if k]
    n_const_train = 0  # zero variance is now judged on train samples already
    log.info(
        "%s: dropped %d low-expression genes (log value >= %g in < %g of samples), %d zero-variance "
        "genes, %d genes constant on train",
        epath,
        n_low,
        min_expression,
        min_fraction,
        n_zero_var,
        n_const_train,
    )
    if not genes:
        raise InputError(
            epath,
            f"no gene left after filtering ({n_genes_in} read, {n_low} low-expression, "
            f"{n_zero_var} zero-variance, {n_const_train} constant on train, {n_nan_dropped} NaN); "
            "lower --min-expression / --min-fraction or check --scale",
        )

    # 8. scale ----------------------------------------------------------------------
    scaled, mins, maxs = minmax_fit_transform(x, train)

    per_split = {s: _counts(labels[split == s], classes) for s in ("train", "test")}
    summary = {
        **(extra_params or {}),
        "orientation": orientation,
        "positive_label": positive_label,
        "merge_other_classes": bool(merge_other_classes),
        "test_fraction": float(test_fraction),
        "n_splits": int(max(2, round(1 / test_fraction))),
        "test_fraction_observed": round(float((split == "test").mean()), 4),
        "seed": int(seed),
        "scale": scale,
        "scale_detected": detected,
        "scale_reason": reason,
        "duplicates": duplicates,
        "nan": nan,
        "min_samples_per_class": int(min_samples_per_class),
        "min_expression": float(min_expression),
        "min_fraction": float(min_fraction),
        "n_samples": int(x.shape[0]),
        "n_groups": int(len(set(groups))),
        "n_genes_in": int(expr.attrs.get("n_genes_read", n_genes_in)),
        "n_excel_repaired": len(expr.attrs.get("excel_repairs", {})),
        "excel_repairs": dict(expr.attrs.get("excel_repairs", {})),
        "n_duplicate_symbols": int(n_dup_symbols),
        "n_duplicate_rows_aggregated": int(n_dup_removed),
        "n_nan_values": n_nan,
        "n_nan_genes": int(nan_genes.sum()),
        "n_nan_imputed": n_imputed,
        "n_dropped_nan": n_nan_dropped,
        "n_dropped_low_expression": n_low,
        "n_dropped_zero_variance": n_zero_var,
        "n_dropped_constant_train": n_const_train,
        "n_genes_out": len(genes),
        "classes_found": {k: int(v) for k, v in found.items()},
        "merged_into_other": {k: int(v) for k, v in merged.items()},
        "samples_per_class": per_split,
    }
    obs = pd.DataFrame(
        {
            "label": pd.Categorical(labels, categories=classes),
            "group": pd.Categorical(groups),
            "split": pd.Categorical(split, categories=["train", "test"]),
        },
        index=pd.Index(samples, dtype=object),
    )
    var = pd.DataFrame({"scale_min": mins, "scale_max": maxs}, index=pd.Index(genes, dtype=object))
    import anndata as ad  # imported late: validation errors are reported without its import cost

    adata = ad.AnnData(X=scaled, obs=obs, var=var, layers={"log": x})
    adata.uns["positive_label"] = positive_label
    adata.uns["classes"] = classes
    adata.uns["prepare"] = summary
    log.info(
        "prepared %d samples x %d genes (of %d read); train %s, test %s",
        x.shape[0],
        len(genes),
        summary["n_genes_in"],
        per_split["train"],
        per_split["test"],
    )
    return adata
