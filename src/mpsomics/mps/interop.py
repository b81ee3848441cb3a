"""Hand a trained classifier to other tensor-network libraries.

:func:`to_quimb` turns one class of a :class:`~mpsomics.mps.state.MPSState` into a
``quimb.tensor.MatrixProductState``: the normalised label-fixed state
|W^ℓ⟩/‖W^ℓ‖ (:func:`mpsomics.mps.observables.class_state`), one physical index of
dimension 2 per gene (|0⟩ = cos = low expression, as in
:mod:`mpsomics.mps.feature_map`), sites tagged with the gene names.

quimb is an optional dependency: ``pip install "mpsomics[quimb]"``.

Units: quimb's ``MatrixProductState.entropy(i)`` is in **bits** (log base 2) and
takes the number of sites ``i`` in the left block; mpsomics reports entropies in
**nats** (natural log) per bond ``b`` (between sites b and b+1). So
``observables.entropy(state, ℓ)[b] == mps.entropy(b + 1) * ln 2``
(:func:`quimb_entropy_nats` does the conversion).
"""

from __future__ import annotations

import math

import numpy as np

from mpsomics.mps.observables import class_state
from mpsomics.mps.state import MPSState


def _label_index(state: MPSState, label: int | str) -> int:
    if isinstance(label, str):
        if label not in state.classes:
            raise ValueError(f"unknown class {label!r}; the model's classes are {state.classes}")
        return state.classes.index(label)
    return int(label)


def to_quimb(state: MPSState, label: int | str):
    """The normalised class state of ``label`` as a quimb ``MatrixProductState``.

    Parameters
    ----------
    state
        The classifier (e.g. :func:`mpsomics.mps.state.load_model` of ``model.npz``).
    label
        Class index or class name.

    Returns
    -------
    quimb.tensor.MatrixProductState
        Open boundaries, ``site_ind_id="k{}"``, ``site_tag_id="I{}"``, each site
        also tagged with its gene; norm 1.
    """
    try:
        import quimb.tensor as qtn
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError('to_quimb needs quimb: pip install "mpsomics[quimb]"') from exc
    tensors = [np.asarray(t) for t in class_state(state, _label_index(state, label))]
    n = len(tensors)
    if n < 2:
        raise ValueError("to_quimb needs a model with at least 2 sites")
    arrays = [tensors[0][0, :, :]]  # (p, r)
    arrays += tensors[1:-1]  # (l, p, r)
    arrays.append(tensors[-1][:, :, 0])  # (l, p)
    mps = qtn.MatrixProductState(arrays, shape="lpr")
    for i, gene in enumerate(state.genes):
        mps[i].add_tag(str(gene))
    return mps


def quimb_entropy_nats(mps, bond: int) -> float:
    """Von Neumann entropy (natural log) at bond ``bond`` of a quimb MPS.

    quimb's ``entropy(i)`` is in bits for the cut after ``i`` sites; this returns
    ``entropy(bond + 1) * ln 2`` so it compares with
    :func:`mpsomics.mps.observables.entropy`.
    """
    return float(mps.entropy(bond + 1)) * math.log(2.0)


__all__ = ["quimb_entropy_nats", "to_quimb"]
