"""Gene identifiers -> symbols for ``prepare`` (``gene_ids``, ``gene_map``).

``gene_ids``: ``symbol`` (default: no mapping), ``ensembl``, ``entrez`` or ``auto``
(``ensembl`` when most ids look like ``ENSG00000000003``/``ENSG00000000003.12``, ``entrez``
when most are integers, else ``symbol``). Ensembl version suffixes (``.12``) are stripped
before the look-up. The map is the user's ``gene_map`` table (first column the id, the
column ``symbol`` or else the last column the symbol; a GEO probe -> symbol table too) or,
without one, the bundled ``data/idmaps/{ensembl,entrez}_to_symbol_*.tsv`` (org.Hs.eg.db
2022-09). Unmapped ids are dropped; ids mapping to the same symbol are collapsed later by
the ``duplicates`` rule, as duplicated symbols always were.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from mpsomics.core.errors import InputError
from mpsomics.core.readers import read_table, short_list

log = logging.getLogger(__package__)

GENE_ID_TYPES = ("symbol", "ensembl", "entrez", "auto")
ENSEMBL = re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?$")
ENTREZ = re.compile(r"^\d+$")
PROBE = re.compile(r"_(s_|x_|a_)?at$|^ILMN_\d+$|^A_\d+_P\d+$")
#: The bundled maps (repository checkout; ``--idmaps`` points elsewhere).
BUNDLED_IDMAPS = Path(__file__).resolve().parents[4] / "data" / "idmaps"


def detect_id_type(ids: list[str]) -> str:
    """``ensembl``, ``entrez`` or ``symbol``: the type of more than half of ``ids``."""
    n = max(len(ids), 1)
    if sum(bool(ENSEMBL.match(i)) for i in ids) > n / 2:
        return "ensembl"
    if sum(bool(ENTREZ.match(i)) for i in ids) > n / 2:
        return "entrez"
    return "symbol"


def strip_version(ids: list[str]) -> list[str]:
    """``ENSG00000000003.12`` -> ``ENSG00000000003`` (other ids unchanged)."""
    return [i.split(".", 1)[0] if ENSEMBL.match(i) else i for i in ids]


def load_map(path: str | Path) -> dict[str, str]:
    """id -> symbol from a table: first column the id, ``symbol`` (or the last column) the symbol."""
    path = Path(path)
    table = read_table(path)
    if table.shape[1] < 2:
        raise InputError(path, "a gene map needs two columns: id and symbol")
    sym_col = "symbol" if "symbol" in table.columns else table.columns[-1]
    ids = strip_version(table.iloc[:, 0].astype(str).str.strip().tolist())
    syms = table[sym_col].astype(str).str.strip().tolist()
    out: dict[str, str] = {}
    for i, s in zip(ids, syms, strict=True):
        if i and s and s not in ("nan", "NA", "---") and i not in out:
            out[i] = s
    return out


def bundled_map(kind: str, idmaps: str | Path | None = None) -> Path:
    """The bundled ``{kind}_to_symbol_*.tsv`` under ``idmaps`` (default: ``data/idmaps``)."""
    folder = Path(idmaps) if idmaps else BUNDLED_IDMAPS
    found = sorted(folder.glob(f"{kind}_to_symbol*.tsv"))
    if not found:
        raise InputError(folder, f"no {kind}_to_symbol*.tsv map here; pass --gene-map")
    return found[-1]


class Mapping(NamedTuple):
    """What :func:`map_gene_ids` did (``.uns['prepare']['gene_id_mapping']``)."""

    id_type: str
    map_file: str
    n_ids: int
    n_mapped: int
    n_unmapped: int
    n_symbols: int
    n_collapsed: int  # mapped ids sharing a symbol with another id (extra rows the duplicates rule collapses)

    def as_dict(self) -> dict[str, object]:
        return {k: (int(v) if isinstance(v, int | np.integer) else str(v)) for k, v in self._asdict().items()}


def map_gene_ids(
    genes: list[str],
    gene_ids: str = "symbol",
    gene_map: str | Path | None = None,
    idmaps: str | Path | None = None,
    path: str | None = None,
) -> tuple[list[str], np.ndarray, Mapping | None]:
    """Symbols of ``genes`` and the mask of the mapped ones.

    Returns
    -------
    tuple
        ``(symbols, keep, mapping)``: ``symbols[i]`` for ``keep[i]``; ``mapping`` is
        ``None`` when nothing is mapped (symbols given, no ``gene_map``).

    Raises
    ------
    InputError
        Ids that look like Ensembl/Entrez/probe ids with ``gene_ids: symbol`` are left
        alone, but no id mapping at all is an error.
    """
    if gene_ids not in GENE_ID_TYPES:
        raise ValueError(f"gene_ids must be one of {GENE_ID_TYPES}, got {gene_ids!r}")
    kind = detect_id_type(genes) if gene_ids == "auto" else gene_ids
    if gene_ids == "auto":
        log.info("%s: gene ids detected as %s", path, kind)
    if kind == "symbol" and gene_map is None:
        looks = detect_id_type(genes)
        probes = sum(bool(PROBE.search(g)) for g in genes)
        if looks != "symbol" or probes > len(genes) / 2:
            hint = f"--gene-ids {looks} or --gene-map" if looks != "symbol" else "--gene-map (probe -> symbol)"
            log.warning(
                "%s: most gene ids look like %s ids (e.g. %s) and are kept as they are, but gene-set "
                "enrichment needs symbols: pass %s", path,
                looks if looks != "symbol" else "microarray probe", short_list(genes[:3], 3), hint,
            )
        return genes, np.ones(len(genes), bool), None
    map_path = Path(gene_map) if gene_map else bundled_map(kind, idmaps)
    table = load_map(map_path)
    keys = strip_version(genes)
    symbols = [table.get(k, "") for k in keys]
    keep = np.array([s != "" for s in symbols])
    n_mapped = int(keep.sum())
    if n_mapped == 0:
        raise InputError(
            path, f"no gene id maps to a symbol through {map_path.name} (ids look like "
            f"{short_list(genes[:3], 3)}; map ids like {short_list(list(table)[:3], 3)}): wrong --gene-ids or --gene-map?",
        )
    n_symbols = len({s for s in symbols if s})
    mapping = Mapping(kind, map_path.name, len(genes), n_mapped, len(genes) - n_mapped, n_symbols,
                      n_mapped - n_symbols)
    log.info(
        "%s: %s ids -> symbols via %s: %d mapped, %d unmapped (dropped), %d ids collapse onto "
        "shared symbols (%d symbols)", path, kind, map_path.name, n_mapped, mapping.n_unmapped,
        mapping.n_collapsed, n_symbols,
    )
    return symbols, keep, mapping


def mapped_frame(df: pd.DataFrame, symbols: list[str], keep: np.ndarray) -> pd.DataFrame:
    """``df`` restricted to the mapped genes, columns renamed to symbols."""
    out = df.loc[:, keep]
    out.columns = pd.Index([s for s, k in zip(symbols, keep, strict=True) if k], dtype=object)
    return out
