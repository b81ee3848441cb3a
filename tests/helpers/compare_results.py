"""Compare two ``results/`` trees file by file (the refactoring guard of issue 11).

Usage::

    python tests/helpers/compare_results.py OLD/results NEW/results \
        [--rename OLD_GLOB=NEW_GLOB ...]

Every file under OLD must exist under NEW (after the renames) with the same content,
and NEW may hold no file OLD lacks. "Same content" ignores only what is meant to
change between two runs:

* ``logs/``, ``benchmarks/``, ``*run_info.json`` and ``.snakemake_timestamp`` --
  timing and provenance, not results;
* the ``seconds`` column of TSV files (wall time: per epoch in ``history.tsv``,
  per fold or panel run in ``validation/cv*.tsv`` and ``panels/*summary.tsv``);
* the "generated" time stamp line of HTML reports, and a ``seconds`` key of JSON files.

``--atol`` accepts numeric differences up to that size in TSV and ``.npz`` files and
reports the largest one otherwise (floating-point reordering shows up as ~1e-16).

``.npz`` files are compared array by array, ``.h5ad`` files field by field
(``X``, layers, obs, var, uns), every other file byte by byte. Exit code 0 when the
trees match, 1 otherwise, with one line per difference.
"""

from __future__ import annotations

import argparse
import fnmatch
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

SKIP_DIRS = ("logs", "benchmarks")
SKIP_NAMES = (".snakemake_timestamp",)
SKIP_SUFFIX = ("run_info.json",)
TIMING_COLUMNS = ("seconds",)
# The report prints when it was generated; nothing else in it may differ.
_GENERATED = re.compile(rb"(?i)(generated[^<\n]*?)\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?")


def result_files(root: Path) -> list[str]:
    """Relative paths of the result files under ``root`` (provenance and logs left out)."""
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if not p.is_file() or rel.parts[0] in SKIP_DIRS or p.name in SKIP_NAMES:
            continue
        if p.name.endswith(SKIP_SUFFIX):
            continue
        out.append(rel.as_posix())
    return out


def renamed(rel: str, renames: list[tuple[str, str]]) -> str:
    """``rel`` under the first matching ``(old_glob, new_glob)`` rename (``*`` carried over)."""
    for old, new in renames:
        if fnmatch.fnmatchcase(rel, old):
            regex = "^" + re.escape(old).replace(r"\*", "(.*)") + "$"
            parts = iter(re.match(regex, rel).groups())
            return re.sub(r"\*", lambda _m, parts=parts: next(parts), new)
    return rel


def _max_numeric_difference(da: pd.DataFrame, db: pd.DataFrame) -> float | None:
    """Largest |a - b| over the numeric cells when the tables differ only in numbers, else None."""
    if list(da.columns) != list(db.columns) or da.shape != db.shape:
        return None
    worst = 0.0
    for col in da.columns:
        a = pd.to_numeric(da[col], errors="coerce")
        b = pd.to_numeric(db[col], errors="coerce")
        text_a, text_b = da[col][a.isna()], db[col][b.isna()]
        if not a.isna().equals(b.isna()) or not text_a.equals(text_b):
            return None
        diff = (a - b).abs().max()
        worst = max(worst, 0.0 if pd.isna(diff) else float(diff))
    return worst


def _same_tsv(a: Path, b: Path, atol: float) -> str | None:
    if a.read_bytes() == b.read_bytes():
        return None
    da, db = (pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False) for p in (a, b))
    # wall time: history.tsv per epoch, validation/cv*.tsv and panels/*summary.tsv per run
    da, db = (d.drop(columns=[c for c in TIMING_COLUMNS if c in d]) for d in (da, db))
    if da.equals(db):
        return None
    worst = _max_numeric_difference(da, db)
    if worst is None:
        return "bytes differ"
    if worst <= atol:
        return None
    return f"numbers differ by at most {worst:.3g}"


def _same_npz(a: Path, b: Path, atol: float) -> str | None:
    with np.load(a, allow_pickle=False) as za, np.load(b, allow_pickle=False) as zb:
        if sorted(za.files) != sorted(zb.files):
            return f"arrays {sorted(za.files)} vs {sorted(zb.files)}"
        for key in za.files:
            x, y = za[key], zb[key]
            if x.shape != y.shape or x.dtype != y.dtype:
                return f"array {key!r}: shape or dtype differs"
            if np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
                continue
            if x.dtype.kind != "f" or not np.array_equal(np.isnan(x), np.isnan(y)):
                return f"array {key!r} differs"
            worst = float(np.nanmax(np.abs(x - y)))
            if worst > atol:
                return f"array {key!r} differs by at most {worst:.3g}"
    return None


def _same_h5ad(a: Path, b: Path) -> str | None:
    import anndata as ad

    x, y = ad.read_h5ad(a), ad.read_h5ad(b)
    if not np.array_equal(np.asarray(x.X), np.asarray(y.X)):
        return ".X differs"
    if sorted(x.layers) != sorted(y.layers) or any(
        not np.array_equal(np.asarray(x.layers[k]), np.asarray(y.layers[k])) for k in x.layers
    ):
        return ".layers differ"
    if not x.obs.equals(y.obs) or not x.var.equals(y.var):
        return ".obs or .var differ"
    if repr(_plain(x.uns)) != repr(_plain(y.uns)):
        return ".uns differs"
    return None


def _plain(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in sorted(obj.items())}
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def _same_html(a: Path, b: Path) -> str | None:
    ta, tb = (_GENERATED.sub(rb"\1<time>", p.read_bytes()) for p in (a, b))
    return None if ta == tb else "bytes differ outside the generation time"


def _same_json(a: Path, b: Path) -> str | None:
    ja, jb = (json.loads(p.read_text()) for p in (a, b))
    for d in (ja, jb):
        if isinstance(d, dict):
            d.pop("seconds", None)  # wall time
    return None if ja == jb else "JSON differs (outside 'seconds')"


def difference(a: Path, b: Path, atol: float = 0.0) -> str | None:
    """Why ``a`` and ``b`` differ, or ``None`` if they hold the same result.

    With ``atol`` > 0, numeric cells of TSV files and float arrays of ``.npz`` files may
    differ by up to ``atol`` (floating-point reordering); the default demands equality.
    """
    suffix = a.suffix
    if suffix == ".tsv":
        return _same_tsv(a, b, atol)
    if suffix == ".npz":
        return _same_npz(a, b, atol)
    if suffix == ".json":
        return _same_json(a, b)
    if suffix == ".h5ad":
        return _same_h5ad(a, b)
    if suffix == ".html":
        return _same_html(a, b)
    return None if a.read_bytes() == b.read_bytes() else "bytes differ"


def compare(old: Path, new: Path, renames: list[tuple[str, str]], atol: float = 0.0) -> list[str]:
    """One line per difference between the result trees ``old`` and ``new``."""
    problems = []
    old_files = result_files(old)
    expected = {renamed(rel, renames): rel for rel in old_files}
    new_files = set(result_files(new))
    for new_rel, old_rel in sorted(expected.items()):
        if new_rel not in new_files:
            problems.append(f"missing in new: {new_rel} (old {old_rel})")
            continue
        why = difference(old / old_rel, new / new_rel, atol)
        if why:
            problems.append(f"differs: {old_rel} -> {new_rel}: {why}")
    for extra in sorted(new_files - set(expected)):
        problems.append(f"only in new: {extra}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--rename", action="append", default=[], metavar="OLD_GLOB=NEW_GLOB")
    parser.add_argument("--atol", type=float, default=0.0,
                        help="numbers in TSV/NPZ files may differ by this much (default: exact)")
    args = parser.parse_args(argv)
    renames = [tuple(r.split("=", 1)) for r in args.rename]
    problems = compare(args.old, args.new, renames, args.atol)
    out = io.StringIO()
    for line in problems:
        print(line, file=out)
    n = len(result_files(args.old))
    print(f"{n} result files compared, {len(problems)} differences", file=out)
    sys.stdout.write(out.getvalue())
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
