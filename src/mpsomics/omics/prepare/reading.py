"""Reading the inputs of ``prepare``: the expression matrix and the sample sheet.

Both readers go through :func:`mpsomics.core.readers.read_table` (encodings, BOM,
comments, NA spellings) and add the checks of their own file: empty or duplicated
ids, missing columns, empty labels and groups.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal

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
from mpsomics.omics.prepare import formats

# One logger for the whole stage: log lines keep the name they had before the split.
log = logging.getLogger(__package__)

Orientation = Literal["genes-x-samples", "samples-x-genes"]
ORIENTATIONS = ("genes-x-samples", "samples-x-genes")


# -------------------------------------------------------------------- expression matrix


def read_expression(
    path: str | os.PathLike | list,
    *,
    orientation: Orientation = "genes-x-samples",
    gene_col: str | None = None,
    layer: str | None = None,
    format: str = "auto",  # noqa: A002 - the config key's name
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
    format
        ``auto`` or one of :data:`~mpsomics.omics.prepare.formats.FORMATS`; ``path``
        may be a directory or a list of per-sample files (salmon, kallisto).

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
    if orientation not in ORIENTATIONS:
        raise ValueError(f"orientation must be one of {ORIENTATIONS}, got {orientation!r}")
    if format not in formats.FORMATS:
        raise ValueError(f"format must be one of {formats.FORMATS}, got {format!r}")
    paths = formats.as_paths(path)
    path = paths[0]
    if format == "auto" and len(paths) == 1 and not path.is_dir() and path.suffix.lower() == ".h5ad":
        fmt = "h5ad"
    elif format == "auto":
        fmt, why = formats.detect_format(paths)
        if fmt != "table":
            log.info("%s: format detected as %s (%s)", path, fmt, why)
    else:
        formats.check_format(format, paths)
        fmt = format
    if len(paths) > 1 and fmt not in ("salmon", "kallisto"):
        raise InputError(path, f"several expression files are only read for salmon or kallisto, not {fmt}")
    hint = None
    if fmt == "h5ad":
        df = read_h5ad_matrix(path, layer)
    elif fmt == "featurecounts":
        df, hint = formats.read_featurecounts(path), "counts"
    elif fmt in ("salmon", "kallisto"):
        df, hint = formats.read_quant_files(paths, fmt), "counts"
    elif fmt == "geo_series":
        df = formats.read_geo_series(path)[0]
    else:
        if layer:
            log.warning("%s: --layer is only used for .h5ad input; ignored", path)
        df = read_text_matrix(path, orientation, gene_col)
    df = check_matrix_ids(df, path)
    genes, repairs = repair_excel_gene_symbols(list(df.columns), path)
    df.columns = pd.Index(genes, dtype=object)
    df.index = pd.Index(df.index.astype(str), dtype=object, name="sample")
    df.attrs.update(path=str(path), n_genes_read=int(df.shape[1]), excel_repairs=repairs, format=fmt)
    if hint:
        df.attrs["values_hint"] = hint
    log.info("%s: read %d samples x %d genes", path, df.shape[0], df.shape[1])
    return df


def read_text_matrix(path: Path, orientation: Orientation, gene_col: str | None) -> pd.DataFrame:
    """A TSV/CSV matrix in either orientation as a samples x genes DataFrame (no checks yet).

    Parameters
    ----------
    path
        The table.
    orientation, gene_col
        As in :func:`read_expression`.

    Returns
    -------
    pandas.DataFrame
        Index sample ids, columns gene symbols, float values.
    """
    if orientation == "genes-x-samples":
        table = read_table(
            path, numeric_except=gene_col if gene_col else 0, row_kind="gene", col_kind="sample",
            content=formats.input_text(path),
        )
        id_pos = list(table.columns).index(gene_col) if gene_col else 0
    else:
        if gene_col:
            log.warning("%s: --gene-col is ignored with --orientation samples-x-genes", path)
        table = read_table(
            path, numeric_except=0, row_kind="sample", col_kind="gene", content=formats.input_text(path)
        )
        id_pos = 0
    ids = table.iloc[:, id_pos].astype(str).to_numpy()
    values = table.iloc[:, [i for i in range(table.shape[1]) if i != id_pos]]
    names = [str(c) for c in values.columns]
    x = values.to_numpy(dtype=float)
    if orientation == "genes-x-samples":
        return pd.DataFrame(x.T, index=names, columns=ids)
    return pd.DataFrame(x, index=ids, columns=names)


def read_h5ad_matrix(path: Path, layer: str | None) -> pd.DataFrame:
    """``.X`` (or ``.layers[layer]``) of an AnnData file as a samples x genes DataFrame.

    Parameters
    ----------
    path
        The ``.h5ad`` file.
    layer
        Layer to read instead of ``.X``; ``None`` reads ``.X``.

    Returns
    -------
    pandas.DataFrame
        Index ``obs_names``, columns ``var_names``, float values (dense).

    Raises
    ------
    InputError
        Missing or unreadable file, missing layer or ``.X``, non-numeric or
        infinite values.
    """
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


def check_matrix_ids(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Refuse empty sample ids, drop genes with an empty symbol, refuse an empty matrix.

    Parameters
    ----------
    df
        Samples x genes matrix as read.
    path
        Named in messages.

    Returns
    -------
    pandas.DataFrame
        ``df`` without the columns whose gene symbol is empty (a warning counts them).

    Raises
    ------
    InputError
        An empty sample id, or no sample or no gene left.
    """
    if (df.index == "").any():
        where = int(np.flatnonzero(df.index == "")[0]) + 1
        raise InputError(path, f"empty sample id (sample number {where} of {df.shape[0]})")
    empty_genes = np.asarray(df.columns == "")
    if empty_genes.any():
        log.warning("%s: dropping %d gene(s) with an empty symbol", path, int(empty_genes.sum()))
        df = df.loc[:, ~empty_genes]
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise InputError(path, f"no data: {df.shape[0]} samples x {df.shape[1]} genes")
    return df


# ------------------------------------------------------------------------- sample sheet


def read_sample_sheet(
    path: str | os.PathLike | None,
    *,
    sample_col: str = "aliquot_barcode",
    label_col: str = "label",
    group_col: str | None = "patient",
    expression: str | os.PathLike | list | None = None,
    format: str = "auto",  # noqa: A002 - the config key's name
) -> pd.DataFrame:
    """Read and validate a sample sheet.

    Parameters
    ----------
    path
        TSV/CSV (optionally gzipped) with a header row; ``None`` builds the sheet from
        ``expression``: the ``!Sample_*`` lines of a GEO series matrix (``sample_col`` is
        then the GSM accession, ``label_col``/``group_col`` name characteristics such as
        ``tissue``) or the ``.obs`` of an ``.h5ad`` (``obs_names`` are the sample ids).
    expression, format
        The expression input and its format, used only when ``path`` is ``None``.
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
    if path is None:
        table, path = sheet_from_expression(expression, format, label_col, group_col)
        sample_col = "sample"
    else:
        path = Path(path)
        table = read_table(path)
    no_group = group_col is None or group_col.strip().lower() == "none"
    check_sheet_columns(table, path, sample_col, label_col, None if no_group else group_col)
    ids = sheet_sample_ids(table, path, sample_col)
    labels = sheet_labels(table, path, label_col, ids)
    if no_group:
        log.warning(
            "%s: --group-col none: each sample is its own group (no patient grouping)", path
        )
        groups = ids.copy()
    else:
        groups = sheet_groups(table, path, group_col, ids)
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


def sheet_from_expression(
    expression: str | os.PathLike | list | None, format: str, label_col: str, group_col: str | None
) -> tuple[pd.DataFrame, Path]:
    """The sample table of a GEO series matrix or of an ``.h5ad``'s ``.obs`` (column ``sample``)."""
    if expression is None:
        raise ValueError("read_sample_sheet needs a path or an expression input")
    paths = formats.as_paths(expression)
    fmt = formats.detect_format(paths)[0] if format == "auto" else format
    if fmt == "geo_series":
        table = formats.read_geo_series(paths[0])[1].astype(str).reset_index(names="sample")
        log.info("%s: sample sheet from the !Sample_ lines: columns %s", paths[0], short_list(list(table.columns), 10))
        return table, paths[0]
    if fmt == "h5ad":
        return formats.sheet_from_obs(paths[0], label_col, group_col), paths[0]
    raise InputError(paths[0], f"no sample sheet given (--samples) and a {fmt} input holds no labels; "
                               "only a GEO series matrix or an .h5ad with labels in .obs can go without one")


def check_sheet_columns(
    table: pd.DataFrame, path: Path, sample_col: str, label_col: str, group_col: str | None
) -> None:
    """Raise :class:`InputError` naming the first of the sheet's columns that is missing.

    ``group_col=None`` means no group column is needed (``--group-col none``).
    """
    cols = list(table.columns)
    for what, col in (("sample", sample_col), ("label", label_col), ("group", group_col)):
        if col is not None and col not in cols:
            hint = (
                "; pass --group-col none to make each sample its own group"
                if what == "group"
                else ""
            )
            raise InputError(
                path, f"{what} column {col!r} not found; columns are {short_list(cols, 10)}{hint}"
            )


def sheet_sample_ids(table: pd.DataFrame, path: Path, sample_col: str) -> np.ndarray:
    """Sample ids of the sheet (str); empty or duplicated ids raise :class:`InputError`."""
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
    return ids


def sheet_labels(table: pd.DataFrame, path: Path, label_col: str, ids: np.ndarray) -> np.ndarray:
    """Class labels (str); an empty or NA label (any :data:`NA_VALUES` spelling) raises."""
    labels = table[label_col].to_numpy(dtype=str)
    labels[np.isin(labels, NA_VALUES)] = ""
    if (labels == "").any():
        raise InputError(
            path,
            f"{int((labels == '').sum())} sample(s) have no {label_col!r}: {short_list(ids[labels == ''])}",
        )
    return labels


def sheet_groups(table: pd.DataFrame, path: Path, group_col: str, ids: np.ndarray) -> np.ndarray:
    """Group (patient) of each sample (str); an empty group raises :class:`InputError`."""
    groups = table[group_col].to_numpy(dtype=str)
    if (groups == "").any():
        raise InputError(
            path,
            f"{int((groups == '').sum())} sample(s) have an empty {group_col!r}: {short_list(ids[groups == ''])}",
        )
    return groups
