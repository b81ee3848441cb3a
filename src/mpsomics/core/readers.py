"""Readers: robust ones for the tables users produce, strict ones for stage-to-stage files.

One reader per file contract between stages (rules in ``docs/outputs.md``, "Readers
and their rules"): :func:`read_prepared` (``expression.h5ad``), :func:`read_gene_list`
(``genes/{community}.txt``, ``selected.txt``, backgrounds), :func:`read_tsv` (every
TSV), :func:`read_subcommunities` (subcommunity tables); GMT is
:func:`mpsomics.core.gmt.read_gmt` and ``model.npz`` :func:`mpsomics.mps.state.load_model`.
They accept UTF-8 only (``read_text(strict=True)``). The rest of this docstring is the
lenient contract of :func:`read_table` for ``prepare``'s user inputs.

Every problem is reported as an :class:`~mpsomics.core.errors.InputError` whose one-line
message names the file and, where possible, the line / row / column at fault; a
reader never lets a pandas or gzip traceback escape.

Behaviour (documented contract)
-------------------------------
* **Compression** is detected from the gzip magic bytes, not the file name. A
  truncated or corrupt gzip stream is an error ("truncated or corrupt gzip").
* **Encoding**: UTF-8, with or without a byte-order mark (BOM); UTF-16 with a BOM
  (Excel's "Unicode Text" export) is converted. Text that is not
  valid UTF-8 is decoded as Latin-1 (cp1252-style exports from Excel) with a
  warning. Binary content (NUL bytes, ``.xlsx`` zip archives, HDF5) is an error.
* **Line endings**: ``\\r\\n`` (Windows) and ``\\r`` (old Mac) are normalised.
* **Delimiter** is sniffed from the first lines: tab, comma or semicolon, the
  candidate that gives the same, non-zero number of fields on every sampled line.
  A ``.tsv`` that is really comma-separated (or vice versa) is read correctly and
  a warning is logged. A file with a single column where a table is expected is
  an error.
* **Header** rows may lack the row-name column (R ``write.table`` style); the
  first column is then unnamed. A trailing delimiter at the end of every data
  line and/or of the header line (an empty, unnamed last column) is ignored with
  a warning; an unnamed column *with* data is never shifted silently. Blank lines
  are skipped (line numbers in messages still refer to the file).
* **Missing values**: empty cells and ``NA``, ``N/A``, ``NaN``, ``nan``,
  ``NULL``, ``null``, ``#N/A``, ``None`` are NaN in numeric columns. Identifier
  columns keep their text.
* **Non-numeric** cells in a numeric matrix are an error naming the row, the
  column and the value (with a hint when it looks like a decimal comma).
* ``inf`` / ``-inf`` are an error naming the row and column.
* **Empty** files and **header-only** files are errors; so are ragged rows
  (a line with a different number of fields than the header).
* **Excel-mangled gene symbols** (Excel turns ``MARCH1``, ``SEPT2``, ``DEC1``
  into dates) are repaired by :func:`repair_excel_gene_symbols` to the *current*
  HGNC symbols ``MARCHF1``, ``SEPTIN2``, ``DELEC1`` (the convention of the bundled
  TCGA data and of recent gene-set libraries). Recognised forms, case-insensitive:
  ``1-Mar``, ``01-Mar``, ``Mar-1``, ``Mar-01``, ``1-Mar-2019`` and ISO dates such as
  ``2019-03-01`` (optionally followed by `` 00:00:00``). Only day numbers of genes
  that exist are repaired (MARCHF1-11, SEPTIN1-14, DELEC1); slash dates
  (``3/1/2019``) are ambiguous and left alone. Every repair is logged.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import os
import re
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mpsomics.core.errors import InputError

log = logging.getLogger(__name__)

#: Cell values read as NaN in numeric columns.
NA_VALUES: tuple[str, ...] = (
    "",
    "NA",
    "N/A",
    "NaN",
    "nan",
    "NAN",
    "NULL",
    "null",
    "#N/A",
    "None",
    "na",
)

_DELIMITERS = {"\t": "tab", ",": "comma", ";": "semicolon"}
_SNIFF_LINES = 50


def short_list(items: Sequence[object], n: int = 5) -> str:
    """Format the first ``n`` items and a count of the rest, for error messages."""
    items = [str(i) for i in items]
    head = ", ".join(repr(i) for i in items[:n])
    return head if len(items) <= n else f"{head} ... ({len(items)} in total)"


# ----------------------------------------------------------------------------- raw text


def given_input(path: str | os.PathLike | None, what: str) -> bool:
    """True when an optional input was given and exists.

    ``exists`` rather than ``is_file``: a named pipe or ``<(...)`` is not a regular
    file but must be read (a directory is read too, and its reader says what is
    wrong). A given path that does not exist is a WARNING, for stages that work on
    what a (possibly partial) run has (the report says in the page what is missing).
    """
    if path is None:
        return False
    if Path(path).exists():
        return True
    log.warning("%s: not found; the report goes on without %s", path, what)
    return False


#: What ``np.load`` of a damaged ``.npz`` raises besides InputError: zipfile reports a
#: flipped header byte as NotImplementedError ("compression method", "zip file version"),
#: a bad deflate stream as zlib.error, a cut member as EOFError or BadZipFile.
NPZ_ERRORS: tuple[type[BaseException], ...] = (
    OSError, ValueError, EOFError, KeyError, NotImplementedError, zlib.error, zipfile.BadZipFile,
    zipfile.LargeZipFile, struct.error, UnicodeDecodeError, OverflowError,
)


def require_file(path: str | os.PathLike, what: str) -> None:
    """InputError unless ``path`` is a regular file (``what``: e.g. ``"model .npz"``).

    For readers that seek (``np.load``, HDF5), where a named pipe cannot be read.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(path, f"is a directory, expected a {what} file")
    if not path.exists():
        raise InputError(path, f"{what} file not found")
    if not path.is_file():
        raise InputError(path, f"is not a regular file; a {what} must be a file on disk")


def read_bytes(path: str | os.PathLike) -> bytes:
    """All bytes of ``path``; works for named pipes and ``<(...)`` process substitution.

    Raises
    ------
    InputError
        ``file not found``, a directory, or any other OS error, naming the file.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:  # not Path.stat/is_file: a pipe is not a regular file
            return fh.read()
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, expected a file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read file: {exc.strerror or exc}") from None


#: Byte-order marks of encodings other than UTF-8, longest first (UTF-32 LE starts like UTF-16 LE).
_OTHER_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def _looks_utf16_without_bom(raw: bytes) -> bool:
    """ASCII text saved as UTF-16 without a BOM: every other byte of the start is NUL."""
    head = raw[:512]
    if len(head) < 4:
        return False
    head = head[: len(head) // 2 * 2]
    even, odd = head[0::2], head[1::2]
    return (odd.count(0) == len(odd) and even.count(0) == 0) or (
        even.count(0) == len(even) and odd.count(0) == 0
    )


def read_text(
    path: str | os.PathLike,
    *,
    what: str = "text file",
    strict: bool = False,
    allow_empty: bool = False,
) -> str:
    """Read a (possibly gzipped) text file into one normalised string: the one text reader.

    Every text input goes through here (gene lists, ``selected.txt``, ``pool.txt``,
    GMT libraries, stage TSVs, user tables of ``prepare``, config JSON). The bytes are
    read once with ``open().read()`` (never ``stat``-sized or seeked), so named pipes,
    ``<(...)`` process substitution and ``/dev/fd/N`` work.

    Parameters
    ----------
    path
        File to read. Gzip is detected from the magic bytes.
    what
        What the file is (``"gene list"``, ``"GMT gene set library"``, ...), for messages.
    strict
        The rule for files one stage writes for another and for gene lists / config:
        only UTF-8 (with or without BOM) is accepted; UTF-16/UTF-32 and text that is
        not valid UTF-8 (Latin-1, cp1252) are an :class:`InputError` asking for UTF-8.
        A mis-decoded gene or term name would silently not match, so no guessing.
        Without ``strict`` (``prepare``'s user tables): UTF-16 with a BOM is converted
        and non-UTF-8 bytes are decoded as Latin-1 with a warning.
    allow_empty
        Return ``""`` for an empty (or whitespace-only) file instead of raising.

    Returns
    -------
    str
        The decoded text, byte-order marks removed (at the start and at the start of
        any line: files concatenated with ``cat``), line endings normalised to ``\\n``.

    Raises
    ------
    InputError
        Missing/unreadable/empty/binary file, truncated gzip, or (strict) text that is
        not UTF-8: ``not UTF-8 text (byte 0xe9 at offset 7, line 3): save the gene list
        as UTF-8``.
    """
    path = Path(path)
    raw = read_bytes(path)
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise InputError(
                path,
                f"truncated or corrupt gzip stream ({exc}); re-download or re-compress the file",
            ) from None
    elif path.suffix.lower() == ".gz" and raw:
        log.warning("%s: .gz extension but not gzip-compressed; reading it as plain text", path)
    bom = next((name for mark, name in _OTHER_BOMS if raw.startswith(mark)), None)
    if bom is not None:
        if strict or bom != "UTF-16":
            raise InputError(
                path, f"not UTF-8 text ({bom} byte-order mark): save the {what} as UTF-8"
            )
        try:  # UTF-16 with BOM: Excel "Unicode Text"
            raw = raw.decode("utf-16").encode("utf-8")
            log.info("%s: UTF-16 text (Excel 'Unicode Text' export) converted to UTF-8", path)
        except UnicodeDecodeError:
            raise InputError(
                path, "starts with a UTF-16 byte-order mark but is not valid UTF-16"
            ) from None
    if raw[:4] == b"PK\x03\x04":
        raise InputError(path, "looks like an Excel/zip file; save it as tab-separated text (TSV)")
    if raw[:8] == b"\x89HDF\r\n\x1a\n":
        raise InputError(
            path, "is an HDF5 file; only .h5ad AnnData files are read as HDF5 (rename it to .h5ad)"
        )
    if _looks_utf16_without_bom(raw):
        raise InputError(path, f"not UTF-8 text (UTF-16 without byte-order mark): save the {what} as UTF-8")
    if b"\x00" in raw[:8192]:
        expected = "tab- or comma-separated text" if what == "text file" else f"a {what} (text)"
        raise InputError(path, f"looks like a binary file (NUL bytes), expected {expected}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)  # exc counts after the BOM
        line = raw.count(b"\n", 0, offset) + 1
        where = f"byte 0x{raw[offset]:02x} at offset {offset}, line {line}"
        if strict:
            raise InputError(path, f"not UTF-8 text ({where}): save the {what} as UTF-8") from None
        log.warning("%s: not valid UTF-8 (%s); decoding as Latin-1", path, where)
        text = raw.decode("latin-1")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\ufeff" in text:  # a BOM left at a line start: files concatenated with `cat`
        text = re.sub("(?m)^\ufeff+", "", text)
    if not text.strip():
        if allow_empty:
            return ""
        raise InputError(path, "file is empty")
    return text


def sniff_delimiter(path: str | os.PathLike, lines: Sequence[str]) -> str:
    """Choose the delimiter (tab, comma, semicolon) of a table from its first lines.

    The winner is the candidate that splits every sampled line into the same number
    (> 1) of fields (the header may have one field fewer: R-style row names). Ties
    are broken by the file extension, then tab > comma > semicolon.

    Raises
    ------
    InputError
        No candidate gives at least two columns.
    """
    path = Path(path)
    sample = [ln for ln in lines[: _SNIFF_LINES + 1] if ln.strip()]
    ext = (
        path.suffixes[-2]
        if path.suffix.lower() == ".gz" and len(path.suffixes) > 1
        else path.suffix
    )
    preferred = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": "\t"}.get(ext.lower(), "\t")
    scores: dict[str, tuple[int, int, int]] = {}
    for delim in _DELIMITERS:
        counts = [len(next(csv.reader([ln], delimiter=delim))) for ln in sample]
        body = counts[1:] or counts
        consistent = len(set(body)) == 1 and counts[0] in (body[0], body[0] - 1)
        if body[0] > 1:
            scores[delim] = (int(consistent), int(delim == preferred), body[0])
    if not scores:
        raise InputError(
            path,
            "has a single column: expected a tab-, comma- or semicolon-separated table",
        )
    delim = max(scores, key=lambda d: scores[d])
    if delim != preferred and ext.lower() in (".csv", ".tsv", ".tab"):
        log.warning(
            "%s: extension %s but the content is %s-separated; reading it as %s-separated",
            path,
            ext,
            _DELIMITERS[delim],
            _DELIMITERS[delim],
        )
    return delim


def read_table(
    path: str | os.PathLike,
    *,
    numeric_except: int | str | None = None,
    row_kind: str = "row",
    col_kind: str = "column",
    content: str | None = None,
) -> pd.DataFrame:
    """Read a delimited text table robustly.

    Parameters
    ----------
    path
        TSV/CSV file, optionally gzipped.
    numeric_except
        ``None``: every column is kept as stripped text. Otherwise the one identifier
        column (a header name, or a position) stays text and every other column is
        parsed as float (``NA_VALUES`` are NaN; other non-numeric cells and
        infinities are an error naming the row and column).
    row_kind, col_kind
        What rows and columns are (e.g. ``"gene"``, ``"sample"``), for messages.
    content
        The file's text when the caller already read it with :func:`read_text` (a
        pipe can be read only once); ``path`` then only names the file in messages.

    Returns
    -------
    pandas.DataFrame
        Default integer index; column labels are the stripped header fields (may be
        duplicated: callers decide whether that is an error).

    Raises
    ------
    InputError
        For any problem listed in the module docstring.
    """
    path = Path(path)
    text = read_text(path) if content is None else content
    all_lines = text.split("\n")
    numbered = [(n, ln) for n, ln in enumerate(all_lines, start=1) if ln.strip()]
    lines = [ln for _, ln in numbered]
    delim = sniff_delimiter(path, lines)
    header = [h.strip() for h in next(csv.reader([lines[0]], delimiter=delim))]
    body = lines[1:]
    linenos = [n for n, _ in numbered[1:]]
    if not body:
        raise InputError(path, "has a header but no data rows")
    quoted = '"' in text
    if not quoted:
        # A trailing delimiter (an empty, unnamed last column) on every data line
        # and/or on the header line, possibly with an R-style header.
        n_body = body[0].count(delim) + 1
        trailing_body = all(ln.endswith(delim) for ln in body)
        trailing_header = len(header) > 1 and header[-1] == ""
        if trailing_body and trailing_header and len(header) in (n_body, n_body - 1):
            header, body = header[:-1], [ln[:-1] for ln in body]
        elif trailing_body and len(header) in (n_body - 1, n_body - 2):
            body = [ln[:-1] for ln in body]
        elif trailing_header and len(header) == n_body + 1:
            header = header[:-1]
        else:
            trailing_body = trailing_header = False
        if trailing_body or trailing_header:
            log.warning(
                "%s: ignoring a trailing %s at the end of the lines", path, _DELIMITERS[delim]
            )
    n_fields = len(next(csv.reader([body[0]], delimiter=delim)))
    if n_fields == len(header) + 1:
        header = [""] + header  # R write.table style: no header for the row names
    if not quoted:  # cheap exact check of field counts (quoted fields may hold delimiters)
        for lineno, ln in zip(linenos, body, strict=True):
            k = ln.count(delim) + 1
            if k != len(header):
                raise InputError(
                    path, f"line {lineno} has {k} fields but the header has {len(header)}"
                )
    ncol = len(header)
    kwargs: dict = dict(sep=delim, header=None, quotechar='"')
    id_pos = None
    if numeric_except is None:
        kwargs.update(dtype=str, keep_default_na=False, na_filter=False)
    else:
        if isinstance(numeric_except, str):
            if numeric_except not in header:
                raise InputError(
                    path, f"column {numeric_except!r} not found; columns are {short_list(header)}"
                )
            id_pos = header.index(numeric_except)
        else:
            id_pos = int(numeric_except)
        kwargs.update(
            dtype={id_pos: str},
            keep_default_na=False,
            na_values={i: list(NA_VALUES) for i in range(ncol) if i != id_pos},
        )
    try:
        df = pd.read_csv(io.StringIO("\n".join(body)), **kwargs)
    except (pd.errors.ParserError, ValueError) as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise InputError(
            path, f"cannot parse as a {_DELIMITERS[delim]}-separated table: {msg}"
        ) from None
    if df.shape != (len(body), ncol):
        raise InputError(
            path,
            f"parsed {df.shape[0]} rows x {df.shape[1]} fields, expected {len(body)} rows x {ncol} (check quoting)",
        )
    df.columns = header
    for i in range(ncol) if id_pos is None else [id_pos]:
        df.isetitem(i, df.iloc[:, i].astype(str).str.strip())
    if id_pos is not None:
        df = _coerce_numeric(path, df, id_pos, linenos, (row_kind, col_kind))
    return df


def _coerce_numeric(
    path: Path, df: pd.DataFrame, id_pos: int, linenos: Sequence[int], kinds: tuple[str, str]
) -> pd.DataFrame:
    """Make every column but ``id_pos`` float64, naming the first bad cell on failure."""
    row_names = df.iloc[:, id_pos].astype(str)
    cols = [i for i in range(df.shape[1]) if i != id_pos]
    for i in cols:
        col = df.iloc[:, i]
        if col.dtype.kind in "fiub":
            if col.dtype.kind != "f":
                df.isetitem(i, col.astype(float))
            continue
        stripped = col.astype(str).str.strip()
        na = col.isna() | stripped.isin(NA_VALUES)
        num = pd.to_numeric(stripped.where(~na), errors="coerce")
        bad = num.isna() & ~na
        if bad.any():
            r = int(np.flatnonzero(bad.to_numpy())[0])
            value = stripped.iloc[r]
            hint = (
                " (decimal comma? use '.' as decimal separator)"
                if re.fullmatch(r"-?\d+,\d+", value)
                else ""
            )
            raise InputError(
                path,
                f"non-numeric value {value!r} for {kinds[0]} {row_names.iloc[r]!r}, {kinds[1]} "
                f"{df.columns[i]!r} (line {linenos[r]}){hint}",
            )
        df.isetitem(i, num.astype(float))
    values = df.iloc[:, cols].to_numpy(dtype=float)
    inf = np.isinf(values)
    if inf.any():
        r, c = (int(v[0]) for v in np.nonzero(inf))
        raise InputError(
            path,
            f"infinite value {values[r, c]} for {kinds[0]} {row_names.iloc[r]!r}, {kinds[1]} "
            f"{df.columns[cols[c]]!r} (line {linenos[r]}); replace it by a finite value or NA",
        )
    return df


# ----------------------------------------------------------------------- gene symbols

_MONTHS = {"mar": ("MARCHF", 11), "sep": ("SEPTIN", 14), "dec": ("DELEC", 1)}
_MONTH_NUM = {"03": "mar", "3": "mar", "09": "sep", "9": "sep", "12": "dec"}
_RE_DAY_MON = re.compile(r"^(\d{1,2})-(mar|sep|dec)(?:-\d{2,4})?$", re.I)
_RE_MON_DAY = re.compile(r"^(mar|sep|dec)-(\d{1,2})$", re.I)
_RE_ISO = re.compile(r"^\d{4}-(0?3|0?9|12)-(\d{1,2})(?:[ T]00:00(?::00)?)?$")


def excel_symbol_repair(symbol: str) -> str | None:
    """Return the HGNC symbol an Excel-mangled date stands for, or ``None``.

    >>> excel_symbol_repair("1-Mar"), excel_symbol_repair("2019-09-02"), excel_symbol_repair("TP53")
    ('MARCHF1', 'SEPTIN2', None)
    """
    s = symbol.strip()
    month = day = None
    if m := _RE_DAY_MON.match(s):
        day, month = m.group(1), m.group(2).lower()
    elif m := _RE_MON_DAY.match(s):
        month, day = m.group(1).lower(), m.group(2)
    elif m := _RE_ISO.match(s):
        month, day = _MONTH_NUM.get(m.group(1)), m.group(2)
    if month is None or day is None:
        return None
    prefix, max_day = _MONTHS[month]
    d = int(day)
    if not 1 <= d <= max_day:
        return None
    return f"{prefix}{d}"


def repair_excel_gene_symbols(
    symbols: Sequence[str], path: str | os.PathLike | None = None
) -> tuple[list[str], dict[str, str]]:
    """Repair gene symbols that Excel converted to dates; log each repair.

    Parameters
    ----------
    symbols
        Gene symbols as read.
    path
        File name used in the log lines.

    Returns
    -------
    tuple
        The repaired symbols (same order) and the ``{mangled: repaired}`` map.
    """
    out: list[str] = []
    repairs: dict[str, str] = {}
    for s in symbols:
        fixed = excel_symbol_repair(str(s))
        if fixed is None:
            out.append(s)
        else:
            out.append(fixed)
            repairs[str(s)] = fixed
            log.warning("%s: gene symbol %r looks Excel-mangled; restored to %s", path, s, fixed)
    return out, repairs


def duplicated(items: Sequence[object]) -> list[str]:
    """Return the items occurring more than once, in first-occurrence order."""
    counts = Counter(str(i) for i in items)
    return [k for k, v in counts.items() if v > 1]


# ------------------------------------------------------------ files stages pass on
#
# One reader per file contract between stages (docs/outputs.md, "Readers and their
# rules"). All read through :func:`read_bytes` (named pipes and ``<(...)`` work) and
# :func:`read_text` with ``strict=True``: UTF-8 with or without BOM, any line ending;
# UTF-16 and non-UTF-8 (Latin-1) text, gzip-corrupt, Excel/zip, HDF5 and binary files
# are an InputError naming the file; a missing file is ``file not found``.


def read_gene_list(
    path: str | os.PathLike,
    *,
    item: str = "gene",
    allow_empty: bool = False,
    content: str | None = None,
) -> list[str]:
    """Read a list of identifiers, one per line (``genes/{community}.txt``, backgrounds).

    Rules: surrounding whitespace is stripped; blank lines and lines starting with
    ``#`` are skipped; an entry containing whitespace (a table passed as a list) and
    a duplicated entry are errors naming the line(s).

    Parameters
    ----------
    path
        Text file (or pipe).
    item
        What an entry is, for messages (``"gene"``, ``"community id"``).
    allow_empty
        Return ``[]`` for a list without entries instead of raising.
    content
        The file's text when the caller already read it with :func:`read_text` (a
        pipe can be read only once); ``path`` then only names the file in messages.

    Returns
    -------
    list of str
        Entries in file order.

    Raises
    ------
    InputError
        Missing/unreadable/non-UTF-8 file, whitespace inside an entry, a duplicate,
        or (unless ``allow_empty``) no entry at all.
    """
    path = Path(path)
    text = read_text(path, what=f"{item} list", strict=True, allow_empty=True) if content is None else content
    items: list[str] = []
    first: dict[str, int] = {}
    for lineno, line in enumerate(text.split("\n"), start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if any(ch.isspace() for ch in entry):
            raise InputError(
                path, f"line {lineno}: {entry!r} contains whitespace; expected one {item} per line"
            )
        if entry in first:
            raise InputError(
                path, f"duplicated {item} {entry!r} (lines {first[entry]} and {lineno})"
            )
        first[entry] = lineno
        items.append(entry)
    if not items and not allow_empty:
        raise InputError(path, f"{item} list is empty (expected one {item} per line)")
    return items


def _parse_number_column(
    path: Path, df: pd.DataFrame, col: str, linenos: Sequence[int], *, integer: bool, complete: bool
) -> pd.Series:
    raw = df[col].astype(str).str.strip()
    missing = raw.isin(NA_VALUES)
    values = pd.to_numeric(raw.where(~missing), errors="coerce")
    bad = values.isna() & ~missing
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(path, f"column {col!r}: non-numeric value {raw.iloc[i]!r} (line {linenos[i]})")
    if complete and missing.any():
        i = int(np.flatnonzero(missing.to_numpy())[0])
        raise InputError(path, f"column {col!r}: empty value (line {linenos[i]})")
    v = values.to_numpy(dtype=float)
    inf = np.isinf(v)
    if inf.any():
        i = int(np.flatnonzero(inf)[0])
        raise InputError(path, f"column {col!r}: infinite value {raw.iloc[i]!r} (line {linenos[i]})")
    if not integer:
        return pd.Series(v, index=df.index, name=col)
    frac = ~np.isnan(v) & (v != np.round(v))
    if frac.any():
        i = int(np.flatnonzero(frac)[0])
        raise InputError(path, f"column {col!r}: expected an integer, found {raw.iloc[i]!r} (line {linenos[i]})")
    if np.isnan(v).any():
        return pd.Series(v, index=df.index, name=col).round().astype("Int64")
    return pd.Series(np.round(v).astype(np.int64), index=df.index, name=col)


def read_tsv(
    path: str | os.PathLike,
    required: Sequence[str] = (),
    *,
    numeric: Sequence[str] = (),
    integer: Sequence[str] = (),
    text: Sequence[str] | bool = (),
    complete: Sequence[str] = (),
    min_rows: int = 0,
    content: str | None = None,
) -> pd.DataFrame:
    """Read a tab-separated table one stage wrote for another.

    Rules: UTF-8 (BOM and CRLF accepted, see :func:`read_text`); the first non-blank
    line is the header, with non-empty, unique column names; blank lines are
    skipped; every line has as many fields as the header; ``required`` columns must
    exist. Missing values are empty cells and the :data:`NA_VALUES` tokens.

    Parameters
    ----------
    path
        The TSV (or a pipe).
    required
        Columns that must be present.
    numeric, integer
        Columns parsed strictly as float / integer (when present): a non-numeric
        cell, an infinity or (for ``integer``) a fraction is an error naming the
        column, value and line. Integer columns are ``int64``, or ``Int64`` when
        they have missing cells.
    text
        Columns kept as stripped strings (missing cells are ``""``); ``True`` for
        all columns. Other columns get pandas' type inference (numbers, booleans;
        missing cells NaN).
    complete
        Columns where every cell must have a value.
    min_rows
        Fewest data rows (a header-only table has 0).
    content
        The file's text when the caller already read it with :func:`read_text` (a
        pipe can be read only once); ``path`` then only names the file in messages.

    Raises
    ------
    InputError
        For any rule above, naming the file.
    """
    path = Path(path)
    if content is None:
        content = read_text(path, what="tab-separated table", strict=True, allow_empty=True)
    if not content.strip():
        raise InputError(path, "empty file (expected a tab-separated table with a header row)")
    numbered = [(n, ln) for n, ln in enumerate(content.split("\n"), start=1) if ln.strip()]
    header = next(csv.reader([numbered[0][1]], delimiter="\t"))
    for k, name in enumerate(header, start=1):
        if not name.strip():
            raise InputError(path, f"header: column {k} has no name")
    dups = duplicated(header)
    if dups:
        raise InputError(path, f"header: duplicated column name(s) {short_list(dups)}")
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(
            path, f"missing column(s) {', '.join(missing)}; found {short_list(header, 20)}"
        )
    body = numbered[1:]
    linenos = [n for n, _ in body]
    if '"' not in content:  # exact field counts (quoted fields may hold tabs/newlines)
        for n, ln in body:
            k = ln.count("\t") + 1
            if k != len(header):
                raise InputError(path, f"line {n} has {k} fields but the header has {len(header)}")
    else:  # count fields per record as a CSV parser sees them: pandas pads a short last row with NaN
        records = csv.reader(io.StringIO(content), delimiter="\t", quotechar='"')
        try:
            for rec in records:
                if rec and any(f.strip() for f in rec) and len(rec) != len(header):
                    raise InputError(
                        path, f"line {records.line_num} has {len(rec)} fields but the header has {len(header)}"
                    )
        except csv.Error as exc:
            raise InputError(path, f"cannot parse as a tab-separated table: {exc}") from None
    if len(body) < min_rows:
        raise InputError(
            path, "has a header but no data rows" if not body else
            f"has {len(body)} data rows, expected at least {min_rows}",
        )
    as_text = list(header) if text is True else [c for c in header if c in set(text or ())]
    strict_cols = [c for c in header if c in set(numeric) | set(integer)]
    raw_cols = set(as_text) | set(strict_cols)
    try:
        df = pd.read_csv(
            io.StringIO(content),
            sep="\t",
            quotechar='"',
            dtype={c: str for c in raw_cols},
            keep_default_na=False,
            na_values={c: list(NA_VALUES) for c in header if c not in raw_cols},
            skip_blank_lines=True,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise InputError(path, f"cannot parse as a tab-separated table: {msg}") from None
    if list(df.columns) != list(header) or len(df) != len(body) and '"' not in content:
        raise InputError(path, f"parsed {df.shape[0]} rows x {df.shape[1]} columns, expected {len(body)} x {len(header)}")
    linenos = linenos if len(linenos) == len(df) else list(range(2, len(df) + 2))
    for c in as_text:
        if c not in strict_cols:
            df[c] = df[c].fillna("").astype(str).str.strip()
    for c in strict_cols:
        df[c] = _parse_number_column(
            path, df, c, linenos, integer=c in set(integer), complete=c in set(complete)
        )
    for c in complete:
        if c in df.columns and c not in strict_cols:
            empty = df[c].isna() | (df[c].astype(str).str.strip() == "")
            if empty.any():
                i = int(np.flatnonzero(empty.to_numpy())[0])
                raise InputError(path, f"column {c!r}: empty value (line {linenos[i]})")
    return df


#: Columns of ``results/subcommunities/{community}.tsv`` every reader relies on.
SUBCOMMUNITY_COLUMNS = ("gene", "subcommunity", "method")


def read_subcommunities(path: str | os.PathLike) -> pd.DataFrame:
    """Read a subcommunity table (``results/subcommunities/{community}.tsv``).

    Rules: those of :func:`read_tsv`, columns ``gene``, ``subcommunity`` and
    ``method`` required and never empty, a (gene, subcommunity) pair at most once.
    A header-only table (no subcommunity found) gives an empty frame.

    Returns
    -------
    pandas.DataFrame
        File order; ``gene``, ``subcommunity``, ``method`` as str; the other columns
        (``magnetization_<class>``, ``degree``, ``contrast``, ...) with inferred types.
        :func:`subcommunity_genes` turns it into ``{subcommunity: [genes]}``.
    """
    path = Path(path)
    df = read_tsv(path, SUBCOMMUNITY_COLUMNS, text=SUBCOMMUNITY_COLUMNS, complete=SUBCOMMUNITY_COLUMNS)
    dup = df.duplicated(["subcommunity", "gene"])
    if dup.any():
        row = df[dup].iloc[0]
        raise InputError(
            path, f"duplicated gene {row['gene']!r} in subcommunity {row['subcommunity']!r}"
        )
    return df


def subcommunity_genes(table: pd.DataFrame) -> dict[str, list[str]]:
    """``{subcommunity id: genes in file order}`` of a :func:`read_subcommunities` table."""
    out: dict[str, list[str]] = {}
    for sid, gene in zip(table["subcommunity"], table["gene"], strict=True):
        out.setdefault(str(sid), []).append(str(gene))
    return out


#: ``obs`` columns of the prepared AnnData.
PREPARED_OBS = ("label", "group", "split")


def _read_anndata(path: Path):
    import anndata as ad

    if not path.exists():
        raise InputError(path, "file not found (run `mpsomics prepare` first)")
    try:
        if path.is_file():
            return ad.read_h5ad(path)
        # a named pipe / <(...): h5py needs a seekable file, so read it into memory
        import h5py
        from anndata.io import read_elem

        raw = read_bytes(path)
        with h5py.File(io.BytesIO(raw), "r") as f:
            return read_elem(f)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - h5py/anndata raise many types for a bad file
        msg = " ".join(str(exc).split())[:200]
        raise InputError(path, f"cannot read as AnnData .h5ad: {type(exc).__name__}: {msg}") from None


def _uns_str(value: object) -> str:
    arr = np.asarray(value, dtype=object)
    return str(arr.item() if arr.ndim == 0 else value)


def read_prepared(path: str | os.PathLike):
    """Read and validate the prepared AnnData (``results/prepared/expression.h5ad``).

    Rules (every stage that reads it: communities, train, observe, enrichment,
    report):

    * a readable ``.h5ad`` (a named pipe is read into memory);
    * ``var_names`` non-empty strings, unique; at least one sample and one gene;
    * ``obs`` columns ``label``, ``group``, ``split``; ``split`` only ``train`` /
      ``test``, at least one ``train`` sample;
    * ``uns['classes']`` exactly two distinct names ``[negative, positive]``;
      ``uns['positive_label']`` one of them; every ``label`` one of them; both
      classes among the training samples;
    * ``.X`` finite and within [0, 1] (min-max scaled); ``layers['log']`` present
      and finite.

    Returns
    -------
    anndata.AnnData
        Loaded in memory; ``uns['classes']`` as a list of str and
        ``uns['positive_label']`` as str.

    Raises
    ------
    InputError
        Naming the file and the first rule broken.
    """
    path = Path(path)
    adata = _read_anndata(path)
    hint = "; run `mpsomics prepare` first"
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise InputError(path, f"no data: {adata.n_obs} samples x {adata.n_vars} genes")
    var = pd.Index(adata.var_names.astype(str))
    if (var.str.strip() == "").any():
        raise InputError(path, "empty gene name in var_names")
    if not var.is_unique:
        raise InputError(path, f"gene names (var_names) are not unique: {short_list(duplicated(var))}")
    missing = [c for c in PREPARED_OBS if c not in adata.obs.columns]
    if missing:
        raise InputError(path, f"obs is missing column(s) {', '.join(missing)}{hint}")
    for key in ("classes", "positive_label"):
        if key not in adata.uns:
            raise InputError(path, f"uns[{key!r}] is missing{hint}")
    classes = [str(c) for c in np.asarray(adata.uns["classes"], dtype=object).ravel()]
    if len(classes) != 2 or len(set(classes)) != 2:
        raise InputError(path, f"uns['classes'] must be two distinct class names [negative, positive], got {classes}")
    positive = _uns_str(adata.uns["positive_label"])
    if positive not in classes:
        raise InputError(path, f"uns['positive_label'] {positive!r} is not one of the classes {classes}")
    labels = adata.obs["label"].astype(str).to_numpy()
    split = adata.obs["split"].astype(str).to_numpy()
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise InputError(path, f"obs['label'] has values not in uns['classes'] {classes}: {short_list(unknown)}")
    bad_split = sorted(set(split) - {"train", "test"})
    if bad_split:
        raise InputError(path, f"obs['split'] must be 'train' or 'test', found {short_list(bad_split)}")
    train = split == "train"
    if not train.any():
        raise InputError(path, "no training samples (obs['split'] == 'train')")
    absent = [c for c in classes if c not in set(labels[train])]
    if absent:
        raise InputError(path, f"class(es) absent from the training samples: {', '.join(absent)}")
    if "log" not in adata.layers:
        raise InputError(path, f"layers['log'] (log2 expression) is missing{hint}")
    for name, values in (("X", adata.X), ("layers['log']", adata.layers["log"])):
        dense = values.toarray() if hasattr(values, "toarray") else np.asarray(values)
        if dense.dtype.kind not in "fiub":
            raise InputError(path, f"{name} is not numeric (dtype {dense.dtype})")
        finite = np.isfinite(dense)
        if not finite.all():
            bad = [str(var[j]) for j in np.flatnonzero(~finite.all(axis=0))]
            raise InputError(
                path, f"{name} has NaN or infinite (non-finite) values for {len(bad)} gene(s): {short_list(bad)}{hint}"
            )
        if name == "X" and dense.size and (dense.min() < -1e-6 or dense.max() > 1 + 1e-6):
            raise InputError(
                path,
                f".X values outside [0, 1] (min {dense.min():.3g}, max {dense.max():.3g}); "
                "use the scaled output of `mpsomics prepare`",
            )
    adata.var_names = var
    adata.uns["classes"] = classes
    adata.uns["positive_label"] = positive
    return adata


def check_genes_present(adata, genes: Sequence[str], path: str | os.PathLike, genes_path: str | os.PathLike | None) -> None:
    """Raise :class:`InputError` naming ``path`` when genes of ``genes_path`` are not in ``adata``.

    The one message of every stage that takes a prepared AnnData and a gene list (train,
    cv, stability).
    """
    var = set(map(str, adata.var_names))
    missing = [g for g in genes if g not in var]
    if missing:
        raise InputError(
            path,
            f"{len(missing)} of {len(genes)} genes of {genes_path or 'the gene list'} missing from the "
            f"expression file: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}",
        )
