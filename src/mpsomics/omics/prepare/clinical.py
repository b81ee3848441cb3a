"""Labels from a per-patient clinical table (``prepare.clinical``).

The clinical table (TSV/CSV, one row per patient) is joined to the sample sheet's group
(patient) column; a clinical column's values are mapped to the two classes (e.g.
``early: [Stage I, Stage II]``, ``late: [Stage III, Stage IIIA, ...]``) and these become the
samples' labels. Samples whose patient is not in the table, whose value is in no class,
or (with ``keep_label``) whose sheet label is another one (e.g. only ``tumor`` samples
have a stage) are excluded from the matrix and the sheet; every count is logged and
stored in ``.uns['prepare']['clinical']``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from mpsomics.core.errors import InputError
from mpsomics.core.readers import NA_VALUES, duplicated, read_table, short_list

log = logging.getLogger(__package__)


def parse_classes(items: list[str] | dict[str, list[str]] | None) -> dict[str, list[str]]:
    """``["early=Stage I,Stage II", ...]`` (CLI) or a dict (config) as class -> values."""
    if not items:
        return {}
    if isinstance(items, dict):
        return {str(k): [str(v) for v in (vals if isinstance(vals, list) else [vals])]
                for k, vals in items.items()}
    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, vals = item.partition("=")
        if not sep or not name.strip():
            raise InputError(None, f"--clinical-class {item!r}: expected CLASS=VALUE1,VALUE2")
        out.setdefault(name.strip(), []).extend(v.strip() for v in vals.split(",") if v.strip())
    return out


def apply_clinical(
    expr: pd.DataFrame,
    sheet: pd.DataFrame,
    path: str | os.PathLike,
    *,
    join_col: str,
    label_col: str,
    classes: dict[str, list[str]],
    keep_label: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, object]]:
    """Relabel ``sheet`` from the clinical table and drop the excluded samples.

    Parameters
    ----------
    expr, sheet
        Samples x genes matrix and the sample sheet (index sample, ``label``, ``group``).
    path
        The clinical table.
    join_col
        Its patient column, matched to ``sheet['group']``.
    label_col
        Its column whose values become the classes.
    classes
        Class -> the ``label_col`` values that make it (at least two classes, no value
        in two classes).
    keep_label
        Only samples with this sheet label are relabelled; the others are excluded.

    Returns
    -------
    tuple
        ``(expr, sheet, summary)`` restricted to the labelled samples.
    """
    path = Path(path)
    if len(classes) < 2:
        raise InputError(path, f"clinical classes: need two, got {short_list(list(classes))}")
    seen: dict[str, str] = {}
    for cls, vals in classes.items():
        for v in vals:
            if v in seen and seen[v] != cls:
                raise InputError(path, f"clinical value {v!r} is in classes {seen[v]!r} and {cls!r}")
            seen[v] = cls
    table = read_table(path)
    for col in (join_col, label_col):
        if col not in table.columns:
            raise InputError(path, f"column {col!r} not found; columns are {short_list(list(table.columns), 10)}")
    dups = duplicated(table[join_col].astype(str).tolist())
    if dups:
        raise InputError(path, f"patients listed twice in column {join_col!r}: {short_list(dups)}")
    value_of = dict(zip(table[join_col].astype(str), table[label_col].astype(str), strict=True))
    unused = [v for v in seen if v not in set(value_of.values())]
    if unused:
        log.warning("%s: class values never found in column %r: %s", path, label_col, short_list(unused))
    new = {}
    n_other_label = n_missing = n_unmapped = 0
    for sample, row in sheet.iterrows():
        if keep_label is not None and str(row["label"]) != keep_label:
            n_other_label += 1
            continue
        value = value_of.get(str(row["group"]))
        if value is None:
            n_missing += 1
            continue
        cls = seen.get(value)
        if cls is None:
            n_unmapped += 1
            continue
        new[sample] = cls
    if not new:
        raise InputError(path, f"no sample gets a class from column {label_col!r} (joined on {join_col!r} to the "
                               f"sheet's group column; {n_missing} samples' patients missing)")
    keep = [s for s in sheet.index if s in new]
    in_expr = set(expr.index.astype(str))
    out_sheet = sheet.loc[keep].copy()
    out_sheet["label"] = [new[s] for s in keep]
    drop = [s for s in sheet.index if s not in new]
    attrs = dict(expr.attrs)
    dropped = set(drop)
    expr = expr.loc[[s for s in expr.index.astype(str) if s not in dropped]]
    expr.attrs.update(attrs)
    counts = {c: int((out_sheet["label"] == c).sum()) for c in classes}
    values_excluded = sorted({value_of.get(str(g), "") for s, g in sheet["group"].items()
                              if s not in new and value_of.get(str(g)) is not None
                              and value_of.get(str(g)) not in seen} - set(NA_VALUES) - {""})
    log.info(
        "%s: labels from column %r: %s; excluded %d samples with another sheet label, %d whose patient "
        "is not in the table, %d whose value is in no class (%s)", path, label_col,
        ", ".join(f"{c} {n}" for c, n in counts.items()), n_other_label, n_missing, n_unmapped,
        short_list(values_excluded) or "NA",
    )
    summary = {
        "file": str(path),
        "join_col": join_col,
        "label_col": label_col,
        "classes": {c: ", ".join(v) for c, v in classes.items()},
        "keep_label": keep_label or "",
        "samples_per_class": counts,
        "n_excluded_other_label": n_other_label,
        "n_excluded_missing_patient": n_missing,
        "n_excluded_unmapped_value": n_unmapped,
        "n_samples_not_in_matrix": len([s for s in keep if s not in in_expr]),
    }
    out_sheet.attrs.update(sheet.attrs)
    return expr, out_sheet, summary
