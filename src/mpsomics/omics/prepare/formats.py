"""Input formats of ``prepare`` beyond the plain table: detection and one reader per format.

``FORMATS``: ``table`` (TSV/CSV matrix, either orientation; also a merged salmon/kallisto
table), ``featurecounts`` (featureCounts output: the ``#`` program line, then
``Geneid Chr Start End Strand Length`` and one column per BAM), ``salmon`` (gene-level
``quant.sf``/``quant.genes.sf``: ``Name Length EffectiveLength TPM NumReads``; ``NumReads``
is read), ``kallisto`` (``abundance.tsv``: ``target_id length eff_length est_counts tpm``;
``est_counts`` is read), ``geo_series`` (a GEO series matrix: ``!Sample_*`` header lines,
the table between ``!series_matrix_table_begin`` and ``_end``) and ``h5ad``. salmon and
kallisto take one file per sample (a directory holding ``<sample>/quant.sf`` or
``<sample>/abundance.tsv``, or a list of files; the sample id is the parent folder of a file
named ``quant.sf``/``quant.genes.sf``/``abundance.tsv``, otherwise the file name without
its extension).

``auto`` detects the format from the first lines (or the file names of a directory); an
explicit format that does not fit the file is a one-line :class:`InputError`, never a
silent misread. Readers of count formats set ``attrs['values_hint'] = 'counts'``.
"""

from __future__ import annotations

import io
import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from mpsomics.core.errors import InputError
from mpsomics.core.readers import duplicated, read_text, short_list

log = logging.getLogger(__package__)

FORMATS = ("auto", "table", "featurecounts", "salmon", "kallisto", "geo_series", "h5ad")

FEATURECOUNTS_COLUMNS = ["Geneid", "Chr", "Start", "End", "Strand", "Length"]
SALMON_COLUMNS = ["Name", "Length", "EffectiveLength", "TPM", "NumReads"]
KALLISTO_COLUMNS = ["target_id", "length", "eff_length", "est_counts", "tpm"]
PER_SAMPLE_NAMES = {"salmon": ("quant.genes.sf", "quant.sf"), "kallisto": ("abundance.tsv",)}


def input_text(path: Path) -> str:
    """The text of one input file through the shared reader (encodings, gzip, BOM, CRLF).

    A named pipe or ``<(...)`` can be read only once, but ``prepare`` reads its input
    twice (format detection, then the reader; a GEO matrix also gives the sample sheet),
    so the text of a file that is not a regular file is kept for the process.
    """
    if path.is_file():
        return read_text(path)
    try:  # the inode tells two pipes with one name apart (/dev/fd/63 of two commands)
        st = os.stat(path)
        key = (str(path), st.st_dev, st.st_ino)
    except OSError:
        return read_text(path)  # its error message
    if key not in _PIPE_TEXT:
        _PIPE_TEXT[key] = read_text(path)
    return _PIPE_TEXT[key]


_PIPE_TEXT: dict[tuple[str, int, int], str] = {}


def _head(path: Path, n: int = 5) -> list[str]:
    """The first ``n`` lines of a text input."""
    return input_text(path).split("\n")[:n]


def _fields(line: str) -> list[str]:
    sep = "\t" if "\t" in line else ","
    return [f.strip().strip('"') for f in line.split(sep)]


def _per_sample_files(path: Path) -> list[Path]:
    """quant.sf / abundance.tsv files under a directory (one level of sample folders, or flat)."""
    names = {n for ns in PER_SAMPLE_NAMES.values() for n in ns}
    found = sorted(p for p in path.glob("*/*") if p.name in names)
    if not found:
        found = sorted(p for p in path.iterdir() if p.suffix in (".sf", ".tsv") and p.is_file())
    # salmon with --geneMap writes quant.genes.sf beside quant.sf: keep the gene-level one
    by_dir: dict[Path, Path] = {}
    for p in found:
        if p.name == "quant.sf" and (p.parent / "quant.genes.sf").exists():
            continue
        by_dir.setdefault(p if p.name not in names else p.parent, p)
    return list(by_dir.values())


def detect_format(paths: list[Path]) -> tuple[str, str]:
    """Guess the format of ``paths`` (one file, one directory, or several per-sample files).

    Returns
    -------
    tuple
        ``(format, reason)``.
    """
    first = paths[0]
    if first.is_dir():
        files = _per_sample_files(first)
        if not files:
            raise InputError(first, "a directory holds no quant.sf or abundance.tsv files")
        fmt, why = detect_format([files[0]])
        return fmt, f"directory of {len(files)} per-sample files; {why}"
    if not first.exists():
        raise InputError(first, "file not found")
    if first.suffix.lower() == ".h5ad":
        return "h5ad", ".h5ad file name"
    lines = _head(first, 60)
    if lines and lines[0].startswith("#") and "featureCounts" in lines[0]:
        return "featurecounts", "'# Program:featureCounts' line"
    body = [ln for ln in lines if ln and not ln.startswith("#")]
    if any(ln.startswith(("!Series_", "!Sample_")) for ln in lines):
        return "geo_series", "'!Series_'/'!Sample_' lines"
    header = _fields(body[0]) if body else []
    if header[:6] == FEATURECOUNTS_COLUMNS:
        return "featurecounts", "Geneid/Chr/Start/End/Strand/Length header"
    if header == SALMON_COLUMNS:
        return "salmon", "Name/Length/EffectiveLength/TPM/NumReads header"
    if header == KALLISTO_COLUMNS:
        return "kallisto", "target_id/length/eff_length/est_counts/tpm header"
    return "table", "no other format's header"


def check_format(fmt: str, paths: list[Path]) -> None:
    """Raise a one-line :class:`InputError` when an explicitly named format does not fit."""
    detected, why = detect_format(paths)
    if fmt in ("table",) and detected in ("table",):
        return
    if fmt == detected:
        return
    if fmt == "table" and detected == "h5ad":
        raise InputError(paths[0], "is an .h5ad file, not a table: pass --format h5ad (or auto)")
    raise InputError(
        paths[0], f"does not look like {fmt} input: it looks like {detected} ({why}); "
        f"pass --format {detected} (or auto)",
    )


# ------------------------------------------------------------------------------ readers


def _numeric(frame: pd.DataFrame, path: Path, what: str) -> np.ndarray:
    values = frame.apply(pd.to_numeric, errors="coerce")
    bad = values.isna() & frame.notna()
    if bad.to_numpy().any():
        r, c = (int(v[0]) for v in np.nonzero(bad.to_numpy()))
        raise InputError(
            path, f"non-numeric {what} value {frame.iat[r, c]!r} in column {frame.columns[c]!r} "
            f"(row {r + 1}): is this {what} file as produced?",
        )
    return values.to_numpy(dtype=float)


def _read_tsv(path: Path, skip: int = 0) -> pd.DataFrame:
    text = input_text(path)
    try:
        return pd.read_csv(io.StringIO(text), sep="\t", skiprows=skip, dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas raises many types for a malformed file
        raise InputError(path, f"cannot parse: {' '.join(str(exc).split())[:160]}") from None


def _sample_name(column: str) -> str:
    """A featureCounts column (a BAM path) as a sample id: file name without .bam/.sam."""
    name = re.split(r"[\\/]", column)[-1]
    return re.sub(r"\.(bam|sam|cram)$", "", name, flags=re.IGNORECASE)


def read_featurecounts(path: Path) -> pd.DataFrame:
    """featureCounts output as a samples x genes DataFrame of counts."""
    n_comment = 0
    for line in _head(path, 5):
        if not line.startswith("#"):
            break
        n_comment += 1
    table = _read_tsv(path, n_comment)
    if list(table.columns[:6]) != FEATURECOUNTS_COLUMNS:
        raise InputError(
            path, f"not featureCounts output: columns start {short_list(list(table.columns), 6)}, "
            f"expected {', '.join(FEATURECOUNTS_COLUMNS)}",
        )
    samples = [_sample_name(c) for c in table.columns[6:]]
    if not samples:
        raise InputError(path, "featureCounts output without sample columns")
    x = _numeric(table.iloc[:, 6:], path, "featureCounts")
    renamed = sum(s != c for s, c in zip(samples, table.columns[6:], strict=True))
    if renamed:
        log.info("%s: %d sample columns renamed from BAM paths (e.g. %r -> %r)", path, renamed,
                 table.columns[6], samples[0])
    return pd.DataFrame(x.T, index=samples, columns=table["Geneid"].astype(str).tolist())


def _quant_sample_id(path: Path) -> str:
    names = {n for ns in PER_SAMPLE_NAMES.values() for n in ns}
    if path.name in names:
        return path.parent.name
    return path.name.split(".")[0]


def read_quant_files(paths: list[Path], fmt: str) -> pd.DataFrame:
    """salmon or kallisto per-sample gene-level files as a samples x genes DataFrame of counts."""
    files: list[Path] = []
    for p in paths:
        files += _per_sample_files(p) if p.is_dir() else [p]
    columns, id_col, value_col = (
        (SALMON_COLUMNS, "Name", "NumReads") if fmt == "salmon" else
        (KALLISTO_COLUMNS, "target_id", "est_counts")
    )
    rows, ids, genes = [], [], None
    for f in files:
        table = _read_tsv(f)
        if list(table.columns) != columns:
            raise InputError(
                f, f"not a {fmt} file: columns {short_list(list(table.columns), 6)}, "
                f"expected {', '.join(columns)}",
            )
        g = table[id_col].astype(str).tolist()
        if genes is None:
            genes = g
        elif g != genes:
            raise InputError(f, f"its {id_col} rows differ from those of {files[0]}: "
                                "every sample must be quantified against the same genes")
        rows.append(_numeric(table[[value_col]], f, fmt)[:, 0])
        ids.append(_quant_sample_id(f))
    dups = duplicated(ids)
    if dups:
        raise InputError(paths[0], f"sample ids from the file names are duplicated: {short_list(dups)}")
    log.info("%s: %d %s files, column %s", paths[0], len(files), fmt, value_col)
    return pd.DataFrame(np.vstack(rows), index=ids, columns=genes)


def _geo_value(v: str) -> str:
    return v.strip().strip('"').strip()


def read_geo_series(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A GEO series matrix: the samples x probes values and the ``!Sample_*`` sheet.

    The sheet has one row per sample (index ``!Sample_geo_accession``), a column
    ``title`` and one column per ``key: value`` characteristic (``!Sample_characteristics_ch1``
    lines; the key is the column name, e.g. ``tissue``).
    """
    meta: dict[str, list[list[str]]] = {}
    table_lines: list[str] = []
    inside = False
    for line in input_text(path).split("\n"):
        if line.startswith("!series_matrix_table_begin"):
            inside = True
            continue
        if line.startswith("!series_matrix_table_end"):
            inside = False
            continue
        if inside:
            table_lines.append(line)
        elif line.startswith("!Sample_"):
            key, *vals = line.split("\t")
            meta.setdefault(key[len("!Sample_"):], []).append([_geo_value(v) for v in vals])
    if not table_lines or "geo_accession" not in meta:
        raise InputError(path, "not a GEO series matrix: no !Sample_geo_accession line or no "
                               "!series_matrix_table_begin ... _end table")
    header = [_geo_value(v) for v in table_lines[0].split("\t")]
    body = [[_geo_value(v) for v in ln.split("\t")] for ln in table_lines[1:] if ln.strip()]
    frame = pd.DataFrame(body, columns=header)
    frame = frame.replace({"": np.nan, "null": np.nan, "NA": np.nan})
    x = _numeric(frame.iloc[:, 1:], path, "GEO series matrix")
    samples = header[1:]
    accessions = meta["geo_accession"][0]
    if accessions != samples:
        raise InputError(path, "the table's sample columns differ from !Sample_geo_accession")
    sheet = pd.DataFrame(index=pd.Index(samples, name="sample", dtype=object))
    sheet["title"] = meta.get("title", [samples])[0]
    for vals in meta.get("characteristics_ch1", []):
        keys = {v.split(":", 1)[0].strip() for v in vals if ":" in v}
        if len(keys) != 1:
            continue
        key = keys.pop()
        sheet[key] = [v.split(":", 1)[1].strip() if ":" in v else "" for v in vals]
    expr = pd.DataFrame(x.T, index=samples, columns=frame.iloc[:, 0].astype(str).tolist())
    log.info("%s: GEO series matrix, %d samples x %d probes; sample sheet columns %s", path,
             len(samples), expr.shape[1], ", ".join(sheet.columns))
    return expr, sheet


def sheet_from_obs(path: Path, label_col: str, group_col: str | None) -> pd.DataFrame:
    """The ``.obs`` of an ``.h5ad`` as a sample sheet table (column ``sample`` = obs_names)."""
    import anndata as ad

    try:
        obs = ad.read_h5ad(path, backed="r").obs.copy()
    except Exception as exc:
        raise InputError(path, f"cannot read as AnnData .h5ad: {type(exc).__name__}") from None
    if label_col not in obs.columns:
        raise InputError(
            path, f"no sample sheet given and .obs has no label column {label_col!r}; .obs columns are "
            f"{short_list(list(obs.columns), 10) or 'none'}: pass --label-col or --samples",
        )
    table = obs.astype(str).reset_index(names="sample")
    return table


def as_paths(expression: str | os.PathLike | list) -> list[Path]:
    """One path, a directory or a list of paths (``a,b`` strings are split too) as a list."""
    items = expression if isinstance(expression, list | tuple) else [expression]
    out: list[Path] = []
    for item in items:
        out += [Path(p) for p in str(item).split(",") if p] if "," in str(item) else [Path(item)]
    return out
