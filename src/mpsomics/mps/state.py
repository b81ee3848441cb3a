"""A trained MPS classifier as plain NumPy arrays, and its ``model.npz`` file format.

``model.npz`` holds arrays ``site_0 ... site_{N-1}``: shape (chi_left, 2, chi_right)
with chi = 1 at both ends, except the label site, shape (chi_left, 2, C, chi_right);
scalar ``label_site``; string arrays ``genes`` (site order) and ``classes`` (label
order); string ``feature_map`` = "cos_sin_half_pi". Any tensor-network tool can load it
with ``numpy.load``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mpsomics.core.errors import InputError
from mpsomics.core.files import atomic_path
from mpsomics.core.readers import NPZ_ERRORS, require_file
from mpsomics.mps.feature_map import FEATURE_MAP_NAME


@dataclass
class MPSState:
    """An open-boundary MPS with one label index on site ``label_site``.

    Attributes
    ----------
    sites
        Site tensors; ``sites[i]`` has shape (chi_l, 2, chi_r), except
        ``sites[label_site]`` with shape (chi_l, 2, C, chi_r).
    label_site
        Index of the site carrying the label (class) index.
    genes
        Gene symbol of every site, in chain order.
    classes
        Class names in label-index order.
    """

    sites: list[np.ndarray]
    label_site: int
    genes: list[str]
    classes: list[str]
    feature_map: str = field(default=FEATURE_MAP_NAME)

    @property
    def n_sites(self) -> int:
        return len(self.sites)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def bond_dims(self) -> list[int]:
        """Bond dimensions between consecutive sites (length N - 1)."""
        return [int(t.shape[-1]) for t in self.sites[:-1]]

    def validate(self, source: str | os.PathLike | None = None) -> MPSState:
        """Check shapes and metadata; raise :class:`InputError` naming ``source``."""
        n = len(self.sites)
        if n < 1:
            raise InputError(source, "model has no sites")
        if len(self.genes) != n:
            raise InputError(source, f"model has {n} sites but {len(self.genes)} gene names")
        if not 0 <= self.label_site < n:
            raise InputError(source, f"label_site {self.label_site} outside 0..{n - 1}")
        if self.feature_map != FEATURE_MAP_NAME:
            raise InputError(source, f"unknown feature_map {self.feature_map!r} (expected {FEATURE_MAP_NAME!r})")
        left = 1
        for i, t in enumerate(self.sites):
            want_ndim = 4 if i == self.label_site else 3
            if t.ndim != want_ndim:
                raise InputError(source, f"site_{i} has {t.ndim} axes, expected {want_ndim}")
            if t.shape[0] != left or t.shape[1] != 2:
                raise InputError(source, f"site_{i} has shape {t.shape}: left bond must be {left} and physical dimension 2")
            if i == self.label_site and t.shape[2] != len(self.classes):
                raise InputError(source, f"label site has {t.shape[2]} labels but {len(self.classes)} class names")
            if not np.all(np.isfinite(t)):
                raise InputError(source, f"site_{i} contains NaN or inf")
            left = t.shape[-1]
        if left != 1:
            raise InputError(source, f"last site has right bond {left}, expected 1 (open boundaries)")
        return self


def save_model(state: MPSState, path: str | os.PathLike) -> None:
    """Write ``state`` to ``path`` (``.npz``) atomically."""
    state.validate()
    arrays = {f"site_{i}": np.asarray(t) for i, t in enumerate(state.sites)}
    arrays["label_site"] = np.asarray(state.label_site, dtype=np.int64)
    arrays["genes"] = np.asarray(state.genes, dtype=str)
    arrays["classes"] = np.asarray(state.classes, dtype=str)
    arrays["feature_map"] = np.asarray(state.feature_map, dtype=str)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:  # a file handle stops numpy appending a second ".npz"
            np.savez(fh, **arrays)


def _check_zip(path: Path) -> None:
    # np.load reports a text file as "pickled (object) data"; say what is wrong instead.
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise InputError(path, f"cannot read model file: {exc.strerror or exc}") from None
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise InputError(
            path, "not an .npz (zip) archive; expected the model.npz written by `mpsomics train`"
        )


def _names(path: Path, z, key: str) -> list[str]:
    a = z[key]
    if a.ndim != 1 or a.dtype.kind != "U":
        raise InputError(path, f"{key!r} must be a 1-d array of strings, got {a.dtype} of shape {a.shape}")
    return [str(x) for x in a]


def _label_site(path: Path, z) -> int:
    """``label_site``: a 0-d integer, or a 0-d float holding an integer value (never 0.6 or NaN)."""
    a = z["label_site"]
    if a.ndim != 0 or a.dtype.kind not in "iuf":
        raise InputError(
            path, f"'label_site' must be a scalar integer, got {a.dtype} of shape {a.shape}"
        )
    if a.dtype.kind == "f":
        v = float(a)
        if not np.isfinite(v) or v != round(v):
            raise InputError(path, f"'label_site' must be a scalar integer, got {v!r}")
        return int(v)
    return int(a)


def _site(path: Path, z, i: int) -> np.ndarray:
    t = np.array(z[f"site_{i}"])
    if t.dtype.kind != "f":
        raise InputError(path, f"site_{i} must hold real floating-point numbers, got dtype {t.dtype}")
    if not np.all(np.isfinite(t)):
        raise InputError(path, f"site_{i} contains NaN or inf")
    return t


def _check_class_names(path: Path, classes: list[str]) -> None:
    # Class names become file names (correlations_<class>.tsv) and npz keys.
    for c in classes:
        if not c or "/" in c or "\\" in c or "\x00" in c or c in {".", ".."}:
            raise InputError(path, f"class name {c!r} cannot be used in an output file name")
    if len(set(classes)) != len(classes):
        raise InputError(path, f"class names are not unique: {classes}")


def load_model(path: str | os.PathLike) -> MPSState:
    """Read and validate a ``model.npz``: THE reader of the model file for every stage.

    Raises :class:`InputError` naming the file when it is missing, not a zip archive,
    lacks a field, or a field is malformed: ``label_site`` not a scalar integer,
    ``genes``/``classes`` not 1-d string arrays, class names unusable as file names or
    not unique, site tensors not floating point, shapes inconsistent
    (:meth:`MPSState.validate`).
    """
    path = Path(path)
    require_file(path, "model .npz")
    _check_zip(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            missing = {"label_site", "genes", "classes"} - keys
            if missing:
                raise InputError(path, f"not an mpsomics model: missing {sorted(missing)}")
            n = sum(1 for k in keys if k.startswith("site_"))
            sites = []
            for i in range(n):
                if f"site_{i}" not in keys:
                    raise InputError(path, f"not an mpsomics model: site_{i} missing")
                sites.append(_site(path, z, i))
            fmap = FEATURE_MAP_NAME
            if "feature_map" in keys:
                f = z["feature_map"]
                if f.ndim != 0 or f.dtype.kind != "U":
                    raise InputError(path, "'feature_map' must be a scalar string")
                fmap = str(f)
            state = MPSState(
                sites=sites,
                label_site=_label_site(path, z),
                genes=_names(path, z, "genes"),
                classes=_names(path, z, "classes"),
                feature_map=fmap,
            )
    except InputError:
        raise
    except NPZ_ERRORS as exc:
        raise InputError(path, f"corrupt or unreadable model file ({type(exc).__name__}: {exc})") from exc
    _check_class_names(path, state.classes)
    return state.validate(path)
