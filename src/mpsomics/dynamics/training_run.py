"""Validated readers for the per-community files the ``train`` stage writes.

All readers take the community's train directory (``results/mps/{community}``) and
return plain pandas/NumPy objects in the formats of ``docs/outputs.md``. A missing
or malformed file raises :class:`mpsomics.core.errors.InputError` naming the file, so
every downstream stage (grokking, subcommunities, report) reports bad input the
same way.

Public API
----------
Each reader takes the file itself or the train directory holding it.

``load_history(dir)`` -> DataFrame (one row per epoch, sorted by ``epoch``)
``load_entanglement(dir)`` -> DataFrame (``epoch``, ``label``, ``bond``, ``entropy``)
``load_magnetization(dir)`` -> DataFrame (``epoch``, ``label``, ``site``, ``gene``, ``magnetization``)
``load_correlations(dir)`` -> ``(epochs, classes, genes, connected)``
``load_representation(dir)`` -> DataFrame (``epoch``, ``label``, ``bond``, the
:data:`mpsomics.mps.representation.METRICS`)
``write_train_dir(dir, state, history, obs, run_info)`` writes them all
``check_same_run(history=..., entanglement=..., ...)``: the files are of one run
(recorded epochs consistent); a stage reading several of them calls it.

The TSV files are written by pandas and always end with a line end: a file whose last
line has none was cut mid-row (an interrupted copy, a hand edit) and is refused, even
when the cut left a plausible number in the last field.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from mpsomics.core.errors import InputError
from mpsomics.core.readers import NPZ_ERRORS, read_text, read_tsv
from mpsomics.mps import fit as _fit
from mpsomics.mps import representation as _rep

HISTORY_FILE = "history.tsv"
# Per-epoch trajectories (``_trajectory``): distinct from the final-state observables
# of ``mpsomics observe`` (``entanglement.tsv``, ``magnetization.tsv``, ...).
ENTANGLEMENT_FILE = "entanglement_trajectory.tsv"
MAGNETIZATION_FILE = "magnetization_trajectory.tsv"
CORRELATIONS_FILE = "correlations_trajectory.npz"
#: representation metrics per epoch, label and bond (``mpsomics train --representation-every K``)
REPRESENTATION_FILE = "representation_trajectory.tsv"
REPRESENTATION_COLUMNS = tuple(_rep.COLUMNS)
#: TTN runs only: the gene tree (``node``, ``parent``, ``n_genes``, ``genes``)
TREE_FILE = "tree.tsv"

# history.tsv is the fit driver's history frame: its columns are defined there.
HISTORY_COLUMNS = tuple(_fit.HISTORY_COLUMNS)
HISTORY_METRICS = _fit.HISTORY_METRICS
HISTORY_NUMERIC = _fit.HISTORY_NUMERIC
VALIDATION_COLUMNS = tuple(_fit.VALIDATION_COLUMNS)
DIAGNOSTIC_COLUMNS = tuple(_fit.DIAGNOSTIC_COLUMNS)

# |C| of +-1 spins is bounded by 1 (Cauchy-Schwarz); allow float32 / normalisation slop.
_CORR_BOUND = 1.05
_MAG_BOUND = 1.0 + 1e-3


def _file(train_dir: str | os.PathLike, name: str) -> Path:
    """The file itself, or ``name`` inside the train directory; InputError if it does not exist.

    The stage commands pass the file (``--history results/mps/c03/history.tsv``); a
    directory is accepted for interactive use and reads ``name`` inside it.
    """
    train_dir = Path(train_dir)
    if train_dir.is_file() or (not train_dir.exists() and train_dir.suffix in (".tsv", ".npz")):
        path = train_dir
    elif not train_dir.is_dir():
        raise InputError(train_dir, "train directory does not exist (run `mpsomics train` first)")
    else:
        path = train_dir / name
    if not path.exists():
        hint = ""
        if name == REPRESENTATION_FILE:
            hint = " (written only when `mpsomics train --representation-every K` with K > 0)"
        elif name != HISTORY_FILE:
            hint = " (written only when `mpsomics train --observe-every K` with K > 0)"
        raise InputError(path, f"missing file{hint}")
    return path


def _read_run_tsv(path: Path, *args, **kwargs) -> pd.DataFrame:
    """:func:`read_tsv` of a file the train stage wrote; a last line without line end is an error."""
    content = read_text(path, what="tab-separated table", strict=True, allow_empty=True)
    if content.strip() and not content.endswith("\n"):
        last = content.rstrip("\n").count("\n") + 1
        raise InputError(
            path, f"line {last} (the last) has no line end: the file was cut mid-row (truncated copy "
            "or hand edit); rerun the stage that wrote it",
        )
    return read_tsv(path, *args, content=content, **kwargs)


def load_history(train_dir: str | os.PathLike) -> pd.DataFrame:
    """Read ``history.tsv``: one row per epoch (0 = untrained state).

    Only ``epoch`` is required; the metric columns of ``docs/outputs.md`` are
    parsed as floats when present (empty cells become NaN) and must lie in [0, 1];
    the diagnostics (:mod:`mpsomics.mps.diagnostics`) likewise: ``centroid_overlap_<class>``
    in [-1, 1], ``norm`` and ``max_abs_f`` >= 0 (absent in files written before them).
    Consumers decide what to do with missing metric columns.

    Returns
    -------
    DataFrame sorted by ``epoch`` (int64, unique, >= 0).
    """
    path = _file(train_dir, HISTORY_FILE)
    numeric = [c for c in (*HISTORY_METRICS, *HISTORY_NUMERIC, *VALIDATION_COLUMNS, *DIAGNOSTIC_COLUMNS) if c != "epoch"]
    out = _read_run_tsv(path, ("epoch",), integer=("epoch",), numeric=numeric, text=True, complete=("epoch",), min_rows=1)
    overlaps = [c for c in out.columns if c.startswith(_fit.CENTROID_OVERLAP_PREFIX)]
    for col in overlaps:  # one column per class: their names come from the data
        values = pd.to_numeric(out[col].replace("", np.nan), errors="coerce")
        if values.isna().sum() > (out[col].astype(str).str.strip().isin(["", "nan", "NaN"])).sum():
            raise InputError(path, f"column {col!r}: non-numeric value")
        if ((values < -1 - 1e-9) | (values > 1 + 1e-9)).any():
            raise InputError(path, f"column {col!r}: values outside [-1, 1]")
        out[col] = values
    for col in (*HISTORY_METRICS, *VALIDATION_COLUMNS, "centroid_train_balanced_accuracy", "centroid_test_balanced_accuracy"):
        if col in out.columns and ((out[col] < 0) | (out[col] > 1)).any():
            raise InputError(path, f"column {col!r}: values outside [0, 1]")
    for col in ("norm", "max_abs_f"):
        if col in out.columns and (out[col] < 0).any():
            raise InputError(path, f"column {col!r}: negative value")
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
    """Read ``entanglement_trajectory.tsv`` (``epoch``, ``label``, ``bond``, ``entropy``).

    Validated: integer epochs/bonds, finite entropies >= 0 (tiny negative rounding
    is clipped to 0), a complete epoch x label x bond grid with bonds 0..N-2.

    Returns
    -------
    DataFrame sorted by epoch then bond (labels keep their file order within an
    epoch, i.e. the trainer's class order).
    """
    path = _file(train_dir, ENTANGLEMENT_FILE)
    cols = ["epoch", "label", "bond", "entropy"]
    out = _read_run_tsv(
        path, cols, integer=("epoch", "bond"), numeric=("entropy",), text=True, complete=cols, min_rows=1
    )[cols]
    if (out["entropy"] < -1e-8).any():
        raise InputError(path, "column 'entropy': negative von Neumann entropy")
    out["entropy"] = out["entropy"].clip(lower=0.0)
    if (out["label"] == "").any():
        raise InputError(path, "column 'label': empty label")
    _check_grid(out, ["epoch", "label"], "bond", path)
    return out.sort_values(["epoch", "bond"], kind="stable").reset_index(drop=True)


def load_magnetization(train_dir: str | os.PathLike) -> pd.DataFrame:
    """Read ``magnetization_trajectory.tsv`` (``epoch``, ``label``, ``site``, ``gene``, ``magnetization``).

    Validated: integer epochs/sites, magnetization in [-1, 1], a complete
    epoch x label x site grid, and one gene per site across all rows.
    """
    path = _file(train_dir, MAGNETIZATION_FILE)
    cols = ["epoch", "label", "site", "gene", "magnetization"]
    out = _read_run_tsv(
        path, cols, integer=("epoch", "site"), numeric=("magnetization",), text=True, complete=cols, min_rows=1
    )[cols]
    if (out["magnetization"].abs() > _MAG_BOUND).any():
        raise InputError(path, "column 'magnetization': values outside [-1, 1]")
    _check_grid(out, ["epoch", "label"], "site", path)
    if (out.groupby("site")["gene"].nunique() > 1).any():
        raise InputError(path, "the same site carries different genes in different rows")
    return out.sort_values(["epoch", "site"], kind="stable").reset_index(drop=True)


def load_correlations(train_dir: str | os.PathLike) -> tuple[np.ndarray, list[str], list[str], np.ndarray]:
    """Read ``correlations_trajectory.npz``.

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
    except NPZ_ERRORS as exc:
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


def load_representation(train_dir: str | os.PathLike) -> pd.DataFrame:
    """Read ``representation_trajectory.tsv`` (:data:`REPRESENTATION_COLUMNS`).

    Validated: integer epochs/bonds, a complete epoch x label x bond grid with bonds
    0..N-2, ``n_samples`` a count >= 0; the representation metrics may be empty (NaN)
    only where ``n_samples`` is 0, else ``representation_entropy`` >= 0,
    ``representation_purity`` in (0, 1], ``representation_effective_rank`` >= 1;
    ``state_renyi2`` >= 0 and ``state_schmidt_gap`` in [0, 1] always (tiny rounding
    beyond the bounds is clipped).

    Returns
    -------
    DataFrame sorted by epoch then bond (labels in file order within an epoch).
    """
    path = _file(train_dir, REPRESENTATION_FILE)
    cols = list(REPRESENTATION_COLUMNS)
    state_cols = ["state_renyi2", "state_schmidt_gap", "n_samples"]
    out = _read_run_tsv(
        path, cols, integer=("epoch", "bond"), numeric=cols[3:], text=("label",),
        complete=["epoch", "label", "bond", *state_cols], min_rows=1,
    )[cols]
    if (out["label"] == "").any():
        raise InputError(path, "column 'label': empty label")
    n = out["n_samples"]
    if (n < 0).any() or (n != np.round(n)).any():
        raise InputError(path, "column 'n_samples': not a count")
    rep_cols = ["representation_entropy", "representation_purity", "representation_effective_rank"]
    if (out.loc[n > 0, rep_cols].isna()).any().any():
        raise InputError(path, "representation metrics missing where n_samples > 0")
    eps = 1e-8
    bounds = {
        "representation_entropy": (0.0, np.inf), "representation_purity": (0.0, 1.0),
        "representation_effective_rank": (1.0, np.inf), "state_renyi2": (0.0, np.inf),
        "state_schmidt_gap": (0.0, 1.0),
    }
    for col, (lo, hi) in bounds.items():
        v = out[col]
        if ((v < lo - eps) | (v > hi + eps)).any():
            raise InputError(path, f"column {col!r}: values outside [{lo}, {hi}]")
        out[col] = v.clip(lower=lo, upper=hi)
    _check_grid(out, ["epoch", "label"], "bond", path)
    return out.sort_values(["epoch", "bond"], kind="stable").reset_index(drop=True)


def _few(epochs: np.ndarray, n: int = 5) -> str:
    head = ", ".join(str(int(e)) for e in epochs[:n])
    return head if len(epochs) <= n else f"{head}, ... ({len(epochs)} in total)"


def _epochs_of(data) -> np.ndarray:
    if isinstance(data, pd.DataFrame):
        data = data["epoch"].to_numpy()
    return np.unique(np.asarray(data, dtype=np.int64))


def check_same_run(
    *,
    history: tuple | None = None,
    entanglement: tuple | None = None,
    magnetization: tuple | None = None,
    correlations: tuple | None = None,
    representation: tuple | None = None,
) -> None:
    """InputError unless the given files are of one training run (their epochs agree).

    Each argument is ``(path, data)``: ``data`` a frame with an ``epoch`` column (as the
    readers above return it) or the recorded epochs (``load_correlations``' first
    value). Rules: the epochs of every trajectory are epochs of ``history.tsv``; the
    observation trajectories (entanglement, magnetization, correlations), recorded
    together every ``--observe-every`` epochs, have the same epochs. The representation
    trajectory has its own interval and is checked against the history only. The error
    names both files.
    """
    given = {
        name: (Path(v[0]), _epochs_of(v[1]))
        for name, v in (
            ("history", history), ("entanglement", entanglement), ("magnetization", magnetization),
            ("correlations", correlations), ("representation", representation),
        )
        if v is not None
    }
    if "history" in given:
        hpath, hepochs = given["history"]
        for name, (path, epochs) in given.items():
            if name == "history":
                continue
            extra = np.setdiff1d(epochs, hepochs)
            if extra.size:
                raise InputError(
                    path,
                    f"recorded epochs {_few(extra)} are not epochs of {hpath} "
                    f"(which has epochs {int(hepochs.min())}..{int(hepochs.max())}): the files are not "
                    "from the same training run",
                )
    observed = [(n, given[n]) for n in ("entanglement", "magnetization", "correlations") if n in given]
    for (_, (path0, e0)), (_, (path, e)) in zip(observed, observed[1:], strict=False):
        if not np.array_equal(e0, e):
            diff = np.setxor1d(e0, e)
            raise InputError(
                path,
                f"recorded epochs differ from those of {path0} (e.g. epoch(s) "
                f"{_few(diff)} in only one of them): the files are not from "
                "the same training run",
            )


def representation_frame(obs, classes: list[str]) -> pd.DataFrame:
    """``representation_trajectory.tsv`` rows of recorded :class:`~mpsomics.mps.fit.Observations`."""
    rows = [
        (e, lab, b, *(float(x) for x in rec[k, b]))
        for e, rec in zip(obs.representation_epochs, obs.representation, strict=True)
        for k, lab in enumerate(classes)
        for b in range(rec.shape[1])
    ]
    out = pd.DataFrame(rows, columns=list(REPRESENTATION_COLUMNS))
    out["n_samples"] = out["n_samples"].astype(np.int64)
    return out


def entanglement_frame(obs, classes: list[str]) -> pd.DataFrame:
    """``entanglement_trajectory.tsv`` rows of recorded :class:`~mpsomics.mps.fit.Observations`."""
    rows = [
        (e, lab, b, float(ent[k, b]))
        for e, ent in zip(obs.epochs, obs.entropy, strict=True)
        for k, lab in enumerate(classes)
        for b in range(ent.shape[1])
    ]
    return pd.DataFrame(rows, columns=["epoch", "label", "bond", "entropy"])


def magnetization_frame(obs, genes: list[str], classes: list[str]) -> pd.DataFrame:
    """``magnetization_trajectory.tsv`` rows of recorded observations."""
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
    recorded (:class:`mpsomics.mps.fit.Observations`), ``entanglement_trajectory.tsv``,
    ``magnetization_trajectory.tsv``, ``correlations_trajectory.npz`` (only if correlations were recorded)
    and ``singular_values.npz`` (sweep), and ``representation_trajectory.tsv`` when
    representation metrics were recorded, in the formats the readers above check. A
    :class:`mpsomics.ttn.state.TTNState` is saved in the TTN format, with ``tree.tsv``.
    """
    from mpsomics.mps.state import save_model
    from mpsomics.ttn.state import TTNState, save_ttn

    if isinstance(state, TTNState):
        from mpsomics.ttn.fit import tree_table

        save_ttn(state, out_dir / "model.npz")
        tree_table(state).to_csv(out_dir / TREE_FILE, sep="\t", index=False)
    else:
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
    if getattr(obs, "representation_epochs", None):
        representation_frame(obs, list(state.classes)).to_csv(
            out_dir / REPRESENTATION_FILE, sep="\t", index=False, na_rep="NaN"
        )
    (out_dir / "run_info.json").write_text(
        json.dumps(run_info, indent=2, sort_keys=True, default=str) + "\n"
    )


# --------------------------------------------------------------- label-permutation controls

#: ``mpsomics controls`` writes these into its output directory (``results/controls/{community}/``)
CONTROL_ENTANGLEMENT_FILE = ENTANGLEMENT_FILE
CONTROL_HISTORY_FILE = HISTORY_FILE


def load_control_entanglement(path: str | os.PathLike) -> pd.DataFrame:
    """Read the controls' ``entanglement_trajectory.tsv`` (``control``, ``epoch``, ``label``, ``bond``, ``entropy``).

    Validated like :func:`load_entanglement` per control (a complete epoch x label x bond
    grid); a header-only file means no controls (0 rows).
    """
    path = _file(path, CONTROL_ENTANGLEMENT_FILE)
    cols = ["control", "epoch", "label", "bond", "entropy"]
    out = _read_run_tsv(
        path, cols, integer=("control", "epoch", "bond"), numeric=("entropy",), text=True, complete=cols
    )[cols]
    if (out["entropy"] < -1e-8).any():
        raise InputError(path, "column 'entropy': negative von Neumann entropy")
    out["entropy"] = out["entropy"].clip(lower=0.0)
    for _, grp in out.groupby("control", sort=True):
        _check_grid(grp, ["epoch", "label"], "bond", path)
    return out.sort_values(["control", "epoch", "bond"], kind="stable").reset_index(drop=True)


def load_control_history(path: str | os.PathLike) -> pd.DataFrame:
    """Read the controls' ``history.tsv``: ``control`` then the columns of :func:`load_history`.

    Every column is numeric (the fit driver writes numbers only; empty cells are NaN);
    the accuracy-type metrics must lie in [0, 1]. A header-only file means no controls.

    Returns
    -------
    DataFrame sorted by ``control`` and ``epoch`` (int64; a (control, epoch) pair once).
    """
    path = _file(path, CONTROL_HISTORY_FILE)
    known = [c for c in (*HISTORY_METRICS, *HISTORY_NUMERIC, *VALIDATION_COLUMNS) if c != "epoch"]
    out = _read_run_tsv(
        path, ("control", "epoch"), integer=("control", "epoch"), numeric=known, complete=("control", "epoch")
    )
    # Columns this reader does not know by name (diagnostics, ...) are inferred: numbers or an error.
    for col in out.columns:
        if not pd.api.types.is_numeric_dtype(out[col]):
            raise InputError(path, f"column {col!r}: non-numeric values")
    for col in (*HISTORY_METRICS, *VALIDATION_COLUMNS):
        if col in out.columns and ((out[col] < 0) | (out[col] > 1)).any():
            raise InputError(path, f"column {col!r}: values outside [0, 1]")
    if ((out["control"] < 0) | (out["epoch"] < 0)).any():
        raise InputError(path, "negative control or epoch")
    if out.duplicated(["control", "epoch"]).any():
        raise InputError(path, "duplicate (control, epoch) row")
    return out.sort_values(["control", "epoch"], kind="stable").reset_index(drop=True)


def check_controls_match(controls: pd.DataFrame, entanglement: pd.DataFrame, path: str | os.PathLike) -> None:
    """InputError naming ``path`` when the controls are not of the same chain and classes as the run."""
    if controls.empty:
        return
    labels = set(entanglement["label"].astype(str))
    clabels = set(controls["label"].astype(str))
    if labels != clabels:
        raise InputError(path, f"control labels {sorted(clabels)} differ from the run's {sorted(labels)}")
    if controls["bond"].max() != entanglement["bond"].max():
        raise InputError(
            path, f"controls have {int(controls['bond'].max()) + 1} bonds, the run {int(entanglement['bond'].max()) + 1}"
        )
