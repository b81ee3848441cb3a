"""Reader for gene set libraries in GMT format, with validation.

A GMT line is ``term<TAB>description<TAB>gene1<TAB>gene2 ...``. Real-world files are
messy in a few well-known ways that we accept silently or with a logged count:

* trailing tabs / empty gene fields (Enrichr exports end every line with a tab);
* duplicated genes within one set (kept once, in first-seen order);
* sets with no genes at all (skipped, counted in one warning: libraries built by
  annotation tools contain them and users expect them to be ignored);
* blank lines and ``#`` comment lines;
* a UTF-8 byte-order mark (stripped, never part of the first term name, also at the
  start of a later line of libraries concatenated with ``cat``) and Windows/old-Mac
  line endings (all via :func:`mpsomics.core.readers.read_text`).

Everything else is an error a user must fix, reported as one :class:`InputError`
line naming the file and line number: a line with fewer than three tab-separated
fields (usually a space-separated file or a broken export), a duplicated term name
(two different sets under one name would make results ambiguous), and a file with
no usable set at all.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from mpsomics.core.errors import InputError
from mpsomics.core.readers import read_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GeneSetLibrary:
    """A parsed GMT library.

    Attributes
    ----------
    path
        Source file.
    sets
        Term name -> tuple of gene symbols (unique, file order).
    n_empty_skipped
        Number of sets skipped because they listed no gene.
    """

    path: str
    sets: dict[str, tuple[str, ...]]
    n_empty_skipped: int = 0

    def __len__(self) -> int:
        return len(self.sets)


# Parsed libraries by (absolute path, mtime, size): one process (one enrichment
# job) tests many gene lists against the same few large files.
_CACHE: dict[tuple[str, float, int], GeneSetLibrary] = {}


def read_gmt(path: str | os.PathLike, *, use_cache: bool = True) -> GeneSetLibrary:
    """Read and validate a GMT file.

    Parameters
    ----------
    path
        GMT file (tab-separated; UTF-8 with or without BOM; a named pipe works).
    use_cache
        Re-use a previous parse of the same unchanged file within this process.

    Returns
    -------
    GeneSetLibrary

    Raises
    ------
    InputError
        If the file is missing, unreadable or not UTF-8 (UTF-16, Latin-1), a line has fewer than three
        tab-separated fields, a term name is empty or repeated, or no set has genes.
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError(p, "file not found") from None
    except OSError as exc:
        raise InputError(p, f"cannot read gene set library: {exc.strerror or exc}") from None
    # a pipe (<(...)) has no stable identity: never cached
    use_cache = use_cache and stat.S_ISREG(st.st_mode)
    key = (str(p.resolve()), st.st_mtime, st.st_size)
    if use_cache and key in _CACHE:
        return _CACHE[key]
    # the one text reader: read once (pipes work), UTF-8 only, BOMs stripped, CRLF/CR -> LF
    text = read_text(p, what="GMT gene set library", strict=True, allow_empty=True)

    sets: dict[str, tuple[str, ...]] = {}
    first_line: dict[str, int] = {}
    n_empty = 0
    for lineno, line in enumerate(text.split("\n"), start=1):  # line numbers as editors count them
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 3:
            hint = " (fields look space-separated; GMT needs tabs)" if " " in line.strip() and len(fields) == 1 else ""
            raise InputError(
                p,
                f"line {lineno}: expected 'term<TAB>description<TAB>gene ...' (at least 3 tab-separated fields), found {len(fields)}{hint}",
            )
        term = fields[0].strip()
        if not term:
            raise InputError(p, f"line {lineno}: empty term name")
        if term in first_line:
            raise InputError(
                p, f"line {lineno}: duplicated term name {term!r} (first defined on line {first_line[term]})"
            )
        first_line[term] = lineno
        genes = tuple(dict.fromkeys(g.strip() for g in fields[2:] if g.strip()))
        if not genes:
            n_empty += 1
            continue
        sets[term] = genes
    if not sets:
        raise InputError(
            p,
            "no gene set with at least one gene"
            + (f" ({n_empty} empty sets)" if n_empty else " (empty file)"),
        )
    if n_empty:
        log.warning("%s: skipped %d gene sets without genes", p, n_empty)
    lib = GeneSetLibrary(path=str(p), sets=sets, n_empty_skipped=n_empty)
    if use_cache:
        _CACHE[key] = lib
    return lib
