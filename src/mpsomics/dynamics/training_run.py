"""Validated readers for the per-community files the ``train`` stage writes.

All readers take the community's train directory (``results/mps/{community}``) and
return plain pandas/NumPy objects in the formats of ``docs/outputs.md``. A missing
or malformed file raises :class:`mpsomics.core.errors.InputError` naming the file, so
every downstream stage (grokking, subcommunities, report) reports bad input the
same way.

Public API
----------
``load_history(dir)`` -> DataFrame (one row per epoch, sorted by ``epoch``)
``load_entanglement(dir)`` -> DataFrame (``epoch``, ``label``, ``bond``, ``entropy``)
``load_magnetization(dir)`` -> DataFrame (``epoch``, ``label``, ``site``, ``gene``, ``magnetization``)
``load_correlations(dir)`` -> ``(epochs, classes, genes, connected)``
``write_train_dir(dir, state, history, obs, run_info)`` writes them all
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from mpsomics.core.errors import InputError
from mpsomics.mps import fit as _fit

HISTORY_FILE = "history.tsv"
ENTANGLEMENT_FILE = "entanglement.tsv"
MAGNETIZATION_FILE = "magnetization.tsv"
CORRELATIONS_FILE = "correlations.npz"

# history.tsv is the fit driver's history frame: its columns are defined there.
HISTORY_COLUMNS = tuple(_fit.HISTORY_COLUMNS)
HISTORY_METRICS = _fit.HISTORY_METRICS
HISTORY_NUMERIC = _fit.HISTORY_NUMERIC
VALIDATION_COLUMNS = tuple(_fit.VALIDATION_COLUMNS)

# |C| of +-1 spins is bounded by 1 (Cauchy-Schwarz); allow float32 / normalisation slop.
_CORR_BOUND = 1.05
_MAG_BOUND = 1.0 + 1e-3


def _file(train_dir: str | os.PathLike, name: str) -> Path:
    """Path of ``name`` inside ``train_dir``; InputError if it does not exist."""
    train_dir = Path(train_dir)
    if not train_dir.is_dir():
        raise InputError(train_dir, "train directory does not exist (run `mpsomics train` first)")
    path = train_dir / name
    if not path.is_file():
        hint = ""
        if name != HISTORY_FILE:
            hint = " (written only when `mpsomics train --observe-every K` with K > 0)"
        raise InputError(path, f"missing file{hint}")
    return path


def _read_tsv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError(path, "empty file (expected a TSV with a header row)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a readable TSV: {exc}") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(path, f"missing column(s) {', '.join(missing)}; found {', '.join(map(str, df.columns))}")
    if df.empty:
        raise InputError(path, "no data rows")
    return df


def _numeric(df: pd.DataFrame, col: str, path: Path, *, integer: bool = False, allow_nan: bool = False) -> pd.Series:
    """Parse column ``col`` as numbers; InputError naming the first bad row otherwise."""
    raw = df[col].str.strip()
    empty = raw.isin(["", "NA", "NaN", "nan"])
    values = pd.to_numeric(raw.where(~empty, None), errors="coerce")
    bad = values.isna() & ~empty
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(path, f"column {col!r}: non-numeric value {df[col].iloc[i]!r} in data row {i + 1}")
    if empty.any() and not allow_nan:
        i = int(np.flatnonzero(empty.to_numpy())[0])
        raise InputError(path, f"column {col!r}: empty value in data row {i + 1}")
    if not np.isfinite(values.dropna().to_numpy(dtype=float)).all():
        raise InputError(path, f"column {col!r}: infinite value")
    if integer:
        v = values.to_numpy(dtype=float)
        if (np.abs(v - np.round(v)) > 0).any():
            raise InputError(path, f"column {col!r}: expected integers")
        return pd.Series(np.round(v).astype(np.int64), index=df.index, name=col)
    return values.astype(float)


def load_history(train_dir: str | os.PathLike) -> pd.DataFrame:
    """Read ``history.tsv``: one row per epoch (0 = untrained state).

    Only ``epoch`` is required; the metric columns of ``docs/outputs.md`` are
    parsed as floats when present (empty cells become NaN) and must lie in [0, 1].
    Consumers decide what to do with missing metric columns.

    Returns
    -------
    DataFrame sorted by ``epoch`` (int64, unique, >= 0).
    """
    path = _file(train_dir, HISTORY_FILE)
    df = _read_tsv(path, ("epoch",))
    out = pd.DataFrame({"epoch": _numeric(df, "epoch", path, integer=True)})
    for col in df.columns:
        if col == "epoch":
            continue
        if col in HISTORY_METRICS or col in HISTORY_NUMERIC:
            values = _numeric(df, col, path, allow_nan=True)
            if col in HISTORY_METRICS and ((values < 0) | (values > 1)).any():
                raise InputError(path, f"column {col!r}: values outside [0, 1]")
            out[col] = values
        else:
            out[col] = df[col]
    if (out["epoch"] < 0).any():
        raise InputError(path, "column 'epoch': negative epoch")
    dup = out["epoch"].duplicated()
    if dup.any():
        raise InputError(path, f"duplicate epoch {int(out['epoch'][dup].iloc[0])}")
    return out.sort_values("epoch", kind="stable").reset_index(drop=True)


def _check_grid(df: pd.DataFrame, keys: list[str], inner: str, path: Path) -> None:
    """Every (epoch, label) must have the same set of ``inner`` values, no duplicates."""
    dup = df.duplicated(keys + [inner])
    if dup.any():
        row = df[dup].iloc[0]
        raise InputError(path, "duplicate row for " + ", ".join(f"{k}={row[k]}" for k in keys + [inner]))
    epochs = df["epoch"].unique()
    labels = df["label"].unique()
    inner_values = np.sort(df[inner].unique())
    expected = len(epochs) * len(labels) * len(inner_values)
    if len(df) != expected:
        sizes = df.groupby(keys).size()
        raise InputError(
            path,
            f"incomplete grid: expected every epoch x label to have {len(inner_values)} {inner} values, "
            f"got {sizes.min()}..{sizes.max()} over {len(sizes)} of {len(epochs) * len(labels)} combinations",
        )
    if not np.array_equal(inner_values, np.arange(len(inner_values))):
        raise InputError(path, f"column {inner!r}: expected 0..{len(inner_values) - 1}")


def load_entanglement(train_dir: str | os.PathLike) -> pd.DataFrame:
    """Read ``entanglement.tsv`` (``epoch``, ``label``, ``bond``, ``entropy``).

    Validated: integer epochs/bonds, finite entropies >= 0 (tiny negative rounding
    is clipped to 0), a complete epoch x label x bond grid with bonds 0..N-2.

    Returns
    -------
    DataFrame sorted by epoch then bond (labels keep their file order within an
    epoch, i.e. the trainer's class order).
    """
    path = _file(train_dir, ENTANGLEMENT_FILE)
    df = _read_tsv(path, ("epoch", "label", "bond", "entropy"))
    out = pd.DataFrame(
        {
            "epoch": _numeric(df, "epoch", path, integer=True),
            "label": df["label"].astype(str),
            "bond": _numeric(df, "bond", path, integer=True),
            "entropy": _numeric(df, "entropy", path),
        }
    )
    if (out["entropy"] < -1e-8).any():
        raise InputError(path, "column 'entropy': negative von Neumann entropy")
    out["entropy"] = out["entropy"].clip(lower=0.0)
    if (out["label"] == "").any():
        raise InputError(path, "column 'label': empty label")
    _check_grid(out, ["epoch", "label"], "bond", path)
    return out.sort_values(["epoch", "bond"], kind="stable").reset_index(drop=True)


def load_magnetization(train_dir: str | os.PathLike) -> pd.DataFrame:
    """Read ``magnetization.tsv`` (``epoch``, ``label``, ``site``, ``gene``, ``magnetization``).

    Validated: integer epochs/sites, magnetization in [-1, 1], a complete
    epoch x label x site grid, and one gene per site across all rows.
    """
    path = _file(train_dir, MAGNETIZATION_FILE)
    df = _read_tsv(path, ("epoch", "label", "site", "gene", "magnetization"))
    out = pd.DataFrame(
        {
            "epoch": _numeric(df, "epoch", path, integer=True),
            "label": df["label"].astype(str),
            "site": _numeric(df, "site", path, integer=True),
            "gene": df["gene"].astype(str),
            "magnetization": _numeric(df, "magnetization", path),
        }
    )
    if (out["magnetization"].abs() > _MAG_BOUND).any():
        raise InputError(path, "column 'magnetization': values outside [-1, 1]")
    _check_grid(out, ["epoch", "label"], "site", path)
    if (out.groupby("site")["gene"].nunique() > 1).any():
        raise InputError(path, "the same site carries different genes in different rows")
    return out.sort_values(["epoch", "site"], kind="stable").reset_index(drop=True)


def load_correlations(train_dir: str | os.PathLike) -> tuple[np.ndarray, list[str], list[str], np.ndarray]:
    """Read ``correlations.npz``.

    Returns
    -------
    epochs : ndarray of int64, shape (E,), strictly increasing
    classes : list of str, length C (label-index order)
    genes : list of str, length N (site order)
    connected : ndarray of float64, shape (E, C, N, N), symmetric, finite, |C| <= 1
        ``connected[e, k, i, j]`` = <Z_i Z_j> - <Z_i><Z_j> for label ``classes[k]``.
    """
    path = _file(train_dir, CORRELATIONS_FILE)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("epochs", "classes", "genes", "connected") if k not in z.files]
            if missing:
                raise InputError(path, f"missing array(s) {', '.join(missing)}; found {', '.join(z.files)}")
            epochs = np.asarray(z["epochs"])
            classes = np.asarray(z["classes"])
            genes = np.asarray(z["genes"])
            connected = np.asarray(z["connected"], dtype=np.float64)
    except InputError:
        raise
    except ValueError as exc:  # object arrays need pickle: refuse, strings must be str arrays
        raise InputError(path, f"cannot read arrays without pickle ({exc}); store str arrays") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(path, f"not a readable .npz file: {exc}") from None
    if epochs.ndim != 1 or epochs.size == 0 or not np.issubdtype(epochs.dtype, np.number):
        raise InputError(path, f"'epochs' must be a non-empty 1-D integer array, got shape {epochs.shape} dtype {epochs.dtype}")
    if not np.all(np.asarray(epochs, dtype=float) == np.round(np.asarray(epochs, dtype=float))):
        raise InputError(path, "'epochs' must be integers")
    epochs = epochs.astype(np.int64)
    if classes.ndim != 1 or classes.size == 0 or classes.dtype.kind not in "US":
        raise InputError(path, f"'classes' must be a non-empty 1-D str array, got shape {classes.shape} dtype {classes.dtype}")
    if genes.ndim != 1 or genes.size < 2 or genes.dtype.kind not in "US":
        raise InputError(path, f"'genes' must be a 1-D str array of >= 2 genes, got shape {genes.shape} dtype {genes.dtype}")
    E, C, N = epochs.size, classes.size, genes.size
    if connected.shape != (E, C, N, N):
        raise InputError(path, f"'connected' has shape {connected.shape}, expected (E, C, N, N) = {(E, C, N, N)}")
    if not np.isfinite(connected).all():
        raise InputError(path, "'connected' contains NaN or infinite values")
    if np.abs(connected).max() > _CORR_BOUND:
        raise InputError(path, f"'connected' has |C| = {np.abs(connected).max():.3g} > 1: not a connected correlation of +-1 spins")
    if np.abs(connected - np.swapaxes(connected, -1, -2)).max() > 1e-3:
        raise InputError(path, "'connected' matrices are not symmetric")
    if len(set(classes.tolist())) != C:
        raise InputError(path, "'classes' contains duplicates")
    if len(set(genes.tolist())) != N:
        raise InputError(path, "'genes' contains duplicates")
    if np.unique(epochs).size != E:
        raise InputError(path, "'epochs' contains duplicates")
    order = np.argsort(epochs, kind="stable")
    return epochs[order], [str(c) for c in classes], [str(g) for g in genes], connected[order]


def entanglement_frame(obs, classes: list[str]) -> pd.DataFrame:
    """``entanglement.tsv`` rows of recorded :class:`~mpsomics.mps.fit.Observations`."""
    rows = [
        (e, lab, b, float(ent[k, b]))
        for e, ent in zip(obs.epochs, obs.entropy, strict=True)
        for k, lab in enumerate(classes)
        for b in range(ent.shape[1])
    ]
    return pd.DataFrame(rows, columns=["epoch", "label", "bond", "entropy"])


def magnetization_frame(obs, genes: list[str], classes: list[str]) -> pd.DataFrame:
    """``magnetization.tsv`` rows of recorded observations."""
    rows = [
        (e, lab, s, genes[s], float(mag[k, s]))
        for e, mag in zip(obs.epochs, obs.magnetization, strict=True)
        for k, lab in enumerate(classes)
        for s in range(mag.shape[1])
    ]
    return pd.DataFrame(rows, columns=["epoch", "label", "site", "gene", "magnetization"])


def write_train_dir(out_dir: Path, state, history: pd.DataFrame, obs, run_info: dict) -> None:
    """Write a training run into ``out_dir`` (an existing, empty directory).

    ``model.npz``, ``history.tsv``, ``run_info.json`` and, when observables were
    recorded (:class:`mpsomics.mps.fit.Observations`), ``entanglement.tsv``,
    ``magnetization.tsv``, ``correlations.npz`` (only if correlations were recorded)
    and ``singular_values.npz`` (sweep), in the formats the readers above check.
    """
    from mpsomics.mps.state import save_model

    save_model(state, out_dir / "model.npz")
    history.to_csv(out_dir / HISTORY_FILE, sep="\t", index=False, na_rep="NaN")
    if obs.epochs:
        genes, classes = list(state.genes), list(state.classes)
        entanglement_frame(obs, classes).to_csv(out_dir / ENTANGLEMENT_FILE, sep="\t", index=False)
        magnetization_frame(obs, genes, classes).to_csv(out_dir / MAGNETIZATION_FILE, sep="\t", index=False)
        if obs.connected:
            with open(out_dir / CORRELATIONS_FILE, "wb") as fh:
                np.savez(
                    fh,
                    epochs=np.asarray(obs.epochs, dtype=np.int64),
                    classes=np.asarray(classes, dtype=str),
                    genes=np.asarray(genes, dtype=str),
                    connected=np.stack(obs.connected).astype(np.float32),
                )
        if obs.singular_values:
            epochs = sorted(obs.singular_values)
            arrays = {"epochs": np.asarray(epochs, dtype=np.int64)}
            for e in epochs:
                for b, s in enumerate(obs.singular_values[e]):
                    arrays[f"sv_{e}_{b}"] = np.asarray(s, dtype=np.float64)
            with open(out_dir / "singular_values.npz", "wb") as fh:
                np.savez(fh, **arrays)
    (out_dir / "run_info.json").write_text(
        json.dumps(run_info, indent=2, sort_keys=True, default=str) + "\n"
    )
