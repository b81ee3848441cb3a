"""Fixtures for the TTN engine tests: random trees, random TTNs and the dense reference state."""

from __future__ import annotations

import numpy as np
import pytest

from mpsomics.ttn.state import TTNState, bond_dims


def random_parent(n: int, rng: np.random.Generator, shape: str = "random") -> np.ndarray:
    """A random binary tree with n leaves in the parent-array convention.

    ``shape="random"``: merge two random active clusters at every step;
    ``"caterpillar"``: the most unbalanced tree (a chain of merges in random leaf order).
    """
    parent = np.full(2 * n - 1, -1, dtype=np.int64)
    active = list(rng.permutation(n))
    nxt = n
    while len(active) > 1:
        if shape == "caterpillar":
            a, b = active.pop(0), active.pop(0)
        else:
            i, j = sorted(rng.choice(len(active), size=2, replace=False))
            b, a = active.pop(j), active.pop(i)
        parent[a] = parent[b] = nxt
        active.insert(0, nxt)
        nxt += 1
    return parent


def random_state(
    parent: np.ndarray, rng: np.random.Generator, chi: int = 3, n_classes: int = 2
) -> TTNState:
    """Gaussian tensors on ``parent`` with the default leg sizes for ``chi``."""
    n = (len(parent) + 1) // 2
    dims = list(bond_dims(parent, chi)) + [n_classes]
    kids = [sorted(np.flatnonzero(parent == n + k)) for k in range(n - 1)]
    tensors = [rng.normal(size=(dims[a], dims[b], dims[n + k])) for k, (a, b) in enumerate(kids)]
    return TTNState(
        parent=parent,
        tensors=tensors,
        genes=[f"g{i}" for i in range(n)],
        classes=[f"c{k}" for k in range(n_classes)],
    ).validate()


def dense(state: TTNState) -> np.ndarray:
    """All 2^N x C amplitudes W[s_0, ..., s_{N-1}, l] by one einsum over the whole network."""
    n = state.n_leaves
    label = 2 * n - 1
    args: list = []
    for k, t in enumerate(state.tensors):
        i = n + k
        a, b = sorted(np.flatnonzero(state.parent == i))
        args += [t, [int(a), int(b), i if i < 2 * n - 2 else label]]
    return np.einsum(*args, [*range(n), label], optimize=True)


def leaves_below(parent: np.ndarray, node: int) -> list[int]:
    """Leaves whose ancestor chain passes through ``node`` (independent of the package)."""
    n = (len(parent) + 1) // 2
    out = []
    for leaf in range(n):
        j = leaf
        while j != -1 and j != node:
            j = parent[j]
        if j == node:
            out.append(leaf)
    return out


@pytest.fixture
def ttn_helpers():
    """The helper functions above, as a namespace."""

    class H:
        pass

    H.random_parent = staticmethod(random_parent)
    H.random_state = staticmethod(random_state)
    H.dense = staticmethod(dense)
    H.leaves_below = staticmethod(leaves_below)
    return H
