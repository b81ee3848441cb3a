"""Either classifier file, read and contracted alike: an MPS ``model.npz`` or a TTN one.

``mpsomics train --model mps|ttn`` writes ``model.npz`` in the MPS
(:mod:`mpsomics.mps.state`) or the TTN (:mod:`mpsomics.ttn.state`) format; a TTN file is
recognised by its ``parent`` array. Stages that only need scores per sample (e.g.
``scores``) use :func:`load_classifier` and :func:`log_scores` and work on both.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from mpsomics.mps import contract as mps_contract
from mpsomics.mps.state import MPSState, load_model
from mpsomics.ttn import contract as ttn_contract
from mpsomics.ttn.state import TTNState, load_ttn

__all__ = ["is_ttn_file", "load_classifier", "log_scores"]


def is_ttn_file(path: str | os.PathLike) -> bool:
    """True when ``path`` is an ``.npz`` holding a ``parent`` array (a TTN model)."""
    try:
        with zipfile.ZipFile(Path(path)) as z:
            return "parent.npy" in z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False  # the MPS reader reports the problem


def load_classifier(path: str | os.PathLike) -> MPSState | TTNState:
    """The model of ``path``, MPS or TTN (each reader's checks and errors)."""
    return load_ttn(path) if is_ttn_file(path) else load_model(path)


def log_scores(model: MPSState | TTNState, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(scaled, log_scale)`` of either model; columns of ``X`` in ``model.genes`` order."""
    if isinstance(model, TTNState):
        return ttn_contract.log_scores(model, X)
    return mps_contract.log_scores(model, X)
