"""TTN file format (save/load, malformed files) and the gene dendrogram."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import linkage, optimal_leaf_ordering
from scipy.spatial.distance import squareform

from mpsomics.core.errors import InputError
from mpsomics.omics.communities import order_genes
from mpsomics.ttn.state import bond_dims, load_ttn, save_ttn
from mpsomics.ttn.tree import check_parent, correlation_matrix, gene_tree, subtree_leaves


@pytest.fixture
def state(ttn_helpers):
    rng = np.random.default_rng(0)
    return ttn_helpers.random_state(ttn_helpers.random_parent(6, rng), rng, chi=3)


def test_save_load_round_trip(tmp_path, state):
    path = tmp_path / "model.npz"
    save_ttn(state, path)
    back = load_ttn(path)
    np.testing.assert_array_equal(back.parent, state.parent)
    assert back.genes == state.genes and back.classes == state.classes
    assert back.feature_map == state.feature_map and back.label_node == 10
    for a, b in zip(back.tensors, state.tensors, strict=True):
        np.testing.assert_array_equal(a, b)
    with np.load(path) as z:  # plain NumPy layout, node_{i} for internal nodes i = N .. 2N-2
        assert {k for k in z.files if k.startswith("node_")} == {f"node_{i}" for i in range(6, 11)}
        assert int(z["label_node"]) == 10 and z["parent"].dtype == np.int64


def _write(path, arrays):
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _arrays(state):
    n = state.n_leaves
    out = {f"node_{n + k}": t for k, t in enumerate(state.tensors)}
    out.update(parent=state.parent, genes=np.asarray(state.genes), classes=np.asarray(state.classes),
               feature_map=np.asarray(state.feature_map), label_node=np.asarray(2 * n - 2))
    return out


def _bad_parent(a):
    p = a["parent"].copy()
    p[0] = 0  # a leaf that is its own parent
    a["parent"] = p


MUTATIONS = {
    "missing parent": lambda a: a.pop("parent"),
    "missing node": lambda a: a.pop("node_8"),
    "extra node": lambda a: a.update(node_3=np.ones((2, 2, 2))),
    "bad parent": _bad_parent,
    "wrong shape": lambda a: a.update(node_10=np.ones((7, 1, 2))),
    "wrong label count": lambda a: a.update(classes=np.asarray(["a", "b", "c"])),
    "nan": lambda a: a["node_7"].__setitem__((0, 0, 0), np.nan),
    "gene count": lambda a: a.update(genes=np.asarray(["x"])),
    "label node": lambda a: a.update(label_node=np.asarray(3)),
    "feature map": lambda a: a.update(feature_map=np.asarray("relu")),
    "integer tensor": lambda a: a.update(node_6=np.ones((2, 2, 2), dtype=np.int64)),
    "string parent": lambda a: a.update(parent=np.asarray(["a", "b"])),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_malformed_files_raise_input_error_naming_the_file(tmp_path, state, name):
    arrays = {k: np.array(v) for k, v in _arrays(state).items()}
    path = tmp_path / "bad.npz"
    _write(path, arrays)
    load_ttn(path)  # the unmodified file is fine
    MUTATIONS[name](arrays)
    _write(path, arrays)
    with pytest.raises(InputError) as err:
        load_ttn(path)
    assert str(path) in str(err.value)


def test_unreadable_files_raise_input_error(tmp_path):
    for content in (b"", b"not a zip file", b"PK\x03\x04garbage"):
        path = tmp_path / "junk.npz"
        path.write_bytes(content)
        with pytest.raises(InputError, match="junk.npz"):
            load_ttn(path)
    with pytest.raises(InputError, match="file not found"):
        load_ttn(tmp_path / "missing.npz")


def test_bond_dims_are_capped_by_subtree_dimension(ttn_helpers):
    rng = np.random.default_rng(1)
    parent = ttn_helpers.random_parent(8, rng, "caterpillar")
    sub = subtree_leaves(parent)
    d = bond_dims(parent, 16)
    for i in range(len(parent) - 1):
        assert d[i] <= min(16, 2 ** len(sub[i]))
    assert d.max() == 16


def test_check_parent_rejects_non_trees():
    check_parent([2, 2, -1])
    for bad in ([2, 2, 0], [1, 2, -1], [3, 3, 3, 4, -1], [2, -1, -1], [[2, 2, -1]]):
        with pytest.raises(ValueError):
            check_parent(bad)


def test_gene_tree_matches_order_genes_and_scipy_linkage():
    rng = np.random.default_rng(2)
    n_samples, genes = 60, [f"G{c}" for c in "QAZMKBXRCL"]
    latent = rng.normal(size=(n_samples, 3))
    X = np.column_stack([latent[:, i % 3] + rng.normal(scale=0.5 + 0.1 * i, size=n_samples)
                         for i in range(len(genes))])
    X = (X - X.min(0)) / (X.max(0) - X.min(0))
    parent, ordered = gene_tree(X, genes)
    corr = correlation_matrix(X)
    assert ordered == order_genes(pd.DataFrame(corr, index=genes, columns=genes))
    # internal node N + k holds exactly the genes of scipy's cluster N + k
    names = sorted(genes)
    perm = [genes.index(g) for g in names]
    dist = np.clip(1 - np.abs(corr[np.ix_(perm, perm)]), 0, None)
    np.fill_diagonal(dist, 0)
    cond = squareform(dist, checks=False)
    Z = optimal_leaf_ordering(linkage(cond, method="average"), cond)
    clusters = [{g} for g in names]
    for a, b in Z[:, :2].astype(int):
        clusters.append(clusters[a] | clusters[b])
    sub = subtree_leaves(parent)
    n = len(genes)
    for k in range(n - 1):
        assert {ordered[i] for i in sub[n + k]} == clusters[n + k]
    # the tree does not depend on the input column order
    rev = gene_tree(X[:, ::-1], genes[::-1])
    np.testing.assert_array_equal(rev[0], parent)
    assert rev[1] == ordered
