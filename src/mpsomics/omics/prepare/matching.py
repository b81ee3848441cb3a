"""Matching the sample sheet to the matrix, and the class labels, for ``prepare``.

Strict both ways: every sample of the matrix must be in the sheet and every sample
of the sheet in the matrix, and labels are never merged silently (case variants,
a typo class such as ``tumour`` beside ``tumor``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mpsomics.core.errors import InputError
from mpsomics.core.readers import duplicated, short_list

# One logger for the whole stage: log lines keep the name they had before the split.
log = logging.getLogger(__package__)

OTHER_CLASS = "other"


def class_counts(labels: np.ndarray, classes: Sequence[str]) -> dict[str, int]:
    """Number of samples of each class in ``classes`` (in that order)."""
    return {c: int((labels == c).sum()) for c in classes}


# ------------------------------------------------------------------------------- samples


def match_samples(
    expr: pd.DataFrame, sheet: pd.DataFrame, orientation: str = "genes-x-samples"
) -> pd.DataFrame:
    """The sheet rows of the matrix samples, in matrix order.

    Parameters
    ----------
    expr
        Samples x genes matrix (``attrs['path']`` names it in messages).
    sheet
        Sample sheet (``attrs['path']``, ``attrs['sample_col']`` in messages).
    orientation
        Orientation the matrix was read with; the other one is suggested when the
        sheet's ids are found among the genes.

    Returns
    -------
    pandas.DataFrame
        ``sheet`` reindexed to the matrix sample ids.

    Raises
    ------
    InputError
        Transposed-looking matrix, duplicated matrix sample ids, samples missing
        from either file (with a hint when ids differ only in case or punctuation).
    """
    epath = expr.attrs.get("path")
    sheet_ids = pd.Index(sheet.index.astype(str))
    expr_ids = pd.Index(expr.index.astype(str))
    in_rows = sheet_ids.isin(expr_ids).sum()
    check_not_transposed(expr, sheet_ids, int(in_rows), orientation)
    dups = duplicated(expr_ids)
    if dups:
        raise InputError(epath, f"duplicated sample ids: {short_list(dups)}")
    check_all_in_sheet(expr, sheet, sheet_ids, expr_ids, int(in_rows))
    expr_set = set(expr_ids)
    missing_expr = [s for s in sheet_ids if s not in expr_set]
    if missing_expr:
        ename = _matrix_name(expr)
        raise InputError(
            sheet.attrs.get("path"),
            f"{len(missing_expr)} sample(s) of the sheet missing from {ename}: {short_list(missing_expr)}",
        )
    return sheet.loc[expr_ids]


def _matrix_name(expr: pd.DataFrame) -> str:
    epath = expr.attrs.get("path")
    return Path(epath).name if epath else "the expression matrix"


def check_not_transposed(
    expr: pd.DataFrame, sheet_ids: pd.Index, in_rows: int, orientation: str
) -> None:
    """Raise when more sheet ids are among the matrix genes than among its samples."""
    genes = pd.Index(expr.columns.astype(str))
    in_cols = sheet_ids.isin(genes).sum()
    if in_cols > in_rows:
        other = "samples-x-genes" if orientation == "genes-x-samples" else "genes-x-samples"
        example = sheet_ids[sheet_ids.isin(genes)][0]
        raise InputError(
            expr.attrs.get("path"),
            f"the matrix looks transposed: {in_cols} sample ids of the sheet (e.g. {example!r}) are "
            f"where the genes should be; pass --orientation {other}",
        )


def check_all_in_sheet(
    expr: pd.DataFrame, sheet: pd.DataFrame, sheet_ids: pd.Index, expr_ids: pd.Index, in_rows: int
) -> None:
    """Raise when a matrix sample is not in the sheet, with a hint at the likely cause.

    No id matching at all suggests a wrong ``--sample-col``; ids matching only when
    case and punctuation are ignored suggest R ``make.names`` or Excel.
    """
    sheet_set = set(sheet_ids)
    missing_sheet = [s for s in expr_ids if s not in sheet_set]
    if not missing_sheet:
        return
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
    sample_col = sheet.attrs.get("sample_col", "sample id")
    raise InputError(
        sheet.attrs.get("path"),
        f"{len(missing_sheet)} sample(s) of {_matrix_name(expr)} missing from the sheet "
        f"(column {sample_col!r}): {short_list(missing_sheet)}{hint}",
    )


# ------------------------------------------------------------------------------- classes


@dataclass
class Classes:
    """The class labels after validation (:func:`resolve_classes`).

    Attributes
    ----------
    labels
        One label per sample (str), ``"other"`` for merged classes.
    classes
        ``[negative, positive]``.
    positive
        The positive class.
    found
        Class -> count as read, sorted by class.
    merged
        Class -> count of the classes merged into ``"other"`` (empty if none).
    """

    labels: np.ndarray
    classes: list[str]
    positive: str
    found: dict[str, int]
    merged: dict[str, int] = field(default_factory=dict)


def resolve_classes(
    labels: np.ndarray,
    positive_label: str | None,
    merge_other_classes: bool,
    min_samples_per_class: int,
    path: str | None,
) -> Classes:
    """Validate the labels and settle the two classes.

    Parameters
    ----------
    labels
        One label per sample, whitespace stripped.
    positive_label
        The positive class; ``None`` takes the alphabetically last of exactly two
        classes (warning).
    merge_other_classes
        With more than two classes, merge the non-positive ones into ``"other"``.
    min_samples_per_class
        Smallest allowed class.
    path
        The sample sheet, for messages.

    Returns
    -------
    Classes

    Raises
    ------
    InputError
        Labels differing only by case, fewer than two classes, ``/`` in a label,
        unknown positive label, more than two classes without merging, a class
        smaller than ``min_samples_per_class``.
    """
    found = dict(sorted(class_counts(labels, sorted(set(labels))).items()))
    check_label_names(found, positive_label, path)
    merged: dict[str, int] = {}
    if len(found) > 2:
        labels, merged = merge_into_other(labels, found, positive_label, merge_other_classes, path)
    if positive_label is None:
        positive_label = sorted(set(labels))[1]
        log.warning("%s: no positive label given; using %r", path, positive_label)
    negative = next(c for c in sorted(set(labels)) if c != positive_label)
    classes = [negative, positive_label]
    small = {c: n for c, n in class_counts(labels, classes).items() if n < min_samples_per_class}
    if small:
        raise InputError(
            path,
            f"class(es) with fewer than {min_samples_per_class} samples: "
            f"{', '.join(f'{c} ({n})' for c, n in small.items())}",
        )
    return Classes(labels.astype(str), classes, positive_label, found, merged)


def _found_text(found: dict[str, int]) -> str:
    return ", ".join(f"{k} ({v})" for k, v in found.items())


def check_label_names(found: dict[str, int], positive_label: str | None, path: str | None) -> None:
    """Refuse case variants, a single class, ``/`` in a label, or an unknown positive label."""
    found_txt = _found_text(found)
    by_fold: dict[str, list[str]] = {}
    for c in found:
        by_fold.setdefault(c.casefold(), []).append(c)
    case_variants = [v for v in by_fold.values() if len(v) > 1]
    if case_variants:
        raise InputError(
            path,
            f"labels differ only by case: {', '.join('/'.join(map(repr, v)) for v in case_variants)} "
            f"(classes found: {found_txt}); fix the sheet",
        )
    if len(found) < 2:
        raise InputError(path, f"fewer than two classes: found {found_txt}")
    slashed = [c for c in found if "/" in c]
    if slashed:  # class names are keys of .uns['prepare'] dicts; h5ad keys cannot hold '/'
        raise InputError(
            path, f"class labels must not contain '/': {short_list(slashed)}; rename them"
        )
    if positive_label is not None and positive_label not in found:
        raise InputError(
            path,
            f"positive label {positive_label!r} is not a class; classes found: {found_txt}; pass --positive-label",
        )


def merge_into_other(
    labels: np.ndarray,
    found: dict[str, int],
    positive_label: str | None,
    merge_other_classes: bool,
    path: str | None,
) -> tuple[np.ndarray, dict[str, int]]:
    """Merge every non-positive class into ``"other"`` (only when asked: a typo class must not vanish).

    Returns
    -------
    tuple
        ``(labels, merged)``: the new labels and class -> count of the merged classes.
    """
    found_txt = _found_text(found)
    if positive_label is None or not merge_other_classes:
        raise InputError(
            path,
            f"{len(found)} classes found: {found_txt}; expected 2. Fix the labels, or pass "
            "--positive-label and --merge-other-classes to merge all other classes into "
            f"{OTHER_CLASS!r}",
        )
    merged = {c: n for c, n in found.items() if c != positive_label}
    log.warning("%s: merging classes %s into the negative class %r", path, found_txt, OTHER_CLASS)
    return np.where(labels == positive_label, positive_label, OTHER_CLASS).astype(object), merged
