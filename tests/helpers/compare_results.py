"""Compare two ``results/`` trees file by file (the refactoring guard of issue 11).

Usage::

    python tests/helpers/compare_results.py OLD/results NEW/results \
        [--rename OLD_GLOB=NEW_GLOB ...]

Every file under OLD must exist under NEW (after the renames) with the same content,
and NEW may hold no file OLD lacks. "Same content" ignores only what is meant to
change between two runs:

* ``logs/``, ``benchmarks/``, ``*run_info.json`` and ``.snakemake_timestamp`` --
  timing and provenance, not results;
* the ``seconds`` column of ``history.tsv`` files (wall time per epoch);
* the "generated" time stamp line of HTML reports.

``.npz`` files are compared array by array, ``.h5ad`` files field by field
(``X``, layers, obs, var, uns), every other file byte by byte. Exit code 0 when the
trees match, 1 otherwise, with one line per difference.
"""

from __future__ import annotations

import argparse
import fnmatch
import io
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


def _same_tsv(a: Path, b: Path) -> str | None:
    if a.name != "history.tsv" or b.name != "history.tsv":
        return None if a.read_bytes() == b.read_bytes() else "bytes differ"
    da, db = (pd.read_csv(p, sep="\t", dtype=str) for p in (a, b))
    da, db = (d.drop(columns=[c for c in TIMING_COLUMNS if c in d]) for d in (da, db))
    return None if da.equals(db) else "history.tsv differs outside the timing column"


def _same_npz(a: Path, b: Path) -> str | None:
    with np.load(a, allow_pickle=False) as za, np.load(b, allow_pickle=False) as zb:
        if sorted(za.files) != sorted(zb.files):
            return f"arrays {sorted(za.files)} vs {sorted(zb.files)}"
        for key in za.files:
            x, y = za[key], zb[key]
            if x.shape != y.shape or x.dtype != y.dtype or not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
                return f"array {key!r} differs"
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


def difference(a: Path, b: Path) -> str | None:
    """Why ``a`` and ``b`` differ, or ``None`` if they hold the same result."""
    suffix = a.suffix
    if suffix == ".tsv":
        return _same_tsv(a, b)
    if suffix == ".npz":
        return _same_npz(a, b)
    if suffix == ".h5ad":
        return _same_h5ad(a, b)
    if suffix == ".html":
        return _same_html(a, b)
    return None if a.read_bytes() == b.read_bytes() else "bytes differ"


def compare(old: Path, new: Path, renames: list[tuple[str, str]]) -> list[str]:
    """One line per difference between the result trees ``old`` and ``new``."""
    problems = []
    old_files = result_files(old)
    expected = {renamed(rel, renames): rel for rel in old_files}
    new_files = set(result_files(new))
    for new_rel, old_rel in sorted(expected.items()):
        if new_rel not in new_files:
            problems.append(f"missing in new: {new_rel} (old {old_rel})")
            continue
        why = difference(old / old_rel, new / new_rel)
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
    args = parser.parse_args(argv)
    renames = [tuple(r.split("=", 1)) for r in args.rename]
    problems = compare(args.old, args.new, renames)
    out = io.StringIO()
    for line in problems:
        print(line, file=out)
    n = len(result_files(args.old))
    print(f"{n} result files compared, {len(problems)} differences", file=out)
    sys.stdout.write(out.getvalue())
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
